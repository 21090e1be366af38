// Package stats provides descriptive statistics for latency samples.
//
// Assumptions, stated once for the whole package:
//
//   - Samples are independent and identically distributed draws from a
//     continuous distribution. Latencies measured back to back on a warm
//     system only approximate this; warm-up, thermal drift and periodic
//     background work all break it. The confidence intervals here are only
//     as good as that assumption.
//   - Functions whose parameter is named sorted require an ascending sample
//     and do not check it; sorting is the caller's job.
//   - Percentiles are nearest-rank (MLPerf LoadGen's definition): no
//     interpolation, every reported percentile is an observed value.
//   - Percentile levels q are given in percent, 0 < q <= 100.
//
// Undefined results are reported as NaN, never as a panic. Note that
// encoding/json refuses NaN, so callers that serialise a Summary of a very
// small sample must check for it.
package stats

import (
	"math"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Percentile returns the nearest-rank q-th percentile (0 < q <= 100) of an
// ascending-sorted sample: the value at 1-based rank ceil(q/100*n).
// It returns NaN for an empty sample or q outside (0, 100].
func Percentile(sorted []float64, q float64) float64 {
	n := len(sorted)
	if n == 0 || !(q > 0 && q <= 100) {
		return math.NaN()
	}
	return sorted[nearestRank(n, q)-1]
}

// nearestRank returns ceil(q/100*n) clamped to [1, n]. The product is
// computed as q*n/100, and a tiny tolerance absorbs floating-point error so
// that, e.g., q=90, n=100 gives rank 90 and not 91.
func nearestRank(n int, q float64) int {
	r := int(math.Ceil(q*float64(n)/100 - 1e-9))
	return min(max(r, 1), n)
}

// CI is a confidence interval for a statistic: the procedure that produced
// it covers the true value with probability at least Confidence.
type CI struct {
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Confidence float64 `json:"confidence"`
}

// QuantileCI returns a distribution-free confidence interval for the q-th
// percentile of the population, from an ascending-sorted i.i.d. sample of a
// continuous distribution.
//
// The interval is [X(l), X(u)] for 1-based order statistics l < u. Let K be
// the number of observations below the true quantile; K ~ Binomial(n, q/100)
// and P(X(l) <= quantile <= X(u)) = P(l <= K <= u-1). The ranks are chosen
// with equal tails: l is the largest rank with P(K < l) <= α/2 and u the
// smallest with P(K >= u) <= α/2, where α = 1-confidence, so the coverage is
// at least confidence. This convention reproduces the textbook tables
// (median, 95%: n=10 -> X(2)..X(9), n=20 -> X(6)..X(15), n=100 -> X(40)..X(61)).
// It is not always the narrowest valid pair of ranks.
//
// ok is false, and Lo and Hi are NaN, when the sample is too small for such
// an interval (l < 1 or u > n; see MinSamplesForQuantileCI) or when q or
// confidence is out of range.
func QuantileCI(sorted []float64, q, confidence float64) (CI, bool) {
	l, u, ok := quantileCIRanks(len(sorted), q, confidence)
	if !ok {
		return CI{Lo: math.NaN(), Hi: math.NaN(), Confidence: confidence}, false
	}
	return CI{Lo: sorted[l-1], Hi: sorted[u-1], Confidence: confidence}, true
}

// quantileCIRanks returns the 1-based ranks (l, u) used by QuantileCI for a
// sample of size n.
func quantileCIRanks(n int, q, confidence float64) (l, u int, ok bool) {
	if n < 1 || !(q > 0 && q < 100) || !(confidence > 0 && confidence < 1) {
		return 0, 0, false
	}
	p := q / 100
	tail := (1 - confidence) / 2
	lower := distuv.Binomial{N: float64(n), P: p}     // P(K <= k)
	upper := distuv.Binomial{N: float64(n), P: 1 - p} // P(K >= k) = P(n-K <= n-k)
	// l = smallest k in [0, n] with P(K <= k) > tail; then P(K <= l-1) <= tail.
	l = sort.Search(n+1, func(k int) bool { return lower.CDF(float64(k)) > tail })
	// u = smallest k in [1, n+1] with P(K >= k) <= tail.
	u = 1 + sort.Search(n+1, func(i int) bool { return upper.CDF(float64(n-i-1)) <= tail })
	if l < 1 || u > n {
		return 0, 0, false
	}
	return l, u, true
}

// MinSamplesForQuantileCI returns the smallest sample size n for which
// QuantileCI can produce a two-sided interval for the q-th percentile at the
// given confidence, or 0 if q or confidence is out of range. It needs both
// P(K = 0) = (1-p)^n and P(K = n) = p^n to be at most (1-confidence)/2.
// Examples at 95%: p50 -> 6, p90 -> 36, p99 -> 368.
func MinSamplesForQuantileCI(q, confidence float64) int {
	if !(q > 0 && q < 100) || !(confidence > 0 && confidence < 1) {
		return 0
	}
	p := q / 100
	lt := math.Log((1 - confidence) / 2)
	n := int(math.Ceil(max(lt/math.Log(1-p), lt/math.Log(p))))
	n = max(n, 1)
	// Correct any floating-point error in the closed form.
	for n > 1 && ciExists(n-1, p, confidence) {
		n--
	}
	for !ciExists(n, p, confidence) {
		n++
	}
	return n
}

func ciExists(n int, p, confidence float64) bool {
	_, _, ok := quantileCIRanks(n, p*100, confidence)
	return ok
}

// Summary describes one latency sample. Percentiles are nearest-rank.
type Summary struct {
	N                      int
	Min, Max, Mean, Stddev float64 // Stddev is the sample (n-1) standard deviation; NaN when N < 2
	P50, P90, P95, P99     float64
	// CI holds distribution-free confidence intervals (see QuantileCI) under
	// keys "p50", "p90", "p95", "p99"; a key is absent when the sample is too
	// small for that interval.
	CI  map[string]CI
	IQR float64 // P75 - P25, both nearest-rank
}

// Summarize sorts a copy of samples and summarises them, computing the
// percentile confidence intervals at the given confidence (0.95 typical).
// For an empty sample every float field is NaN and CI is empty.
func Summarize(samples []float64, confidence float64) Summary {
	s := slices.Clone(samples)
	slices.Sort(s)
	n := len(s)
	sum := Summary{N: n, CI: map[string]CI{}}
	if n == 0 {
		nan := math.NaN()
		sum.Min, sum.Max, sum.Mean, sum.Stddev = nan, nan, nan, nan
		sum.P50, sum.P90, sum.P95, sum.P99, sum.IQR = nan, nan, nan, nan, nan
		return sum
	}
	sum.Min, sum.Max = s[0], s[n-1]
	var total float64
	for _, x := range s {
		total += x
	}
	sum.Mean = total / float64(n)
	sum.Stddev = math.NaN()
	if n > 1 {
		var ss float64
		for _, x := range s {
			d := x - sum.Mean
			ss += d * d
		}
		sum.Stddev = math.Sqrt(ss / float64(n-1))
	}
	for _, p := range Percentiles {
		*sum.pct(p.Name) = Percentile(s, p.Q)
		if ci, ok := QuantileCI(s, p.Q, confidence); ok {
			sum.CI[p.Name] = ci
		}
	}
	sum.IQR = Percentile(s, 75) - Percentile(s, 25)
	return sum
}

// Confidence is the confidence level of every interval perflab computes from samples or
// runs (records, sweeps, reports, load).
const Confidence = 0.95

// NoisyIQROverMedian is the dispersion (IQROverMedian) above which a run or a
// configuration is flagged as noisy: the threshold torch.utils.benchmark warns of
// "system fluctuation" at.
const NoisyIQROverMedian = 0.10

// Finite returns v, or 0 for NaN and the infinities (which encoding/json refuses).
func Finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// IQROverMedian returns the relative dispersion IQR/P50. torch.utils.benchmark
// warns of "system fluctuation" when this exceeds NoisyIQROverMedian. It is NaN or ±Inf
// when the median is zero.
func (s Summary) IQROverMedian() float64 {
	return s.IQR / s.P50
}
