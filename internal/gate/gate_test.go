package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/testutil"
)

// relClose reports whether got is within rel (relative) of want.
func relClose(got, want, rel float64) bool {
	if want == 0 {
		return math.Abs(got) <= rel
	}
	return math.Abs(got-want) <= rel*math.Abs(want)
}

// ---------------------------------------------------------------------------------------
// Statistical building blocks against reference numbers.

func TestTwoSidedP(t *testing.T) {
	// Reference values: SciPy 1.10.1 (Debian bookworm python3-scipy) with /usr/bin/python3,
	//   2*scipy.stats.norm.sf(t)      for df = 0 (the normal distribution),
	//   2*scipy.stats.t.sf(t, df)     for df > 0.
	tests := []struct {
		t, df, want float64
		tol         float64 // relative; 0: 1e-8
	}{
		{0, 0, 1.0, 0},
		{0.5, 0, 0.6170750774519738, 0},
		{1.0, 0, 0.31731050786291415, 0},
		{1.959964, 0, 0.049999998192884795, 0},
		{2.575829, 0, 0.010000008778481622, 0},
		{3.0, 0, 0.0026997960632601866, 0},
		{5.0, 0, 5.733031437583866e-07, 0},
		{6.0, 0, 1.973175290075389e-09, 0},
		{7.0, 0, 2.55962508777167e-12, 1e-4},
		// Deep tail: gonum's normal survival loses digits (1 - CDF); 2% off at 1e-15,
		// immaterial for a gate at alpha ~0.01.
		{8.0, 0, 1.244192114854348e-15, 0.03},
		{0.5, 1, 0.7048327646991336, 0},
		{1.0, 1, 0.49999999999999956, 0},
		{2.0, 1, 0.2951672353008664, 0},
		{12.706205, 1, 0.04999999896608902, 0},
		{1.0, 2, 0.42264973081037427, 0},
		{2.776445, 4, 0.05000000538209156, 0},
		{3.0, 4, 0.03994196807171883, 0},
		{4.0, 4, 0.01613008990009254, 0},
		{2.0, 9, 0.07655282377070093, 0},
		{2.5, 19, 0.021740411168397436, 0},
		{1.5, 30, 0.14406592912864605, 0},
		{6.0, 8, 0.0003233932218851488, 0},
		{10.0, 3, 0.0021283990584141494, 0},
		{0.1, 100, 0.9205445310958512, 0},
		{20, 4, 3.6883105802997276e-05, 0},
		{50, 10, 2.4743103293026876e-13, 0},
		{8, 30, 6.265822475700772e-09, 0},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("t=%g,df=%g", tt.t, tt.df)
		t.Run(name, func(t *testing.T) {
			// The p-value depends on estimate/se only, and is two-sided: the sign does not matter.
			for _, in := range []struct{ est, se float64 }{{tt.t, 1}, {-tt.t, 1}, {3 * tt.t, 3}, {-tt.t / 8, 0.125}} {
				got := TwoSidedP(in.est, in.se, tt.df)
				tol := tt.tol
				if tol == 0 {
					tol = 1e-8
				}
				if !relClose(got, tt.want, tol) {
					t.Errorf("TwoSidedP(%g, %g, %g) = %.17g, want %.17g (SciPy)", in.est, in.se, tt.df, got, tt.want)
				}
			}
		})
	}
	// The t distribution has heavier tails than the normal: same t, larger p.
	if pt, pn := TwoSidedP(2.5, 1, 5), TwoSidedP(2.5, 1, 0); !(pt > pn) {
		t.Errorf("p(t=2.5, df=5) = %g is not larger than the normal's %g", pt, pn)
	}
	// Zero standard error: an exact difference is certain, no difference is no evidence.
	if got := TwoSidedP(0.1, 0, 4); got != 0 {
		t.Errorf("TwoSidedP(0.1, se=0) = %g, want 0", got)
	}
	if got := TwoSidedP(0, 0, 4); got != 1 {
		t.Errorf("TwoSidedP(0, se=0) = %g, want 1", got)
	}
}

// holmNaive is Holm's method written from its definition: the adjusted p-value of the
// hypothesis of rank i (ascending p) is min(1, max over k <= i of (m-k+1) p_(k)).
func holmNaive(p []float64) []float64 {
	m := len(p)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	adj := make([]float64, m)
	for rank, i := range idx {
		v := 0.0
		for k := 0; k <= rank; k++ {
			v = math.Max(v, float64(m-k)*p[idx[k]])
		}
		adj[i] = math.Min(1, v)
	}
	return adj
}

func TestHolm(t *testing.T) {
	tests := []struct {
		name string
		p    []float64
		want []float64
	}{
		// Hand-worked: sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06),
		// 0.04 (x1 = 0.04, raised to 0.06 to keep the order).
		{"textbook", []float64{0.01, 0.04, 0.03, 0.005}, []float64{0.03, 0.06, 0.06, 0.02}},
		{"monotone step-up", []float64{0.3, 0.5, 0.02}, []float64{0.6, 0.6, 0.06}},
		{"capped at 1", []float64{0.6, 0.9, 0.7}, []float64{1, 1, 1}},
		{"partly capped", []float64{0.4, 0.6, 0.001}, []float64{0.8, 0.8, 0.003}},
		{"ties", []float64{0.01, 0.01}, []float64{0.02, 0.02}},
		{"single", []float64{0.03}, []float64{0.03}},
		{"zeros", []float64{0, 0.2}, []float64{0, 0.2}},
		{"empty", []float64{}, []float64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.p)
			got := Holm(in)
			if !slices.Equal(in, tt.p) {
				t.Errorf("Holm modified its input: %v", in)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("Holm(%v) = %v, want %v", tt.p, got, tt.want)
			}
			for i := range got {
				if math.Abs(got[i]-tt.want[i]) > 1e-12 {
					t.Errorf("Holm(%v) = %v, want %v", tt.p, got, tt.want)
					break
				}
			}
		})
	}

	// Properties on random inputs, against the definition.
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		m := 1 + rng.IntN(12)
		p := make([]float64, m)
		for i := range p {
			p[i] = math.Pow(rng.Float64(), 3) // many small p-values
		}
		got, want := Holm(p), holmNaive(p)
		for i := range p {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Fatalf("Holm(%v) = %v, want %v (definition)", p, got, want)
			}
			if got[i] < p[i] || got[i] > 1 {
				t.Fatalf("Holm(%v)[%d] = %g: not in [p, 1]", p, i, got[i])
			}
			for j := range p {
				if p[i] < p[j] && got[i] > got[j] {
					t.Fatalf("Holm(%v) = %v: not monotone (p[%d] < p[%d] but adj %g > %g)", p, got, i, j, got[i], got[j])
				}
			}
		}
	}
}

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{"5%", 0.05, ""},
		{"0.05", 0.05, ""},
		{" 2.5% ", 0.025, ""},
		{"10%", 0.10, ""},
		{"0", 0, ""},
		{"0%", 0, ""},
		{"99.9%", 0.999, ""},
		{"5", 0, `"5": want between 0% and 100%`}, // 500%: surely meant 5%
		{"1", 0, "want between 0% and 100%"},
		{"100%", 0, "want between 0% and 100%"},
		{"-5%", 0, `"-5%": want between 0% and 100%`},
		{"-0.05", 0, "want between 0% and 100%"},
		// With a NaN threshold no slowdown is ever beyond it: nothing would be a regression.
		{"NaN", 0, `"NaN": want between 0% and 100%`},
		{"nan", 0, `"nan": want between 0% and 100%`},
		{"nan%", 0, "want between 0% and 100%"},
		{"Inf", 0, `"Inf": want between 0% and 100%`},
		{"+Inf%", 0, "want between 0% and 100%"},
		{"-Inf", 0, "want between 0% and 100%"},
		{"abc", 0, `"abc": want a percentage like 5% or a fraction like 0.05`},
		{"", 0, "want a percentage"},
		{"%", 0, "want a percentage"},
		{"5%%", 0, "want a percentage"},
	}
	for _, tt := range tests {
		got, err := ParseThreshold(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseThreshold(%q) = %g, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseThreshold(%q): %v", tt.in, err)
		case math.Abs(got-tt.want) > 1e-15:
			t.Errorf("ParseThreshold(%q) = %g, want %g", tt.in, got, tt.want)
		}
	}
}

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", DefaultMetrics, ""},
		{"  ", DefaultMetrics, ""},
		{"p50", []string{"p50"}, ""},
		{"p99, throughput ,p90", []string{"p99", "throughput", "p90"}, ""},
		{"p42", nil, `unknown metric "p42"`},
		{"p50,,p95", nil, `unknown metric ""`},
		{"P95", nil, `unknown metric "P95"`},
	}
	for _, tt := range tests {
		got, err := ParseMetrics(tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "p50, p90, p95, p99, throughput") {
				t.Errorf("ParseMetrics(%q) error = %v, want one containing %q and the known metrics", tt.in, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("ParseMetrics(%q): %v", tt.in, err)
		case !slices.Equal(got, tt.want):
			t.Errorf("ParseMetrics(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// ---------------------------------------------------------------------------------------
// Compare and ComparePaired: the formulas on hand-computable runs.

// constRun is a run whose samples all equal v: its percentiles are v with a zero-width CI
// (no within-run noise), so only the between-run spread counts.
func constRun(v float64) Run {
	s := make([]float64, 400)
	for i := range s {
		s[i] = v
	}
	return Run{SamplesMs: s, ThroughputRPS: 1000 / v}
}

func constRuns(logs ...float64) []Run {
	var rs []Run
	for _, l := range logs {
		rs = append(rs, constRun(math.Exp(l)))
	}
	return rs
}

// checkCI checks a CI against reference bounds.
func checkCI(t *testing.T, what string, ci *stats.CI, lo, hi float64) {
	t.Helper()
	if ci == nil {
		t.Errorf("%s: no CI, want [%g, %g]", what, lo, hi)
		return
	}
	if !relClose(ci.Lo, lo, 1e-9) || !relClose(ci.Hi, hi, 1e-9) || ci.Confidence != 0.95 {
		t.Errorf("%s = [%.15g, %.15g] (%g), want [%.15g, %.15g] (0.95)", what, ci.Lo, ci.Hi, ci.Confidence, lo, hi)
	}
}

// noPrior turns the prior off for a test of the plain formulas.
func noPrior(t *testing.T) {
	old := Prior
	Prior = Pool{}
	t.Cleanup(func() { Prior = old })
}

func TestCompareBetweenRunFormula(t *testing.T) {
	noPrior(t)
	// Baseline log values 0, ±0.1, ±0.2: mean 0, sample variance 0.1/4 = 0.025. One current
	// run at log 0.5. se = sqrt(0.025 (1/5 + 1/1)), t = 0.5/se with 4 df.
	// Reference numbers: SciPy 1.10.1, t.sf and t.ppf(0.975, 4) = 2.7764451051977987.
	const (
		se    = 0.17320508075688773
		p     = 0.04470858727968061 // 2*t.sf(2.8867513459481287, 4)
		crit4 = 2.7764451051977987
	)
	base := constRuns(0, 0.1, -0.1, 0.2, -0.2)
	cur := constRuns(0.5)
	for _, metric := range []string{"p50", "p95", "p99", "throughput"} {
		t.Run(metric, func(t *testing.T) {
			c := Compare("k", metric, cur, base, Pool{})
			logRatio := 0.5
			if metric == "throughput" { // throughput = 1000/latency: the log ratio flips sign
				logRatio = -0.5
			}
			if c.Key != "k" || c.Metric != metric || c.DF != 4 || c.Verdict != "" {
				t.Errorf("key %q metric %q df %g verdict %q; want k, %s, 4, none before Decide", c.Key, c.Metric, c.DF, c.Verdict, metric)
			}
			if want := "between-run: spread pooled over 4 df of comparable runs: 5 baseline run(s), 1 current run(s), t with 4 df"; c.Method != want {
				t.Errorf("Method = %q, want %q", c.Method, want)
			}
			if !relClose(c.Ratio, math.Exp(logRatio), 1e-12) {
				t.Errorf("Ratio = %.15g, want e^%g = %.15g", c.Ratio, logRatio, math.Exp(logRatio))
			}
			if !relClose(c.P, p/2, 1e-8) {
				t.Errorf("P = %.17g, want %.17g (SciPy)", c.P, p)
			}
			checkCI(t, "RatioCI", c.RatioCI, math.Exp(logRatio-crit4*se), math.Exp(logRatio+crit4*se))
			bv, cv := 1.0, math.Exp(0.5)
			if metric == "throughput" {
				bv, cv = 1000, 1000*math.Exp(-0.5)
			}
			if c.Baseline.Runs != 5 || c.Current.Runs != 1 || !relClose(c.Baseline.Value, bv, 1e-12) || !relClose(c.Current.Value, cv, 1e-12) {
				t.Errorf("Baseline %+v, Current %+v; want 5 runs at %g, 1 run at %g", c.Baseline, c.Current, bv, cv)
			}
			// Each side's centre has standard error sigma/sqrt(n).
			sb, sc := math.Sqrt(0.025/5), math.Sqrt(0.025)
			checkCI(t, "Baseline.CI", c.Baseline.CI, bv*math.Exp(-crit4*sb), bv*math.Exp(crit4*sb))
			checkCI(t, "Current.CI", c.Current.CI, cv*math.Exp(-crit4*sc), cv*math.Exp(crit4*sc))

			// p = 0.0447: significant at alpha 0.05, not at 0.01.
			for _, tc := range []struct {
				alpha   float64
				verdict string
				reason  string
			}{
				{0.05, Regression, "beyond the " + Pct(Options{Threshold: 0.05}.Band(metric)) + " threshold"},
				{0.01, Inconclusive, "beyond the threshold but not significant (p=0.022 after Holm >= 0.01)"},
			} {
				cs := []Comparison{c}
				Decide(cs, Options{Alpha: tc.alpha, Threshold: 0.05})
				if cs[0].Verdict != tc.verdict || !strings.Contains(cs[0].Reason, tc.reason) || cs[0].PAdj != c.P {
					t.Errorf("alpha %g: verdict %q (%s), p_adj %g; want %q containing %q, p_adj = p = %g",
						tc.alpha, cs[0].Verdict, cs[0].Reason, cs[0].PAdj, tc.verdict, tc.reason, c.P)
				}
			}
		})
	}
}

func TestComparePooledFormula(t *testing.T) {
	noPrior(t)
	// Baseline logs 0, ±0.1 (variance 0.01, 2 df); current logs 0.5, 0.7 (variance 0.02,
	// 1 df). Pooled variance (2*0.01 + 0.02)/3, se = sqrt(pooled (1/3 + 1/2)), 3 df.
	// Reference numbers: SciPy 1.10.1, t.sf and t.ppf(0.975, 3).
	const (
		se    = 0.10540925533894598
		p     = 0.010749452531465342 // 2*t.sf(5.692099788303083, 3)
		crit3 = 3.182446305284263
	)
	c := Compare("k", "p95", constRuns(0.5, 0.7), constRuns(0, 0.1, -0.1), Pool{})
	if c.DF != 3 || c.Method != "between-run: spread pooled over 3 df of comparable runs: 3 baseline run(s), 2 current run(s), t with 3 df" {
		t.Errorf("DF %g, Method %q; want 3 df from both sides", c.DF, c.Method)
	}
	if !relClose(c.Ratio, math.Exp(0.6), 1e-12) || !relClose(c.P, p/2, 1e-8) {
		t.Errorf("Ratio %.15g, P %.17g; want %.15g, %.17g", c.Ratio, c.P, math.Exp(0.6), p)
	}
	checkCI(t, "RatioCI", c.RatioCI, math.Exp(0.6-crit3*se), math.Exp(0.6+crit3*se))
	if c.Current.Runs != 2 || !relClose(c.Current.Value, math.Exp(0.6), 1e-12) {
		t.Errorf("Current = %+v, want 2 runs with geometric mean e^0.6", c.Current)
	}
}

// rampRun returns 400 samples exp(k*0.001 + shift), k = 1..400: its order statistics are
// known exactly, so the within-run standard error of a percentile's log can be worked out
// from the order-statistic CI's ranks.
func rampRun(shift float64) Run {
	s := make([]float64, 400)
	for k := range s {
		s[k] = math.Exp(float64(k+1)*0.001 + shift)
	}
	return Run{SamplesMs: s, ThroughputRPS: 100}
}

func TestCompareWithinRunFormula(t *testing.T) {
	noPrior(t)
	// One run each side, so only the within-run noise counts and the test is normal (df 0).
	// Ranks of the 95% order-statistic CI for n = 400 (binomial, equal tails, SciPy
	// binom.cdf): p50 -> X(180)..X(221), p95 -> X(371)..X(389). The log value's se is
	// (u-l)*0.001/(2*1.959964), the log ratio's se that times sqrt(2) (same se both sides);
	// p = 2*norm.sf(0.01/se) from SciPy.
	tests := []struct {
		metric      string
		rank        int // nearest rank of the percentile
		seLog, p    float64
		wantInRange bool
	}{
		{"p50", 200, 0.014791791088330425, 0.49900848679040744, true},
		{"p95", 380, 0.006493957063169455, 0.1235864007199573, true},
	}
	for _, tt := range tests {
		t.Run(tt.metric, func(t *testing.T) {
			c := Compare("k", tt.metric, []Run{rampRun(0.01)}, []Run{rampRun(0)}, Pool{})
			if c.DF != 0 || !strings.HasPrefix(c.Method, "within-run only") {
				t.Errorf("DF %g, Method %q; want normal, within-run only", c.DF, c.Method)
			}
			if !relClose(c.Ratio, math.Exp(0.01), 1e-9) || !relClose(c.P, tt.p/2, 1e-6) {
				t.Errorf("Ratio %.15g, P %.17g; want %.15g, %.17g", c.Ratio, c.P, math.Exp(0.01), tt.p)
			}
			if want := math.Exp(float64(tt.rank) * 0.001); !relClose(c.Baseline.Value, want, 1e-12) {
				t.Errorf("Baseline.Value = %.15g, want X(%d) = %.15g", c.Baseline.Value, tt.rank, want)
			}
			checkCI(t, "RatioCI", c.RatioCI, math.Exp(0.01-1.959964*tt.seLog), math.Exp(0.01+1.959964*tt.seLog))
		})
	}
}

// The prior moderates the pooled variance: (nu0 s0^2 + df s^2)/(nu0 + df). When the pool
// is the configuration's own history, its raw spread is not taken again (that would undo
// the moderation); a configuration noisier than a pool of other entries keeps its own.
func TestCompareModeratedFormula(t *testing.T) {
	// Baseline logs 0, ±0.1, ±0.2 (variance 0.025, 4 df) with the default prior (0.01, 4
	// df): sigma^2 = (4*0.01 + 4*0.025)/8 = 0.0175 with 8 df; se = sqrt(0.0175 (1/5 + 1)).
	// Reference: the regularized incomplete beta I_x(4, 1/2), x = 8/(8+t^2), by Simpson's
	// rule with 2e6 steps (Python, math only): 2*t.sf(0.5/se, 8); t.ppf(0.975, 8) from SciPy.
	const (
		se    = 0.14491376746189438
		p     = 0.008690604312634274
		crit8 = 2.306004135204165
	)
	c := Compare("k", "p95", constRuns(0.5), constRuns(0, 0.1, -0.1, 0.2, -0.2), Pool{})
	if c.DF != 8 || c.Method != "between-run: spread pooled over 4 df of comparable runs, moderated by a 10% prior worth 4 df: 5 baseline run(s), 1 current run(s), t with 8 df" {
		t.Errorf("DF %g, Method %q", c.DF, c.Method)
	}
	if !relClose(c.P, p/2, 1e-7) {
		t.Errorf("P %.17g, want %.17g", c.P, p)
	}
	checkCI(t, "RatioCI", c.RatioCI, math.Exp(0.5-crit8*se), math.Exp(0.5+crit8*se))
	// The same entry with a pool of other entries quieter than it: its own spread (0.025).
	c = Compare("k", "p95", constRuns(0.5), constRuns(0, 0.1, -0.1, 0.2, -0.2), Pool{Var: 0.001, DF: 20})
	if !relClose(c.seLog, math.Sqrt(0.025*(1.0/5+1)), 1e-12) {
		t.Errorf("noisier than the pool: se %g, want %g", c.seLog, math.Sqrt(0.025*1.2))
	}
	// One baseline run: the prior alone, 4 df.
	c = Compare("k", "p95", constRuns(0.5), constRuns(0), Pool{})
	if c.DF != 4 || !strings.HasPrefix(c.Method, "no between-run information in the baseline (1 run(s) per configuration): drift between runs assumed 10%") {
		t.Errorf("one run: DF %g, Method %q", c.DF, c.Method)
	}
	// A pool from other entries replaces the entry's own spread.
	c = Compare("k", "p95", constRuns(0.5), constRuns(0, 0.1), Pool{Var: 0.04, DF: 12})
	if c.DF != 16 || !relClose(c.seLog, math.Sqrt((4*0.01+12*0.04)/16*(1.0/2+1)), 1e-12) {
		t.Errorf("pooled: DF %g, se %g", c.DF, c.seLog)
	}
}

func TestComparePairedFormula(t *testing.T) {
	// Round r: A at log c_r, B at log c_r + d_r. The drift c_r cancels; the diffs d = 0.08,
	// 0.10, 0.12, 0.10 have mean 0.1, sd 0.016329931618554520, se sd/2, 3 df.
	// Reference numbers: SciPy 1.10.1, 2*t.sf(12.247448713915892, 3), t.ppf(0.975, 3).
	const (
		se    = 0.00816496580927726
		p     = 0.0011722164447168855
		crit3 = 3.182446305284263
	)
	drift := []float64{0, 0.3, -0.2, 0.1}
	d := []float64{0.08, 0.10, 0.12, 0.10}
	var a, b []Run
	for r := range drift {
		a = append(a, constRun(math.Exp(drift[r])))
		b = append(b, constRun(math.Exp(drift[r]+d[r])))
	}
	c := ComparePaired("k", "p99", a, b)
	if c.DF != 3 || c.Method != "paired A/B: 4 interleaved rounds, each run's p99 by Harrell-Davis, t with 3 df" {
		t.Errorf("DF %g, Method %q", c.DF, c.Method)
	}
	if !relClose(c.Ratio, math.Exp(0.1), 1e-12) || !relClose(c.P, p/2, 1e-8) {
		t.Errorf("Ratio %.15g, P %.17g; want %.15g, %.17g", c.Ratio, c.P, math.Exp(0.1), p)
	}
	checkCI(t, "RatioCI", c.RatioCI, math.Exp(0.1-crit3*se), math.Exp(0.1+crit3*se))
	if c.Baseline.Runs != 4 || c.Current.Runs != 4 {
		t.Errorf("runs %d/%d, want 4/4", c.Baseline.Runs, c.Current.Runs)
	}
}

func TestComparePairedWithinRunFloor(t *testing.T) {
	// Every round's B is A shifted by exactly 0.01 on the log scale: the rounds agree
	// perfectly (sd 0), so the standard error is the within-run one: sqrt(mean over rounds
	// of se_A^2 + se_B^2) / sqrt(R) = sqrt(2)*se/2 with se = 0.010459375784453185 (p50 of
	// 400 samples, see TestCompareWithinRunFormula). Reference: SciPy 1.10.1,
	// 2*t.sf(1.3521013027136686, 3).
	const (
		se    = 0.0073958955441652124
		p     = 0.26924216675582496
		crit3 = 3.182446305284263
	)
	var a, b []Run
	for _, drift := range []float64{0, 0.2, -0.1, 0.05} {
		a, b = append(a, rampRun(drift)), append(b, rampRun(drift+0.01))
	}
	c := ComparePaired("k", "p50", a, b)
	if !relClose(c.Ratio, math.Exp(0.01), 1e-9) || !relClose(c.P, p/2, 1e-6) || c.DF != 3 {
		t.Errorf("Ratio %.15g, P %.17g, DF %g; want %.15g, %.17g, 3", c.Ratio, c.P, c.DF, math.Exp(0.01), p)
	}
	checkCI(t, "RatioCI", c.RatioCI, math.Exp(0.01-crit3*se), math.Exp(0.01+crit3*se))
}

// ---------------------------------------------------------------------------------------
// Compare / Decide: the decision table on synthetic, seeded, lognormal runs.

// lognormalRun returns n latencies median*exp(sigma*Z) and the matching throughput
// (batch 1: 1000 / mean latency in ms).
func lognormalRun(rng *rand.Rand, n int, median, sigma float64) Run {
	s := make([]float64, n)
	sum := 0.0
	for i := range s {
		s[i] = median * math.Exp(sigma*rng.NormFloat64())
		sum += s[i]
	}
	return Run{SamplesMs: s, ThroughputRPS: 1000 / (sum / float64(n))}
}

// lognormalRuns returns one run per factor, its median 10 ms * factor.
func lognormalRuns(rng *rand.Rand, n int, sigma float64, factors ...float64) []Run {
	var rs []Run
	for _, f := range factors {
		rs = append(rs, lognormalRun(rng, n, 10*f, sigma))
	}
	return rs
}

func geomean(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += math.Log(v)
	}
	return math.Exp(s / float64(len(x)))
}

type want struct {
	metric  string
	verdict string
	reason  string // substring of Reason
}

func TestCompareDecisionTable(t *testing.T) {
	steady := []float64{1, 1.01, 0.99, 1.005, 0.995} // 5 baseline runs, ±1% drift
	opts := Options{Alpha: 0.01, Threshold: 0.05}
	// A baseline whose other entries show little drift between runs: 200 df at 0.5%.
	// Moderated with the prior: (4*0.01 + 200*0.005^2)/204, about 1.5%, 204 df.
	quiet := Pool{Var: 0.005 * 0.005, DF: 200}
	const quietMethod = "between-run: spread pooled over 200 df of comparable runs, moderated by a 10% prior worth 4 df: 5 baseline run(s), 1 current run(s), t with 204 df"
	tests := []struct {
		name       string
		seed       uint64
		n          int     // samples per run
		sigma      float64 // within-run log noise
		base, cur  []float64
		curTputMul float64 // multiplies the current runs' throughput (0: leave)
		pool       Pool    // between-run noise of the whole baseline (zero: this entry's own)
		wants      []want
		method     string
		df         float64
	}{
		{
			name: "identical distributions, quiet baseline", seed: 1, n: 400, sigma: 0.05, pool: quiet,
			base: []float64{1, 1, 1, 1, 1}, cur: []float64{1},
			wants:  []want{{"p50", NoChange, "lies within the 5% threshold"}, {"p95", NoChange, "lies within"}, {"p99", NoChange, "lies within"}, {"throughput", NoChange, "lies within"}},
			method: quietMethod, df: 204,
		},
		{
			// One entry's 5 runs are little evidence against the prior's 10% drift: the
			// comparison cannot tell, and says how small a change it could have flagged.
			name: "identical distributions, 5 runs of one entry", seed: 1, n: 400, sigma: 0.05,
			base: []float64{1, 1, 1, 1, 1}, cur: []float64{1},
			wants:  []want{{"p50", Inconclusive, "reaches beyond the threshold; smallest change this comparison could flag ~"}},
			method: "between-run: spread pooled over 4 df of comparable runs, moderated by a 10% prior worth 4 df: 5 baseline run(s), 1 current run(s), t with 8 df", df: 8,
		},
		{
			name: "20% slower, low noise", seed: 2, n: 400, sigma: 0.02, base: steady, cur: []float64{1.2}, pool: quiet,
			wants: []want{
				{"p50", Regression, "p50 +"}, {"p95", Regression, "beyond the 5% threshold"},
				{"p99", Regression, "beyond the 10% threshold"}, {"throughput", Regression, "throughput -"},
			},
			method: "t with 204 df", df: 204,
		},
		{
			// This entry drifts far more than the pool: its own (moderated) spread counts.
			name: "20% slower, baseline runs spread ±30%", seed: 3, n: 400, sigma: 0.02, pool: quiet,
			base: []float64{0.7, 1.3, 1.0, 0.75, 1.25}, cur: []float64{1.2},
			wants: []want{
				{"p50", Inconclusive, "beyond the threshold but not significant"}, {"p95", Inconclusive, "not significant"},
				{"p99", Inconclusive, "not significant"}, {"throughput", Inconclusive, "not significant"},
			},
			method: "t with 204 df", df: 204,
		},
		{
			name: "2% slower, tiny noise, many samples", seed: 4, n: 4000, sigma: 0.003, pool: Pool{Var: 0.002 * 0.002, DF: 1000},
			base: []float64{1, 1, 1, 1, 1}, cur: []float64{1.02},
			wants: []want{
				{"p50", NoChange, "lies within the 5% threshold"}, {"p99", NoChange, "lies within the 10% threshold"},
				{"throughput", NoChange, "lies within the 5% threshold"},
			},
			method: "t with 1004 df", df: 1004,
		},
		{
			name: "too few samples for p99", seed: 5, n: 100, sigma: 0.02, base: steady, cur: []float64{1.2}, pool: quiet,
			wants: []want{{"p99", Inconclusive, "too few samples for a p99 claim: each run needs >= 368 iterations"}},
		},
		{
			name: "too few samples for p95", seed: 6, n: 71, sigma: 0.02, base: steady, cur: []float64{1.2}, pool: quiet,
			wants:  []want{{"p95", Inconclusive, "needs >= 72 iterations"}, {"p90", Regression, "beyond"}},
			method: "t with 204 df", df: 204,
		},
		{
			name: "20% faster", seed: 7, n: 400, sigma: 0.02, base: steady, cur: []float64{0.8}, pool: quiet,
			wants: []want{
				{"p50", Improvement, "p50 -"}, {"p95", Improvement, "beyond the 5% threshold"},
				{"throughput", Improvement, "throughput +"},
			},
			method: "t with 204 df", df: 204,
		},
		{
			// Same latencies, throughput 20% lower: only throughput regresses, so the
			// direction of the throughput metric is its own.
			name: "throughput 20% lower", seed: 8, n: 400, sigma: 0.02, base: steady, cur: []float64{1}, curTputMul: 0.8, pool: quiet,
			wants:  []want{{"throughput", Regression, "throughput -"}, {"p50", NoChange, "lies within"}},
			method: "t with 204 df", df: 204,
		},
		{
			name: "throughput 25% higher", seed: 9, n: 400, sigma: 0.02, base: steady, cur: []float64{1}, curTputMul: 1.25, pool: quiet,
			wants:  []want{{"throughput", Improvement, "throughput +"}, {"p95", NoChange, "lies within"}},
			method: "t with 204 df", df: 204,
		},
		{
			name: "one baseline run, nothing else known", seed: 10, n: 400, sigma: 0.02, base: []float64{1}, cur: []float64{1.2},
			wants:  []want{{"p50", Inconclusive, "beyond the threshold but not significant"}, {"p95", Inconclusive, "smallest change this comparison could flag ~"}},
			method: "no between-run information in the baseline (1 run(s) per configuration): drift between runs assumed 10% (prior worth 4 df), t with 4 df", df: 4,
		},
		{
			name: "one baseline run, quiet pool", seed: 10, n: 400, sigma: 0.02, base: []float64{1}, cur: []float64{1.2}, pool: quiet,
			wants:  []want{{"p50", Regression, "beyond"}, {"p95", Regression, "beyond"}},
			method: "1 baseline run(s), 1 current run(s), t with 204 df", df: 204,
		},
		{
			name: "two current runs pool their spread", seed: 11, n: 400, sigma: 0.02, base: steady, cur: []float64{1.2, 1.21}, pool: quiet,
			wants:  []want{{"p50", Regression, "beyond"}, {"p95", Regression, "beyond"}},
			method: "between-run: spread pooled over 201 df of comparable runs, moderated by a 10% prior worth 4 df: 5 baseline run(s), 2 current run(s), t with 205 df", df: 205,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tt.seed, 42))
			base := lognormalRuns(rng, tt.n, tt.sigma, tt.base...)
			cur := lognormalRuns(rng, tt.n, tt.sigma, tt.cur...)
			if tt.curTputMul != 0 {
				for i := range cur {
					cur[i].ThroughputRPS *= tt.curTputMul
				}
			}
			var cs []Comparison
			for _, w := range tt.wants {
				cs = append(cs, Compare("m|b1", w.metric, cur, base, tt.pool))
			}
			Decide(cs, opts)
			for i, w := range tt.wants {
				c := cs[i]
				if c.Verdict != w.verdict || !strings.Contains(c.Reason, w.reason) {
					t.Errorf("%s: verdict %q, reason %q; want %q with %q (ratio %.4f, p %.3g, p_adj %.3g)",
						w.metric, c.Verdict, c.Reason, w.verdict, w.reason, c.Ratio, c.P, c.PAdj)
				}
				if c.Verdict == Inconclusive && !c.tested {
					if c.Ratio != 0 || c.RatioCI != nil || c.P != 0 || c.PAdj != 0 || c.Method != "" {
						t.Errorf("%s: inconclusive but has numbers: %+v", w.metric, c)
					}
					continue
				}
				if c.Verdict == Inconclusive && !(c.MinDetectable > 0) {
					t.Errorf("%s: inconclusive without the smallest detectable change: %+v", w.metric, c)
				}
				if !strings.Contains(c.Method, tt.method) || c.DF != tt.df {
					t.Errorf("%s: Method %q, DF %g; want %q, %g", w.metric, c.Method, c.DF, tt.method, tt.df)
				}
				// The ratio is what was injected: the current factor over the baseline's
				// geometric mean (inverted for throughput).
				wantRatio := geomean(tt.cur) / geomean(tt.base)
				if w.metric == "throughput" {
					wantRatio = 1 / wantRatio
					if tt.curTputMul != 0 {
						wantRatio *= tt.curTputMul
					}
				}
				if !relClose(c.Ratio, wantRatio, 0.015) {
					t.Errorf("%s: Ratio %.4f, want %.4f ± 1.5%%", w.metric, c.Ratio, wantRatio)
				}
				if c.RatioCI == nil || !(c.RatioCI.Lo < c.Ratio && c.Ratio < c.RatioCI.Hi) {
					t.Errorf("%s: RatioCI %+v does not contain the ratio %g", w.metric, c.RatioCI, c.Ratio)
				}
				if c.PAdj < c.P || c.PAdj > 1 || c.P < 0 {
					t.Errorf("%s: P %g, PAdj %g; want 0 <= P <= PAdj <= 1", w.metric, c.P, c.PAdj)
				}
				if c.Baseline.Runs != len(tt.base) || c.Current.Runs != len(tt.cur) {
					t.Errorf("%s: runs %d/%d, want %d/%d", w.metric, c.Baseline.Runs, c.Current.Runs, len(tt.base), len(tt.cur))
				}
			}
		})
	}
}

func TestCompareNothing(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	runs := lognormalRuns(rng, 400, 0.02, 1, 1)
	for _, tc := range []struct {
		name      string
		cur, base []Run
		metric    string
		reason    string
	}{
		{"no current runs", nil, runs, "p95", "nothing to compare"},
		{"no baseline runs", runs, nil, "p95", "nothing to compare"},
		{"no throughput", []Run{{SamplesMs: runs[0].SamplesMs}}, runs, "throughput", "no throughput or too few samples"},
		{"one sample", []Run{{SamplesMs: []float64{1}, ThroughputRPS: 5}}, runs, "throughput", "no throughput or too few samples"},
	} {
		c := Compare("k", tc.metric, tc.cur, tc.base, Pool{})
		if c.Verdict != Inconclusive || c.Reason != tc.reason {
			t.Errorf("%s: verdict %q reason %q, want inconclusive, %q", tc.name, c.Verdict, c.Reason, tc.reason)
		}
	}
}

func TestComparePaired(t *testing.T) {
	// 8 interleaved rounds; every round drifts (the machine's speed changes by ~20%
	// between rounds) but within a round B is consistently 10% slower than A.
	rng := rand.New(rand.NewPCG(12, 42))
	var a, b []Run
	for r := 0; r < 8; r++ {
		drift := math.Exp(0.2 * rng.NormFloat64())
		a = append(a, lognormalRun(rng, 400, 10*drift, 0.02))
		b = append(b, lognormalRun(rng, 400, 11*drift, 0.02))
	}
	opts := Options{Alpha: 0.01, Threshold: 0.05}
	for _, metric := range []string{"p50", "p95", "throughput"} {
		t.Run(metric, func(t *testing.T) {
			cs := []Comparison{ComparePaired("A -> B", metric, a, b)}
			Decide(cs, opts)
			c := cs[0]
			wantRatio := 1.1
			if metric == "throughput" {
				wantRatio = 1 / 1.1
			}
			method := "paired A/B: 8 interleaved rounds, each run's " + metric + " by Harrell-Davis, t with 7 df"
			if metric == "throughput" {
				method = "paired A/B: 8 interleaved rounds, t with 7 df"
			}
			if c.Verdict != Regression || c.DF != 7 || c.Method != method || !relClose(c.Ratio, wantRatio, 0.01) {
				t.Errorf("verdict %q (%s), DF %g, Method %q, Ratio %.4f; want regression, 7 df, ratio %.4f", c.Verdict, c.Reason, c.DF, c.Method, c.Ratio, wantRatio)
			}
			// The same runs compared unpaired: the drift between rounds swamps the 10%.
			cs = []Comparison{Compare("A -> B", metric, b, a, Pool{})}
			Decide(cs, opts)
			if cs[0].Verdict != Inconclusive || !strings.Contains(cs[0].Reason, "not significant") {
				t.Errorf("unpaired: verdict %q (%s), want inconclusive, not significant", cs[0].Verdict, cs[0].Reason)
			}
		})
	}

	rep := CheckAB("A -> B", a, b, []string{"p50", "p99"}, opts)
	if rep.Verdict != Regression || rep.Regressions != 2 || len(rep.Comparisons) != 2 || rep.Summary != "2 regression(s) in 2 comparisons" {
		t.Errorf("CheckAB: verdict %q, regressions %d, summary %q; want regression, 2", rep.Verdict, rep.Regressions, rep.Summary)
	}

	// Rounds that cannot be paired.
	for _, tc := range []struct {
		name   string
		a, b   []Run
		metric string
		reason string
	}{
		{"mismatched round counts", a, b[:7], "p50", "A/B needs at least 2 rounds of both"},
		{"one round", a[:1], b[:1], "p50", "A/B needs at least 2 rounds of both"},
		{"no rounds", nil, nil, "p50", "A/B needs at least 2 rounds of both"},
		{"too few samples", []Run{{SamplesMs: a[0].SamplesMs[:100]}, a[1]}, b[:2], "p99", "needs >= 368 iterations"},
	} {
		cs := []Comparison{ComparePaired("k", tc.metric, tc.a, tc.b)}
		Decide(cs, opts)
		if cs[0].Verdict != Inconclusive || !strings.Contains(cs[0].Reason, tc.reason) {
			t.Errorf("%s: verdict %q reason %q; want inconclusive, %q", tc.name, cs[0].Verdict, cs[0].Reason, tc.reason)
		}
	}
}

// ---------------------------------------------------------------------------------------
// Decide on crafted comparisons: reasons, thresholds, Holm across comparisons.

func tested(metric string, ratio, p, se float64) Comparison {
	return Comparison{Key: "k", Metric: metric, Ratio: ratio, P: p, seLog: se, DF: 10, tested: true, higherBad: metric != "throughput"}
}

func TestDecide(t *testing.T) {
	type out struct {
		verdict string
		reason  string // exact
		pAdj    float64
	}
	five := Options{Alpha: 0.01, Threshold: 0.05}
	// se 0.005: the 99% one-sided bound (t, 10 df: 2.764) is the change +1.4%; se 0.05: +14.8%.
	const tight, wide = 0.005, 0.05
	tests := []struct {
		name string
		in   []Comparison
		opts Options
		want []out
	}{
		{"regression", []Comparison{tested("p95", 1.2, 0.001, wide)}, five, []out{
			{Regression, "p95 +20.0%: significant (p=0.001 after Holm < 0.01) and beyond the 5% threshold", 0.001}}},
		{"improvement", []Comparison{tested("p95", 0.8, 0.001, wide)}, five, []out{
			{Improvement, "p95 -20.0%: significant (p=0.001 after Holm) and beyond the 5% threshold", 0.001}}},
		{"significant but small: equivalent", []Comparison{tested("p50", 1.02, 1e-6, tight)}, five, []out{
			{NoChange, "p50 +2.0%: the 95% CI of the ratio [1.009, 1.031] lies within the 5% threshold (p=1e-06)", 1e-6}}},
		{"significant, small, but the bound reaches beyond", []Comparison{tested("p50", 1.04, 1e-4, 0.01)}, five, []out{
			{Inconclusive, "p50 +4.0%: cannot tell: significant (p=0.0001) but the 95% CI of the ratio [1.017, 1.063] reaches beyond the threshold; smallest change this comparison could flag ~2.802%", 1e-4}}},
		{"large but noisy", []Comparison{tested("p99", 1.3, 0.2, 0.2)}, five, []out{
			{Inconclusive, "p99 +30.0%: cannot tell: beyond the threshold but not significant (p=0.2 after Holm >= 0.01); smallest change this comparison could flag ~73.8%", 0.2}}},
		{"within noise, tight", []Comparison{tested("p99", 1.01, 0.5, tight)}, five, []out{
			{NoChange, "p99 +1.0%: the 95% CI of the ratio [0.999, 1.021] lies within the 10% threshold (p=0.5)", 0.5}}},
		{"within noise, wide", []Comparison{tested("p99", 1.01, 0.5, wide)}, five, []out{
			{Inconclusive, "p99 +1.0%: cannot tell: not significant (p=0.5) and the 95% CI of the ratio [0.904, 1.129] reaches beyond the threshold; smallest change this comparison could flag ~14.82%", 0.5}}},
		{"faster, not significant, no slowdown possible", []Comparison{tested("p95", 0.85, 0.05, wide)}, five, []out{
			{NoChange, "p95 -15.0%: no slowdown beyond the 5% threshold (the 95% CI of the ratio [0.760, 0.950] excludes it), possibly faster (p=0.05)", 0.05}}},
		{"p exactly alpha is not significant", []Comparison{tested("p95", 1.2, 0.01, wide)}, five, []out{
			{Inconclusive, "p95 +20.0%: cannot tell: beyond the threshold but not significant (p=0.01 after Holm >= 0.01); smallest change this comparison could flag ~14.82%", 0.01}}},
		{"throughput lower is a regression", []Comparison{tested("throughput", 0.8, 0.001, wide)}, five, []out{
			{Regression, "throughput -20.0%: significant (p=0.001 after Holm < 0.01) and beyond the 5% threshold", 0.001}}},
		{"throughput higher is an improvement", []Comparison{tested("throughput", 1.25, 0.001, wide)}, five, []out{
			{Improvement, "throughput +25.0%: significant (p=0.001 after Holm) and beyond the 5% threshold", 0.001}}},
		{"throughput 3% lower is within the threshold", []Comparison{tested("throughput", 0.97, 0.001, tight)}, five, []out{
			{NoChange, "throughput -3.0%: the 95% CI of the ratio [0.959, 0.981] lies within the 5% threshold (p=0.001)", 0.001}}},
		{"10% threshold", []Comparison{tested("p95", 1.08, 0.001, tight), tested("p99", 1.12, 0.001, tight)}, Options{Alpha: 0.01, Threshold: 0.10, TailThreshold: 0.10}, []out{
			{NoChange, "p95 +8.0%: the 95% CI of the ratio [1.068, 1.092] lies within the 10% threshold (p=0.002)", 0.002},
			{Regression, "p99 +12.0%: significant (p=0.002 after Holm < 0.01) and beyond the 10% threshold", 0.002}}},
		// Holm: 0.004 and 0.006 among two comparisons stay below 0.01 (0.008, 0.008); with
		// a third, unrelated one they become 0.012 and no longer count.
		{"Holm keeps two", []Comparison{tested("p95", 1.2, 0.006, wide), tested("p99", 1.2, 0.004, wide)}, five, []out{
			{Regression, "p95 +20.0%: significant (p=0.008 after Holm < 0.01) and beyond the 5% threshold", 0.008},
			{Regression, "p99 +20.0%: significant (p=0.008 after Holm < 0.01) and beyond the 10% threshold", 0.008}}},
		{"Holm across three", []Comparison{tested("p95", 1.2, 0.006, wide), tested("p99", 1.2, 0.004, wide), tested("throughput", 1, 0.5, tight)}, five, []out{
			{Inconclusive, "p95 +20.0%: cannot tell: beyond the threshold but not significant (p=0.012 after Holm >= 0.01); smallest change this comparison could flag ~18.59%", 0.012},
			{Inconclusive, "p99 +20.0%: cannot tell: beyond the threshold but not significant (p=0.012 after Holm >= 0.01); smallest change this comparison could flag ~18.59%", 0.012},
			{NoChange, "throughput +0.0%: the 95% CI of the ratio [0.989, 1.011] lies within the 5% threshold (p=0.5)", 0.5}}},
		// Untested (inconclusive) comparisons do not count in the correction.
		{"inconclusive left alone", []Comparison{
			{Key: "k", Metric: "p99", Verdict: Inconclusive, Reason: "too few samples"},
			tested("p95", 1.2, 0.006, wide),
		}, five, []out{
			{Inconclusive, "too few samples", 0},
			{Regression, "p95 +20.0%: significant (p=0.006 after Holm < 0.01) and beyond the 5% threshold", 0.006}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := slices.Clone(tt.in)
			Decide(cs, tt.opts)
			for i, w := range tt.want {
				if cs[i].Verdict != w.verdict || cs[i].Reason != w.reason || math.Abs(cs[i].PAdj-w.pAdj) > 1e-15 {
					t.Errorf("[%d] verdict %q reason %q p_adj %g\n     want %q reason %q p_adj %g", i, cs[i].Verdict, cs[i].Reason, cs[i].PAdj, w.verdict, w.reason, w.pAdj)
				}
			}
		})
	}
}

// Rounds needed: an inconclusive A/B comparison says how many rounds in all would decide.
func TestDecideRoundsNeeded(t *testing.T) {
	c := tested("p95", 1.03, 0.2, 0.02) // 6 rounds: per-round spread 0.049
	c.Rounds, c.DF = 6, 5
	cs := []Comparison{c}
	Decide(cs, Options{Alpha: 0.01, Threshold: 0.05})
	// no-change side: n = (t(5,.975)*0.04899/(log 1.05 - log 1.03))^2 = (2.5706*0.04899/0.01923)^2 = 42.9
	if cs[0].Verdict != Inconclusive || cs[0].RoundsNeeded != 43 || !strings.Contains(cs[0].Reason, "about 43 rounds in all would decide") {
		t.Errorf("verdict %q, rounds needed %d, reason %q; want inconclusive, 43", cs[0].Verdict, cs[0].RoundsNeeded, cs[0].Reason)
	}
	rep := &Report{Comparisons: cs}
	rep.finish()
	if rep.Verdict != NotConclusive || !strings.Contains(rep.Summary, "1 of 1 comparisons inconclusive") || !strings.Contains(rep.Summary, "about 43 rounds would decide") {
		t.Errorf("report %q: %q", rep.Verdict, rep.Summary)
	}
}

// ---------------------------------------------------------------------------------------
// Check: records and a baseline file.

const (
	fpA    = "aaaaaaaaaaaa"
	fpB    = "bbbbbbbbbbbb"
	fpOld  = "0123456789ab"
	shaOld = "1111111111111111111111111111111111111111111111111111111111111111"
	shaNew = "2222222222222222222222222222222222222222222222222222222222222222"
)

// key is the record key of model m with the knobs mkRecord uses.
func key(m string) string { return m + "|b1|compile=off|t1|i1|cl=false|q=false|cpu" }

// mkRecord returns a successful record of model m: 400 lognormal samples around
// 10 ms * factor, measured on the environment fp.
func mkRecord(rng *rand.Rand, m string, factor float64, fp string) *record.Record {
	run := lognormalRun(rng, 400, 10*factor, 0.02)
	s := stats.Summarize(run.SamplesMs, 0.95)
	return &record.Record{
		SchemaVersion: 1, Mode: "bench", Status: record.StatusOK, Knobs: knobs.Knobs{Model: m, BatchSize: 1, Compile: "off", Threads: 1, InteropThreads: 1, Device: "cpu"}, ModelSHA256: shaOld,

		LatencyP50: s.P50, LatencyP90: s.P90, LatencyP95: s.P95, LatencyP99: s.P99,
		ThroughputRPS: run.ThroughputRPS, SamplesMs: run.SamplesMs,
		Env: &record.Env{Fingerprint: fp, CPUModel: "Test CPU", CPUsAvailable: 2, Torch: "2.1.0", BLAS: "openblas"},
	}
}

// mkBaseline stores runs of each model (factors per run) into a new baseline, run i as
// commit c<i> on day i of January 2026, fingerprints per run from fps (cycled).
func mkBaseline(t *testing.T, rng *rand.Rand, models map[string][]float64, fps ...string) *baseline.File {
	t.Helper()
	f := baseline.New("test", 5)
	names := make([]string, 0, len(models))
	for m := range models {
		names = append(names, m)
	}
	sort.Strings(names)
	for i := 0; i < 5; i++ {
		var recs []*record.Record
		for _, m := range names {
			if i < len(models[m]) {
				recs = append(recs, mkRecord(rng, m, models[m][i], fps[i%len(fps)]))
			}
		}
		if len(recs) == 0 {
			continue
		}
		res := f.Update(recs, fmt.Sprintf("c%d00000000000000", i+1), time.Date(2026, 1, i+1, 12, 0, 0, 0, time.UTC))
		if len(res.Skipped) != 0 {
			t.Fatalf("baseline update skipped %v", res.Skipped)
		}
	}
	return f
}

var steady5 = []float64{1, 1.01, 0.99, 1.005, 0.995}

func TestCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 42))
	base := mkBaseline(t, rng, map[string][]float64{
		"steady": steady5, "slower": steady5, "faster": steady5, "crashed": steady5, "wrong": steady5, "retired": steady5,
	}, fpA)
	failed := &record.Record{Status: record.StatusFailed, Error: "exit status 2: boom", Knobs: knobs.Knobs{Model: "crashed", BatchSize: 1, Compile: "off", Threads: 1, InteropThreads: 1, Device: "cpu"}}
	wrong := mkRecord(rng, "wrong", 1, fpA)
	wrong.Correctness = &record.Correctness{RelDiff: 0.5, Tolerance: 1e-3, OK: false}
	results := []*record.Record{
		mkRecord(rng, "steady", 1, fpA), mkRecord(rng, "slower", 1.2, fpA), mkRecord(rng, "faster", 0.8, fpA),
		failed, wrong, mkRecord(rng, "newmodel", 1, fpA),
	}
	metrics := []string{"p50", "p95", "throughput"}
	rep := Check(Input{Results: results, Baseline: base, BaselinePath: "baselines/test.json", Metrics: metrics,
		Options: Options{Alpha: 0.01, Threshold: 0.05}})

	if rep.Verdict != Regression || rep.Regressions != 3 || rep.Improvements != 3 {
		t.Errorf("verdict %q, %d regressions, %d improvements; want regression, 3, 3", rep.Verdict, rep.Regressions, rep.Improvements)
	}
	if want := "3 regression(s) in 9 comparisons; 2 configuration(s) that the baseline measured now fail (3 inconclusive), 3 improvement(s)"; rep.Summary != want {
		t.Errorf("Summary = %q, want %q", rep.Summary, want)
	}
	if rep.Alpha != 0.01 || rep.Threshold != 0.05 || !slices.Equal(rep.Metrics, metrics) || rep.Fingerprint != fpA {
		t.Errorf("alpha %g threshold %g metrics %v fingerprint %q", rep.Alpha, rep.Threshold, rep.Metrics, rep.Fingerprint)
	}
	// steady: the 95% CI (about ±9% with this noise) is wider than the 5% band: inconclusive.
	wantVerdicts := map[string]string{key("faster"): Improvement, key("slower"): Regression, key("steady"): Inconclusive}
	var got []string
	for _, c := range rep.Comparisons {
		got = append(got, c.Key+" "+c.Metric)
		if c.Verdict != wantVerdicts[c.Key] {
			t.Errorf("%s %s: verdict %q (%s), want %q", c.Key, c.Metric, c.Verdict, c.Reason, wantVerdicts[c.Key])
		}
		// The between-run spread is pooled over all 6 entries of the baseline, compared
		// or not (6 x 4 df), plus the prior's 4 df.
		if c.DF != 28 || c.Baseline.Runs != 5 || c.Current.Runs != 1 || !strings.Contains(c.Method, "pooled over 24 df") {
			t.Errorf("%s %s: DF %g, runs %d/%d, method %q; want 28, 5/1, pooled over 24 df", c.Key, c.Metric, c.DF, c.Baseline.Runs, c.Current.Runs, c.Method)
		}
	}
	var wantOrder []string
	for _, m := range []string{"faster", "slower", "steady"} {
		for _, metric := range metrics {
			wantOrder = append(wantOrder, key(m)+" "+metric)
		}
	}
	if !slices.Equal(got, wantOrder) {
		t.Errorf("comparisons\n got %q\nwant %q (sorted by key, metrics in the order given)", got, wantOrder)
	}

	// Holm over all nine comparisons together.
	var ps, adj []float64
	for _, c := range rep.Comparisons {
		ps, adj = append(ps, c.P), append(adj, c.PAdj)
	}
	wantAdj := Holm(ps)
	for i := range adj {
		if adj[i] != wantAdj[i] || adj[i] < ps[i] {
			t.Errorf("p_adj %v\nwant %v (Holm over all comparisons; p %v)", adj, wantAdj, ps)
			break
		}
	}
	if slices.Equal(adj, ps) {
		t.Errorf("p_adj equals p for every comparison: no correction applied (%v)", ps)
	}

	wantFailed := []FailedConfig{
		{Key: key("crashed"), Reason: "failed: exit status 2: boom", WasInBaseline: true},
		{Key: key("wrong"), Reason: "outputs differ from the plain model beyond tolerance", WasInBaseline: true},
	}
	if !slices.Equal(rep.FailedConfigs, wantFailed) {
		t.Errorf("FailedConfigs = %v, want %v", rep.FailedConfigs, wantFailed)
	}
	if !slices.Equal(rep.OnlyInResults, []string{key("newmodel")}) {
		t.Errorf("OnlyInResults = %v, want [newmodel]", rep.OnlyInResults)
	}
	// Failed configurations are not "in the baseline but not measured".
	if !slices.Equal(rep.OnlyInBaseline, []string{key("retired")}) {
		t.Errorf("OnlyInBaseline = %v, want [retired]", rep.OnlyInBaseline)
	}
	if len(rep.ConfigNotes) != 0 || len(withoutDrift(rep.Notes)) != 0 {
		t.Errorf("ConfigNotes %v, Notes %v; want none", rep.ConfigNotes, rep.Notes)
	}
	wantInfo := &BaselineInfo{
		Path:         "baselines/test.json",
		Commits:      []string{"c100000000000000", "c200000000000000", "c300000000000000", "c400000000000000", "c500000000000000"},
		Fingerprints: []string{fpA},
		Env:          "Test CPU, 2 CPUs, libtorch 2.1.0, openblas",
		FirstDate:    "2026-01-01T12:00:00Z",
		LastDate:     "2026-01-05T12:00:00Z",
	}
	if b, _ := json.Marshal(rep.Baseline); string(b) != string(must(json.Marshal(wantInfo))) {
		t.Errorf("Baseline = %s\nwant %s", b, must(json.Marshal(wantInfo)))
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestCheckEnvironment(t *testing.T) {
	metrics := []string{"p50", "throughput"}
	opts := Options{Alpha: 0.01, Threshold: 0.05}
	tests := []struct {
		name       string
		baseFPs    []string // per baseline run (cycled)
		resultFPs  []string // one record per entry, all of model "m" unless there are two
		allow      bool
		sha        string
		torch      string // the results' libtorch version; "" = the baseline's
		verdict    string // overall
		cmpVerdict string // of every comparison
		cmpReason  string
		baseRuns   int
		note       []string // substrings of ConfigNotes[key("m")]; nil: no note
		notes      []string // substrings of Notes
	}{
		{
			name: "same environment", baseFPs: []string{fpA}, resultFPs: []string{fpA},
			verdict: Regression, cmpVerdict: Regression, baseRuns: 5,
		},
		{
			name: "other environment: not compared", baseFPs: []string{fpOld}, resultFPs: []string{fpA},
			verdict: NotConclusive, cmpVerdict: Inconclusive, cmpReason: "environment differs from the baseline's",
			note: []string{"baseline measured on another environment", "fingerprint 0123456789ab: Test CPU, 2 CPUs, libtorch 2.1.0, openblas",
				"now aaaaaaaaaaaa", "not compared, use --allow-env-mismatch"},
		},
		{
			name: "other libtorch: runtime changed, not compared", baseFPs: []string{fpOld}, resultFPs: []string{fpA}, torch: "2.6.0",
			verdict: NotConclusive, cmpVerdict: Inconclusive, cmpReason: "runtime changed from libtorch 2.1.0 to libtorch 2.6.0",
			note: []string{"runtime changed from libtorch 2.1.0 to libtorch 2.6.0 since the baseline: not compared (as on another CPU), use --allow-env-mismatch"},
		},
		{
			name: "other environment, --allow-env-mismatch", baseFPs: []string{fpOld}, resultFPs: []string{fpA}, allow: true,
			verdict: Regression, cmpVerdict: Regression, baseRuns: 5,
			note: []string{"compared with runs from another environment (--allow-env-mismatch)"},
		},
		{
			name: "some runs on another environment are left out", baseFPs: []string{fpOld, fpA, fpA, fpOld, fpA}, resultFPs: []string{fpA},
			verdict: Regression, cmpVerdict: Regression, baseRuns: 3,
			note: []string{"2 of 5 baseline runs were on another environment and are left out"},
		},
		{
			name: "model file changed", baseFPs: []string{fpA}, resultFPs: []string{fpA}, sha: shaNew,
			verdict: Regression, cmpVerdict: Regression, baseRuns: 5,
			note: []string{"model file changed since the baseline (sha256 111111111111 -> 222222222222)"},
		},
		{
			name: "model file changed and runs left out", baseFPs: []string{fpOld, fpA, fpA, fpOld, fpA}, resultFPs: []string{fpA}, sha: shaNew,
			verdict: Regression, cmpVerdict: Regression, baseRuns: 3,
			note: []string{"2 of 5 baseline runs were on another environment and are left out; model file changed since the baseline (sha256 111111111111 -> 222222222222)"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(30+i), 42))
			base := mkBaseline(t, rng, map[string][]float64{"m": steady5}, tt.baseFPs...)
			var results []*record.Record
			for j, fp := range tt.resultFPs {
				m := "m"
				if j > 0 {
					m = "other"
				}
				// 2x slower: one entry's runs (and the prior) make a small baseline, which
				// flags a large change.
				r := mkRecord(rng, m, 2, fp)
				if tt.sha != "" {
					r.ModelSHA256 = tt.sha
				}
				if tt.torch != "" {
					r.Env.Torch = tt.torch
				}
				results = append(results, r)
			}
			rep := Check(Input{Results: results, Baseline: base, BaselinePath: "b.json", Metrics: metrics, Options: opts, AllowEnvMismatch: tt.allow})
			if rep.Verdict != tt.verdict {
				t.Errorf("verdict %q (%s), want %q", rep.Verdict, rep.Summary, tt.verdict)
			}
			n := 0
			for _, c := range rep.Comparisons {
				if c.Key != key("m") {
					continue
				}
				n++
				if c.Verdict != tt.cmpVerdict || !strings.Contains(c.Reason, tt.cmpReason) {
					t.Errorf("%s: verdict %q (%s), want %q (%s)", c.Metric, c.Verdict, c.Reason, tt.cmpVerdict, tt.cmpReason)
				}
				if c.Verdict != Inconclusive && c.Baseline.Runs != tt.baseRuns {
					t.Errorf("%s: compared with %d baseline runs, want %d", c.Metric, c.Baseline.Runs, tt.baseRuns)
				}
			}
			if n != len(metrics) {
				t.Errorf("%d comparisons for m, want %d", n, len(metrics))
			}
			note, ok := rep.ConfigNotes[key("m")]
			if tt.note == nil && ok {
				t.Errorf("unexpected config note %q", note)
			}
			for _, w := range tt.note {
				if !strings.Contains(note, w) {
					t.Errorf("config note %q does not contain %q", note, w)
				}
			}
			if !slices.Equal(withoutDrift(rep.Notes), tt.notes) {
				t.Errorf("Notes = %q, want %q", rep.Notes, tt.notes)
			}
		})
	}
	// Inconclusive overall: the summary says nothing was compared.
	rng := rand.New(rand.NewPCG(40, 42))
	base := mkBaseline(t, rng, map[string][]float64{"m": steady5}, fpOld)
	rep := Check(Input{Results: []*record.Record{mkRecord(rng, "m", 1, fpA)}, Baseline: base, Metrics: metrics, Options: opts})
	if want := "2 of 2 comparisons inconclusive, no regression found"; rep.Summary != want || rep.Verdict != NotConclusive {
		t.Errorf("Summary = %q, want %q", rep.Summary, want)
	}
}

func TestCheckRepeats(t *testing.T) {
	// Two records of one configuration are two current runs.
	rng := rand.New(rand.NewPCG(50, 42))
	base := mkBaseline(t, rng, map[string][]float64{"m": steady5}, fpA)
	rep := Check(Input{Results: []*record.Record{mkRecord(rng, "m", 2, fpA), mkRecord(rng, "m", 2.01, fpA)}, Baseline: base,
		Metrics: []string{"p95"}, Options: Options{Alpha: 0.01, Threshold: 0.05}})
	if len(rep.Comparisons) != 1 {
		t.Fatalf("%d comparisons, want 1", len(rep.Comparisons))
	}
	c := rep.Comparisons[0]
	// df: 4 of the baseline, 1 of the current side, 4 of the prior.
	if c.Current.Runs != 2 || c.DF != 9 || c.Verdict != Regression {
		t.Errorf("current runs %d, DF %g, verdict %q; want 2, 9, regression", c.Current.Runs, c.DF, c.Verdict)
	}
	// One regression is enough to fail.
	if rep.Verdict != Regression || rep.Regressions != 1 || rep.Summary != "1 regression(s) in 1 comparisons" {
		t.Errorf("verdict %q, %d regressions, summary %q; want regression, 1", rep.Verdict, rep.Regressions, rep.Summary)
	}
}

func TestCheckMixedFingerprints(t *testing.T) {
	// m was measured on fpA like its baseline; other (no baseline entry) on fpB.
	for _, order := range [][2]string{{fpA, fpB}, {fpB, fpA}} {
		rng := rand.New(rand.NewPCG(70, 42))
		base := mkBaseline(t, rng, map[string][]float64{"m": steady5, "other": steady5}, fpA)
		m, other := mkRecord(rng, "m", 2, fpA), mkRecord(rng, "other", 1, fpB)
		results := []*record.Record{m, other}
		if order[0] == fpB {
			results = []*record.Record{other, m}
		}
		rep := Check(Input{Results: results, Baseline: base, Metrics: []string{"p50"}, Options: Options{Alpha: 0.01, Threshold: 0.05}})
		if notes := withoutDrift(rep.Notes); len(notes) != 1 || !strings.HasPrefix(notes[0], "the results mix 2 environment fingerprints") {
			t.Errorf("order %v: Notes = %q, want the mix noted", order, rep.Notes)
		}
		// Each record should be compared on its own fingerprint: m (fpA) with its fpA
		// baseline, other (fpB) not at all. Check uses the last record's fingerprint for
		// every key instead.
		for _, c := range rep.Comparisons {
			want := map[string]string{key("m"): Regression, key("other"): Inconclusive}[c.Key]
			if c.Verdict != want {
				t.Errorf("order %v: %s: verdict %q (%s), want %q", order, c.Key, c.Verdict, c.Reason, want)
			}
		}
	}
}

func TestCheckNoBaseline(t *testing.T) {
	rng := rand.New(rand.NewPCG(60, 42))
	failed := &record.Record{Status: record.StatusFailed, Error: "boom", Knobs: knobs.Knobs{Model: "x", BatchSize: 1}}
	rep := Check(Input{Results: []*record.Record{mkRecord(rng, "b", 1, fpA), failed, mkRecord(rng, "a", 1, fpA)},
		BaselinePath: "baselines/none.json", Metrics: DefaultMetrics, Options: Options{Alpha: 0.01, Threshold: 0.05}})
	if rep.Verdict != NoBaseline || rep.Baseline != nil || len(rep.Comparisons) != 0 {
		t.Errorf("verdict %q, baseline %v, %d comparisons; want no baseline, nil, 0", rep.Verdict, rep.Baseline, len(rep.Comparisons))
	}
	if want := "no baseline: run `perflab baseline update` on the main branch (2 configurations measured, nothing compared)"; rep.Summary != want {
		t.Errorf("Summary = %q, want %q", rep.Summary, want)
	}
	if !slices.Equal(rep.OnlyInResults, []string{key("a"), key("b")}) {
		t.Errorf("OnlyInResults = %v, want a, b (sorted)", rep.OnlyInResults)
	}
	if len(rep.FailedConfigs) != 1 || rep.FailedConfigs[0].Reason != "failed: boom" {
		t.Errorf("FailedConfigs = %v", rep.FailedConfigs)
	}
	var buf bytes.Buffer
	rep.Text(&buf)
	testutil.Golden(t, filepath.Join("testdata", "nobaseline.txt.golden"), []byte(buf.String()))
	if !strings.HasPrefix(buf.String(), "perflab gate: NO BASELINE — no baseline: run `perflab baseline update`") {
		t.Errorf("text does not open with the hint:\n%s", buf.String())
	}
}

// ---------------------------------------------------------------------------------------
// Rendering: golden files of a crafted report.

func craftedReport() *Report {
	ci := func(lo, hi float64) *stats.CI { return &stats.CI{Lo: lo, Hi: hi, Confidence: 0.95} }
	return &Report{
		Verdict: Regression, Summary: "1 regression(s) in 4 comparisons, 1 improvement(s), 1 failed configuration(s) not compared",
		Regressions: 1, Improvements: 1, Alpha: 0.01, Threshold: 0.05, Metrics: []string{"p95", "throughput"},
		Baseline: &BaselineInfo{
			Path: "baselines/cpu_vision.json", Source: "contents API at base sha abc123",
			Commits:      []string{"0123456789abcdef0123", "fedcba9876543210fedc"},
			Fingerprints: []string{"25a5ef032987", "99aa00bb11cc"},
			Env:          "AMD EPYC 7763, 2 CPUs, libtorch 2.1.0, openblas",
			FirstDate:    "2026-01-02T03:04:05Z", LastDate: "2026-01-30T14:30:22Z",
		},
		Fingerprint: "25a5ef032987",
		Comparisons: []Comparison{
			{Key: "resnet18|b4|compile=on|t2|i1|cl=true|q=false|cpu", Metric: "p95",
				Current: Estimate{Value: 21.5, CI: ci(20.9, 22.1), Runs: 1}, Baseline: Estimate{Value: 17.25, CI: ci(16.8, 17.7), Runs: 5},
				Ratio: 1.2464, RatioCI: ci(1.18, 1.31), P: 0.0004, PAdj: 0.0016, DF: 4,
				Method: "between-run: 5 baseline run(s), 1 current run(s), t with 4 df", Verdict: Regression,
				Reason: "p95 +24.6%: significant (p=0.0016 after Holm < 0.01) and beyond the 5% threshold"},
			{Key: "resnet18|b4|compile=on|t2|i1|cl=true|q=false|cpu", Metric: "throughput",
				Current: Estimate{Value: 190.25, Runs: 1}, Baseline: Estimate{Value: 200, Runs: 5},
				Ratio: 0.95125, RatioCI: ci(0.9, 1.005), P: 0.03, PAdj: 0.06, DF: 4, Method: "between-run", Verdict: NoChange,
				Reason: "throughput -4.9%: within noise (p=0.06)"},
			{Key: "mobilenet_v3_small|b1|compile=auto|t1|i1|cl=false|q=true|cpu", Metric: "p95",
				Current: Estimate{Value: 3.1, Runs: 2}, Baseline: Estimate{Value: 4.0, Runs: 5},
				Ratio: 0.775, RatioCI: ci(0.74, 0.81), P: 0.001, PAdj: 0.003, DF: 5, Method: "between-run", Verdict: Improvement,
				Reason: "p95 -22.5%: significant (p=0.003 after Holm) and beyond the 5% threshold"},
			{Key: "tiny_transformer|b8|compile=off|t2|i1|cl=false|q=false|cpu", Metric: "p95", Verdict: Inconclusive,
				Reason: "too few samples for a p95 claim: each run needs >= 72 iterations"},
		},
		Notes:          []string{"the results mix 2 environment fingerprints"},
		FailedConfigs:  []FailedConfig{{Key: "conv|b1|compile=on|t1|i1|cl=false|q=false|cpu", Reason: "failed: exit status 2: out of memory"}},
		OnlyInResults:  []string{"new_model|b1|compile=off|t1|i1|cl=false|q=false|cpu"},
		OnlyInBaseline: []string{"old_model|b1|compile=off|t1|i1|cl=false|q=false|cpu"},
		ConfigNotes: map[string]string{
			"tiny_transformer|b8|compile=off|t2|i1|cl=false|q=false|cpu":   "model file changed since the baseline (sha256 111111111111 -> 222222222222)",
			"mobilenet_v3_small|b1|compile=auto|t1|i1|cl=false|q=true|cpu": "2 of 7 baseline runs were on another environment and are left out",
		},
	}
}

func TestMarkdownGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := craftedReport().Markdown(&buf); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	// What the block must say, independently of the golden file's layout.
	for _, w := range []string{
		"### ❌ perflab gate: regression\n\n1 regression(s) in 4 comparisons",
		"**Baseline:** `baselines/cpu_vision.json` (contents API at base sha abc123) — commits 0123456789, fedcba9876",
		"fingerprint(s) `25a5ef032987`, `99aa00bb11cc`", "Current fingerprint `25a5ef032987`",
		"Holm-corrected one-sided p < 0.01) *and* larger than its band (±5% on p95, throughput)",
		"| `resnet18\\|b4\\|compile=on\\|t2\\|i1\\|cl=true\\|q=false\\|cpu` | p95 | 17.2 ms (5 runs) | 21.5 ms | +24.6% | [1.180, 1.310] | 0.0016 | ❌ regression |",
		"| 4.00 ms (5 runs) | 3.10 ms (2 runs) | -22.5% |", "🚀 improvement",
		"<details><summary>All other comparisons (2)</summary>", "200.0 req/s (5 runs) | 190.2 req/s",
		"| p95 | - | - | - | - | - | ❔ inconclusive |",
		"- ⚠️ failed, not compared: `conv|b1|compile=on|t1|i1|cl=false|q=false|cpu`: failed: exit status 2: out of memory",
		"- new, no baseline entry: `new_model", "- in the baseline but not measured: `old_model",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("markdown does not contain %q", w)
		}
	}
	// Flagged comparisons come first, the rest folded away; config notes sorted by key.
	if i, j := strings.Index(got, "❌ regression |"), strings.Index(got, "<details>"); i < 0 || j < i {
		t.Errorf("the regression is not listed before the folded table")
	}
	if i, j := strings.Index(got, "- `mobilenet"), strings.Index(got, "- `tiny_transformer"); i < 0 || j < i {
		t.Errorf("config notes are not sorted by key")
	}
	testutil.Golden(t, filepath.Join("testdata", "report.md.golden"), []byte(got))
}

func TestTextGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := craftedReport().Text(&buf); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, w := range []string{
		"perflab gate: REGRESSION — 1 regression(s) in 4 comparisons",
		"baseline: baselines/cpu_vision.json (contents API at base sha abc123), commits 0123456789, fedcba9876, 2026-01-02T03:04:05Z .. 2026-01-30T14:30:22Z",
		"rule: regression = Holm-corrected one-sided p < 0.01 and slowdown beyond the band (±5% on p95, throughput); no change = 95% CI of the ratio within the band",
		"❌ resnet18|b4|compile=on|t2|i1|cl=true|q=false|cpu p95: p95 +24.6%",
		"❔ tiny_transformer|b8|compile=off|t2|i1|cl=false|q=false|cpu p95: too few samples",
		"⚠️ failed, not compared: conv|", "new, no baseline entry: new_model", "in the baseline but not measured: old_model",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("text does not contain %q", w)
		}
	}
	testutil.Golden(t, filepath.Join("testdata", "report.txt.golden"), []byte(got))
}

func TestJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := craftedReport().JSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Verdict     string  `json:"verdict"`
		Summary     string  `json:"summary"`
		Regressions int     `json:"regressions"`
		Alpha       float64 `json:"alpha"`
		Threshold   float64 `json:"threshold"`
		Baseline    struct {
			Path    string   `json:"path"`
			Commits []string `json:"commits"`
		} `json:"baseline"`
		Comparisons []map[string]json.RawMessage `json:"comparisons"`
		Failed      []FailedConfig               `json:"failed_configs"`
		OnlyResults []string                     `json:"only_in_results"`
		OnlyBase    []string                     `json:"only_in_baseline"`
		ConfigNotes map[string]string            `json:"config_notes"`
	}
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&Report{}); err != nil {
		t.Fatalf("the JSON does not decode back into a Report: %v", err)
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Verdict != "regression" || doc.Regressions != 1 || doc.Alpha != 0.01 || doc.Threshold != 0.05 ||
		doc.Baseline.Path != "baselines/cpu_vision.json" || len(doc.Baseline.Commits) != 2 {
		t.Errorf("header fields: %+v", doc)
	}
	if len(doc.Comparisons) != 4 || len(doc.Failed) != 1 || len(doc.OnlyResults) != 1 || len(doc.OnlyBase) != 1 || len(doc.ConfigNotes) != 2 {
		t.Fatalf("lists: %d comparisons, %v, %v, %v, %v", len(doc.Comparisons), doc.Failed, doc.OnlyResults, doc.OnlyBase, doc.ConfigNotes)
	}
	c := doc.Comparisons[0]
	var keys []string
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	wantKeys := []string{"baseline", "current", "df", "key", "method", "metric", "p", "p_adj", "ratio", "ratio_ci", "reason", "verdict"}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("comparison fields %v, want %v (no unexported state)", keys, wantKeys)
	}
	var ratioCI stats.CI
	var cur Estimate
	if err := json.Unmarshal(c["ratio_ci"], &ratioCI); err != nil || ratioCI != (stats.CI{Lo: 1.18, Hi: 1.31, Confidence: 0.95}) {
		t.Errorf("ratio_ci = %s", c["ratio_ci"])
	}
	if err := json.Unmarshal(c["current"], &cur); err != nil || cur.Value != 21.5 || cur.Runs != 1 || cur.CI == nil || cur.CI.Lo != 20.9 {
		t.Errorf("current = %s", c["current"])
	}
	if string(c["p_adj"]) != "0.0016" || string(c["df"]) != "4" || string(c["verdict"]) != `"regression"` {
		t.Errorf("p_adj %s, df %s, verdict %s", c["p_adj"], c["df"], c["verdict"])
	}
	// An inconclusive comparison has no ratio CI; estimates without CI have no "ci".
	if _, ok := doc.Comparisons[3]["ratio_ci"]; ok {
		t.Errorf("inconclusive comparison has a ratio_ci: %v", doc.Comparisons[3])
	}
	if strings.Contains(string(doc.Comparisons[1]["current"]), `"ci"`) {
		t.Errorf("estimate without CI has a ci field: %s", doc.Comparisons[1]["current"])
	}
	testutil.Golden(t, filepath.Join("testdata", "report.json.golden"), []byte(buf.String()))
}

func TestMarkdownTableCells(t *testing.T) {
	var buf bytes.Buffer
	craftedReport().Markdown(&buf)
	// GitHub-flavoured markdown splits table cells at every unescaped '|', code spans
	// included: each row of the 8-column tables must have exactly 9.
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		n := strings.Count(line, "|") - strings.Count(line, `\|`)
		if n != 9 {
			t.Errorf("table row has %d cell separators, want 9: %s", n, line)
		}
	}
}

func TestThresholdText(t *testing.T) {
	// A 2.5% threshold must not be shown as "2%" (the rule and the reasons use %.0f).
	cs := []Comparison{tested("p95", 1.02, 0.001, 0.001)}
	opts := Options{Alpha: 0.01, Threshold: 0.025}
	Decide(cs, opts)
	var buf bytes.Buffer
	(&Report{Verdict: Pass, Alpha: 0.01, Threshold: 0.025, Metrics: []string{"p95"}}).Text(&buf)
	if !strings.Contains(cs[0].Reason, "2.5%") || !strings.Contains(buf.String(), "slowdown beyond the band (±2.5% on p95)") {
		t.Errorf("reason %q / rule %q do not say 2.5%%", cs[0].Reason, buf.String())
	}
}

// TestCompareContention: a stored-baseline slowdown measured while other processes kept
// the machine busier than during the baseline is inconclusive, never a regression; with
// the same contention (or where it is not known) the same slowdown is a regression.
func TestCompareContention(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	rng := rand.New(rand.NewPCG(7, 7))
	mk := func(other *float64, factors ...float64) []Run {
		rs := lognormalRuns(rng, 300, 0.05, factors...)
		for i := range rs {
			rs[i].OtherCPUs = other
		}
		return rs
	}
	opts := Options{Alpha: 0.01, Threshold: 0.05}
	tests := []struct {
		name          string
		curOther      *float64
		baseOther     *float64
		want          string
		reasonContain string
	}{
		{"busier now", f(1.6), f(0.1), Inconclusive, "other processes kept 1.60 CPUs busy during this run vs 0.10"},
		{"as busy", f(1.6), f(1.5), Regression, "significant"},
		{"quieter now", f(0.0), f(1.5), Regression, "significant"},
		{"baseline does not know", f(1.6), nil, Regression, "significant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := mk(tc.baseOther, 1, 1.02, 0.98)
			cur := mk(tc.curOther, 2)
			cs := []Comparison{Compare(key("m"), "p50", cur, base, Pool{})}
			Decide(cs, opts)
			if c := cs[0]; c.Verdict != tc.want || !strings.Contains(c.Reason, tc.reasonContain) {
				t.Errorf("verdict %q (%s), want %q containing %q", c.Verdict, c.Reason, tc.want, tc.reasonContain)
			}
		})
	}
	// A baseline measured on a busier machine makes the current run look faster: "no
	// change" would hide a real slowdown, so it is inconclusive too.
	base := mk(f(1.6), 1, 1.02, 0.98)
	cur := mk(f(0.1), 0.7)
	cs0 := []Comparison{Compare(key("m"), "p50", cur, base, Pool{})}
	Decide(cs0, opts)
	if c := cs0[0]; c.Verdict != Inconclusive || !strings.Contains(c.Reason, "contention in the baseline could hide a slowdown") {
		t.Errorf("busier baseline: %q (%s)", c.Verdict, c.Reason)
	}
	cur = mk(f(1.5), 0.7) // as busy: the speed-up is real, no slowdown
	cs0 = []Comparison{Compare(key("m"), "p50", cur, base, Pool{})}
	Decide(cs0, opts)
	if c := cs0[0]; c.Verdict == Inconclusive || c.Verdict == Regression {
		t.Errorf("as busy, faster: %q (%s)", c.Verdict, c.Reason)
	}
	// A/B rounds measure both sides under the same contention: never downgraded.
	a, b := mk(f(0), 1, 1, 1, 1), mk(f(1.9), 2, 2, 2, 2)
	cs := []Comparison{ComparePaired(key("m"), "p50", a, b)}
	Decide(cs, opts)
	if cs[0].Verdict != Regression {
		t.Errorf("paired: %q (%s)", cs[0].Verdict, cs[0].Reason)
	}
}

func TestHarrellDavis(t *testing.T) {
	ramp := make([]float64, 99)
	for i := range ramp {
		ramp[i] = float64(i + 1)
	}
	constant := []float64{4, 4, 4, 4, 4}
	for _, tc := range []struct {
		name   string
		x      []float64
		q      float64
		lo, hi float64
	}{
		{"constant", constant, 0.95, 4, 4},
		{"median of 1..99 (symmetric weights)", ramp, 0.5, 50 - 1e-9, 50 + 1e-9},
		// Between the order statistics around rank 0.95*100 = 95.
		{"p95 of 1..99", ramp, 0.95, 93.5, 95.5},
		{"one sample", []float64{7}, 0.95, 7, 7},
	} {
		if got := HarrellDavis(tc.x, tc.q); got < tc.lo || got > tc.hi {
			t.Errorf("%s: %g, want in [%g, %g]", tc.name, got, tc.lo, tc.hi)
		}
	}
}

// TestStoredBaselineDecidesTheObvious: against a stored baseline of 2 or 3 runs (runs
// drifting by 5% between processes, as on a quiet runner), over 20 seeds each: a 2x
// slowdown is always flagged, the unchanged model never, and +10% is never a pass: it is
// flagged or inconclusive, saying the smallest change it could flag.
func TestStoredBaselineDecidesTheObvious(t *testing.T) {
	metrics := []string{"p95", "p99", "throughput"}
	opts := Options{Alpha: 0.01, Threshold: 0.05}
	for _, k := range []int{2, 3} {
		for _, tc := range []struct {
			name   string
			factor float64
			check  func(verdicts []string, cs []Comparison) string
		}{
			{"2x", 2, func(v []string, _ []Comparison) string {
				if !slices.Contains(v, Regression) {
					return "not flagged"
				}
				return ""
			}},
			{"unchanged", 1, func(v []string, _ []Comparison) string {
				if slices.Contains(v, Regression) {
					return "flagged"
				}
				return ""
			}},
			{"+10%", 1.10, func(v []string, cs []Comparison) string {
				for _, c := range cs {
					if c.Verdict == NoChange || c.Verdict == Improvement {
						return "called " + c.Verdict
					}
					if c.Verdict == Inconclusive && (c.MinDetectable <= 0 || !strings.Contains(c.Reason, "smallest change this comparison could flag")) {
						return "inconclusive without its detectable size: " + c.Reason
					}
				}
				return ""
			}},
		} {
			for seed := uint64(1); seed <= 20; seed++ {
				rng := rand.New(rand.NewPCG(seed, uint64(k)))
				var base []Run
				for range k {
					base = append(base, lognormalRun(rng, 400, 10*math.Exp(0.05*rng.NormFloat64()), 0.05))
				}
				cur := []Run{lognormalRun(rng, 400, 10*tc.factor*math.Exp(0.05*rng.NormFloat64()), 0.05)}
				var cs []Comparison
				for _, m := range metrics {
					cs = append(cs, Compare("k", m, cur, base, PoolBetween([][]Run{base}, m)))
				}
				Decide(cs, opts)
				var v []string
				for _, c := range cs {
					v = append(v, c.Verdict)
				}
				if why := tc.check(v, cs); why != "" {
					t.Errorf("%d runs, %s, seed %d: %s (%v): %s", k, tc.name, seed, why, v, cs[0].Reason)
				}
			}
		}
	}
}

// withoutDrift drops the note about machine-speed correction (records without the
// reference workload get it; drift_test.go tests it).
func withoutDrift(notes []string) []string {
	var out []string
	for _, n := range notes {
		if !strings.Contains(n, "corrected for machine speed") {
			out = append(out, n)
		}
	}
	return out
}
