package stats

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Runs summarises one figure (a latency percentile, a throughput, a speedup) measured
// once per independent run: one value per worker process.
//
// Assumption (x/perf style, stated once): the runs are independent, exchangeable draws
// of the process-level outcome, and the logarithm of the figure is normally distributed
// across runs (run-to-run differences are multiplicative: a process lands on slower
// cores, caches or memory placement as a whole). Nothing is assumed about the samples
// inside a run, which are correlated (lag-1 autocorrelation 0.4-0.8 measured here): each
// run contributes one value, however many samples it timed. The intervals are Student's
// t intervals on the log values, transformed back, so they are asymmetric and never
// negative. With few runs they are wide, as they should be: t(0.975, 2 d.f.) = 4.30.
//
// What the runs cannot see: variation slower than the runs are spread out (a sweep
// spreads a configuration's runs over the whole sweep; a machine that changes between
// two sweeps more than within one is not covered).
type Runs struct {
	N int
	// Center is the geometric mean of the values.
	Center float64
	// Mean is the confidence interval of Center: where the typical run's value lies.
	// Ties and effects use it.
	Mean CI
	// Next is the prediction interval of the Center another measurement with as many
	// runs (same design) will report: it covers what the next sweep will see, at the
	// stated confidence, if the machine stays as it was. It is sqrt(2) wider than Mean
	// for large N.
	Next CI
	// LogStddev is the standard deviation of the log values: about the run-to-run
	// coefficient of variation when small.
	LogStddev float64
}

// MinRuns is the fewest runs with an interval: two values give one degree of freedom.
const MinRuns = 2

// SummarizeRuns returns the intervals of values (one per run, all > 0) at the given
// confidence. ok is false with fewer than MinRuns positive values or a confidence out of
// (0, 1); non-positive and non-finite values are ignored.
func SummarizeRuns(values []float64, confidence float64) (Runs, bool) {
	logs := make([]float64, 0, len(values))
	for _, v := range values {
		if v > 0 && !math.IsInf(v, 0) {
			logs = append(logs, math.Log(v))
		}
	}
	n := len(logs)
	r := Runs{N: n}
	if n < MinRuns || !(confidence > 0 && confidence < 1) {
		return r, false
	}
	var mean float64
	for _, l := range logs {
		mean += l
	}
	mean /= float64(n)
	var ss float64
	for _, l := range logs {
		ss += (l - mean) * (l - mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(1 - (1-confidence)/2)
	hm := t * sd / math.Sqrt(float64(n))
	hn := t * sd * math.Sqrt(2/float64(n))
	r.Center = math.Exp(mean)
	r.LogStddev = sd
	r.Mean = CI{Lo: math.Exp(mean - hm), Hi: math.Exp(mean + hm), Confidence: confidence}
	r.Next = CI{Lo: math.Exp(mean - hn), Hi: math.Exp(mean + hn), Confidence: confidence}
	return r, true
}

// Contains reports whether v lies in the interval.
func (c CI) Contains(v float64) bool { return v >= c.Lo && v <= c.Hi }
