package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/sweep"
	"github.com/perflab/perflab/presets"
)

// errAllFailed: a sweep whose every configuration failed (its records say why).
var errAllFailed = errors.New("every configuration failed")

// ExitInterrupted is returned when a sweep is stopped with Ctrl-C (128 + SIGINT).
const ExitInterrupted = 130

// SweepOptions are the inputs of `perflab sweep`.
type SweepOptions struct {
	IO       IO
	Preset   string
	Quick    bool
	Models   []string
	Iters    int // 0 = the preset's
	Warmup   int // -1 = the preset's
	Out      string
	Resume   bool
	DryRun   bool
	Repeat   int
	Seed     int64 // order shuffle seed; -1 = from the clock
	Timeout  time.Duration
	Shard    string
	Exe      string // the perflab binary for child processes; "" = this executable
	Progress string // auto, bar, lines, none
	Workers  int    // worker processes per process-wide setting; 0 = sweep.DefaultWorkers
	Now      func() time.Time
}

// NewSweepCmd returns `perflab sweep`. runF replaces RunSweep in tests.
func NewSweepCmd(ios IO, runF func(*SweepOptions) error) *cobra.Command {
	opts := &SweepOptions{IO: ios, Warmup: -1, Repeat: 1, Seed: -1, Progress: "auto", Now: time.Now}
	cmd := &cobra.Command{
		Use:   "sweep",
		Short: "Run a preset grid of configurations, one child process each, into one JSONL file",
		Long: `Run every configuration of a preset and append one record per configuration to a
JSONL file as soon as it is finished: a killed sweep keeps every finished record, and
--resume continues it. A bench preset's configurations are measured side by side in worker
processes: --workers (default 3) processes per process-wide setting (model, threads,
inter-op threads, oneDNN ISA), each holding all of that setting's configurations and timing
them in rounds of short blocks in a random order; each record carries its runs (one per
worker) and between-process intervals (latency_runs_ci) next to the within-run CI
(latency_ci). Load presets run one 'perflab load' process per configuration. A
configuration that errors, crashes or hangs (timeout) becomes a record with status
"failed" and the reason; the sweep goes on.

Built-in presets: ` + strings.Join(presets.Names(), ", ") + ` (or a path to a preset YAML file; schema in
docs/cli.md, "Presets"). --quick uses the preset's quick subset. Thread counts above the CPUs available to
this process are skipped with a note. The order is shuffled with a recorded seed
(order_seed) so that machine drift does not favour one setting; --repeat N runs N shuffled
repetitions. Each configuration stops early once its target percentile's CI (pooled over
its workers) is tight enough.

` + exitCodesHelp,
		Example: `  perflab sweep --preset cpu_vision --quick
  perflab sweep --preset cpu_text
  perflab sweep --preset ./my_preset.yaml --models resnet18 --iters 100 --out results/x.jsonl
  perflab sweep --preset cpu_vision --quick --out results/x.jsonl --resume
  perflab sweep --preset cpu_vision --dry-run
  perflab sweep --preset cpu_vision --quick --shard 2/4 --out results/shard2.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("workers") && opts.Workers < 1 {
				// Inside, 0 means "the default": said here, so that --workers 0 does not
				// silently run sweep.DefaultWorkers processes.
				return fmt.Errorf("--workers must be >= 1, got %d (it is how many worker processes measure each process-wide setting; 1 measures in one process, without between-process intervals)", opts.Workers)
			}
			if runF != nil {
				return runF(opts)
			}
			return RunSweep(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Preset, "preset", "", "built-in preset name ("+strings.Join(presets.Names(), ", ")+") or preset YAML path (required)")
	f.BoolVar(&opts.Quick, "quick", false, "use the preset's quick subset")
	f.StringSliceVar(&opts.Models, "models", nil, "only these models of the preset (comma-separated)")
	f.IntVar(&opts.Iters, "iters", 0, "max timed iterations per configuration (default: the preset's)")
	f.IntVar(&opts.Warmup, "warmup", -1, "warm-up iterations per configuration (default: the preset's)")
	f.StringVar(&opts.Out, "out", "", "JSONL file to append to (default results/sweeps/<timestamp>_<preset>.jsonl)")
	f.BoolVar(&opts.Resume, "resume", false, "skip configurations already recorded successfully in --out")
	f.BoolVar(&opts.DryRun, "dry-run", false, "print the planned configurations, one JSON per line, and exit")
	f.IntVar(&opts.Repeat, "repeat", 1, "run each configuration N times (N shuffled rounds)")
	f.Int64Var(&opts.Seed, "seed", -1, "seed of the shuffled order (default: from the clock; recorded as order_seed)")
	f.DurationVar(&opts.Timeout, "timeout", 0, "time limit of one configuration, e.g. 5m (default: the preset's timeout_seconds)")
	f.StringVar(&opts.Shard, "shard", "", "run only shard I of N of the configurations, e.g. 2/4 (merge the files with perflab merge)")
	f.IntVar(&opts.Workers, "workers", sweep.DefaultWorkers, "bench presets: worker processes per process-wide setting (threads, inter-op threads, oneDNN ISA); >= 2 gives between-process intervals")
	f.StringVar(&opts.Progress, "progress", "auto", "progress display: auto (bar on a terminal, lines otherwise), bar, lines, none")
	_ = cmd.MarkFlagRequired("preset")
	return cmd
}

// RunSweep plans the sweep and runs it.
func RunSweep(ctx context.Context, opts *SweepOptions) error {
	out, err := runSweep(ctx, opts)
	if err != nil || opts.DryRun {
		return err
	}
	fmt.Fprintln(opts.IO.Out, out)
	return nil
}

// runSweep runs the sweep and returns the JSONL file it wrote.
func runSweep(ctx context.Context, opts *SweepOptions) (string, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	switch opts.Progress {
	case "auto", "bar", "lines", "none":
	default:
		return "", fmt.Errorf("--progress must be auto, bar, lines or none, got %q", opts.Progress)
	}
	p, err := sweep.Load(opts.Preset, opts.Quick)
	if err != nil {
		return "", err
	}
	if opts.Iters < 0 {
		return "", fmt.Errorf("--iters must be >= 1, got %d", opts.Iters)
	}
	if opts.Iters > 0 {
		p.Iters = opts.Iters
	}
	if opts.Warmup < -1 {
		return "", fmt.Errorf("--warmup must be >= 0, got %d", opts.Warmup)
	}
	if opts.Warmup >= 0 {
		p.Warmup = opts.Warmup
	}
	if opts.Timeout < 0 {
		return "", fmt.Errorf("--timeout must be positive, e.g. 5m, got %s", opts.Timeout)
	}
	if opts.Repeat < 1 {
		return "", fmt.Errorf("--repeat must be >= 1, got %d", opts.Repeat)
	}
	shard, shards, err := sweep.ParseShard(opts.Shard)
	if err != nil {
		return "", err
	}
	if opts.Resume && opts.Out == "" {
		return "", errors.New("--resume needs --out FILE: the sweep file to continue")
	}
	seed := uint64(opts.Seed)
	if opts.Seed < 0 {
		seed = uint64(opts.Now().UnixNano())
	}
	plan, err := p.MakePlan(sweep.PlanOptions{Models: opts.Models, Repeat: opts.Repeat, Seed: seed,
		CPUsAvailable: env.CPUsAvailable(), CPUISA: env.CPUISA(), CheckKnobs: procknob.Knobs.Validate, Unsupported: bench.UnsupportedByRuntime, Shard: shard, Shards: shards})
	if err != nil {
		return "", err
	}
	reasons := map[string]int{}
	var order []string
	for _, s := range plan.Skipped {
		if reasons[s.Reason] == 0 {
			order = append(order, s.Reason)
		}
		reasons[s.Reason]++
	}
	for _, r := range order {
		fmt.Fprintf(opts.IO.ErrOut, "skipped %d configurations: %s\n", reasons[r], r)
	}
	if opts.DryRun {
		for _, c := range plan.Configs {
			fmt.Fprintln(opts.IO.Out, c.MarshalLine())
		}
		return "", nil
	}
	if len(plan.Configs) == 0 {
		return "", fmt.Errorf("preset %s: no configuration to run (all skipped)", p.Name)
	}
	out := opts.Out
	if out == "" {
		out = filepath.Join("results", "sweeps", opts.Now().Format("20060102_150405")+"_"+sanitize(p.Name)+".jsonl")
	}
	if err := checkAppendable(out); err != nil {
		return "", err
	}
	done := map[string]int{}
	if opts.Resume {
		// Only records of the model files as they are now count as done.
		if done, err = sweep.DoneFor(out, sweep.ModelSHAs(plan), func(le *record.LineError) { fmt.Fprintln(opts.IO.ErrOut, "warning:", le) }); err != nil {
			return "", err
		}
	}
	exe := opts.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return "", fmt.Errorf("find the perflab executable for child processes: %w", err)
		}
	}
	workers := opts.Workers
	if workers == 0 {
		workers = sweep.DefaultWorkers
	}
	if workers < 1 {
		return "", fmt.Errorf("--workers must be >= 1, got %d", opts.Workers)
	}
	rn := &sweep.Runner{Preset: p, Exe: exe, Out: out, OrderSeed: seed, Timeout: opts.Timeout,
		Stale: func(part string) {
			fmt.Fprintf(opts.IO.ErrOut, "warning: %s holds another run's measurements (another plan, or a model file replaced since): discarded, not reused\n", part)
		}}
	if p.Mode == sweep.ModeBench {
		rn.Workers, rn.PreprocessIters = workers, 20
	}

	todo := 0
	for _, c := range plan.Configs {
		if done[c.Key] < c.Repeat {
			todo++
		}
	}
	quick := ""
	if p.Quick {
		quick = " (quick)"
	}
	design := ", one process each"
	if rn.Workers > 0 {
		design = fmt.Sprintf(", %d worker %s per process-wide setting", rn.Workers, map[bool]string{true: "process", false: "processes"}[rn.Workers == 1])
	}
	fmt.Fprintf(opts.IO.ErrOut, "sweep %s%s: %d configurations to run (%d already in %s)%s, order seed %d\n",
		p.Name, quick, todo, len(plan.Configs)-todo, out, design, seed)
	rn.Progress, rn.WorkerProgress = progressReporter(opts, todo, rn.Workers > 0)
	// What every record measured in this set-up would repeat (OpenBLAS's own thread pool
	// beside libtorch's) is said once, at the end.
	var setup sweep.SetupWarnings
	if progress := rn.Progress; progress != nil {
		rn.Progress = func(i, n int, c sweep.Config, r *record.Record, took time.Duration) {
			setup.Add(r)
			progress(i, n, c, r, took)
		}
	} else {
		rn.Progress = func(_, _ int, _ sweep.Config, r *record.Record, _ time.Duration) { setup.Add(r) }
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	res, err := rn.Run(ctx, plan, done)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(opts.IO.ErrOut, "sweep %s: %d ok, %d failed, %d resumed in %s -> %s\n",
		p.Name, res.Done, res.Failed, res.Resumed, time.Since(start).Round(time.Second), out)
	if s := res.Split; s != nil {
		// Where the time went (docs/statistics.md, "Where a sweep's time goes"), on screen
		// and next to the records.
		fmt.Fprintf(opts.IO.ErrOut, "time split %s\n", s)
		if err := sweep.WriteSplit(sweep.SplitFile(out), s); err != nil {
			fmt.Fprintf(opts.IO.ErrOut, "warning: %v\n", err)
		}
	}
	for _, w := range setup.List {
		fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", w)
	}
	if res.Interrupted {
		return out, &exitError{code: ExitInterrupted, err: fmt.Errorf("interrupted: %d configurations recorded in %s; continue with --out %s --resume", res.Done+res.Failed, out, out)}
	}
	if res.Done == 0 && res.Failed > 0 {
		return out, fmt.Errorf("%w (%d): the reasons are in %s (status \"failed\", field \"error\")", errAllFailed, res.Failed, out)
	}
	return out, nil
}

// checkAppendable makes sure records can be appended to path before any configuration
// runs: its folder is created and the file opened for appending (and created, empty).
func checkAppendable(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("--out %s: cannot create its folder: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("--out %s is not writable: %w", path, err)
	}
	fi, err := f.Stat()
	f.Close()
	if err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("--out %s is not a regular file: give a .jsonl file path", path)
	}
	return nil
}

func sanitize(s string) string {
	s = strings.TrimSuffix(filepath.Base(s), filepath.Ext(s))
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' || r == '\\' {
			return '_'
		}
		return r
	}, s)
}

// progressReporter shows a bar with ETA on a terminal and one line per configuration
// (and, with workers, per worker process) otherwise (CI logs). With workers the bar
// counts worker processes.
func progressReporter(opts *SweepOptions, n int, workers bool) (func(int, int, sweep.Config, *record.Record, time.Duration), func(sweep.WorkerEvent)) {
	mode := opts.Progress
	if mode == "auto" {
		mode = "lines"
		if f, ok := opts.IO.ErrOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		}
	}
	line := func(i, n int, c sweep.Config, r *record.Record, took time.Duration) string {
		if !r.OK() {
			return fmt.Sprintf("[%d/%d] %s: FAILED: %s (%s)", i+1, n, c, r.Error, took.Round(100*time.Millisecond))
		}
		if l := r.Load; l != nil {
			what := fmt.Sprintf("achieved %.1f of %g req/s", l.AchievedRPS, l.OfferedRPS)
			if l.Capacity != nil {
				what = fmt.Sprintf("capacity %g req/s at %s <= %g ms", l.Capacity.CapacityRPS, l.Capacity.LatencyPct, l.Capacity.BudgetMs)
			}
			return fmt.Sprintf("[%d/%d] %s: %s, p50 %.2f ms, p95 %.2f ms, %d requests (%s)",
				i+1, n, c, what, r.LatencyP50, r.LatencyP95, l.Requests, took.Round(100*time.Millisecond))
		}
		if len(r.Runs) > 0 {
			between := ""
			if ci, ok := r.LatencyRunsCI["p95"]; ok {
				between = fmt.Sprintf(" [%.2f, %.2f] between %d processes", ci.Lo, ci.Hi, len(r.Runs))
			}
			return fmt.Sprintf("[%d/%d] %s: p50 %.2f ms, p95 %.2f ms%s, %.1f req/s, %d iters",
				i+1, n, c, r.LatencyP50, r.LatencyP95, between, r.ThroughputRPS, r.Iters)
		}
		return fmt.Sprintf("[%d/%d] %s: p50 %.2f ms, p95 %.2f ms, %.1f req/s, %d iters (%s)",
			i+1, n, c, r.LatencyP50, r.LatencyP95, r.ThroughputRPS, r.Iters, took.Round(100*time.Millisecond))
	}
	wline := func(e sweep.WorkerEvent) string {
		s := e.Setting
		names := make([]string, len(e.Models))
		for i, m := range e.Models {
			names[i] = record.Printable(m)
		}
		what := fmt.Sprintf("worker %d/%d of %s t%d/%d", e.Slot, e.Workers, strings.Join(names, "+"), s.Threads, s.InteropThreads)
		if s.OneDNNISA != "" {
			what += " isa=" + s.OneDNNISA
		}
		if e.Failed != "" {
			return fmt.Sprintf("(%d/%d) %s, %d configurations: FAILED: %s (%s)", e.Done, e.Total, what, e.Configs, e.Failed, e.Took.Round(100*time.Millisecond))
		}
		return fmt.Sprintf("(%d/%d) %s: %d configurations side by side (%s)", e.Done, e.Total, what, e.Configs, e.Took.Round(100*time.Millisecond))
	}
	switch mode {
	case "bar":
		var bar *progressbar.ProgressBar
		newBar := func(n int) *progressbar.ProgressBar {
			return progressbar.NewOptions(n,
				progressbar.OptionSetWriter(opts.IO.ErrOut),
				progressbar.OptionSetDescription("sweep"),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionShowElapsedTimeOnFinish(),
				progressbar.OptionClearOnFinish(),
			)
		}
		if workers {
			return func(i, n int, c sweep.Config, r *record.Record, took time.Duration) {
					if !r.OK() && bar != nil {
						bar.Clear()
						fmt.Fprintln(opts.IO.ErrOut, line(i, n, c, r, took))
					}
				}, func(e sweep.WorkerEvent) {
					if bar == nil {
						bar = newBar(e.Total)
					}
					if e.Failed != "" {
						bar.Clear()
						fmt.Fprintln(opts.IO.ErrOut, wline(e))
					}
					bar.Add(1)
				}
		}
		bar = newBar(n)
		return func(i, n int, c sweep.Config, r *record.Record, took time.Duration) {
			if !r.OK() {
				bar.Clear()
				fmt.Fprintln(opts.IO.ErrOut, line(i, n, c, r, took))
			}
			bar.Add(1)
		}, nil
	case "none":
		return nil, nil
	default:
		return func(i, n int, c sweep.Config, r *record.Record, took time.Duration) {
				fmt.Fprintln(opts.IO.ErrOut, line(i, n, c, r, took))
			}, func(e sweep.WorkerEvent) {
				fmt.Fprintln(opts.IO.ErrOut, wline(e))
			}
	}
}
