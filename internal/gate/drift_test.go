package gate

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
)

const testWorkload = "test workload v1"

// withRef gives a record the reference workload's timing (ms per call, log standard error).
func withRef(r *record.Record, ms, logSE float64) *record.Record {
	r.Reference = &record.Reference{Workload: testWorkload, Ms: ms, LogSE: logSE, BlocksMs: []float64{ms, ms}, Before: 1, Calls: 8}
	return r
}

// driftBaseline stores 3 runs of model m at 10 ms (factors 1, 1.01, 0.99), each with the
// reference at 2 ms (log error 1%) unless noRef.
func driftBaseline(t *testing.T, rng *rand.Rand, noRef bool) *baseline.File {
	t.Helper()
	f := baseline.New("test", 3)
	for i, fac := range []float64{1, 1.01, 0.99} {
		r := mkRecord(rng, "m", fac, fpA)
		if !noRef {
			withRef(r, 2*fac, 0.01) // the machine's speed explains the baseline's own spread
		}
		if res := f.Update([]*record.Record{r}, fmt.Sprintf("c%d", i+1), time.Date(2026, 1, i+1, 12, 0, 0, 0, time.UTC)); len(res.Skipped) != 0 {
			t.Fatalf("baseline update skipped %v", res.Skipped)
		}
	}
	return f
}

// TestCheckDriftCorrected: stored-baseline comparisons divide the model's ratio by the
// reference workload's ratio when both sides carry it, and say so; without it on a side,
// the old rule applies with a one-line note.
func TestCheckDriftCorrected(t *testing.T) {
	tests := []struct {
		name        string
		model       float64 // the current run's latency factor (machine x change)
		refMs       float64 // its reference time; 0 = none
		refSE       float64
		baseNoRef   bool
		want        []string // acceptable overall verdicts
		factor      float64  // MachineFactor of every comparison (0 = not corrected)
		note        string   // a note containing this
		uncorrected string   // the verdict of the same data by the old rule ("" = not checked)
	}{
		{name: "drifted A/A: the machine 1.55x slower, the model unchanged", model: 1.55, refMs: 3.1, refSE: 0.01,
			want: []string{Pass, NotConclusive}, factor: 1.55, note: "reference workload 1.55x slower than the baseline's runs: ratios corrected", uncorrected: Failed},
		{name: "drifted A/A: the machine faster", model: 0.7, refMs: 1.4, refSE: 0.01,
			want: []string{Pass, NotConclusive}, factor: 0.7, note: "1.43x faster than the baseline's runs"},
		{name: "+10% on a machine 1.43x faster: the old rule passed it", model: 0.7 * 1.1, refMs: 1.4, refSE: 0.01,
			want: []string{Failed, NotConclusive}, factor: 0.7, uncorrected: Pass},
		{name: "2x under drift (machine 1.55x slower)", model: 3.1, refMs: 3.1, refSE: 0.01,
			want: []string{Failed}, factor: 1.55},
		{name: "2x on a faster machine", model: 1.4, refMs: 1.4, refSE: 0.01,
			want: []string{Failed}, factor: 0.7},
		{name: "+10% under drift: flagged or inconclusive, never pass", model: 1.1 * 1.55, refMs: 3.1, refSE: 0.01,
			want: []string{Failed, NotConclusive}, factor: 1.55},
		{name: "2x with a noisy reference (30% log error): never pass", model: 3.1, refMs: 3.1, refSE: 0.3,
			want: []string{Failed, NotConclusive}, factor: 1.55},
		{name: "A/A with a noisy reference: inconclusive, not pass", model: 1.55, refMs: 3.1, refSE: 0.3,
			want: []string{NotConclusive}, factor: 1.55},
		{name: "results without the reference: old rule", model: 1.55,
			want: []string{Failed}, note: "ratios not corrected for machine speed: these results carry no reference workload timing"},
		{name: "baseline without the reference: old rule", model: 1.55, refMs: 3.1, refSE: 0.01, baseNoRef: true,
			want: []string{Failed}, note: "ratios not corrected for machine speed: the baseline's runs carry no reference workload timing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(22, 7))
			base := driftBaseline(t, rng, tt.baseNoRef)
			cur := mkRecord(rng, "m", tt.model, fpA)
			if tt.refMs > 0 {
				withRef(cur, tt.refMs, tt.refSE)
			}
			in := Input{Results: []*record.Record{cur}, Baseline: base, Metrics: DefaultMetrics, Options: Options{Alpha: 0.01, Threshold: 0.05}}
			rep := Check(in)
			ok := false
			for _, w := range tt.want {
				ok = ok || rep.Verdict == w
			}
			if !ok {
				t.Errorf("verdict %q (%s), want one of %q", rep.Verdict, rep.Summary, tt.want)
			}
			for _, c := range rep.Comparisons {
				if !relClose(c.MachineFactor, tt.factor, 0.01) {
					t.Errorf("%s: MachineFactor %g, want %g", c.Metric, c.MachineFactor, tt.factor)
				}
				if tt.factor > 0 && !strings.HasPrefix(c.Method, "drift-corrected") {
					t.Errorf("%s: method %q does not say drift-corrected", c.Metric, c.Method)
				}
			}
			if tt.note != "" && !strings.Contains(strings.Join(rep.Notes, "\n"), tt.note) {
				t.Errorf("notes %q lack %q", rep.Notes, tt.note)
			}
			if tt.uncorrected != "" {
				cur.Reference = nil
				if old := Check(in); old.Verdict != tt.uncorrected {
					t.Errorf("the old rule on the same data: %q (%s), want %q", old.Verdict, old.Summary, tt.uncorrected)
				}
			}
		})
	}
}

// TestCompareDriftCorrectedFormula: the corrected log ratio is the model's minus the
// reference's, the reference ratio's error adds in quadrature, and a noisier reference
// widens the interval.
func TestCompareDriftCorrectedFormula(t *testing.T) {
	noPrior(t)
	ref := func(runs []Run, ms, se float64) []Run {
		for i := range runs {
			runs[i].Reference = &Reference{Ms: ms, LogSE: se, Workload: testWorkload}
		}
		return runs
	}
	base := ref(constRuns(2.30, 2.32, 2.28), 2, 0.01)
	for _, se := range []float64{0.01, 0.05, 0.2} {
		plain := Compare("k", "p50", constRuns(2.30+0.5), constRuns(2.30, 2.32, 2.28), Pool{})
		c := Compare("k", "p50", ref(constRuns(2.30+0.5), 2*1.5, se), base, Pool{})
		wantLog := 0.5 - 0.40546510810816444 // log(1.5)
		if !relClose(c.logRatio, wantLog, 1e-9) {
			t.Errorf("se %g: log ratio %g, want %g", se, c.logRatio, wantLog)
		}
		if !relClose(c.MachineFactor, 1.5, 1e-9) {
			t.Errorf("se %g: MachineFactor %g, want 1.5", se, c.MachineFactor)
		}
		// Base: corrected logs 2.30, 2.32, 2.28 minus log 2 (variance 0.0004, 2 df, within
		// 0.01^2 from the reference); current: within se^2 from its reference. sigma^2 =
		// max(0.0004, se^2); plus the reference ratio's error se^2 + 0.01^2/3.
		want := math.Max(0.0004, se*se)*(1+1.0/3) + se*se + 0.0001/3
		if !relClose(c.seLog*c.seLog, want, 1e-6) {
			t.Errorf("se %g: seLog^2 %g, want %g", se, c.seLog*c.seLog, want)
		}
		if c.seLog <= plain.seLog {
			t.Errorf("se %g: corrected seLog %g not wider than the uncorrected %g", se, c.seLog, plain.seLog)
		}
		// Current is shown at the baseline's machine speed: exp(2.8)/1.5.
		if !relClose(c.Current.Value, 16.44464677109704/1.5, 1e-6) {
			t.Errorf("se %g: Current.Value %g, want %g", se, c.Current.Value, 16.44464677109704/1.5)
		}
	}
}

// TestDriftReportGolden: the text report and the PR-comment notes of a drift-corrected
// gate run.
func TestDriftReportGolden(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 8))
	base := driftBaseline(t, rng, false)
	cur := withRef(mkRecord(rng, "m", 3.1, fpA), 3.1, 0.01)
	rep := Check(Input{Results: []*record.Record{cur}, Baseline: base, BaselinePath: "perf/baseline.json", Metrics: DefaultMetrics, Options: Options{Alpha: 0.01, Threshold: 0.05}})
	var b bytes.Buffer
	if err := rep.Text(&b); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/drift.txt.golden", b.Bytes())
}
