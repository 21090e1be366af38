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
		// Base: corrected logs 2.30, 2.32, 2.28 minus log 2: variance 0.0004 with 2 df, which
		// holds the baseline runs' reference error (0.01^2 each) already. sigma^2 = 0.0004
		// (no sampling error: constant runs); the current run's reference error adds only
		// beyond the baseline's, se^2 - 0.01^2; the baseline's adds nothing (0.0001 - 0.0001).
		want := 0.0004*(1+1.0/3) + math.Max(0, se*se-0.0001)
		if !relClose(c.seLog*c.seLog, want, 1e-6) {
			t.Errorf("se %g: seLog^2 %g, want %g", se, c.seLog*c.seLog, want)
		}
		switch {
		case c.seLog < plain.seLog*(1-1e-9):
			t.Errorf("se %g: corrected seLog %g narrower than the uncorrected %g", se, c.seLog, plain.seLog)
		case se > 0.01 && c.seLog <= plain.seLog:
			t.Errorf("se %g: a reference noisier than the baseline's did not widen seLog (%g, uncorrected %g)", se, c.seLog, plain.seLog)
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

// TestCompareReferenceErrorCountedOnce: a drift-corrected value carries its run's
// reference error, so the between-run spread of corrected values holds the typical one;
// each side adds only what its runs' reference errors have beyond the data's share of the
// moderated spread (the prior holds none).
func TestCompareReferenceErrorCountedOnce(t *testing.T) {
	ref := func(runs []Run, ms, se float64) []Run {
		for i := range runs {
			runs[i].Reference = &Reference{Ms: ms, LogSE: se, Workload: testWorkload}
		}
		return runs
	}
	const v0, nu0 = 0.01, 4.0 // Prior
	tests := []struct {
		name          string
		prior         bool
		pool          Pool
		baseSE, curSE float64
		want          float64 // seLog^2
	}{
		// Own history: corrected spread 0.0004 with 2 df, holding 0.01^2 of reference error.
		{name: "no prior, the trial as steady as the baseline", baseSE: 0.01, curSE: 0.01,
			want: 0.0004 * (1 + 1.0/3)},
		{name: "no prior, the trial steadier than the baseline: never narrower", baseSE: 0.01, curSE: 0.001,
			want: 0.0004 * (1 + 1.0/3)},
		{name: "no prior, a noisy trial reference adds its excess", baseSE: 0.01, curSE: 0.1,
			want: 0.0004*(1+1.0/3) + 0.01 - 0.0001},
		// With the prior: sigma^2 = (4*0.01 + 2*0.0004)/6, the data's share of the
		// reference error 2/6 * 0.0001: the baseline's runs add 0.0001 - that, over K = 3.
		{name: "prior, steady trial", prior: true, baseSE: 0.01, curSE: 0.01,
			want: (nu0*v0+2*0.0004)/6*(1+1.0/3) + (0.0001-0.0001/3)/3 + (0.0001 - 0.0001/3)},
		{name: "prior, noisy trial", prior: true, baseSE: 0.01, curSE: 0.1,
			want: (nu0*v0+2*0.0004)/6*(1+1.0/3) + (0.0001-0.0001/3)/3 + (0.01 - 0.0001/3)},
		// A pool of other entries (10 df, their reference error 0.02^2): the baseline's
		// reference error (0.01^2) is below the pool's share, the trial's (0.1^2) above.
		{name: "pool of other entries", prior: true, pool: Pool{Var: 0.0009, DF: 10, RefVar: 0.0004}, baseSE: 0.01, curSE: 0.1,
			want: (nu0*v0+10*0.0009)/14*(1+1.0/3) + (0.01 - 10*0.0004/14)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.prior {
				noPrior(t)
			}
			base := ref(constRuns(2.30, 2.32, 2.28), 2, tt.baseSE)
			c := Compare("k", "p50", ref(constRuns(2.30+0.5), 3, tt.curSE), base, tt.pool)
			if !relClose(c.seLog*c.seLog, tt.want, 1e-6) {
				t.Errorf("seLog^2 %g, want %g", c.seLog*c.seLog, tt.want)
			}
		})
	}
	// PoolBetween keeps the reference error its corrected histories hold, weighted by df.
	p := PoolBetween([][]Run{ref(constRuns(0, 0.1, 0.2), 1, 0.1), ref(constRuns(0, 0.2), 1, 0.3)}, "p50", true)
	if p.DF != 3 || !relClose(p.RefVar, (2*0.01+1*0.09)/3, 1e-9) {
		t.Errorf("PoolBetween: DF %d RefVar %g, want 3 and %g", p.DF, p.RefVar, (2*0.01+1*0.09)/3)
	}
	if m := p.Moderate(Pool{Var: 0.01, DF: 4}); !relClose(m.RefVar, p.RefVar*3/7, 1e-9) {
		t.Errorf("Moderate: RefVar %g, want %g (the data's share)", m.RefVar, p.RefVar*3/7)
	}
}

// driftedRun is one run of a stored-baseline simulation: the model at 10 ms x factor on a
// machine running at speed drift (both the model and the reference slowed by it), with
// a residual between-run noise of the model's own (log sd resid) and a reference timing
// whose log error is refSE (measured: its LogSE says so).
func driftedRun(rng *rand.Rand, factor, drift, resid, refSE float64) Run {
	r := lognormalRun(rng, 400, 10*factor*drift*math.Exp(resid*rng.NormFloat64()), 0.05)
	r.Reference = &Reference{Ms: 2 * drift * math.Exp(refSE*rng.NormFloat64()), LogSE: refSE, Workload: testWorkload}
	return r
}

// TestStoredDriftCorrectedDecidesTheObvious: simulated stored-baseline trials as the
// calibration runs them (3 baseline runs, 1 trial run, the machine's speed drifting by a
// log sd of 25% between runs, the default metrics, alpha 0.01, threshold 5%), on a quiet
// runner (3% of between-run noise left after the correction, reference errors 1-3%) and
// a busy one (6%, reference errors 2-15%, as at load ~4 here). A 2x slowdown is flagged
// every time on the quiet runner and in at least 2/3 of the trials on the busy one (the
// rule that counted the reference error twice: 162 of 300); an unchanged model at most 1%
// of the time, also when the trial's reference is 30% off (its excess error counts);
// +10% is "no change" at most 1% of the time.
func TestStoredDriftCorrectedDecidesTheObvious(t *testing.T) {
	opts := Options{Alpha: 0.01, Threshold: 0.05}
	quiet, busy := []float64{0.01, 0.02, 0.03}, []float64{0.02, 0.05, 0.15}
	const seeds = 300
	for _, tc := range []struct {
		name     string
		factor   float64
		resid    float64   // between-run noise left after the correction (log sd)
		refSEs   []float64 // each run's reference log error, drawn from these
		trialRef float64   // the trial's reference log error; 0 = drawn like the baseline's
		minFlag  int       // at least this many of the seeds flagged
		maxFlag  int       // at most
		maxPass  int       // at most this many seeds with a metric called no change or improvement
	}{
		{name: "2x, quiet", factor: 2, resid: 0.03, refSEs: quiet, minFlag: seeds, maxFlag: seeds},
		{name: "2x, busy", factor: 2, resid: 0.06, refSEs: busy, minFlag: seeds * 2 / 3, maxFlag: seeds},
		{name: "A/A, quiet", factor: 1, resid: 0.03, refSEs: quiet, maxFlag: seeds / 100, maxPass: seeds},
		{name: "A/A, busy", factor: 1, resid: 0.06, refSEs: busy, maxFlag: seeds / 100, maxPass: seeds},
		{name: "A/A, busy, the trial's reference 30% off", factor: 1, resid: 0.06, refSEs: busy, trialRef: 0.3, maxFlag: seeds / 100, maxPass: seeds},
		{name: "+10%, quiet", factor: 1.1, resid: 0.03, refSEs: quiet, maxFlag: seeds, maxPass: seeds / 100},
		{name: "+10%, busy", factor: 1.1, resid: 0.06, refSEs: busy, maxFlag: seeds, maxPass: seeds / 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flagged, passed := 0, 0
			for seed := uint64(1); seed <= seeds; seed++ {
				rng := rand.New(rand.NewPCG(seed, 2226))
				drift := func() float64 { return math.Exp(0.25 * rng.NormFloat64()) }
				var base []Run
				for range 3 {
					base = append(base, driftedRun(rng, 1, drift(), tc.resid, tc.refSEs[rng.IntN(len(tc.refSEs))]))
				}
				se := tc.trialRef
				if se == 0 {
					se = tc.refSEs[rng.IntN(len(tc.refSEs))]
				}
				cur := []Run{driftedRun(rng, tc.factor, drift(), tc.resid, se)}
				var cs []Comparison
				for _, m := range DefaultMetrics {
					cs = append(cs, Compare("k", m, cur, base, PoolBetween([][]Run{base}, m, true)))
				}
				Decide(cs, opts)
				reg, pass := false, false
				for _, c := range cs {
					reg = reg || c.Verdict == Regression
					pass = pass || c.Verdict == NoChange || c.Verdict == Improvement
				}
				if reg {
					flagged++
				}
				if pass {
					passed++
				}
			}
			t.Logf("flagged %d, a metric passed in %d, of %d", flagged, passed, seeds)
			if flagged < tc.minFlag || flagged > tc.maxFlag {
				t.Errorf("flagged %d of %d, want %d..%d", flagged, seeds, tc.minFlag, tc.maxFlag)
			}
			if passed > tc.maxPass {
				t.Errorf("a metric called no change or improvement in %d of %d, want at most %d", passed, seeds, tc.maxPass)
			}
		})
	}
}

// TestDriftCorrectedContention: the reference workload divides out the machine's mean
// speed, so a drift-corrected throughput is compared whatever the contention, while a
// drift-corrected percentile whose two sides differ by ContentionMargin or more CPUs of
// other work is inconclusive in either direction (its tail moves by more than the mean).
func TestDriftCorrectedContention(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	opts := Options{Alpha: 0.01, Threshold: 0.05}
	tests := []struct {
		name                string
		metric              string
		factor              float64 // the trial's model factor (the machine's speed is divided out)
		curOther, baseOther *float64
		want                string
		reason              string
	}{
		{"p95 2x, busier now", "p95", 2, f(1.0), f(0.05), Inconclusive, "divides out the machine's mean speed, not the tail"},
		{"p95 2x, as busy", "p95", 2, f(1.0), f(0.9), Regression, "significant"},
		{"p95 2x, contention unknown", "p95", 2, f(1.0), nil, Regression, "significant"},
		{"throughput 2x, busier now", "throughput", 2, f(1.0), f(0.05), Regression, "significant"},
		{"p95 0.7x, busier baseline: not an improvement", "p95", 0.7, f(0.05), f(1.0), Inconclusive, "a percentile cannot be compared"},
		{"p95 0.7x, busier now: not an improvement either", "p95", 0.7, f(1.0), f(0.05), Inconclusive, "a percentile cannot be compared"},
		{"p95 unchanged, busier now: not no change", "p95", 1, f(1.0), f(0.05), Inconclusive, "a percentile cannot be compared"},
		{"throughput unchanged, busier now", "throughput", 1, f(1.0), f(0.05), NoChange, "within"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			noPrior(t)
			rng := rand.New(rand.NewPCG(9, 9))
			// Runs of a model factor x machine speed, the reference timing the machine's speed.
			mk := func(other *float64, factor float64, machines ...float64) []Run {
				var rs []Run
				for _, m := range machines {
					r := lognormalRun(rng, 2000, 10*factor*m, 0.02)
					r.OtherCPUs = other
					r.Reference = &Reference{Ms: 2 * m, LogSE: 0.001, Workload: testWorkload}
					rs = append(rs, r)
				}
				return rs
			}
			base := mk(tt.baseOther, 1, 1, 1.002, 0.998)
			cur := mk(tt.curOther, tt.factor, 1.3) // the machine 1.3x slower now
			cs := []Comparison{Compare(key("m"), tt.metric, cur, base, Pool{})}
			Decide(cs, opts)
			c := cs[0]
			if !relClose(c.MachineFactor, 1.3, 1e-3) {
				t.Fatalf("MachineFactor %g, want 1.3 (drift-corrected)", c.MachineFactor)
			}
			if c.Verdict != tt.want || !strings.Contains(c.Reason, tt.reason) {
				t.Errorf("verdict %q (%s), want %q containing %q", c.Verdict, c.Reason, tt.want, tt.reason)
			}
		})
	}
}
