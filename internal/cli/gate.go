package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/perflab/perflab/internal/textfmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/atomicfile"
	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/sweep"
	"github.com/perflab/perflab/internal/workspace"
)

// GateOptions are the inputs of `perflab gate`.
type GateOptions struct {
	IO               IO
	Results          []string // JSONL files to gate
	Baseline         string
	Metrics          string
	Threshold        string // "5%" or "0.05"
	Alpha            float64
	JSON             bool
	Out              string // markdown verdict file
	AllowEnvMismatch bool

	// Sweep first (before pushing): --preset [--quick] [--models].
	Sweep SweepOptions

	// A/B mode: measure two model files interleaved on this machine.
	AB       []string
	Knobs    knobs.Knobs // of both models (its Model is not used: --ab names them)
	Rounds   int
	Iters    int
	Warmup   int
	MaxLooks int           // sequential looks at most (Rounds, 2*Rounds, ...)
	Budget   time.Duration // wall time of all A/B tests (default defaultBudget); 0 = only MaxLooks bounds it

	// Against: A/B every model file of --preset that differs from its version at this git
	// revision (after the sweep), on the gated configurations.
	Against     string
	GateConfigs string // recommended, batch1, all

	FailOnInconclusive bool

	gateConfigsSet bool          // --gate-configs was given
	Timeout        time.Duration // per A/B round (one child process); 0 = none

	// Measure runs the A/B rounds (nil = flow.MeasureInChildren, with Timeout).
	Measure gate.Measure

	Explain ExplainOptions // attribution of regressed A/B configurations (explain.go)
}

// NewGateCmd returns `perflab gate`. runF replaces RunGate in tests.
// defaultBudget is --budget's default: the Action's ab-budget (flow.DefaultActionBudget),
// so that `perflab gate --ab` is bounded as the Action is.
var defaultBudget = func() time.Duration {
	d, err := time.ParseDuration(flow.DefaultActionBudget)
	if err != nil {
		panic("flow.DefaultActionBudget: " + err.Error())
	}
	return d
}()

func NewGateCmd(ios IO, runF func(*GateOptions) error) *cobra.Command {
	opts := &GateOptions{IO: ios, Alpha: flow.DefaultAlpha, Threshold: flow.DefaultThreshold, Rounds: flow.DefaultRounds, Knobs: knobs.Knobs{BatchSize: 1, Threads: 1, Compile: knobs.CompileAuto},
		Iters: flow.DefaultIters, Warmup: flow.DefaultWarmup, MaxLooks: flow.DefaultMaxLooks, GateConfigs: flow.DefaultGateConfigsText, Timeout: 10 * time.Minute,
		Sweep: SweepOptions{IO: ios, Warmup: -1, Repeat: 1, Seed: -1, Progress: "auto", Now: time.Now}}
	cmd := &cobra.Command{
		Use:   "gate",
		Short: "Compare results with stored baselines and fail on a statistically significant regression",
		Long: `Compare latency percentiles and throughput of each configuration with the stored baseline
and decide: a regression is a change that is statistically significant (Holm-corrected
p < --alpha over all configurations x metrics) AND larger than --threshold. Between-run
variation is pooled over every comparable entry of the baseline (same environment
fingerprint) and moderated by a stated prior (10% between runs, worth 4 degrees of
freedom); a percentile without enough samples for a claim is inconclusive, never guessed. Failed configurations are reported, never
compared; configurations on one side only are listed; a baseline measured on another
environment fingerprint is not compared unless --allow-env-mismatch.

Three verdicts per comparison and overall: regression; no change (the data rule out a
slowdown beyond --threshold); inconclusive (neither: it says the smallest change it could
have flagged and, for A/B, about how many rounds would decide). "pass" only when every
comparison is conclusive; never for a gate that compared nothing.

With --preset it first runs the sweep (as 'perflab sweep' would), then gates it: run it
before pushing. With --against REV (and --preset) every model file of the preset that
differs from its version at git revision REV is measured against that version on this
machine, interleaved, on the gated configurations (--gate-configs): the same A/B the
GitHub Action runs on a pull request. With --ab OLD NEW it measures two model files so.
A/B rounds alternate the two models' forward calls in one process (ABBA...) and are
compared paired by round; a first look that says regression or inconclusive is confirmed
with more rounds (--max-looks, --budget), with alpha spending over the looks.

` + exitCodesHelp + `
A missing baseline ("no baseline yet") and an inconclusive verdict exit 0, and say so;
--fail-on-inconclusive makes an inconclusive (or nothing-compared) verdict exit 1.`,
		Example: `  perflab gate --results results/sweeps/Y.jsonl --baseline baselines/cpu_vision.json
  perflab gate --results Y.jsonl --baseline baselines/cpu_vision.json --metrics p95,p99,throughput --threshold 5% --alpha 0.01 --json
  perflab gate --results Y.jsonl --baseline baselines/cpu_vision.json --out verdict.md
  perflab gate --preset cpu_vision --quick --baseline baselines/cpu_vision.json
  perflab gate --preset perf/models.yaml --against origin/main
  perflab gate --ab old.pt new.pt --input 'float32[B,3,224,224]' --rounds 6 --iters 400
  perflab gate --ab old.pt,new.pt --input 'float32[B,3,224,224]' --metrics p95,throughput`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// --ab OLD NEW: the second file comes as an argument.
			if len(args) == 1 {
				if len(opts.AB) != 1 {
					return &exitError{code: ExitUsage, err: fmt.Errorf("unexpected argument %q (see 'perflab gate --help')", args[0])}
				}
				opts.AB = append(opts.AB, args[0])
			}
			opts.gateConfigsSet = cmd.Flags().Changed("gate-configs")
			if runF != nil {
				return runF(opts)
			}
			return RunGate(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.Results, "results", nil, "JSONL results to gate (repeatable)")
	f.StringVar(&opts.Baseline, "baseline", "", "baseline JSON file, e.g. baselines/cpu_vision.json")
	f.StringVar(&opts.Metrics, "metrics", flow.DefaultMetricsText, "metrics to gate: p50, p90, p95, p99, throughput")
	f.StringVar(&opts.Threshold, "threshold", opts.Threshold, "minimum change that counts, e.g. 5% or 0.05")
	f.Float64Var(&opts.Alpha, "alpha", opts.Alpha, "significance level after Holm's correction")
	f.BoolVar(&opts.JSON, "json", false, "print the verdict as JSON (every number) instead of the table")
	f.StringVar(&opts.Out, "out", "", "also write the verdict as markdown (the PR comment block) to this file")
	f.BoolVar(&opts.AllowEnvMismatch, "allow-env-mismatch", false, "compare with baseline runs measured on another environment fingerprint")
	f.StringVar(&opts.Sweep.Preset, "preset", "", "run this preset's sweep first, then gate it")
	f.BoolVar(&opts.Sweep.Quick, "quick", false, "with --preset: the quick subset")
	f.StringSliceVar(&opts.Sweep.Models, "models", nil, "with --preset: only these models")
	f.StringVar(&opts.Sweep.Out, "sweep-out", "", "with --preset: where the sweep writes (default results/sweeps/<timestamp>_<preset>.jsonl)")
	f.StringSliceVar(&opts.AB, "ab", nil, "A/B mode: OLD,NEW (or --ab OLD NEW) model files or built-in names, measured interleaved here")
	knobs.AddFlags(f, &opts.Knobs, knobs.Omit(knobs.FlagModel, knobs.FlagDevice), knobs.UsagePrefix("A/B mode: "),
		knobs.Usage(knobs.FlagInput, "--input spec per forward argument of the model files"),
		knobs.Usage(knobs.FlagThreads, "intra-op threads"), knobs.Usage(knobs.FlagInteropThreads, "inter-op threads (default 1)"))
	f.IntVar(&opts.Rounds, "rounds", opts.Rounds, "A/B mode: interleaved rounds (each measures OLD and NEW once)")
	f.IntVar(&opts.Iters, "iters", opts.Iters, "A/B mode: timed iterations per run (p99 needs >= 368)")
	f.IntVar(&opts.Warmup, "warmup", opts.Warmup, "A/B mode: warm-up iterations per run")
	f.IntVar(&opts.MaxLooks, "max-looks", opts.MaxLooks, "A/B mode: looks at most (--rounds more rounds each): sampling goes on while a gated metric is undecided; a regression needs a second look")
	f.DurationVar(&opts.Budget, "budget", defaultBudget, "A/B mode: wall time for all A/B tests, every round included, e.g. 10m (default: the Action's ab-budget; 0 = bounded by --max-looks only)")
	f.StringVar(&opts.Against, "against", "", "with --preset: A/B every model file that differs from its version at this git revision, e.g. origin/main")
	f.StringVar(&opts.GateConfigs, "gate-configs", opts.GateConfigs, "with --against: configurations A/B tested per changed model: recommended, batch1, all")
	f.BoolVar(&opts.FailOnInconclusive, "fail-on-inconclusive", false, "exit 1 when the verdict is inconclusive (or nothing was compared)")
	f.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "A/B mode: time limit of one round (a hanging model is killed; exit 2)")
	addExplainFlags(f, &opts.Explain)
	return cmd
}

// RunGate gates results (or a sweep it runs, or an A/B measurement) and writes the verdict;
// the flows' typed errors become exit codes here.
func RunGate(ctx context.Context, opts *GateOptions) error {
	return exitCodeOf(runGate(ctx, opts))
}

func runGate(ctx context.Context, opts *GateOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	pol, err := gatePolicy(opts)
	if err != nil {
		return err
	}
	var rep *gate.Report
	switch {
	case len(opts.AB) > 0:
		if len(opts.Results) > 0 || opts.Sweep.Preset != "" || opts.Baseline != "" || opts.Against != "" {
			return errors.New("--ab measures its own A/B pair: drop --results, --preset, --baseline and --against")
		}
		if rep, err = runAB(ctx, opts, pol); err != nil {
			return err
		}
		opts.explainAB(ctx, rep)
	case opts.Against != "":
		if rep, err = runAgainst(ctx, opts, pol); err != nil {
			return err
		}
	default:
		if opts.Baseline == "" {
			return errors.New("missing --baseline: the stored baseline to compare with, e.g. baselines/cpu_vision.json")
		}
		if opts.Sweep.Preset != "" {
			if len(opts.Results) > 0 {
				return errors.New("give either --results or --preset (which runs the sweep first), not both")
			}
			out, err := runSweep(ctx, &opts.Sweep)
			if err != nil {
				return err
			}
			opts.Results = []string{out}
		}
		if len(opts.Results) == 0 {
			return errors.New("missing --results: the JSONL results to gate (or --preset to run the sweep first)")
		}
		recs, err := readResults(opts.IO, opts.Results)
		if err != nil {
			return err
		}
		base, err := loadBaseline(opts.Baseline)
		if err != nil {
			return err
		}
		rep = flow.GateStored(flow.Stored{Records: recs, Root: workspace.RepoRoot("."), Baseline: base, BaselinePath: opts.Baseline,
			Policy: pol, AllowEnvMismatch: opts.AllowEnvMismatch})
	}
	if err := writeVerdict(opts, rep); err != nil {
		return err
	}
	if !opts.JSON {
		printAttributions(opts.IO.Out, rep)
	}
	return pol.Check(rep)
}

// gatePolicy is the policy the flags say.
func gatePolicy(opts *GateOptions) (flow.Policy, error) {
	pol := flow.DefaultPolicy()
	threshold, err := gate.ParseThreshold(opts.Threshold)
	if err != nil {
		return pol, fmt.Errorf("--threshold %w", err)
	}
	if !(opts.Alpha > 0 && opts.Alpha < 1) {
		return pol, fmt.Errorf("--alpha must be between 0 and 1, got %g", opts.Alpha)
	}
	metrics, err := gate.ParseMetrics(opts.Metrics)
	if err != nil {
		return pol, err
	}
	pol.Threshold, pol.Alpha, pol.Metrics = threshold, opts.Alpha, metrics
	pol.FailOnInconclusive = opts.FailOnInconclusive
	pol.Rounds, pol.MaxLooks, pol.Budget, pol.Iters, pol.Warmup = opts.Rounds, opts.MaxLooks, opts.Budget, opts.Iters, opts.Warmup
	pol.GateConfigsSet = opts.gateConfigsSet
	return pol, nil
}

// exitCodeOf maps the flows' typed errors to perflab's exit codes (the table in root.go).
func exitCodeOf(err error) error {
	var ve *flow.VerdictError
	var ce *flow.CrashError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flow.ErrInterrupted):
		return &exitError{code: ExitInterrupted, err: err}
	case errors.As(err, &ce):
		return &exitError{code: ExitCrash, err: err}
	case errors.As(err, &ve) && ve.Inconclusive:
		return &exitError{code: ExitRegression, err: fmt.Errorf("gate: %s: %s (--fail-on-inconclusive)", ve.Verdict, ve.Summary)}
	case errors.As(err, &ve):
		return &exitError{code: ExitRegression, err: err}
	}
	return err
}

func loadBaseline(path string) (*baseline.File, error) {
	if path == "" {
		return nil, nil
	}
	base, err := baseline.Load(path)
	if err != nil && !errors.Is(err, baseline.ErrNotExist) {
		return nil, err
	}
	return base, nil
}

// relativeModels names user models by their path relative to the top level of the git
// checkout holding the working directory (else the working directory).
func relativeModels(recs []*record.Record) {
	workspace.RelativeModels(recs, workspace.RepoRoot("."), "")
}

func (opts *GateOptions) measure() gate.Measure {
	if opts.Measure != nil {
		return opts.Measure
	}
	return flow.MeasureInChildren(opts.IO.ErrOut, opts.Timeout)
}

// runAgainst sweeps the preset, then A/B tests every model file that differs from its
// version at --against on the gated configurations (flow.GateAgainstBase); with
// --baseline the other configurations are gated against it too.
func runAgainst(ctx context.Context, opts *GateOptions, pol flow.Policy) (*gate.Report, error) {
	if opts.Sweep.Preset == "" || len(opts.Results) > 0 {
		return nil, errors.New("--against REV A/B tests the model files of a preset: give --preset (not --results)")
	}
	if err := checkABFlags(opts); err != nil {
		return nil, err
	}
	sels, err := abgate.ParseSelectors(opts.GateConfigs)
	if err != nil {
		return nil, fmt.Errorf("--gate-configs: %v", err)
	}
	pol.GateConfigs = sels
	var presetSels []string
	if p, err := sweep.Load(opts.Sweep.Preset, opts.Sweep.Quick); err == nil {
		presetSels = p.GateConfigs
	}
	root, err := workspace.GitRoot(".")
	if err != nil {
		return nil, fmt.Errorf("--against needs a git checkout: %v", err)
	}
	src := &abgate.Git{Root: root, Rev: opts.Against}
	rev, err := src.Resolve()
	if err != nil {
		return nil, fmt.Errorf("--against: %v", err)
	}
	out, err := runSweep(ctx, &opts.Sweep)
	if err != nil {
		return nil, err
	}
	recs, err := readResults(opts.IO, []string{out})
	if err != nil {
		return nil, err
	}
	base, err := loadBaseline(opts.Baseline)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "perflab-base-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(opts.IO.ErrOut, "A/B against %s (%s)\n", opts.Against, textfmt.ShortSHA(rev))
	res, err := flow.GateAgainstBase(ctx, flow.Against{
		Stored: flow.Stored{Records: recs, Root: root, Baseline: base, BaselinePath: opts.Baseline, Policy: pol, AllowEnvMismatch: opts.AllowEnvMismatch},
		Source: src, Dir: dir, PresetGateConfigs: presetSels, Measure: opts.measure(), Explain: opts.explainer(),
	})
	if err != nil {
		return nil, err
	}
	return res.Report, nil
}

// writeVerdict prints the report and writes --out.
func writeVerdict(opts *GateOptions, rep *gate.Report) error {
	if opts.Out != "" {
		var buf bytes.Buffer
		rep.Markdown(&buf)
		if err := os.MkdirAll(filepath.Dir(opts.Out), 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(opts.Out, buf.Bytes()); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
	}
	if opts.JSON {
		return rep.JSON(opts.IO.Out)
	}
	return rep.Text(opts.IO.Out)
}

// readResults reads JSONL files, reporting malformed lines on stderr.
func readResults(ios IO, paths []string) ([]*record.Record, error) {
	var all []*record.Record
	for _, p := range paths {
		bad := 0
		recs, err := record.ReadFile(p, func(le *record.LineError) {
			bad++
			fmt.Fprintln(ios.ErrOut, "warning:", le)
		})
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("results file %s does not exist: check the path", p)
		}
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			return nil, fmt.Errorf("no valid record in %s (%d malformed lines): give a perflab sweep/bench JSONL file", p, bad)
		}
		all = append(all, recs...)
	}
	return all, nil
}

// runAB measures OLD and NEW in interleaved rounds (flow.MeasureAB).
func runAB(ctx context.Context, opts *GateOptions, pol flow.Policy) (*gate.Report, error) {
	if len(opts.AB) != 2 {
		return nil, fmt.Errorf("--ab takes two models, OLD,NEW; got %d", len(opts.AB))
	}
	if err := checkABFlags(opts); err != nil {
		return nil, err
	}
	return flow.MeasureAB(ctx, flow.Pair{Old: opts.AB[0], New: opts.AB[1], Knobs: opts.Knobs, Policy: pol, Measure: opts.measure()})
}

func checkABFlags(opts *GateOptions) error {
	if opts.Rounds < 3 {
		return fmt.Errorf("--rounds must be >= 3 (2 rounds leave 1 degree of freedom: nothing short of a huge change is significant), got %d", opts.Rounds)
	}
	if opts.Rounds > gate.MaxRoundsPerLook {
		return fmt.Errorf("--rounds must be <= %d per look (more looks, not longer ones, buy certainty: --max-looks), got %d", gate.MaxRoundsPerLook, opts.Rounds)
	}
	if opts.MaxLooks < 1 || opts.MaxLooks > gate.MaxLooksLimit {
		return fmt.Errorf("--max-looks must be between 1 and %d, got %d", gate.MaxLooksLimit, opts.MaxLooks)
	}
	if opts.Budget < 0 {
		return fmt.Errorf("--budget must be >= 0, got %s", opts.Budget)
	}
	if opts.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, e.g. 10m, got %s", opts.Timeout)
	}
	k := opts.Knobs
	k.Model = "A/B" // the models are --ab's (or the preset's): checked when they load
	return k.Validate()
}
