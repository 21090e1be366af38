package load

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
)

// Confidence is the confidence level of the latency percentile intervals in records.
const Confidence = stats.Confidence

// SaturatedRatio: a run whose achieved rate is under this fraction of its issued rate
// could not keep up.
const SaturatedRatio = 0.95

// SaturatedFailures: a run in which more than this fraction of requests timed out or were
// dropped could not keep up.
const SaturatedFailures = 0.01

// Summary is what a run measured in its window (requests scheduled in
// [Warmup, Warmup+Duration)).
type Summary struct {
	Requests, Completed, Timeouts, Dropped int
	WarmupRequests                         int // scheduled before the window, not counted
	IssuedRPS, AchievedRPS                 float64

	LatencyMs []float64     // every measured request, in scheduled order; failed ones at >= the timeout
	Latency   stats.Summary // of LatencyMs
	// LowerBound lists the percentiles that fall on failed requests: the true latency
	// there is at least the value.
	LowerBound []string

	QueueWait, Compute record.Dist // completed requests' queue wait; each batch's compute
	MeanBatch          float64
	Histogram          map[int]int       // batch size -> batches started in the window
	ServiceMs          map[int][]float64 // batch size -> compute of each such batch, ms
	IssueLagP50Ms      float64           // how late the generator released requests (Enqueued - Scheduled)
	IssueLagP99Ms      float64

	Saturated bool
	Why       string // why it is saturated
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Summarize measures an outcome's window.
func Summarize(o *Outcome) Summary {
	c := o.Config
	lo, hi := c.Warmup, c.Warmup+c.Duration
	s := Summary{Histogram: map[int]int{}, ServiceMs: map[int][]float64{}}
	type lat struct {
		v      float64
		failed bool
	}
	var lats []lat
	var waits, lags []float64
	lastDone := hi
	for i := range o.Requests {
		r := &o.Requests[i]
		if r.Scheduled < lo {
			s.WarmupRequests++
			continue
		}
		if r.Scheduled >= hi {
			continue
		}
		s.Requests++
		if !o.Simulated {
			lags = append(lags, ms(r.Enqueued-r.Scheduled))
		}
		switch r.Status {
		case Completed:
			s.Completed++
			lastDone = max(lastDone, r.Done)
			lats = append(lats, lat{ms(r.Done - r.Scheduled), false})
			waits = append(waits, ms(r.Dispatched-r.Scheduled))
			continue
		case Dropped:
			s.Dropped++
		default:
			s.Timeouts++
		}
		lats = append(lats, lat{ms(max(c.Timeout, r.Done-r.Scheduled)), true})
	}
	s.LatencyMs = make([]float64, len(lats))
	for i, l := range lats {
		s.LatencyMs[i] = l.v
	}
	s.Latency = stats.Summarize(s.LatencyMs, Confidence)
	if s.Timeouts+s.Dropped > 0 {
		sorted := slices.Clone(lats)
		slices.SortStableFunc(sorted, func(a, b lat) int { return cmp.Compare(a.v, b.v) })
		for _, p := range stats.Percentiles {
			rank := int(math.Ceil(p.Q*float64(len(sorted))/100 - 1e-9))
			rank = min(max(rank, 1), len(sorted))
			if sorted[rank-1].failed {
				s.LowerBound = append(s.LowerBound, p.Name)
			}
		}
	}
	secs := c.Duration.Seconds()
	s.IssuedRPS = float64(s.Requests) / secs
	s.AchievedRPS = float64(s.Completed) / (lastDone - lo).Seconds()
	s.QueueWait = dist(waits)
	if len(lags) > 0 {
		slices.Sort(lags)
		s.IssueLagP50Ms = stats.Percentile(lags, 50)
		s.IssueLagP99Ms = stats.Percentile(lags, 99)
	}

	var computes []float64
	total := 0
	for _, b := range o.Batches {
		if b.Start < lo || b.Start >= hi || b.Size == 0 {
			continue
		}
		s.Histogram[b.Size]++
		v := ms(b.Compute)
		s.ServiceMs[b.Size] = append(s.ServiceMs[b.Size], v)
		computes = append(computes, v)
		total += b.Size
	}
	s.Compute = dist(computes)
	if len(computes) > 0 {
		s.MeanBatch = float64(total) / float64(len(computes))
	}

	failed := s.Timeouts + s.Dropped
	switch {
	case s.Requests == 0:
		s.Saturated, s.Why = true, "no request was scheduled in the measured window"
	case s.AchievedRPS < SaturatedRatio*s.IssuedRPS:
		s.Saturated = true
		s.Why = fmt.Sprintf("cannot keep up: achieved %.1f req/s < %.0f%% of the %.1f req/s issued", s.AchievedRPS, SaturatedRatio*100, s.IssuedRPS)
	case float64(failed) > SaturatedFailures*float64(s.Requests):
		s.Saturated = true
		s.Why = fmt.Sprintf("cannot keep up: %d of %d requests failed (%d timed out, %d dropped)", failed, s.Requests, s.Timeouts, s.Dropped)
	}
	return s
}

func dist(v []float64) record.Dist {
	if len(v) == 0 {
		return record.Dist{}
	}
	s := stats.Summarize(v, Confidence)
	return record.Dist{P50: s.P50, P95: s.P95, P99: s.P99, Mean: s.Mean}
}

// Pct returns the summary's latency at percentile name ("p95").
func (s *Summary) Pct(name string) float64 { return s.Latency.Pct(name) }

// Passes says whether the run sustains its load within a budget: it kept up, and its
// nearest-rank pct latency is within budgetMs.
func (s *Summary) Passes(pct string, budgetMs float64) (bool, string) {
	v := s.Pct(pct)
	switch {
	case s.Saturated:
		return false, s.Why
	case !(v <= budgetMs):
		return false, fmt.Sprintf("%s %.2f ms > %g ms", pct, v, budgetMs)
	}
	return true, fmt.Sprintf("%s %.2f ms <= %g ms", pct, v, budgetMs)
}

// Fill writes the summary into a record whose model and configuration fields the caller
// set (Model, Threads, Compile, Env, ...): the latency fields, throughput_rps (the
// achieved rate), batch_size (the max batch) and Load. pct and budgetMs (0 = none) are
// the percentile and budget of the claim; the caller sets Load.Step and Load.Capacity.
func (s *Summary) Fill(r *record.Record, c Config, pct string, budgetMs float64) {
	r.BatchSize = c.MaxBatch
	r.Iters = len(s.LatencyMs)
	r.Warmup = s.WarmupRequests
	r.SamplesMs = s.LatencyMs
	l := s.Latency
	if l.N > 0 {
		r.LatencyP50, r.LatencyP90, r.LatencyP95, r.LatencyP99 = l.P50, l.P90, l.P95, l.P99
		r.LatencyMean, r.LatencyMin, r.LatencyMax = l.Mean, l.Min, l.Max
		if l.N > 1 {
			r.LatencyStd = l.Stddev
		}
		if iqr := l.IQROverMedian(); !math.IsNaN(iqr) && !math.IsInf(iqr, 0) {
			r.IQROverMedian = iqr
		}
	}
	if len(l.CI) > 0 {
		r.LatencyCI = l.CI
	}
	r.ThroughputRPS = s.AchievedRPS
	r.ForwardMsPerBatch = s.Compute.Mean
	r.WallMs = c.Duration.Seconds() * 1000
	qw, cm := s.QueueWait, s.Compute
	info := &record.LoadInfo{
		Serving: c.Serving, IssuedRPS: s.IssuedRPS, DurationS: c.Duration.Seconds(),
		WarmupS:   c.Warmup.Seconds(),
		TimeoutMs: ms(c.Timeout), QueueSize: c.QueueSize,
		Requests: s.Requests, Completed: s.Completed, Timeouts: s.Timeouts, Dropped: s.Dropped,
		AchievedRPS: s.AchievedRPS, Saturated: s.Saturated,
		QueueWaitMs: &qw, ComputeMs: &cm, MeanBatch: s.MeanBatch,
		BatchHistogram: map[string]int{}, ServiceMs: map[string][]float64{},
		IssueLagP50Ms: s.IssueLagP50Ms, IssueLagP99Ms: s.IssueLagP99Ms, LatencyPct: pct, LatencyBudgetMs: budgetMs,
	}
	for b, n := range s.Histogram {
		info.BatchHistogram[strconv.Itoa(b)] = n
	}
	for b, v := range s.ServiceMs {
		info.ServiceMs[strconv.Itoa(b)] = v
	}
	if budgetMs > 0 {
		info.WithinBudget, _ = s.Passes(pct, budgetMs)
	}
	r.Load = info
	if s.Saturated {
		r.Warnings = append(r.Warnings, s.Why+": the latencies are those of a growing queue, not of a steady state; lower --rate or add capacity")
	}
	if s.Timeouts+s.Dropped > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("%d requests timed out and %d were dropped; they count in the percentiles at >= the %s timeout", s.Timeouts, s.Dropped, c.Timeout))
	}
	for _, p := range s.LowerBound {
		r.Notes = append(r.Notes, p+" falls on failed requests: it is a lower bound")
	}
	if w := s.LagWarning(pct); w != "" {
		r.Warnings = append(r.Warnings, w)
	}
	if q, ok := stats.PercentileQ(pct); ok && s.Requests < MinRequests(q) {
		r.Notes = append(r.Notes, fmt.Sprintf("only %d requests measured: a %s claim needs >= %d", s.Requests, pct, MinRequests(q)))
	}
	for _, p := range stats.Percentiles {
		if _, ok := l.CI[p.Name]; !ok {
			r.Notes = append(r.Notes, fmt.Sprintf("no %d%% CI for %s: it needs >= %d requests (have %d)", int(Confidence*100), p.Name, stats.MinSamplesForQuantileCI(p.Q, Confidence), l.N))
		}
	}
}

// LagShare is the fraction of the claimed latency percentile above which the generator's
// lag (its p99) is worth a warning.
const LagShare = 0.05

// LagWarning says, when it matters, how late the generator released requests compared
// with the latency percentile claimed (pct): every latency is measured from the
// scheduled time, so it includes that lag. "" when the lag's p99 is under LagShare of it.
func (s *Summary) LagWarning(pct string) string {
	claimed := s.Pct(pct)
	if s.Saturated || s.IssueLagP99Ms <= 0 || !(claimed > 0) || s.IssueLagP99Ms <= LagShare*claimed {
		return ""
	}
	return fmt.Sprintf("the load generator released requests late: lag p50 %.3f ms, p99 %.3f ms after their scheduled times, %.0f%% of the %s latency claimed (%.3f ms); latencies include that lag",
		s.IssueLagP50Ms, s.IssueLagP99Ms, 100*s.IssueLagP99Ms/claimed, pct, claimed)
}

// Step returns the capacity-search view of a summary.
func (s *Summary) Step(c Config, pass bool) record.CapacityStep {
	return record.CapacityStep{
		OfferedRPS: c.OfferedRPS, AchievedRPS: s.AchievedRPS, Requests: s.Requests, Timeouts: s.Timeouts, Dropped: s.Dropped,
		P50: stats.Finite(s.Latency.P50), P90: stats.Finite(s.Latency.P90), P95: stats.Finite(s.Latency.P95), P99: stats.Finite(s.Latency.P99),
		Saturated: s.Saturated, Pass: pass,
	}
}
