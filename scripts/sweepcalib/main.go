// Command sweepcalib reads repeated sweeps of the same preset (one JSONL file each) and
// prints how often a configuration's percentile in one sweep falls inside another
// sweep's intervals (within-run CI, between-process CI, next-sweep prediction interval),
// and the report's recommendation per model in each sweep. Used by
// scripts/calibrate-sweep.sh.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"

	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/stats"
)

var perPair = flag.Bool("pairs", false, "also print each ordered pair of sweeps")

func main() {
	flag.Parse()
	os.Args = append(os.Args[:1], flag.Args()...)
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: sweepcalib SWEEP.jsonl SWEEP.jsonl...")
		os.Exit(2)
	}
	var sweeps []map[string]*record.Record
	var all [][]*record.Record
	for _, f := range os.Args[1:] {
		recs, err := record.ReadFile(f, func(le *record.LineError) { fmt.Fprintln(os.Stderr, "warning:", le) })
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		m := map[string]*record.Record{}
		for _, r := range recs {
			if r.OK() {
				m[r.Key()] = r
			}
		}
		sweeps = append(sweeps, m)
		all = append(all, recs)
	}
	for _, p := range []string{"p50", "p95"} {
		kinds := []struct {
			name string
			get  func(r *record.Record) (stats.CI, bool)
		}{
			{"within-run order-statistic CI (latency_ci)", func(r *record.Record) (stats.CI, bool) { c, ok := r.LatencyCI[p]; return c, ok }},
			{"between-process CI (latency_runs_ci)", func(r *record.Record) (stats.CI, bool) { c, ok := r.LatencyRunsCI[p]; return c, ok }},
			{"next-sweep prediction interval (latency_next_pi)", func(r *record.Record) (stats.CI, bool) { c, ok := r.LatencyNextPI[p]; return c, ok }},
		}
		for _, k := range kinds {
			in, n := 0, 0
			for i := range sweeps {
				for j := range sweeps {
					if i == j {
						continue
					}
					pin, pn := 0, 0
					defer func(i, j int, name string) {
						if *perPair && pn > 0 {
							fmt.Printf("  %s: %s of sweep %d inside %s of sweep %d: %d of %d\n", p, p, i+1, name, j+1, pin, pn)
						}
					}(i, j, k.name)
					for key, a := range sweeps[i] {
						b := sweeps[j][key]
						if b == nil {
							continue
						}
						ci, ok := k.get(b)
						if !ok {
							continue
						}
						n++
						pn++
						if v := pct(a, p); v >= ci.Lo && v <= ci.Hi {
							in++
							pin++
						}
					}
				}
			}
			if n == 0 {
				fmt.Printf("%s: %s: none in these records\n", p, k.name)
				continue
			}
			fmt.Printf("%s: %s: %d of %d (%.1f%%) of one sweep's %s inside another sweep's interval\n", p, k.name, in, n, 100*float64(in)/float64(n), p)
		}
	}
	choices := map[string][]string{}
	var models []string
	for i, recs := range all {
		rep, err := report.Compute(recs, report.Options{Constraint: report.Balanced, Percentile: "p95"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, r := range rep.Recommendations {
			label := "none"
			if r.Chosen != nil {
				label = r.Chosen.Label()
			}
			if !slices.Contains(models, r.Model) {
				models = append(models, r.Model)
			}
			choices[r.Model] = append(choices[r.Model], label)
			fmt.Printf("sweep %d %s: %s (tie %v)\n", i+1, r.Model, label, r.Tie)
		}
	}
	for _, m := range models {
		count := map[string]int{}
		best := ""
		for _, c := range choices[m] {
			count[c]++
			if count[c] > count[best] {
				best = c
			}
		}
		fmt.Printf("%s: the same recommendation in %d of %d sweeps (%s)\n", m, count[best], len(choices[m]), best)
	}
}

func pct(r *record.Record, p string) float64 {
	if p == "p50" {
		return r.LatencyP50
	}
	return r.LatencyP95
}
