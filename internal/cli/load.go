package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/load"
	"github.com/perflab/perflab/internal/load/torchsvc"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/torch"
)

// LoadOptions are the inputs of `perflab load`.
type LoadOptions struct {
	IO IO

	// Knobs are the model and its knobs, as perflab bench's: BatchSize is Serving.MaxBatch
	// (set by validate), Threads are each instance's (0 = CPUs available / instances).
	Knobs knobs.Knobs
	// Serving is the instances, the batcher and the offered rate (with --find-capacity,
	// the first rate tried; 0 = estimated).
	Serving knobs.Serving

	Duration  time.Duration
	Warmup    time.Duration // of traffic, not iterations (see warmupValue)
	Timeout   time.Duration // 0 = load.DefaultTimeout
	QueueSize int
	Seed      int64

	LatencyPct   string
	BudgetMs     float64
	FindCapacity bool
	Tolerance    float64
	MaxSteps     int

	Simulate bool
	From     []string // JSONL files with the service times to simulate from

	Out      string
	JSON     bool
	ResultFD int // hidden --result-fd: where the --json result goes (sweep children)

	CPUs func() float64 // CPUs available; nil = env.CPUsAvailable
}

// NewLoadCmd returns `perflab load`. runF replaces RunLoad in tests.
func NewLoadCmd(ios IO, runF func(*LoadOptions) error) *cobra.Command {
	opts := &LoadOptions{IO: ios, Knobs: knobs.Knobs{Compile: knobs.CompileAuto}, Serving: knobs.Serving{Instances: 1, MaxBatch: 1, Arrival: knobs.Poisson},
		Duration: 10 * time.Second, Warmup: time.Second, LatencyPct: "p95", Tolerance: 0.05, MaxSteps: 12}
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Serve a model under open-loop traffic: request latency with dynamic batching and instances, and capacity at a budget",
		Long: `Serve one model configuration under traffic and measure what requests see: an open-loop
load generator sends requests at --rate (Poisson or constant arrivals, from a seeded
schedule), a dynamic batcher groups them, and --instances model replicas (each its own
module copy on its own OS thread with --threads intra-op threads) run the batches.

Open loop, no coordinated omission: requests are sent at their scheduled times whatever
the server is doing, and each request's latency is measured from its SCHEDULED arrival to
the end of its batch (queue wait + compute). A stalled server makes every request queued
behind the stall slow, as real clients see it.

The batcher (Triton's dynamic batcher semantics): when an instance is idle it takes the
oldest queued requests, up to --max-batch, as soon as --max-batch are queued or the oldest
has waited --max-delay; --max-delay 0 sends whatever is queued at once. A request still
queued --timeout after its scheduled time is not run (a timeout); with --queue-size,
requests arriving at a full queue are dropped. Failed requests count in the percentiles
at >= the timeout. A run that cannot keep up (achieved < 95% of the issued rate, or > 1%
of requests failed) says so and is marked saturated: its latencies are those of a growing
queue.

The first --warmup of traffic is not measured. The measured window (--duration) must hold
enough requests for a claim on --latency-pct (MLPerf LoadGen's counts at 99% confidence:
p50 11, p90 64, p95 130, p99 662). instances x threads may not exceed the CPUs available.

--find-capacity searches the highest rate whose --latency-pct stays within
--latency-budget-ms while the configuration keeps up (MLPerf LoadGen's FindPeakPerformance
idea): it starts at --rate, or at instances x max-batch / (warm-up time of a full batch);
doubles while every rate passes, halves while none does, then bisects between the highest
passing and lowest failing rates until they are within --tolerance. Each step measures at
least --duration and at least twice the LoadGen count. Every step's record is appended to
--out, then a summary record with load.capacity; --json prints the summary.

--simulate predicts instead of measuring: a discrete-event simulation of the same queue,
batcher and instances, with batch compute times resampled from the bench/sweep records of
--from (the same model, compile, threads, channels_last and quantize; batch sizes not
measured are interpolated). It assumes instances do not slow each other down. Records have
mode "simulate".

Records (JSONL, mode "load") keep bench's field names: latency_p50..p99 and samples_ms are
request latencies, throughput_rps the achieved rate, batch_size the max batch; the "load"
object has the offered/issued/achieved rates, requests, timeouts, drops, queue wait and
compute percentiles, the batch-size histogram and per-batch service times.

--onednn-isa, --allocator, --omp-wait and --pin are perflab bench's CPU knobs (see its
--help), for the whole process; perflab load re-executes itself once with the last three
when the environment lacks them.

Each configuration is prepared as perflab bench prepares it, at the max batch: compile auto
keeps optimize_for_inference unless it fails or changes the outputs there, and the outputs
are checked against the plain model on the same input; the record says what was applied.

` + exitCodesHelp,
		Example: `  perflab load --model resnet18 --rate 40 --duration 30s --arrival poisson \
      --instances 2 --threads 1 --max-batch 8 --max-delay 5ms --compile on
  perflab load --model resnet18 --find-capacity --latency-pct p95 --latency-budget-ms 50 --out results/load.jsonl
  perflab load --model mobilenet_v3_small --rate 100 --max-batch 4 --max-delay 2ms --json
  perflab load --simulate --from results/sweeps/X.jsonl --model mobilenet_v3_small --compile on --threads 1 --rate 150
  perflab load --model ./model.pt --input 'float32[B,3,224,224]' --rate 20 --latency-pct p90 --duration 5s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return RunLoad(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	knobs.AddFlags(f, &opts.Knobs, knobs.Omit(knobs.FlagBatchSize, knobs.FlagDevice),
		knobs.Usage(knobs.FlagInput, "forward argument of a TorchScript file, e.g. 'float32[B,3,224,224]' (repeat per argument)"),
		knobs.Usage(knobs.FlagThreads, "intra-op threads of each instance (default: CPUs available / instances)"),
		knobs.Usage(knobs.FlagInteropThreads, "inter-op threads of the process (default: libtorch's choice)"),
		knobs.Usage(knobs.FlagChannelsLast, "channels_last memory format (vision models)"))
	opts.Serving.AddFlags(f)
	f.DurationVar(&opts.Duration, "duration", opts.Duration, "measured window (each capacity-search step: at least this)")
	f.Var((*warmupValue)(&opts.Warmup), "warmup", "traffic before the measured window, not counted")
	f.DurationVar(&opts.Timeout, "timeout", 0, "a request still queued this long after its scheduled time is not run (default: max(1s, 10 x budget, 10 x a full batch))")
	f.IntVar(&opts.QueueSize, "queue-size", 0, "drop requests arriving at a queue this long (0 = unbounded)")
	f.Int64Var(&opts.Seed, "seed", 0, "seed of the arrival schedule and the input data")
	f.StringVar(&opts.LatencyPct, "latency-pct", opts.LatencyPct, "percentile of the claim, the budget and the duration check: p50, p90, p95 or p99")
	f.Float64Var(&opts.BudgetMs, "latency-budget-ms", 0, "latency budget in ms at --latency-pct (required by --find-capacity)")
	f.BoolVar(&opts.FindCapacity, "find-capacity", false, "search the highest rate within the budget")
	f.Float64Var(&opts.Tolerance, "tolerance", opts.Tolerance, "capacity search: stop when the passing and failing rates are within this fraction")
	f.IntVar(&opts.MaxSteps, "max-steps", opts.MaxSteps, "capacity search: at most this many runs")
	f.BoolVar(&opts.Simulate, "simulate", false, "predict with a queue simulation from the service times in --from instead of running the model")
	f.StringArrayVar(&opts.From, "from", nil, "--simulate: JSONL file of bench/sweep (or load) records to take batch service times from (repeatable)")
	f.StringVar(&opts.Out, "out", "", "append the record(s) to this JSONL file (folders are created)")
	f.BoolVar(&opts.JSON, "json", false, "print the record (with --find-capacity: the summary) as one JSON line on stdout instead of the summary")
	f.IntVar(&opts.ResultFD, "result-fd", 0, "write the --json record to this file descriptor instead of stdout (for parent processes)")
	_ = f.MarkHidden("result-fd")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

// warmupValue is --warmup: a duration of traffic. A bare number is refused with the
// difference from perflab bench's --warmup, which counts iterations.
type warmupValue time.Duration

func (v *warmupValue) String() string { return time.Duration(*v).String() }
func (v *warmupValue) Type() string   { return "duration" }
func (v *warmupValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return errors.New("perflab load's --warmup is a duration of traffic (e.g. 1s or 500ms), not iterations as in perflab bench")
		}
		return err
	}
	*v = warmupValue(d)
	return nil
}

// validate checks the options before anything is loaded and fills the defaults.
func (o *LoadOptions) validate() error {
	cpus := o.CPUs
	if cpus == nil {
		cpus = env.CPUsAvailable
	}
	k, s := &o.Knobs, &o.Serving
	if _, err := stats.ParsePercentile(o.LatencyPct); err != nil {
		return fmt.Errorf("--latency-pct %w", err)
	}
	if o.BudgetMs < 0 || math.IsNaN(o.BudgetMs) || math.IsInf(o.BudgetMs, 0) {
		return fmt.Errorf("--latency-budget-ms must be a positive number of milliseconds, got %g", o.BudgetMs)
	}
	if s.OfferedRPS == 0 && !o.FindCapacity {
		return errors.New("--rate is required: the offered rate in requests per second (or use --find-capacity)")
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if k.Threads < 0 {
		return fmt.Errorf("--threads must be >= 1 (or 0 for CPUs available / instances), got %d", k.Threads)
	}
	k.BatchSize = s.MaxBatch
	if err := k.Validate(); err != nil {
		return err
	}
	if k.Normalize().Pin != "" && s.Instances > 1 {
		return procknob.ErrPinInstances
	}
	avail := cpus()
	if p, _ := procknob.ParsePin(k.Pin); len(p.CPUs) > 0 {
		avail = min(avail, float64(len(p.CPUs)))
	}
	if k.Threads == 0 {
		k.Threads = max(1, int(math.Floor(avail/float64(s.Instances))))
	}
	if !o.Simulate && float64(s.Instances*k.Threads) > math.Ceil(avail) {
		return fmt.Errorf("--instances %d x --threads %d = %d threads > %g CPUs available: lower --instances or --threads (oversubscribed instances measure contention, not the model)",
			s.Instances, k.Threads, s.Instances*k.Threads, avail)
	}
	cfg := o.config()
	cfg.OfferedRPS = max(cfg.OfferedRPS, 1)
	if err := cfg.Validate(); err != nil {
		return err
	}
	if o.FindCapacity {
		if o.BudgetMs == 0 {
			return fmt.Errorf("--find-capacity needs --latency-budget-ms: the highest rate whose %s stays within which budget?", o.LatencyPct)
		}
		if !(o.Tolerance > 0 && o.Tolerance < 1) {
			return fmt.Errorf("--tolerance must be a fraction in (0, 1), e.g. 0.05, got %g", o.Tolerance)
		}
		if o.MaxSteps < 1 {
			return fmt.Errorf("--max-steps must be >= 1, got %d", o.MaxSteps)
		}
	} else if err := load.CheckDuration(s.OfferedRPS, o.Duration, o.LatencyPct); err != nil {
		return err
	}
	switch {
	case o.Simulate && len(o.From) == 0:
		return errors.New("--simulate needs --from FILE: bench or sweep records with the service times to simulate from")
	case !o.Simulate && len(o.From) > 0:
		return errors.New("--from is for --simulate: add --simulate, or drop --from to measure")
	case o.Out != "" && strings.HasSuffix(o.Out, "/"):
		return fmt.Errorf("--out %s names a folder: give a JSONL file", o.Out)
	}
	return nil
}

// config is the load run of the options, at the offered rate.
func (o *LoadOptions) config() load.Config {
	return load.Config{Serving: o.Serving, Duration: o.Duration, Warmup: o.Warmup, Timeout: o.Timeout,
		QueueSize: o.QueueSize, Seed: uint64(o.Seed)}
}

// RunLoad runs (or simulates) the load, or searches the capacity, and writes the records.
func RunLoad(ctx context.Context, opts *LoadOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := opts.validate(); err != nil {
		return err
	}
	if !opts.Simulate {
		if err := procknob.Apply(opts.Knobs.AtStart()); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var be *load.Backend
	var err error
	if opts.Simulate {
		be, err = simBackend(opts)
	} else {
		var closeFn func()
		be, closeFn, err = liveBackend(opts)
		if closeFn != nil {
			defer closeFn()
		}
	}
	if err != nil {
		return err
	}
	claim := load.Claim{Pct: opts.LatencyPct, BudgetMs: opts.BudgetMs}
	if !opts.FindCapacity {
		rec, _, err := be.Measure(ctx, opts.config(), claim)
		if errors.Is(err, context.Canceled) {
			return &exitError{code: ExitInterrupted, err: errors.New("interrupted: the run was stopped; nothing recorded for it")}
		}
		if err != nil {
			return err
		}
		return emitLoad(opts, rec)
	}
	search := load.Search{Start: opts.Serving.OfferedRPS, Tolerance: opts.Tolerance, MaxSteps: opts.MaxSteps}
	sum, steps, err := be.SearchCapacity(ctx, opts.config(), claim, search, func(st load.Step) error {
		if opts.Out != "" {
			if err := record.AppendFile(opts.Out, st.Record); err != nil {
				return err
			}
		}
		verdict := "pass"
		if !st.Pass {
			verdict = "fail"
		}
		fmt.Fprintf(opts.IO.ErrOut, "step %d: %g req/s for %s: %s (%s; achieved %.1f req/s, %d requests)\n",
			st.N, st.Rate, st.Duration, verdict, st.Why, st.Summary.AchievedRPS, st.Summary.Requests)
		return nil
	})
	if errors.Is(err, context.Canceled) {
		return &exitError{code: ExitInterrupted, err: fmt.Errorf("interrupted after %d capacity-search steps (recorded in --out)", len(steps))}
	}
	if err != nil {
		return err
	}
	return emitLoad(opts, sum)
}

// emitLoad appends rec to --out and prints it (its JSON line with --json).
func emitLoad(opts *LoadOptions, rec *record.Record) error {
	return emitRecord(resultOut(opts.IO.Out, opts.ResultFD), rec, opts.Out, opts.JSON, func() { printLoadSummary(opts.IO.Out, rec, opts.Out) })
}

// liveBackend starts the instances of the real model.
func liveBackend(opts *LoadOptions) (*load.Backend, func(), error) {
	k, s := opts.Knobs, opts.Serving
	torch.SetCrashContext(fmt.Sprintf("perflab load of model %s (%d instances x %d threads, max batch %d, compile %s)",
		k.Model, s.Instances, k.Threads, s.MaxBatch, k.Compile))
	return torchsvc.Start(torchsvc.Config{Knobs: k, Seed: opts.Seed}, s.Instances)
}

// simBackend builds the simulation from the service times of the --from records.
func simBackend(opts *LoadOptions) (*load.Backend, error) {
	var recs []*record.Record
	for _, in := range opts.From {
		rs, err := record.ReadFile(in, func(le *record.LineError) { fmt.Fprintf(opts.IO.ErrOut, "warning: %v\n", le) })
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("--from %s does not exist", in)
			}
			return nil, fmt.Errorf("read --from: %w", err)
		}
		recs = append(recs, rs...)
	}
	return load.SimBackend(recs, opts.From, opts.Knobs, opts.Serving, opts.Seed)
}

// printLoadSummary prints a load record for a terminal.
func printLoadSummary(w io.Writer, r *record.Record, out string) {
	l := r.Load
	verb := "load"
	if r.Mode == "simulate" {
		verb = "simulated load"
	}
	compile := r.CompileRan()
	fmt.Fprintf(w, "%s %s: %d %s x %d %s, max batch %d, max delay %s ms, compile %s (asked %s)\n",
		verb, record.Printable(r.Model), l.Instances, loadPlural(l.Instances, "instance", "instances"), r.Threads, loadPlural(r.Threads, "thread", "threads"),
		l.MaxBatch, loadNum(l.MaxDelayMs), compile, r.Compile)
	if c := l.Capacity; c != nil {
		if c.CapacityRPS > 0 {
			fmt.Fprintf(w, "  capacity    %s req/s with %s <= %s ms (%s)\n", loadNum(c.CapacityRPS), c.LatencyPct, loadNum(c.BudgetMs), c.Reason)
		} else {
			fmt.Fprintf(w, "  capacity    none: %s\n", c.Reason)
		}
		fmt.Fprintf(w, "  steps       %-10s %-10s %-9s %s\n", "offered", "achieved", c.LatencyPct, "requests")
		for i, s := range c.Steps {
			v := map[string]float64{"p50": s.P50, "p90": s.P90, "p95": s.P95, "p99": s.P99}[c.LatencyPct]
			verdict := "pass"
			if !s.Pass {
				verdict = "fail"
				if s.Saturated {
					verdict += " (saturated)"
				}
			}
			fmt.Fprintf(w, "  %2d          %-10s %-10.1f %-9.2f %-9d %s\n", i+1, loadNum(s.OfferedRPS), s.AchievedRPS, v, s.Requests, verdict)
		}
		fmt.Fprintf(w, "  at %s req/s:\n", loadNum(l.OfferedRPS))
	}
	fmt.Fprintf(w, "  traffic     %s %s req/s for %s s (+%s s warm-up): %d requests (%.1f req/s issued)\n",
		l.Arrival, loadNum(l.OfferedRPS), loadNum(l.DurationS), loadNum(l.WarmupS), l.Requests, l.IssuedRPS)
	fmt.Fprintf(w, "  achieved    %.1f req/s   %d completed, %d timed out, %d dropped (timeout %s ms)\n",
		l.AchievedRPS, l.Completed, l.Timeouts, l.Dropped, loadNum(l.TimeoutMs))
	printLatencies(w, r, "requests")
	if q := l.QueueWaitMs; q != nil {
		fmt.Fprintf(w, "  queue wait  p50 %.3f ms  p95 %.3f ms  p99 %.3f ms (scheduled arrival to batch start)\n", q.P50, q.P95, q.P99)
	}
	if c := l.ComputeMs; c != nil {
		fmt.Fprintf(w, "  compute     p50 %.3f ms  p95 %.3f ms per batch, mean batch %.2f: %s\n", c.P50, c.P95, l.MeanBatch, loadHistText(l.BatchHistogram))
	}
	if l.IssueLagP99Ms > 0 {
		fmt.Fprintf(w, "  generator   lag p50 %.3f ms  p99 %.3f ms (release after the scheduled time; in the latencies)\n", l.IssueLagP50Ms, l.IssueLagP99Ms)
	}
	if l.LatencyBudgetMs > 0 && l.Capacity == nil {
		verdict := "within the budget"
		if !l.WithinBudget {
			verdict = "NOT within the budget"
		}
		fmt.Fprintf(w, "  budget      %s <= %s ms: %s\n", l.LatencyPct, loadNum(l.LatencyBudgetMs), verdict)
	}
	if l.Saturated {
		fmt.Fprintf(w, "  CANNOT KEEP UP: achieved %.1f req/s of %.1f issued; these latencies are not a steady state\n", l.AchievedRPS, l.IssuedRPS)
	}
	printRecordTail(w, r, out)
}

func loadHistText(h map[string]int) string {
	var sizes []int
	for k := range h {
		if n, err := strconv.Atoi(k); err == nil {
			sizes = append(sizes, n)
		}
	}
	slices.Sort(sizes)
	var parts []string
	for _, b := range sizes {
		parts = append(parts, fmt.Sprintf("%d x batch %d", h[strconv.Itoa(b)], b))
	}
	if len(parts) == 0 {
		return "no batch"
	}
	return strings.Join(parts, ", ")
}

func loadNum(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func loadPlural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
