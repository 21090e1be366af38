package gate

import (
	"fmt"
	"sort"
	"strings"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/record"
)

// Overall verdicts.
const (
	Pass           = "pass"
	Failed         = Regression // at least one regression
	NoBaseline     = "no baseline"
	NotConclusive  = "inconclusive"
	noBaselineHint = "no baseline: run `perflab baseline update` on the main branch"
)

// Input is what the gate compares.
type Input struct {
	Results          []*record.Record
	Baseline         *baseline.File // nil: no baseline yet
	BaselinePath     string
	Metrics          []string
	Options          Options
	AllowEnvMismatch bool
}

// Report is the gate's verdict with every number behind it.
type Report struct {
	Verdict        string            `json:"verdict"`
	Summary        string            `json:"summary"`
	Regressions    int               `json:"regressions"`
	Improvements   int               `json:"improvements"`
	Alpha          float64           `json:"alpha"`
	Threshold      float64           `json:"threshold"`
	Metrics        []string          `json:"metrics"`
	Baseline       *BaselineInfo     `json:"baseline,omitempty"`
	Fingerprint    string            `json:"fingerprint,omitempty"` // of the current results
	Comparisons    []Comparison      `json:"comparisons"`
	Notes          []string          `json:"notes,omitempty"`
	FailedConfigs  []FailedConfig    `json:"failed_configs,omitempty"`
	Broken         int               `json:"broken"`                   // failed configurations the baseline had measured
	MinDetectable  float64           `json:"min_detectable,omitempty"` // median over comparisons
	OnlyInResults  []string          `json:"only_in_results,omitempty"`
	OnlyInBaseline []string          `json:"only_in_baseline,omitempty"`
	ConfigNotes    map[string]string `json:"config_notes,omitempty"` // per key: model file changed, env mismatch
}

// BaselineInfo says which baseline was used.
type BaselineInfo struct {
	Path         string   `json:"path"`
	Source       string   `json:"source,omitempty"` // e.g. "contents API at base sha abc123" or "workspace file"
	Commits      []string `json:"commits,omitempty"`
	Fingerprints []string `json:"fingerprints,omitempty"`
	Env          string   `json:"env,omitempty"` // human description of the newest run's environment
	FirstDate    string   `json:"first_date,omitempty"`
	LastDate     string   `json:"last_date,omitempty"`
}

// FailedConfig is a configuration that could not be compared because it failed.
type FailedConfig struct {
	Key           string `json:"key"`
	Reason        string `json:"reason"`
	WasInBaseline bool   `json:"was_in_baseline"` // it worked in the baseline: counts as a regression
}

// Check compares results with the baseline.
func Check(in Input) *Report {
	rep := &Report{Alpha: in.Options.Alpha, Threshold: in.Options.Threshold, Metrics: in.Metrics, ConfigNotes: map[string]string{}, Comparisons: []Comparison{}}
	current := map[string][]*record.Record{}
	var keys []string
	fps := map[string]bool{}
	for _, r := range in.Results {
		key := r.Key()
		switch {
		case !r.OK():
			rep.FailedConfigs = append(rep.FailedConfigs, FailedConfig{Key: key, Reason: "failed: " + r.Error})
			continue
		case !r.Usable():
			rep.FailedConfigs = append(rep.FailedConfigs, FailedConfig{Key: key, Reason: "outputs differ from the plain model beyond tolerance"})
			continue
		}
		if _, ok := current[key]; !ok {
			keys = append(keys, key)
		}
		current[key] = append(current[key], r)
		if r.Env != nil {
			fps[r.Env.Fingerprint] = true
			rep.Fingerprint = r.Env.Fingerprint
		}
	}
	sort.Strings(keys)
	if len(fps) > 1 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("the results mix %d environment fingerprints; each configuration is compared with baseline runs of its own", len(fps)))
	}
	if in.Baseline == nil {
		rep.Verdict = NoBaseline
		rep.Summary = noBaselineHint + fmt.Sprintf(" (%d configurations measured, nothing compared)", len(keys))
		rep.OnlyInResults = keys
		return rep
	}
	rep.Baseline = describeBaseline(in.BaselinePath, in.Baseline)

	// Pair each configuration with its comparable baseline runs.
	type pair struct {
		key       string
		cur, base []Run
	}
	var pairs []pair
	inResults := map[string]bool{}
	for _, key := range keys {
		inResults[key] = true
		e := in.Baseline.Lookup(key)
		if e == nil || len(e.Runs) == 0 {
			rep.OnlyInResults = append(rep.OnlyInResults, key)
			continue
		}
		cur := current[key]
		fp := ""
		for _, r := range cur {
			if r.Env != nil {
				fp = r.Env.Fingerprint
			}
		}
		base := e.Runs
		var notes []string
		switch {
		case fp == "":
			notes = append(notes, "the results carry no environment fingerprint: comparability with the baseline is unknown")
		case !in.AllowEnvMismatch:
			var same []baseline.Run
			for _, r := range base {
				if r.Fingerprint == fp {
					same = append(same, r)
				}
			}
			if len(same) == 0 {
				last := base[len(base)-1]
				rep.ConfigNotes[key] = fmt.Sprintf("baseline measured on another environment (fingerprint %s: %s, %g CPUs, libtorch %s, %s; now %s): not compared, use --allow-env-mismatch to compare anyway",
					last.Fingerprint, last.CPUModel, last.CPUsAvailable, last.Torch, last.BLAS, fp)
				for _, m := range in.Metrics {
					rep.Comparisons = append(rep.Comparisons, Comparison{Key: key, Metric: m, Verdict: Inconclusive, Reason: "environment differs from the baseline's"})
				}
				continue
			}
			if len(same) < len(base) {
				notes = append(notes, fmt.Sprintf("%d of %d baseline runs were on another environment and are left out", len(base)-len(same), len(base)))
			}
			base = same
		default:
			for _, r := range base {
				if r.Fingerprint != fp {
					notes = append(notes, "compared with runs from another environment (--allow-env-mismatch)")
					break
				}
			}
		}
		if sha, last := cur[0].ModelSHA256, base[len(base)-1].ModelSHA256; sha != "" && last != "" && sha != last {
			notes = append(notes, fmt.Sprintf("model file changed since the baseline (sha256 %.12s -> %.12s)", last, sha))
		}
		if len(notes) > 0 {
			rep.ConfigNotes[key] = strings.Join(notes, "; ")
		}
		p := pair{key: key}
		for _, r := range cur {
			p.cur = append(p.cur, Run{SamplesMs: r.SamplesMs, ThroughputRPS: r.ThroughputRPS})
		}
		for _, r := range base {
			p.base = append(p.base, Run{SamplesMs: r.SamplesMs, ThroughputRPS: r.ThroughputRPS})
		}
		pairs = append(pairs, p)
	}
	for _, m := range in.Metrics {
		var hist [][]Run
		for _, p := range pairs {
			hist = append(hist, p.base)
		}
		pool := PoolBetween(hist, m)
		for _, p := range pairs {
			rep.Comparisons = append(rep.Comparisons, Compare(p.key, m, p.cur, p.base, pool))
		}
	}
	sort.SliceStable(rep.Comparisons, func(i, j int) bool { return rep.Comparisons[i].Key < rep.Comparisons[j].Key })
	// A configuration the baseline measured that now fails is a regression in itself.
	for i, f := range rep.FailedConfigs {
		if e := in.Baseline.Lookup(f.Key); e != nil && len(e.Runs) > 0 {
			rep.FailedConfigs[i].WasInBaseline = true
			rep.Broken++
		}
	}
	for _, e := range in.Baseline.Entries {
		if !inResults[e.Key] && !failedKey(rep.FailedConfigs, e.Key) {
			rep.OnlyInBaseline = append(rep.OnlyInBaseline, e.Key)
		}
	}
	Decide(rep.Comparisons, in.Options)
	rep.finish()
	return rep
}

func failedKey(fs []FailedConfig, key string) bool {
	for _, f := range fs {
		if f.Key == key {
			return true
		}
	}
	return false
}

// finish counts verdicts and sets the overall verdict and summary.
func (rep *Report) finish() {
	tested := 0
	var mde []float64
	for _, c := range rep.Comparisons {
		switch c.Verdict {
		case Regression:
			rep.Regressions++
		case Improvement:
			rep.Improvements++
		}
		if c.Verdict != Inconclusive {
			tested++
		}
		if c.MinDetectable > 0 {
			mde = append(mde, c.MinDetectable)
		}
	}
	if len(mde) > 0 {
		sort.Float64s(mde)
		rep.MinDetectable = mde[len(mde)/2]
	}
	switch {
	case rep.Regressions > 0 || rep.Broken > 0:
		rep.Verdict = Failed
		var parts []string
		if rep.Regressions > 0 {
			parts = append(parts, fmt.Sprintf("%d regression(s) in %d comparisons", rep.Regressions, len(rep.Comparisons)))
		}
		if rep.Broken > 0 {
			parts = append(parts, fmt.Sprintf("%d configuration(s) that the baseline measured now fail", rep.Broken))
		}
		rep.Summary = strings.Join(parts, "; ")
	case tested == 0:
		rep.Verdict = NotConclusive
		rep.Summary = fmt.Sprintf("nothing could be compared conclusively (%d comparisons inconclusive)", len(rep.Comparisons))
	default:
		rep.Verdict = Pass
		rep.Summary = fmt.Sprintf("no regression in %d comparisons", tested)
		if n := len(rep.Comparisons) - tested; n > 0 {
			rep.Summary += fmt.Sprintf(" (%d inconclusive)", n)
		}
	}
	if rep.Improvements > 0 {
		rep.Summary += fmt.Sprintf(", %d improvement(s)", rep.Improvements)
	}
	if n := len(rep.FailedConfigs) - rep.Broken; n > 0 {
		rep.Summary += fmt.Sprintf(", %d failed configuration(s) not compared", n)
	}
}

func describeBaseline(path string, f *baseline.File) *BaselineInfo {
	bi := &BaselineInfo{Path: path}
	commits, fps := map[string]bool{}, map[string]bool{}
	for _, e := range f.Entries {
		for _, r := range e.Runs {
			if r.Commit != "" && !commits[r.Commit] {
				commits[r.Commit] = true
				bi.Commits = append(bi.Commits, r.Commit)
			}
			if !fps[r.Fingerprint] {
				fps[r.Fingerprint] = true
				bi.Fingerprints = append(bi.Fingerprints, r.Fingerprint)
			}
			if bi.FirstDate == "" || r.Date < bi.FirstDate {
				bi.FirstDate = r.Date
			}
			if r.Date > bi.LastDate {
				bi.LastDate = r.Date
				bi.Env = fmt.Sprintf("%s, %g CPUs, libtorch %s, %s", r.CPUModel, r.CPUsAvailable, r.Torch, r.BLAS)
			}
		}
	}
	return bi
}

// ParseMetrics reads a comma-separated metric list.
func ParseMetrics(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultMetrics, nil
	}
	var out []string
	for _, m := range strings.Split(s, ",") {
		m = strings.TrimSpace(m)
		ok := false
		for _, k := range Metrics {
			ok = ok || k == m
		}
		if !ok {
			return nil, fmt.Errorf("--metrics: unknown metric %q (want some of %s)", m, strings.Join(Metrics, ", "))
		}
		out = append(out, m)
	}
	return out, nil
}

// CheckAB compares B with A measured in interleaved rounds (a[r] and b[r] back to back).
func CheckAB(key string, a, b []Run, metrics []string, opts Options) *Report {
	rep := &Report{Alpha: opts.Alpha, Threshold: opts.Threshold, Metrics: metrics, Comparisons: []Comparison{}}
	for _, m := range metrics {
		rep.Comparisons = append(rep.Comparisons, ComparePaired(key, m, a, b))
	}
	Decide(rep.Comparisons, opts)
	rep.finish()
	return rep
}
