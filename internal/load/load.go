// Package load measures latency under traffic: an open-loop load generator, a dynamic
// batcher and N model instances (perflab load), the same queue simulated from measured
// service times (Simulate), and the search for the highest rate a configuration sustains
// within a latency budget (FindCapacity).
//
// # Open loop, no coordinated omission
//
// Every request has a scheduled arrival time, drawn up front from a seeded generator
// (Poisson: exponential gaps; constant: equal gaps). The generator releases each request at
// its scheduled time whatever the server is doing, and a request's latency is measured from
// its scheduled time to the end of the batch that served it: a server that stalls makes
// every request queued behind the stall slow, as real clients would see it. (A closed loop
// that waits for each answer before sending the next omits exactly those requests.)
//
// # The batcher (Triton's dynamic batcher semantics)
//
// Requests wait in one FIFO queue. Whenever an instance is idle and the queue is not
// empty, the batcher dispatches the oldest requests, up to MaxBatch of them, as soon as
// either MaxBatch requests are queued or the oldest one has waited MaxDelay since it was
// enqueued; otherwise it waits for whichever comes first. MaxDelay 0 dispatches whatever is
// queued as soon as an instance is idle. While every instance is busy requests accumulate,
// so a freed instance takes a full batch at once when enough are waiting.
//
// A request still queued Timeout after its scheduled time is not run (a timeout); with a
// bounded queue (QueueSize > 0) a request arriving at a full queue is dropped. Failed
// requests count in the latency percentiles at the timeout (or the time they were found
// waiting, if longer), never as fast requests, and a run that cannot keep up (achieved
// rate under 95% of the issued rate, or more than 1% of requests failed) is marked
// saturated.
//
// The package is independent of libtorch: a Service makes Instances that run one batch
// each call, so the queueing machinery is tested against fake services with known service
// times. package torchsvc provides the real, libtorch-backed Service.
package load

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/stats"
)

// Arrival processes (knobs.Arrivals).
const (
	Poisson  = knobs.Poisson
	Constant = knobs.Constant
)

// Config is one load run: the serving configuration and its traffic (Serving: instances,
// max batch, max delay, arrival process and the offered rate, OfferedRPS), and how long
// and how it is measured.
type Config struct {
	knobs.Serving
	Duration  time.Duration // the measured window
	Warmup    time.Duration // load before the window (same rate), not counted
	Timeout   time.Duration // a request still queued this long after its scheduled time is not run
	QueueSize int           // requests arriving at a full queue are dropped; 0 = unbounded
	Seed      uint64        // seed of the arrival schedule (and of simulated service times)
}

// Validate checks the configuration. Its errors name the perflab load flags.
func (c *Config) Validate() error {
	if err := c.Serving.Validate(); err != nil {
		return err
	}
	switch {
	case !(c.OfferedRPS > 0):
		return fmt.Errorf("--rate must be a positive number of requests per second, got %g", c.OfferedRPS)
	case c.Duration <= 0:
		return fmt.Errorf("--duration must be positive, got %s", c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("--warmup must be >= 0, got %s", c.Warmup)
	case c.Timeout < 0:
		return fmt.Errorf("--timeout must be >= 0 (0 = automatic), got %s", c.Timeout)
	case c.QueueSize < 0:
		return fmt.Errorf("--queue-size must be >= 0 (0 = unbounded), got %d", c.QueueSize)
	}
	if n := c.OfferedRPS * (c.Duration + c.Warmup).Seconds(); n > MaxRequests {
		return fmt.Errorf("--rate %g for %s (+ %s warm-up) schedules %.3g requests, more than the %d one run holds: lower --rate or --duration", c.OfferedRPS, c.Duration, c.Warmup, n, MaxRequests)
	}
	return nil
}

// MaxRequests bounds the requests one run schedules (each is tracked in memory).
const MaxRequests = 5_000_000

// DefaultTimeout is the request timeout used when none is given: the largest of 1 s, ten
// times the latency budget (when there is one) and ten times the service time of a full
// batch. It only bounds how long an overloaded run keeps requests queued.
func DefaultTimeout(budget, fullBatch time.Duration) time.Duration {
	return max(time.Second, 10*budget, 10*fullBatch)
}

// Schedule returns the scheduled arrival times of a run, offsets from its start, for the
// warm-up and the measured window ([0, Warmup+Duration)). The same config gives the same
// schedule.
func Schedule(c Config) []time.Duration {
	end := (c.Warmup + c.Duration).Seconds()
	rate := c.OfferedRPS
	out := make([]time.Duration, 0, int(rate*end*1.1)+16)
	if c.Arrival == Constant {
		for i := 0; ; i++ {
			t := float64(i) / rate
			if t >= end {
				return out
			}
			out = append(out, time.Duration(t*1e9))
		}
	}
	rng := rand.New(rand.NewPCG(c.Seed, 0x5eed10ad))
	t := 0.0
	for {
		t += rng.ExpFloat64() / rate
		if t >= end {
			return out
		}
		out = append(out, time.Duration(t*1e9))
	}
}

// ClaimConfidence is the confidence of a latency claim "the q-th percentile is within the
// budget" that MinRequests sizes runs for (MLPerf LoadGen's early-stopping confidence).
const ClaimConfidence = 0.99

// MinRequests returns the fewest measured requests with which the q-th percentile claim
// can hold at ClaimConfidence with one request over the bound (MLPerf LoadGen's sample
// counts): the smallest n with P(at most 1 of n requests exceeds the true q-th percentile)
// <= 1 - ClaimConfidence. p50 -> 11, p90 -> 64, p95 -> 130, p99 -> 662.
func MinRequests(q float64) int {
	if !(q > 0 && q < 100) {
		return 0
	}
	over := 1 - q/100
	for n := 2; ; n++ {
		if (distuv.Binomial{N: float64(n), P: over}).CDF(1) <= 1-ClaimConfidence {
			return n
		}
	}
}

// CheckDuration says whether a run at rate for duration measures enough requests for a
// claim on percentile pct ("p95"): the expected number of requests must reach MinRequests.
func CheckDuration(rate float64, duration time.Duration, pct string) error {
	q, err := stats.ParsePercentile(pct)
	if err != nil {
		return fmt.Errorf("--latency-pct %w", err)
	}
	need := MinRequests(q)
	have := rate * duration.Seconds()
	if have+1e-9 >= float64(need) {
		return nil
	}
	minDur := time.Duration(math.Ceil(float64(need)/rate*10) / 10 * float64(time.Second))
	return fmt.Errorf("duration too short: at %g req/s, %s gives %.0f requests; a %s claim needs >= %d (MLPerf LoadGen's count at %.0f%% confidence): use --duration >= %s, or a higher --rate",
		rate, duration, math.Floor(have), pct, need, ClaimConfidence*100, minDur)
}

// StepDuration is the measured window of a capacity-search step at rate: at least
// duration, and long enough for twice MinRequests of pct.
func StepDuration(rate float64, duration time.Duration, pct string) time.Duration {
	q, _ := stats.PercentileQ(pct)
	need := 2 * MinRequests(q)
	d := time.Duration(math.Ceil(float64(need)/rate*10) / 10 * float64(time.Second))
	return max(duration, d)
}

// ErrPoolBroken is returned by Pool.Run after a batch failed to finish in time.
var ErrPoolBroken = errors.New("load: an instance did not finish its batch in time; start a new process")
