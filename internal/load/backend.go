package load

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/perflab/perflab/internal/record"
)

// Backend serves one configuration at whatever rate a run asks: live (package torchsvc:
// a Pool of libtorch instances) or simulated (SimBackend).
type Backend struct {
	Base      *record.Record // the configuration's fields, no measurements
	FullBatch time.Duration  // estimated compute of a full batch; 0 = unknown
	Source    string         // simulated: where the service times come from (record's load.source)
	Run       func(ctx context.Context, c Config) (*Outcome, error)
}

// Claim is the latency claim runs are judged by: a percentile ("p95") and a budget in
// milliseconds (0 = none).
type Claim struct {
	Pct      string
	BudgetMs float64
}

// timeout is c's request timeout: its own, else DefaultTimeout of the claim's budget and
// the backend's full batch.
func (be *Backend) timeout(c Config, claim Claim) time.Duration {
	if c.Timeout != 0 {
		return c.Timeout
	}
	return DefaultTimeout(time.Duration(claim.BudgetMs*float64(time.Millisecond)), be.FullBatch)
}

// Measure runs c on the backend and returns its record (Base with the run's summary
// filled in, Summary.Fill) and the summary.
func (be *Backend) Measure(ctx context.Context, c Config, claim Claim) (*record.Record, *Summary, error) {
	c.Timeout = be.timeout(c, claim)
	started := time.Now().UTC()
	out, err := be.Run(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	s := Summarize(out)
	rec := cloneRecord(be.Base)
	rec.Timestamp = started.Format(time.RFC3339)
	s.Fill(rec, out.Config, claim.Pct, claim.BudgetMs)
	rec.Load.Source = be.Source
	return rec, &s, nil
}

// Step is one finished step of a capacity search.
type Step struct {
	N        int // 1-based
	Rate     float64
	Duration time.Duration // its measured window (StepDuration)
	Record   *record.Record
	Summary  *Summary
	Pass     bool
	Why      string // the verdict in words (Summary.Passes)
}

// SearchCapacity searches the backend's capacity under claim (FindCapacity with s; a zero
// s.Start is estimated as instances x max batch / full batch): every step runs c at the
// step's rate for at least StepDuration and is passed to onStep (perflab load appends it
// to --out and prints its progress). It returns the summary record and the steps' records:
// the summary has the measurements of the capacity step (the highest passing rate; the
// lowest rate tried when none passed) and load.capacity. Steps run before an error are
// returned with it (errors.Is(err, context.Canceled) when interrupted).
func (be *Backend) SearchCapacity(ctx context.Context, c Config, claim Claim, s Search, onStep func(Step) error) (*record.Record, []*record.Record, error) {
	if s.Start == 0 {
		if be.FullBatch <= 0 {
			return nil, nil, errors.New("--find-capacity: cannot estimate a first rate (no service time): give --rate")
		}
		s.Start = float64(c.Instances*c.MaxBatch) / be.FullBatch.Seconds()
	}
	c.Timeout = be.timeout(c, claim)
	var steps []*record.Record
	var capSteps []record.CapacityStep
	run := func(ctx context.Context, step int, rate float64) (bool, error) {
		sc := c
		sc.OfferedRPS, sc.Duration = rate, StepDuration(rate, c.Duration, claim.Pct)
		rec, sum, err := be.Measure(ctx, sc, claim)
		if err != nil {
			return false, err
		}
		pass, why := sum.Passes(claim.Pct, claim.BudgetMs)
		rec.Load.Step = step
		steps = append(steps, rec)
		capSteps = append(capSteps, sum.Step(sc, pass))
		return pass, onStep(Step{N: step, Rate: rate, Duration: sc.Duration, Record: rec, Summary: sum, Pass: pass, Why: why})
	}
	res, err := FindCapacity(ctx, s, run)
	if err != nil {
		return nil, steps, err
	}
	if len(steps) == 0 {
		return nil, nil, errors.New("capacity search ran no step")
	}
	best := steps[0]
	for _, r := range steps {
		switch {
		case res.Capacity > 0 && r.Load.OfferedRPS == res.Capacity && r.Load.WithinBudget:
			best = r
		case res.Capacity == 0 && r.Load.OfferedRPS < best.Load.OfferedRPS:
			best = r
		}
	}
	sum := cloneRecord(best)
	l := *best.Load
	sum.Load = &l
	sum.Load.Step = 0
	sum.Load.Capacity = &record.Capacity{
		CapacityRPS: res.Capacity, LatencyPct: claim.Pct, BudgetMs: claim.BudgetMs,
		BracketLoRPS: res.Lo, BracketHiRPS: res.Hi, Tolerance: s.Tolerance,
		Converged: res.Converged, Reason: res.Reason, Steps: capSteps,
	}
	sum.Notes = append(sum.Notes, fmt.Sprintf("capacity-search summary of %d steps: the measurements are those of step %d (%g req/s)", len(steps), best.Load.Step, best.Load.OfferedRPS))
	return sum, steps, nil
}

func cloneRecord(r *record.Record) *record.Record {
	c := *r
	c.Notes = slices.Clone(r.Notes)
	c.Warnings = slices.Clone(r.Warnings)
	c.Inputs = slices.Clone(r.Inputs)
	return &c
}
