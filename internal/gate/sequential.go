package gate

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/perflab/perflab/internal/knobs"
)

// ABConfig is one configuration measured A/B: the same knobs for the OLD and the NEW
// model file (what one `perflab bench --model OLD --ab-with NEW` round takes).
type ABConfig struct {
	Key         string // the configuration's record key (of the NEW side)
	Old, New    string // model files
	Name        string // the model as people know it (repository-relative); "" = Old -> New
	knobs.Knobs        // the knobs of both sides (its Model is not used: Old and New are)
	Iters       int
	Warmup      int
}

// Label names the A/B test for people: the model's repository path, or OLD -> NEW.
func (c ABConfig) Label() string {
	if c.Name != "" {
		return c.Name + " (base vs this change)"
	}
	return c.Old + " -> " + c.New
}

// Measure runs n more interleaved rounds of cfg (round seeds first, first+1, ...) and
// returns the OLD and NEW runs, one per round.
type Measure func(ctx context.Context, cfg ABConfig, first, n int) (a, b []Run, err error)

// Limits of a sequential A/B test: more is refused before anything runs (a typo such as
// ab-rounds: 6000 would otherwise hold a runner for days).
const (
	MaxRoundsPerLook = 200
	MaxLooksLimit    = 20
)

// SeqOptions set a sequential A/B test.
type SeqOptions struct {
	Options
	Rounds   int           // rounds of each look (>= 3)
	MaxLooks int           // looks at most: Rounds, 2*Rounds, ... (default 3)
	Budget   time.Duration // wall time for all configurations, every round included; 0 = no limit beyond MaxLooks
	Now      func() time.Time
}

// Validate refuses options that cannot make a test: too few or absurdly many rounds or
// looks, a negative budget. Its error is one line naming the value.
func (o SeqOptions) Validate() error {
	switch {
	case o.Rounds < 3:
		return fmt.Errorf("A/B rounds must be >= 3 (2 rounds leave 1 degree of freedom: nothing short of a huge change is significant), got %d", o.Rounds)
	case o.Rounds > MaxRoundsPerLook:
		return fmt.Errorf("A/B rounds must be <= %d per look (more looks, not longer ones, buy certainty), got %d", MaxRoundsPerLook, o.Rounds)
	case o.MaxLooks < 0 || o.MaxLooks > MaxLooksLimit:
		return fmt.Errorf("A/B looks must be between 1 and %d, got %d", MaxLooksLimit, o.MaxLooks)
	case o.Budget < 0:
		return fmt.Errorf("A/B budget must be >= 0 (0 = no limit), got %s", o.Budget)
	}
	return nil
}

// Look is one look of a sequential A/B test.
type Look struct {
	Rounds  int     `json:"rounds"`
	Alpha   float64 `json:"alpha"` // nominal level spent on regressions at this look (0: none)
	Verdict string  `json:"verdict"`
}

// ABRun says how one configuration's A/B test went.
type ABRun struct {
	Key     string  `json:"key"`
	Old     string  `json:"old"`
	New     string  `json:"new"`
	Looks   []Look  `json:"looks"`
	Seconds float64 `json:"seconds"`
	Stopped string  `json:"stopped"` // why it stopped
}

// Why a configuration's A/B test stopped.
const (
	StopDecided   = "every gated metric decided: no regression"
	StopConfirmed = "regression confirmed"
	StopBudget    = "time budget reached"
	StopLooks     = "all looks used"
	StopNotRun    = "not run: the time budget was used up"
)

// SpendAlpha is the Lan-DeMets Pocock-type alpha-spending function: the error rate spent
// by information fraction t in [0, 1], alpha*ln(1+(e-1)t).
func SpendAlpha(alpha, t float64) float64 {
	t = math.Max(0, math.Min(1, t))
	return alpha * math.Log(1+(math.E-1)*t)
}

// unconfirmed turns the regressions of a first look that had no second into inconclusive
// comparisons that say so.
func unconfirmed(rep *Report, budgetCut bool) {
	if rep == nil || rep.Verdict != Failed {
		return
	}
	why := "no second look fits in the time budget"
	if !budgetCut {
		why = "only one look was allowed (max looks 1)"
	}
	for k := range rep.Comparisons {
		c := &rep.Comparisons[k]
		if c.Verdict == Regression {
			c.Verdict = Inconclusive
			c.Reason = fmt.Sprintf("%s; not confirmed: a regression needs a second look, and %s", c.Reason, why)
		}
	}
	rep.finish()
}

// Sequential measures each configuration A/B in looks and decides with the error rate of
// the repeated looks accounted for (Pinpoint's "unknown -> run more", with confirmation
// before failing):
//
//   - The configurations share alpha equally (Bonferroni); inside one, Holm over metrics.
//   - Rounds are measured one at a time; every Rounds rounds is a look, which decides
//     each gated metric on all rounds so far: "no change" (its 95% CI inside its band),
//     improvement, regression, or undecided. Sampling goes on while any metric is
//     undecided, and stops when every one is decided, when a regression is confirmed, or
//     when MaxLooks looks or the budget are used up.
//   - A regression is never declared at the first look: it only asks for a second.
//     Regressions are declared at level SpendAlpha(alpha, R_k/R_max) - (what earlier
//     looks spent), so the chance of a false alarm over all looks stays <= alpha. A
//     regression seen when no second look fits is "inconclusive", and says so.
//   - The budget bounds everything, the first look included: before each round, the
//     round must fit in this configuration's share of what is left (the time left divided
//     by the configurations left), at the pace of the rounds so far; the whole test runs
//     under a context that ends with the budget, so that one slow round cannot overrun
//     it. A configuration for which nothing is left is not run, and says so; its metrics
//     are inconclusive.
func Sequential(ctx context.Context, cfgs []ABConfig, metrics []string, opts SeqOptions, measure Measure) (*Report, []ABRun, error) {
	if opts.MaxLooks == 0 {
		opts.MaxLooks = 3
	}
	if err := opts.Validate(); err != nil {
		return nil, nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rep := &Report{Alpha: opts.Alpha, Threshold: opts.Threshold, Metrics: metrics, Comparisons: []Comparison{}, ConfigNotes: map[string]string{}}
	var runs []ABRun
	start := opts.Now()
	bctx := ctx
	if opts.Budget > 0 {
		var cancel context.CancelFunc
		bctx, cancel = context.WithTimeout(ctx, opts.Budget)
		defer cancel()
	}
	alphaCfg := opts.Alpha / float64(max(1, len(cfgs)))
	var paceTotal time.Duration // time per round over every configuration so far
	paceRounds := 0
	for i, cfg := range cfgs {
		cfgStart := opts.Now()
		run := ABRun{Key: cfg.Key, Old: cfg.Old, New: cfg.New}
		if cfg.Name != "" {
			run.Old, run.New = "base:"+cfg.Name, cfg.Name
		}
		share := time.Duration(0)
		if opts.Budget > 0 {
			left := opts.Budget - cfgStart.Sub(start)
			share = left / time.Duration(len(cfgs)-i)
			pace := time.Duration(0)
			if paceRounds > 0 {
				pace = paceTotal / time.Duration(paceRounds)
			}
			if left <= 0 || bctx.Err() != nil || (pace > 0 && share < 2*pace) {
				run.Stopped = StopNotRun
				runs = append(runs, run)
				why := fmt.Sprintf("not measured: the A/B time budget (%s) was used up by the configurations before it", opts.Budget)
				if left > 0 && pace > 0 {
					why = fmt.Sprintf("not measured: %.0f s of the A/B time budget (%s) were left for it, less than 2 rounds at %.0f s each", share.Seconds(), opts.Budget, pace.Seconds())
				}
				for _, m := range metrics {
					rep.Comparisons = append(rep.Comparisons, Comparison{Key: cfg.Key, Metric: m, Verdict: Inconclusive, Reason: why, Threshold: opts.Band(m)})
				}
				rep.ConfigNotes[cfg.Key] = fmt.Sprintf("A/B %s: %s", cfg.Label(), why)
				continue
			}
		}
		var a, b []Run
		maxRounds := opts.Rounds * opts.MaxLooks
		spent := 0.0
		var last *Report
		budgetCut := false
		for look := 1; ; look++ {
			target := min(maxRounds, look*opts.Rounds)
			for len(a) < target && !budgetCut {
				if share > 0 && len(a) > 0 {
					elapsed := opts.Now().Sub(cfgStart)
					if elapsed+elapsed/time.Duration(len(a)) > share {
						budgetCut = true
						break
					}
				}
				na, nb, err := measure(bctx, cfg, len(a), 1)
				if err != nil {
					if ctx.Err() == nil && bctx.Err() != nil {
						budgetCut = true // the round was stopped at the end of the budget
						break
					}
					return nil, nil, err
				}
				a, b = append(a, na...), append(b, nb...)
			}
			if look > 1 && len(a) == run.Looks[len(run.Looks)-1].Rounds {
				// The budget ended before any new round: the last look was the last.
				run.Stopped = StopBudget
				unconfirmed(last, budgetCut)
				break
			}
			if len(a) < 2 {
				// The budget ended before 2 rounds: nothing can be said.
				run.Stopped = StopBudget
				why := fmt.Sprintf("not decided: the A/B time budget (%s) allowed %d round(s), and a comparison needs 2", opts.Budget, len(a))
				last = &Report{}
				for _, m := range metrics {
					last.Comparisons = append(last.Comparisons, Comparison{Key: cfg.Key, Metric: m, Verdict: Inconclusive, Reason: why, Threshold: opts.Band(m)})
				}
				break
			}
			final := len(a) >= maxRounds || budgetCut
			lookAlpha := 0.0
			if look > 1 {
				cum := SpendAlpha(alphaCfg, float64(len(a))/float64(maxRounds))
				if final {
					cum = alphaCfg
				}
				lookAlpha = cum - spent
				spent = cum
			}
			o := opts.Options
			o.Alpha = lookAlpha
			if lookAlpha <= 0 {
				// The first look cannot declare a regression: its "regression" only asks
				// for confirmation.
				o.Alpha = alphaCfg
			}
			last = CheckAB(cfg.Key, a, b, metrics, o)
			run.Looks = append(run.Looks, Look{Rounds: len(a), Alpha: lookAlpha, Verdict: last.Verdict})
			switch {
			case last.Verdict == Pass:
				run.Stopped = StopDecided
			case last.Verdict == Failed && lookAlpha > 0:
				run.Stopped = StopConfirmed
			case final && budgetCut:
				run.Stopped = StopBudget
			case final:
				run.Stopped = StopLooks
			case ctx.Err() != nil:
				return nil, nil, ctx.Err()
			default:
				continue
			}
			if lookAlpha <= 0 {
				unconfirmed(last, budgetCut)
			}
			break
		}
		elapsed := opts.Now().Sub(cfgStart)
		run.Seconds = elapsed.Seconds()
		paceTotal += elapsed
		paceRounds += len(a)
		runs = append(runs, run)
		rep.Comparisons = append(rep.Comparisons, last.Comparisons...)
		var looks []string
		for _, l := range run.Looks {
			looks = append(looks, fmt.Sprintf("%d rounds: %s", l.Rounds, l.Verdict))
		}
		stopped := run.Stopped
		if run.Stopped == StopBudget {
			stopped = fmt.Sprintf("%s after %d of up to %d rounds: the undecided metrics are inconclusive", StopBudget, len(a), maxRounds)
		}
		if len(looks) == 0 {
			looks = []string{fmt.Sprintf("%d round(s)", len(a))}
		}
		rep.ConfigNotes[cfg.Key] = fmt.Sprintf("A/B %s, interleaved: %s (%s; %.0f s)", cfg.Label(), strings.Join(looks, ", then "), stopped, run.Seconds)
	}
	rep.finish()
	return rep, runs, nil
}
