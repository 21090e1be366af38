package load

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// Search configures FindCapacity.
type Search struct {
	Start     float64 // the first rate tried: an estimate of the most the configuration can take
	Tolerance float64 // stop once (hi - lo) / hi <= Tolerance; default 0.05
	MaxSteps  int     // at most this many runs; default 12
	MinRate   float64 // give up when even this rate fails; default Start / 1000
}

// SearchResult is the outcome of FindCapacity.
type SearchResult struct {
	Capacity  float64 // the highest rate that passed; 0 when none did
	Lo, Hi    float64 // the final bracket: Lo passed (0: none did), Hi failed (0: none did)
	Steps     int
	Converged bool
	Reason    string
}

// StepFunc runs the load at rate and says whether it passed (kept up and stayed within the
// latency budget). step is 1-based.
type StepFunc func(ctx context.Context, step int, rate float64) (pass bool, err error)

// FindCapacity searches the highest rate that passes, MLPerf LoadGen's FindPeakPerformance
// idea: it assumes that a configuration that passes at a rate passes at every lower rate.
//
// The rule: try Start; while every rate tried passed, double it; while none passed, halve
// it (giving up below MinRate); once one rate passed and one failed, bisect between the
// highest passing rate (lo) and the lowest failing one (hi) until (hi - lo) / hi <=
// Tolerance or MaxSteps runs were made. The capacity is lo. Rates are rounded to three
// significant digits.
func FindCapacity(ctx context.Context, s Search, run StepFunc) (SearchResult, error) {
	if !(s.Start > 0) || math.IsInf(s.Start, 0) {
		return SearchResult{}, fmt.Errorf("capacity search: the start rate must be positive, got %g", s.Start)
	}
	if s.Tolerance <= 0 {
		s.Tolerance = 0.05
	}
	if s.MaxSteps <= 0 {
		s.MaxSteps = 12
	}
	if s.MinRate <= 0 {
		s.MinRate = s.Start / 1000
	}
	var res SearchResult
	rate := Round3(s.Start)
	for res.Steps < s.MaxSteps {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		res.Steps++
		pass, err := run(ctx, res.Steps, rate)
		if err != nil {
			return res, err
		}
		if pass {
			res.Lo = max(res.Lo, rate)
		} else if res.Hi == 0 || rate < res.Hi {
			res.Hi = rate
		}
		switch {
		case res.Hi == 0:
			rate = Round3(rate * 2)
			continue
		case res.Lo == 0:
			if rate/2 < s.MinRate {
				res.Reason = fmt.Sprintf("no rate passes: even %g req/s failed", res.Hi)
				return res, nil
			}
			rate = Round3(rate / 2)
			continue
		}
		if (res.Hi-res.Lo)/res.Hi <= s.Tolerance {
			res.Converged = true
			break
		}
		next := Round3((res.Lo + res.Hi) / 2)
		if next <= res.Lo || next >= res.Hi {
			res.Converged = true // the bracket is narrower than the rounding
			break
		}
		rate = next
	}
	res.Capacity = res.Lo
	switch {
	case res.Converged:
		res.Reason = fmt.Sprintf("%g req/s passed and %g req/s failed: within %.0f%% after %d steps", res.Lo, res.Hi, s.Tolerance*100, res.Steps)
	case res.Lo == 0:
		res.Reason = fmt.Sprintf("no rate passed in %d steps (lowest tried %g req/s)", res.Steps, res.Hi)
	case res.Hi == 0:
		res.Reason = fmt.Sprintf("every rate tried passed, up to %g req/s, in %d steps: the capacity is at least that", res.Lo, res.Steps)
	default:
		res.Reason = fmt.Sprintf("stopped after %d steps with %g req/s passing and %g req/s failing (not within %.0f%%)", res.Steps, res.Lo, res.Hi, s.Tolerance*100)
	}
	return res, nil
}

// Round3 rounds a positive rate to three significant digits.
func Round3(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return v
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	return r
}
