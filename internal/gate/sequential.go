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
	knobs.Knobs        // the knobs of both sides (its Model is not used: Old and New are)
	Iters       int
	Warmup      int
}

// Measure runs n more interleaved rounds of cfg (round seeds first, first+1, ...) and
// returns the OLD and NEW runs, one per round.
type Measure func(ctx context.Context, cfg ABConfig, first, n int) (a, b []Run, err error)

// SeqOptions set a sequential A/B test.
type SeqOptions struct {
	Options
	Rounds   int           // rounds of the first look (>= 3)
	MaxLooks int           // looks at most: Rounds, 2*Rounds, ... (default 3)
	Budget   time.Duration // wall time for all configurations; 0 = no limit beyond MaxLooks
	Now      func() time.Time
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

// SpendAlpha is the Lan-DeMets Pocock-type alpha-spending function: the error rate spent
// by information fraction t in [0, 1], alpha*ln(1+(e-1)t).
func SpendAlpha(alpha, t float64) float64 {
	t = math.Max(0, math.Min(1, t))
	return alpha * math.Log(1+(math.E-1)*t)
}

// Sequential measures each configuration A/B in looks and decides with the error rate of
// the repeated looks accounted for ("confirm before failing"):
//
//   - The configurations share alpha equally (Bonferroni); inside one, Holm over metrics.
//   - Look 1 measures Rounds rounds. If it is conclusive with no regression, done. A
//     regression or an inconclusive first look is never final while rounds remain: more
//     rounds are measured (Rounds more per look, up to MaxLooks looks and the time
//     budget, estimated from the time per round so far), and every look decides on all
//     rounds so far.
//   - Regressions are declared at level SpendAlpha(alpha, R_k/R_max) - (what earlier
//     looks spent), so the chance of a false alarm over all looks stays <= alpha. The
//     first look spends nothing when it cannot be final. "No change" (the 95% CI inside
//     the threshold band) is the same test at every look.
func Sequential(ctx context.Context, cfgs []ABConfig, metrics []string, opts SeqOptions, measure Measure) (*Report, []ABRun, error) {
	if opts.MaxLooks < 1 {
		opts.MaxLooks = 3
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rep := &Report{Alpha: opts.Alpha, Threshold: opts.Threshold, Metrics: metrics, Comparisons: []Comparison{}, ConfigNotes: map[string]string{}}
	var runs []ABRun
	start := opts.Now()
	alphaCfg := opts.Alpha / float64(max(1, len(cfgs)))
	for i, cfg := range cfgs {
		cfgStart := opts.Now()
		share := time.Duration(0)
		if opts.Budget > 0 {
			left := opts.Budget - cfgStart.Sub(start)
			share = left / time.Duration(len(cfgs)-i)
		}
		run := ABRun{Key: cfg.Key, Old: cfg.Old, New: cfg.New}
		var a, b []Run
		maxRounds := opts.Rounds * opts.MaxLooks
		spent := 0.0
		var last *Report
		for look := 1; ; look++ {
			n := opts.Rounds
			if look > 1 {
				n = min(opts.Rounds, maxRounds-len(a))
			}
			na, nb, err := measure(ctx, cfg, len(a), n)
			if err != nil {
				return nil, nil, err
			}
			a, b = append(a, na...), append(b, nb...)
			elapsed := opts.Now().Sub(cfgStart)
			if share > 0 && look == 1 {
				// How many rounds the budget allows, at the pace of the first look.
				perRound := elapsed / time.Duration(len(a))
				if perRound > 0 {
					afford := len(a) + int((share-elapsed)/perRound)
					maxRounds = max(len(a), min(maxRounds, afford))
				}
			}
			final := len(a) >= maxRounds
			lookAlpha := 0.0
			if final || look > 1 {
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
				run.Stopped = "conclusive: no regression"
			case last.Verdict == Failed && lookAlpha > 0:
				run.Stopped = "regression confirmed"
			case final && opts.Budget > 0 && maxRounds < opts.Rounds*opts.MaxLooks:
				run.Stopped = "time budget reached"
			case final:
				run.Stopped = "all looks used"
			case ctx.Err() != nil:
				return nil, nil, ctx.Err()
			default:
				continue
			}
			break
		}
		run.Seconds = opts.Now().Sub(cfgStart).Seconds()
		runs = append(runs, run)
		rep.Comparisons = append(rep.Comparisons, last.Comparisons...)
		var looks []string
		for _, l := range run.Looks {
			looks = append(looks, fmt.Sprintf("%d rounds: %s", l.Rounds, l.Verdict))
		}
		rep.ConfigNotes[cfg.Key] = fmt.Sprintf("A/B %s -> %s, interleaved: %s (%s; %.0f s)", cfg.Old, cfg.New, strings.Join(looks, ", then "), run.Stopped, run.Seconds)
	}
	rep.finish()
	return rep, runs, nil
}
