package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/perflab/perflab/internal/textfmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/abgate"
	"github.com/perflab/perflab/internal/atomicfile"
	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/report"
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
	Budget   time.Duration // wall time of all A/B tests; 0 = only MaxLooks bounds it

	// Against: A/B every model file of --preset that differs from its version at this git
	// revision (after the sweep), on the gated configurations.
	Against     string
	GateConfigs string // recommended, batch1, all

	FailOnInconclusive bool

	gateConfigsSet bool          // --gate-configs was given
	Timeout        time.Duration // per A/B round (one child process); 0 = none
}

// NewGateCmd returns `perflab gate`. runF replaces RunGate in tests.
func NewGateCmd(ios IO, runF func(*GateOptions) error) *cobra.Command {
	opts := &GateOptions{IO: ios, Alpha: 0.01, Threshold: "5%", Rounds: 6, Knobs: knobs.Knobs{BatchSize: 1, Threads: 1, Compile: knobs.CompileAuto}, Iters: 400, Warmup: 20,
		MaxLooks: 3, GateConfigs: strings.Join(abgate.DefaultSelectors, ","), Timeout: 10 * time.Minute,
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
	f.StringVar(&opts.Metrics, "metrics", strings.Join(gate.DefaultMetrics, ","), "metrics to gate: p50, p90, p95, p99, throughput")
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
	f.IntVar(&opts.MaxLooks, "max-looks", opts.MaxLooks, "A/B mode: looks at most (--rounds more rounds each) to confirm a regression or decide an inconclusive first look")
	f.DurationVar(&opts.Budget, "budget", 0, "A/B mode: wall time for all A/B tests, e.g. 10m (0 = bounded by --max-looks only)")
	f.StringVar(&opts.Against, "against", "", "with --preset: A/B every model file that differs from its version at this git revision, e.g. origin/main")
	f.StringVar(&opts.GateConfigs, "gate-configs", opts.GateConfigs, "with --against: configurations A/B tested per changed model: recommended, batch1, all")
	f.BoolVar(&opts.FailOnInconclusive, "fail-on-inconclusive", false, "exit 1 when the verdict is inconclusive (or nothing was compared)")
	f.DurationVar(&opts.Timeout, "timeout", opts.Timeout, "A/B mode: time limit of one round (a hanging model is killed; exit 2)")
	return cmd
}

// RunGate gates results (or a sweep it runs, or an A/B measurement) and writes the verdict.
func RunGate(ctx context.Context, opts *GateOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	threshold, err := gate.ParseThreshold(opts.Threshold)
	if err != nil {
		return fmt.Errorf("--threshold %w", err)
	}
	if !(opts.Alpha > 0 && opts.Alpha < 1) {
		return fmt.Errorf("--alpha must be between 0 and 1, got %g", opts.Alpha)
	}
	metrics, err := gate.ParseMetrics(opts.Metrics)
	if err != nil {
		return err
	}
	gopts := gate.Options{Alpha: opts.Alpha, Threshold: threshold}

	var rep *gate.Report
	switch {
	case len(opts.AB) > 0:
		if len(opts.Results) > 0 || opts.Sweep.Preset != "" || opts.Baseline != "" || opts.Against != "" {
			return errors.New("--ab measures its own A/B pair: drop --results, --preset, --baseline and --against")
		}
		if rep, err = runAB(ctx, opts, metrics, gopts); err != nil {
			return err
		}
	case opts.Against != "":
		if rep, err = runAgainst(ctx, opts, metrics, gopts); err != nil {
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
		base, err := baseline.Load(opts.Baseline)
		if err != nil && !errors.Is(err, baseline.ErrNotExist) {
			return err
		}
		relativeModels(recs)
		rep = gate.Check(gate.Input{Results: recs, Baseline: base, BaselinePath: opts.Baseline, Metrics: metrics, Options: gopts, AllowEnvMismatch: opts.AllowEnvMismatch})
	}
	return writeVerdict(opts, rep)
}

// relativeModels names user models by their path relative to the top level of the git
// checkout holding the working directory (else the working directory).
func relativeModels(recs []*record.Record) {
	workspace.RelativeModels(recs, workspace.RepoRoot("."), "")
}

// runAgainst sweeps the preset, then A/B tests every model file that differs from its
// version at --against on the gated configurations; with --baseline the other
// configurations are gated against it too.
func runAgainst(ctx context.Context, opts *GateOptions, metrics []string, gopts gate.Options) (*gate.Report, error) {
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
	if p, err := sweep.Load(opts.Sweep.Preset, opts.Sweep.Quick); err == nil && len(p.GateConfigs) > 0 && !opts.gateConfigsSet {
		sels = p.GateConfigs // the preset's choice, unless --gate-configs overrides it
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
	workspace.RelativeModels(recs, root, "")
	var base *baseline.File
	if opts.Baseline != "" {
		if base, err = baseline.Load(opts.Baseline); err != nil && !errors.Is(err, baseline.ErrNotExist) {
			return nil, err
		}
	}
	rep := gate.Check(gate.Input{Results: recs, Baseline: base, BaselinePath: opts.Baseline, Metrics: metrics, Options: gopts, AllowEnvMismatch: opts.AllowEnvMismatch})
	rrep, err := report.Compute(recs, report.Options{Constraint: report.Balanced, Percentile: "p95"})
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "perflab-base-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(opts.IO.ErrOut, "A/B against %s (%s)\n", opts.Against, textfmt.ShortSHA(rev))
	ab, err := abgate.Run(ctx, abgate.Request{Records: recs, Report: rrep, Root: root, Source: src, Dir: dir, Selectors: sels,
		Metrics: metrics, Seq: seqOptions(opts, gopts), Iters: opts.Iters, Warmup: opts.Warmup, Measure: MeasureAB(opts.IO.ErrOut, opts.Timeout)})
	if err != nil {
		return nil, err
	}
	ab.Apply(rep)
	return rep, nil
}

// writeVerdict prints the report, writes --out, and maps a regression to exit code 1.
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
		if err := rep.JSON(opts.IO.Out); err != nil {
			return err
		}
	} else {
		rep.Text(opts.IO.Out)
	}
	if rep.Verdict == gate.Failed {
		return &exitError{code: ExitRegression, err: errors.New("gate: " + rep.Summary)}
	}
	if opts.FailOnInconclusive && rep.Verdict != gate.Pass {
		return &exitError{code: ExitRegression, err: fmt.Errorf("gate: %s: %s (--fail-on-inconclusive)", rep.Verdict, rep.Summary)}
	}
	return nil
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

// runAB measures OLD and NEW in interleaved rounds and decides sequentially (confirm
// before failing, see gate.Sequential).
func runAB(ctx context.Context, opts *GateOptions, metrics []string, gopts gate.Options) (*gate.Report, error) {
	if len(opts.AB) != 2 {
		return nil, fmt.Errorf("--ab takes two models, OLD,NEW; got %d", len(opts.AB))
	}
	if err := checkABFlags(opts); err != nil {
		return nil, err
	}
	k := opts.Knobs
	key := fmt.Sprintf("%s -> %s (b%d, compile=%s, t%d%s)", opts.AB[0], opts.AB[1], k.BatchSize, k.Compile, k.Threads, k.Suffix())
	k.Model = opts.AB[1]
	k.InteropThreads = max(1, k.InteropThreads)
	cfg := gate.ABConfig{Key: key, Old: opts.AB[0], New: opts.AB[1], Knobs: k, Iters: opts.Iters, Warmup: opts.Warmup}
	rep, _, err := gate.Sequential(ctx, []gate.ABConfig{cfg}, metrics, seqOptions(opts, gopts), MeasureAB(opts.IO.ErrOut, opts.Timeout))
	return rep, err
}

func checkABFlags(opts *GateOptions) error {
	if opts.Rounds < 3 {
		return fmt.Errorf("--rounds must be >= 3 (2 rounds leave 1 degree of freedom: nothing short of a huge change is significant), got %d", opts.Rounds)
	}
	if opts.MaxLooks < 1 {
		return fmt.Errorf("--max-looks must be >= 1, got %d", opts.MaxLooks)
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

func seqOptions(opts *GateOptions, gopts gate.Options) gate.SeqOptions {
	return gate.SeqOptions{Options: gopts, Rounds: opts.Rounds, MaxLooks: opts.MaxLooks, Budget: opts.Budget, Now: time.Now}
}

// abRoundArgs are the arguments of the `perflab bench` child of A/B round r: models[0]
// with --ab-with models[1], both with cfg's knobs (all of them: a configuration gated
// with an ISA cap or an allocator is A/B tested with it).
func abRoundArgs(cfg gate.ABConfig, models [2]string, r int) []string {
	k := cfg.Knobs
	k.InteropThreads = max(1, k.InteropThreads)
	args := append([]string{"bench", "--model", models[0], "--ab-with", models[1]}, k.Args(knobs.Omit(knobs.FlagModel))...)
	return append(args, "--iters", strconv.Itoa(cfg.Iters), "--warmup", strconv.Itoa(cfg.Warmup),
		"--preprocess-iters", "0", "--seed", strconv.Itoa(r), "--json")
}

// MeasureAB returns a gate.Measure that runs each round as one `perflab bench --model A
// --ab-with B` child process alternating the two models' forward calls (so both see the
// same machine conditions); which model is A alternates between rounds (ABBA). Progress
// goes to progress.
// Each round has the time limit timeout (0 = none): a hanging model is killed, with its
// process group.
func MeasureAB(progress io.Writer, timeout time.Duration) gate.Measure {
	return func(ctx context.Context, cfg gate.ABConfig, first, n int) (a, b []gate.Run, err error) {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		for r := first; r < first+n; r++ {
			models := [2]string{cfg.Old, cfg.New}
			swap := r%2 == 1
			if swap {
				models[0], models[1] = models[1], models[0]
			}
			args := abRoundArgs(cfg, models, r)
			// The records come on a file descriptor of their own (a model may print on stdout).
			ch := sweep.RunChild(ctx, exe, args, timeout)
			if err := ch.Err; err != nil {
				if ctx.Err() != nil {
					return nil, nil, &exitError{code: ExitInterrupted, err: errors.New("interrupted")}
				}
				if ch.TimedOut {
					return nil, nil, fmt.Errorf("A/B round %d of %s (%s vs %s) timed out after %s and was killed: a model hangs, or raise --timeout", r+1, cfg.Key, cfg.Old, cfg.New, timeout)
				}
				msg := strings.TrimSpace(ch.Stderr)
				if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
					msg = msg[i+1:]
				}
				err = fmt.Errorf("A/B round %d of %s (%s vs %s) failed: %s", r+1, cfg.Key, cfg.Old, cfg.New, strings.TrimPrefix(msg, "perflab: "))
				if ee := (*exec.ExitError)(nil); errors.As(ch.Err, &ee) && ee.ExitCode() == ExitCrash {
					return nil, nil, &exitError{code: ExitCrash, err: err}
				}
				return nil, nil, err
			}
			var got [2]*record.Record
			rd := record.NewReader(bytes.NewReader(ch.Result), "perflab bench --ab-with")
			for i := range got {
				rec, err := rd.Next()
				if err != nil {
					return nil, nil, fmt.Errorf("A/B round %d: reading the records: %v", r+1, err)
				}
				got[i] = rec
			}
			old, cur := got[0], got[1]
			if swap {
				old, cur = got[1], got[0]
			}
			fmt.Fprintf(progress, "[%d] %s: A p95 %.3f ms, B p95 %.3f ms\n", r+1, cfg.Key, old.LatencyP95, cur.LatencyP95)
			a = append(a, gate.Run{SamplesMs: old.SamplesMs, ThroughputRPS: old.ThroughputRPS})
			b = append(b, gate.Run{SamplesMs: cur.SamplesMs, ThroughputRPS: cur.ThroughputRPS})
		}
		return a, b, nil
	}
}
