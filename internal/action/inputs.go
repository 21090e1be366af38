package action

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sethvargo/go-githubactions"

	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/sweep"
)

// Input names, as action.yml declares them. They arrive as INPUT_<NAME>: uppercased,
// hyphens kept (INPUT_FAIL-ON-REGRESSION).
const (
	InPreset           = "preset"
	InQuick            = "quick"
	InModels           = "models"
	InIters            = "iters"
	InBaseline         = "baseline"
	InConstraint       = "constraint"
	InLatencyPct       = "latency-pct"
	InLatencyBudgetMs  = "latency-budget-ms"
	InThreshold        = "threshold"
	InAlpha            = "alpha"
	InMetrics          = "metrics"
	InComment          = "comment"
	InFailOnRegression = "fail-on-regression"
	InUpdateBaseline   = "update-baseline"
	InGitHubToken      = "github-token"
	InResults          = "results"
	InShard            = "shard"
	// A/B against the pull request's base.
	InAB                 = "ab"
	InBaseModels         = "base-models"
	InGateConfigs        = "gate-configs"
	InABRounds           = "ab-rounds"
	InABBudget           = "ab-budget"
	InFailOnInconclusive = "fail-on-inconclusive"
	InCommentKey         = "comment-key"
	InBaselineBranch     = "baseline-branch"
	InAllowUngated       = "allow-ungated"
)

// Defaults are the inputs' defaults, the same as action.yml's (a test checks it). An empty
// default means "not set". github-token defaults to ${{ github.token }} in action.yml,
// which only the runner can expand.
var Defaults = map[string]string{
	InPreset:           "cpu_vision",
	InQuick:            "false",
	InModels:           "",
	InIters:            "",
	InBaseline:         "",
	InConstraint:       report.Balanced,
	InLatencyPct:       "p95",
	InLatencyBudgetMs:  "",
	InThreshold:        flow.DefaultThreshold,
	InAlpha:            flow.DefaultAlphaText,
	InMetrics:          flow.DefaultMetricsText,
	InComment:          "true",
	InFailOnRegression: "true",
	InUpdateBaseline:   "auto",
	InGitHubToken:      "",
	InResults:          "",
	InShard:            "",

	InAB:                 "true",
	InBaseModels:         "",
	InGateConfigs:        flow.DefaultGateConfigsText,
	InABRounds:           strconv.Itoa(flow.DefaultRounds),
	InABBudget:           flow.DefaultActionBudget,
	InFailOnInconclusive: "false",
	InCommentKey:         "",
	InBaselineBranch:     "",
	InAllowUngated:       "false",
}

// Outputs are the action's outputs, as action.yml declares them.
var Outputs = []string{"verdict", "regressions", "report", "results", "recommended-config"}

// Update-baseline modes.
const (
	UpdateAuto  = "auto"  // on a push to the default branch
	UpdateTrue  = "true"  // on any push
	UpdateFalse = "false" // never
)

// Inputs are the action's inputs, parsed and validated.
type Inputs struct {
	Preset           string
	Quick            bool
	Models           []string
	Iters            int // 0 = the preset's
	Baseline         string
	Constraint       string
	LatencyPct       string
	BudgetMs         float64
	Threshold        float64
	ThresholdText    string
	Alpha            float64
	Metrics          []string
	Comment          bool
	FailOnRegression bool
	UpdateBaseline   string
	Token            string
	Results          []string // JSONL files or globs to gate instead of sweeping
	Shard            string   // I/N: sweep one shard only, no gate

	AB                 bool     // A/B the changed model files against the base's on pull requests
	BaseModels         string   // folder holding the base's model files (same relative names); "" = git or the API
	GateConfigs        []string // abgate selectors
	GateConfigsSet     bool     // the gate-configs input was given: the preset's gate_configs do not replace it
	ABRounds           int
	ABBudget           time.Duration
	FailOnInconclusive bool
	// CommentKey tells this workflow's sticky comment apart from another workflow's on
	// the same pull request ("" = the default comment).
	CommentKey string
	// BaselineBranch keeps the baseline on a branch of its own (for a protected default
	// branch): read there by pull requests, written there by pushes ("" = the default
	// branch, at the pull request's base).
	BaselineBranch string
	// AllowUngated: a pull request may stop gating a model file the base's preset gates
	// (remove it, rename it away, drop it from the preset) without failing the check.
	AllowUngated bool
}

// ReadInput returns input name's value through go-githubactions: INPUT_<NAME> uppercased
// with hyphens kept, as the runner sets it (INPUT_FAIL-ON-REGRESSION), else the same with
// hyphens as underscores, which a shell can set when testing by hand.
func ReadInput(getenv func(string) string, name string) string {
	gha := githubactions.New(githubactions.WithGetenv(getenv))
	if v := gha.GetInput(name); v != "" || !strings.Contains(name, "-") {
		return v
	}
	return gha.GetInput(strings.ReplaceAll(name, "-", "_"))
}

// ParseInputs reads and validates every input; an unset input takes its default. Errors
// name the input and what it accepts.
func ParseInputs(getenv func(string) string) (*Inputs, error) {
	get := func(name string) string {
		if v := ReadInput(getenv, name); v != "" {
			return v
		}
		return Defaults[name]
	}
	in := &Inputs{Preset: get(InPreset), Baseline: get(InBaseline), Token: get(InGitHubToken)}
	var errs []error
	bad := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("input %s: "+format, append([]any{name}, a...)...))
	}
	boolean := func(name string) bool {
		v := get(name)
		switch v {
		case "true", "True", "TRUE":
			return true
		case "false", "False", "FALSE":
			return false
		}
		bad(name, "%q is not a boolean (true or false)", v)
		return false
	}
	in.Quick = boolean(InQuick)
	in.Comment = boolean(InComment)
	in.FailOnRegression = boolean(InFailOnRegression)
	in.AB = boolean(InAB)
	in.FailOnInconclusive = boolean(InFailOnInconclusive)
	in.AllowUngated = boolean(InAllowUngated)
	in.BaseModels = get(InBaseModels)
	if sels, err := abgate.ParseSelectors(get(InGateConfigs)); err != nil {
		bad(InGateConfigs, "%v", err)
	} else {
		in.GateConfigs = sels
	}
	in.GateConfigsSet = ReadInput(getenv, InGateConfigs) != ""
	if v := get(InABRounds); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 3 || n > gate.MaxRoundsPerLook {
			bad(InABRounds, "%q is not an integer between 3 and %d (2 rounds leave 1 degree of freedom; more rounds per look buy nothing that more looks do not)", v, gate.MaxRoundsPerLook)
		}
		in.ABRounds = n
	}
	if v := get(InABBudget); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad(InABBudget, "%q is not a duration like 15m or 90s", v)
		}
		in.ABBudget = d
	}
	if in.Preset == "" {
		bad(InPreset, "empty: give a built-in preset name or a preset YAML path in the repository")
	}
	in.Models = list(get(InModels))
	in.Results = list(get(InResults))
	if v := get(InIters); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad(InIters, "%q is not an integer >= 1", v)
		}
		in.Iters = n
	}
	in.Constraint = strings.ToLower(get(InConstraint))
	in.LatencyPct = strings.ToLower(get(InLatencyPct))
	if v := get(InLatencyBudgetMs); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			bad(InLatencyBudgetMs, "%q is not a number of milliseconds", v)
		}
		in.BudgetMs = f
	}
	ro := report.Options{Constraint: in.Constraint, Percentile: in.LatencyPct, BudgetMs: in.BudgetMs}
	if err := ro.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("input %s", inputWords(err.Error())))
	}
	in.ThresholdText = get(InThreshold)
	if t, err := gate.ParseThreshold(in.ThresholdText); err != nil {
		bad(InThreshold, "%v", err)
	} else {
		in.Threshold = t
	}
	if v := get(InAlpha); v != "" {
		a, err := strconv.ParseFloat(v, 64)
		if err != nil || !(a > 0 && a < 1) {
			bad(InAlpha, "%q must be a number between 0 and 1, e.g. 0.01", v)
		}
		in.Alpha = a
	}
	m, err := gate.ParseMetrics(get(InMetrics))
	if err != nil {
		errs = append(errs, fmt.Errorf("input %s", inputWords(err.Error())))
	}
	in.Metrics = m
	in.UpdateBaseline = strings.ToLower(get(InUpdateBaseline))
	switch in.UpdateBaseline {
	case UpdateAuto, UpdateTrue, UpdateFalse:
	default:
		bad(InUpdateBaseline, "%q must be auto (on a push to the default branch), true (on any push) or false", in.UpdateBaseline)
	}
	in.CommentKey = get(InCommentKey)
	if in.CommentKey != "" && !commentKey.MatchString(in.CommentKey) {
		bad(InCommentKey, "%q: use letters, digits, '.', '_' or '-' (at most 40)", in.CommentKey)
	}
	in.BaselineBranch = strings.TrimPrefix(get(InBaselineBranch), "refs/heads/")
	if b := in.BaselineBranch; b != "" && (strings.ContainsAny(b, " ~^:?*[\\") || strings.Contains(b, "..") || strings.HasPrefix(b, "-") || strings.HasSuffix(b, "/")) {
		bad(InBaselineBranch, "%q is not a valid branch name", b)
	}
	in.Shard = get(InShard)
	if _, _, err := sweep.ParseShard(in.Shard); err != nil {
		bad(InShard, "%s", inputWords(err.Error()))
	}
	if in.Shard != "" && len(in.Results) > 0 {
		errs = append(errs, errors.New("inputs shard and results exclude each other: a shard job sweeps, the merging job gates the results"))
	}
	return in, errors.Join(errs...)
}

// Policy is the gate's policy the inputs say (the defaults are flow.DefaultPolicy's).
func (in *Inputs) Policy() flow.Policy {
	p := flow.DefaultPolicy()
	p.Threshold, p.Alpha, p.Metrics = in.Threshold, in.Alpha, in.Metrics
	p.FailOnRegression, p.FailOnInconclusive = in.FailOnRegression, in.FailOnInconclusive
	p.Rounds, p.Budget = in.ABRounds, in.ABBudget
	if in.Iters > 0 {
		p.Iters = in.Iters
	}
	p.GateConfigs, p.GateConfigsSet = in.GateConfigs, in.GateConfigsSet
	return p
}

var commentKey = regexp.MustCompile(`^[A-Za-z0-9._-]{1,40}$`)

// inputWords turns a flag error ("--constraint must be ...") into an input error
// ("constraint must be ...").
func inputWords(s string) string {
	return strings.ReplaceAll(strings.TrimPrefix(s, "--"), " --", " ")
}

// list splits a comma- or newline-separated input.
func list(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
