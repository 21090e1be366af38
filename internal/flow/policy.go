// Package flow holds perflab's use cases, each written once and called by both front ends
// (the CLI and the GitHub Action): GateStored (results against a stored baseline),
// GateAgainstBase (the same, plus an interleaved A/B test of every model file changed since
// a base revision: `perflab gate --against` and a pull request), MeasureAB (two model files
// measured interleaved) and the Policy that decides what fails. Flows return typed results
// and typed errors; the front ends render them and choose exit codes.
package flow

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/gate"
)

// The defaults of a gate, the same for `perflab gate` and the Action's inputs.
const (
	DefaultThreshold = "5%" // minimum change that counts
	DefaultAlpha     = 0.01 // significance level after Holm's correction
	DefaultRounds    = 6    // A/B: interleaved rounds of the first look
	DefaultMaxLooks  = 6    // A/B: looks at most (Rounds, 2*Rounds, ...): sampling goes on while a metric is undecided
	DefaultIters     = 400  // A/B: timed iterations per run (p99 needs >= 368)
	DefaultWarmup    = 20   // A/B: warm-up iterations per run
	// DefaultActionBudget bounds the wall time of a pull request's A/B tests in the Action
	// and of `perflab gate`'s A/B (its --budget default; --budget 0 lifts the bound).
	DefaultActionBudget = "15m"
)

// Policy is what a gate compares and what makes it fail: one type, one set of defaults
// (DefaultPolicy), for the CLI and the Action.
type Policy struct {
	Threshold float64  // minimum change that counts: 0.05 = 5%
	Alpha     float64  // significance level after Holm's correction
	Metrics   []string // p50, p90, p95, p99, throughput

	FailOnRegression   bool // a regression fails (the Action's fail-on-regression: false only warns)
	FailOnInconclusive bool // an inconclusive (or nothing-compared) verdict fails too

	// A/B tests.
	Rounds   int           // rounds of the first look (>= 3)
	MaxLooks int           // looks at most
	Budget   time.Duration // wall time of all A/B tests; 0 = only MaxLooks bounds it
	Iters    int           // timed iterations per run
	Warmup   int           // warm-up iterations per run
	// GateConfigs are the configurations A/B tested per changed model file (abgate
	// selectors); a preset's gate_configs replace them unless GateConfigsSet (the user chose).
	GateConfigs    []string
	GateConfigsSet bool
}

// DefaultPolicy is the policy of a gate nobody configured.
func DefaultPolicy() Policy {
	t, err := gate.ParseThreshold(DefaultThreshold)
	if err != nil {
		panic(err)
	}
	return Policy{Threshold: t, Alpha: DefaultAlpha, Metrics: gate.DefaultMetrics, FailOnRegression: true,
		Rounds: DefaultRounds, MaxLooks: DefaultMaxLooks, Iters: DefaultIters, Warmup: DefaultWarmup,
		GateConfigs: abgate.DefaultSelectors}
}

// DefaultAlphaText and DefaultMetricsText are the defaults as flags and inputs spell them.
var (
	DefaultAlphaText       = strconv.FormatFloat(DefaultAlpha, 'g', -1, 64)
	DefaultMetricsText     = strings.Join(gate.DefaultMetrics, ",")
	DefaultGateConfigsText = strings.Join(abgate.DefaultSelectors, ",")
)

// Options are the gate's statistical options.
func (p Policy) Options() gate.Options { return gate.Options{Alpha: p.Alpha, Threshold: p.Threshold} }

// Seq are the options of a sequential A/B test (now: the clock; nil = time.Now).
func (p Policy) Seq(now func() time.Time) gate.SeqOptions {
	if now == nil {
		now = time.Now
	}
	return gate.SeqOptions{Options: p.Options(), Rounds: p.Rounds, MaxLooks: p.MaxLooks, Budget: p.Budget, Now: now}
}

// Selectors are the gated configurations: the preset's choice, unless the user chose.
func (p Policy) Selectors(preset []string) []string {
	if len(preset) > 0 && !p.GateConfigsSet {
		return preset
	}
	return p.GateConfigs
}

// VerdictError says that a verdict fails under the policy: a regression, or (with
// FailOnInconclusive) a verdict that is not a pass.
type VerdictError struct {
	Verdict      string
	Summary      string
	Regressions  int
	Inconclusive bool // failed by FailOnInconclusive, not by a regression
}

func (e *VerdictError) Error() string {
	if e.Inconclusive {
		return fmt.Sprintf("gate: %s: %s (fail on inconclusive)", e.Verdict, e.Summary)
	}
	return "gate: " + e.Summary
}

// Check decides, once for every front end, whether rep fails: nil, or a *VerdictError.
func (p Policy) Check(rep *gate.Report) error {
	switch {
	case rep.Verdict == gate.Failed:
		if p.FailOnRegression {
			return &VerdictError{Verdict: rep.Verdict, Summary: rep.Summary, Regressions: rep.Regressions}
		}
	case rep.Verdict != gate.Pass && p.FailOnInconclusive:
		return &VerdictError{Verdict: rep.Verdict, Summary: rep.Summary, Regressions: rep.Regressions, Inconclusive: true}
	}
	return nil
}
