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

	// The model and its knobs (as perflab bench).
	Model          string
	Inputs         []string
	Compile        string
	Threads        int // per instance; 0 = CPUs available / instances
	InteropThreads int
	ChannelsLast   bool
	Quantize       bool
	Allocator      string // CPU serving knobs (procknob), as perflab bench
	OMPWait        string
	Pin            string

	// Serving and traffic.
	Instances int
	MaxBatch  int
	MaxDelay  time.Duration
	Rate      float64
	Arrival   string
	Duration  time.Duration
	Warmup    time.Duration
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
	opts := &LoadOptions{IO: ios, Compile: "auto", Instances: 1, MaxBatch: 1, Arrival: load.Poisson,
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

--allocator, --omp-wait and --pin are perflab bench's CPU serving knobs (see its --help);
perflab load re-executes itself once with them when the environment lacks them.

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
	f.StringVar(&opts.Model, "model", "", "built-in model name or path to a TorchScript file (required)")
	f.StringArrayVar(&opts.Inputs, "input", nil, "forward argument of a TorchScript file, e.g. 'float32[B,3,224,224]' (repeat per argument)")
	f.StringVar(&opts.Compile, "compile", opts.Compile, "freeze + optimize_for_inference: auto, on or off")
	f.IntVar(&opts.Threads, "threads", 0, "intra-op threads of each instance (default: CPUs available / instances)")
	f.IntVar(&opts.InteropThreads, "interop-threads", 0, "inter-op threads of the process (default: libtorch's choice)")
	f.BoolVar(&opts.ChannelsLast, "channels-last", false, "channels_last memory format (vision models)")
	f.BoolVar(&opts.Quantize, "quantize", false, "use the model's dynamic-int8 variant (tiny_transformer)")
	pk := knobs.Knobs{}
	knobs.AddFlags(f, &pk, knobs.Omit(knobs.FlagModel, knobs.FlagInput, knobs.FlagDevice, knobs.FlagBatchSize, knobs.FlagCompile, knobs.FlagThreads,
		knobs.FlagInteropThreads, knobs.FlagChannelsLast, knobs.FlagQuantize, knobs.FlagOneDNNISA))
	cmd.PreRun = func(*cobra.Command, []string) {
		opts.Allocator, opts.OMPWait, opts.Pin = pk.Allocator, pk.OMPWait, pk.Pin
	}
	f.IntVar(&opts.Instances, "instances", opts.Instances, "model instances serving in parallel (instances x threads <= CPUs)")
	f.IntVar(&opts.MaxBatch, "max-batch", opts.MaxBatch, "largest batch the dynamic batcher forms")
	f.DurationVar(&opts.MaxDelay, "max-delay", 0, "how long the oldest queued request may wait for a fuller batch, e.g. 5ms")
	f.Float64Var(&opts.Rate, "rate", 0, "offered rate, requests per second (required unless --find-capacity, where it is the first rate tried)")
	f.StringVar(&opts.Arrival, "arrival", opts.Arrival, "arrival process: poisson (exponential gaps) or constant")
	f.DurationVar(&opts.Duration, "duration", opts.Duration, "measured window (each capacity-search step: at least this)")
	f.DurationVar(&opts.Warmup, "warmup", opts.Warmup, "traffic before the measured window, not counted")
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

// validate checks the options before anything is loaded and fills the defaults.
func (o *LoadOptions) validate() error {
	cpus := o.CPUs
	if cpus == nil {
		cpus = env.CPUsAvailable
	}
	if _, err := stats.ParsePercentile(o.LatencyPct); err != nil {
		return fmt.Errorf("--latency-pct %w", err)
	}
	if o.BudgetMs < 0 || math.IsNaN(o.BudgetMs) || math.IsInf(o.BudgetMs, 0) {
		return fmt.Errorf("--latency-budget-ms must be a positive number of milliseconds, got %g", o.BudgetMs)
	}
	if o.Rate < 0 || math.IsNaN(o.Rate) || (o.Rate == 0 && !o.FindCapacity) || math.IsInf(o.Rate, 0) {
		if o.Rate == 0 {
			return errors.New("--rate is required: the offered rate in requests per second (or use --find-capacity)")
		}
		return fmt.Errorf("--rate must be a positive number of requests per second, got %g", o.Rate)
	}
	if o.Instances < 1 {
		return fmt.Errorf("--instances must be >= 1, got %d", o.Instances)
	}
	if o.Threads < 0 {
		return fmt.Errorf("--threads must be >= 1 (or 0 for CPUs available / instances), got %d", o.Threads)
	}
	if o.InteropThreads < 0 {
		return fmt.Errorf("--interop-threads must be >= 1 (or 0 for libtorch's default), got %d", o.InteropThreads)
	}
	if err := o.knobs().Validate(); err != nil {
		return err
	}
	if o.knobs().Normalize().Pin != "" && o.Instances > 1 {
		return procknob.ErrPinInstances
	}
	avail := cpus()
	if p, _ := procknob.ParsePin(o.Pin); len(p.CPUs) > 0 {
		avail = min(avail, float64(len(p.CPUs)))
	}
	if o.Threads == 0 {
		o.Threads = max(1, int(math.Floor(avail/float64(o.Instances))))
	}
	if !o.Simulate && float64(o.Instances*o.Threads) > math.Ceil(avail) {
		return fmt.Errorf("--instances %d x --threads %d = %d threads > %g CPUs available: lower --instances or --threads (oversubscribed instances measure contention, not the model)",
			o.Instances, o.Threads, o.Instances*o.Threads, avail)
	}
	cfg := o.config(max(o.Rate, 1))
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
	} else if err := load.CheckDuration(o.Rate, o.Duration, o.LatencyPct); err != nil {
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

func (o *LoadOptions) knobs() procknob.Knobs {
	return procknob.Knobs{Allocator: o.Allocator, OMPWait: o.OMPWait, Pin: o.Pin}
}

func (o *LoadOptions) config(rate float64) load.Config {
	return load.Config{Rate: rate, Arrival: o.Arrival, Duration: o.Duration, Warmup: o.Warmup,
		Instances: o.Instances, MaxBatch: o.MaxBatch, MaxDelay: o.MaxDelay, Timeout: o.Timeout,
		QueueSize: o.QueueSize, Seed: uint64(o.Seed)}
}

// loadBackend runs one load configuration at a rate: live or simulated.
type loadBackend struct {
	base      *record.Record // configuration fields, no measurements
	fullBatch time.Duration  // estimated compute of a full batch
	source    string         // simulate: where the service times come from
	run       func(ctx context.Context, c load.Config) (*load.Outcome, error)
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
		if err := procknob.Apply(opts.knobs()); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var be *loadBackend
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
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = load.DefaultTimeout(time.Duration(opts.BudgetMs*1e6), be.fullBatch)
	}

	one := func(ctx context.Context, rate float64, dur time.Duration) (*record.Record, *load.Summary, error) {
		c := opts.config(rate)
		c.Duration, c.Timeout = dur, timeout
		started := time.Now().UTC()
		out, err := be.run(ctx, c)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, nil, &exitError{code: ExitInterrupted, err: errors.New("interrupted: the run was stopped; nothing recorded for it")}
			}
			return nil, nil, err
		}
		s := load.Summarize(out)
		rec := cloneLoadRecord(be.base)
		rec.Timestamp = started.Format(time.RFC3339)
		s.Fill(rec, out.Config, opts.LatencyPct, opts.BudgetMs)
		rec.Load.Source = be.source
		return rec, &s, nil
	}

	if !opts.FindCapacity {
		rec, _, err := one(ctx, opts.Rate, opts.Duration)
		if err != nil {
			return err
		}
		return emitLoad(opts, rec)
	}

	// Capacity search.
	start := opts.Rate
	if start == 0 {
		if be.fullBatch <= 0 {
			return errors.New("--find-capacity: cannot estimate a first rate (no service time): give --rate")
		}
		start = float64(opts.Instances*opts.MaxBatch) / be.fullBatch.Seconds()
	}
	var steps []*record.Record
	var capSteps []record.CapacityStep
	run := func(ctx context.Context, step int, rate float64) (bool, error) {
		dur := load.StepDuration(rate, opts.Duration, opts.LatencyPct)
		rec, s, err := one(ctx, rate, dur)
		if err != nil {
			return false, err
		}
		pass, why := s.Passes(opts.LatencyPct, opts.BudgetMs)
		rec.Load.Step = step
		if opts.Out != "" {
			if err := record.AppendFile(opts.Out, rec); err != nil {
				return false, err
			}
		}
		steps = append(steps, rec)
		capSteps = append(capSteps, s.Step(load.Config{Rate: rate}, pass))
		verdict := "pass"
		if !pass {
			verdict = "fail"
		}
		fmt.Fprintf(opts.IO.ErrOut, "step %d: %g req/s for %s: %s (%s; achieved %.1f req/s, %d requests)\n",
			step, rate, dur, verdict, why, s.AchievedRPS, s.Requests)
		return pass, nil
	}
	res, err := load.FindCapacity(ctx, load.Search{Start: start, Tolerance: opts.Tolerance, MaxSteps: opts.MaxSteps}, run)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) || errors.Is(err, context.Canceled) {
			return &exitError{code: ExitInterrupted, err: fmt.Errorf("interrupted after %d capacity-search steps (recorded in --out)", len(steps))}
		}
		return err
	}
	if len(steps) == 0 {
		return errors.New("capacity search ran no step")
	}
	// The summary: the capacity step's measurements (the highest passing rate; the lowest
	// rate tried when none passed), with the search's result.
	best := steps[0]
	for _, r := range steps {
		switch {
		case res.Capacity > 0 && r.Load.OfferedRPS == res.Capacity && r.Load.WithinBudget:
			best = r
		case res.Capacity == 0 && r.Load.OfferedRPS < best.Load.OfferedRPS:
			best = r
		}
	}
	sum := cloneLoadRecord(best)
	l := *best.Load
	sum.Load = &l
	sum.Load.Step = 0
	sum.Load.Capacity = &record.Capacity{
		CapacityRPS: res.Capacity, LatencyPct: opts.LatencyPct, BudgetMs: opts.BudgetMs,
		BracketLoRPS: res.Lo, BracketHiRPS: res.Hi, Tolerance: opts.Tolerance,
		Converged: res.Converged, Reason: res.Reason, Steps: capSteps,
	}
	sum.Notes = append(sum.Notes, fmt.Sprintf("capacity-search summary of %d steps: the measurements are those of step %d (%g req/s)", len(steps), best.Load.Step, best.Load.OfferedRPS))
	return emitLoad(opts, sum)
}

// emitLoad appends rec to --out and prints it (its JSON line with --json).
func emitLoad(opts *LoadOptions, rec *record.Record) error {
	return emitRecord(resultOut(opts.IO.Out, opts.ResultFD), rec, opts.Out, opts.JSON, func() { printLoadSummary(opts.IO.Out, rec, opts.Out) })
}

func cloneLoadRecord(r *record.Record) *record.Record {
	c := *r
	c.Notes = slices.Clone(r.Notes)
	c.Warnings = slices.Clone(r.Warnings)
	c.Inputs = slices.Clone(r.Inputs)
	return &c
}

// liveBackend starts the instances of the real model.
func liveBackend(opts *LoadOptions) (*loadBackend, func(), error) {
	torch.SetCrashContext(fmt.Sprintf("perflab load of model %s (%d instances x %d threads, max batch %d, compile %s)",
		opts.Model, opts.Instances, opts.Threads, opts.MaxBatch, opts.Compile))
	svc, err := torchsvc.New(torchsvc.Config{Model: opts.Model, Inputs: opts.Inputs, Compile: opts.Compile,
		Threads: opts.Threads, InteropThreads: opts.InteropThreads, ChannelsLast: opts.ChannelsLast,
		Quantize: opts.Quantize, MaxBatch: opts.MaxBatch, Seed: opts.Seed, Knobs: opts.knobs()})
	if err != nil {
		return nil, nil, err
	}
	pool, err := load.StartPool(svc, opts.Instances)
	if err != nil {
		return nil, nil, err
	}
	base, err := svc.Record()
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return &loadBackend{base: base, fullBatch: svc.FullBatch(), run: pool.Run}, func() { pool.Close() }, nil
}

// simBackend builds the service model from the --from records.
func simBackend(opts *LoadOptions) (*loadBackend, error) {
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
	src, err := selectServiceTimes(recs, opts)
	if err != nil {
		return nil, err
	}
	emp, err := load.NewEmpirical(src.samples)
	if err != nil {
		return nil, err
	}
	if err := emp.Covers(opts.MaxBatch); err != nil {
		return nil, err
	}
	r0 := src.recs[0]
	base := &record.Record{
		SchemaVersion: record.SchemaVersion, Mode: "simulate", Status: record.StatusOK,
		Knobs: knobs.Knobs{Model: r0.Model, Inputs: slices.Clone(r0.Inputs), Device: "cpu", BatchSize: opts.MaxBatch, Compile: opts.Compile, Threads: opts.Threads, InteropThreads: r0.InteropThreads, ChannelsLast: opts.ChannelsLast, Quantize: opts.Quantize}, ModelPath: r0.ModelPath, ModelSHA256: r0.ModelSHA256,
		CompileApplied: r0.CompileApplied,

		Seed: opts.Seed, Env: r0.Env,
	}
	base.Notes = append(base.Notes, fmt.Sprintf("simulated from %d %s records in %s: batch compute %s; instances are assumed not to slow each other down",
		len(src.recs), src.kind, strings.Join(opts.From, ", "), emp.Describe(opts.MaxBatch)))
	if r0.Env != nil && r0.Env.CPUsAvailable > 0 && float64(opts.Instances*opts.Threads) > math.Ceil(r0.Env.CPUsAvailable) {
		base.Warnings = append(base.Warnings, fmt.Sprintf("%d instances x %d threads exceed the %g CPUs the service times were measured with: the prediction ignores that contention",
			opts.Instances, opts.Threads, r0.Env.CPUsAvailable))
	}
	return &loadBackend{
		base:      base,
		fullBatch: emp.Mean(opts.MaxBatch),
		source:    fmt.Sprintf("%s: %d %s records (%s)", strings.Join(opts.From, ", "), len(src.recs), src.kind, emp.Describe(opts.MaxBatch)),
		run: func(ctx context.Context, c load.Config) (*load.Outcome, error) {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return load.Simulate(c, emp)
		},
	}, nil
}

type serviceSource struct {
	kind    string // "bench" or "load"
	recs    []*record.Record
	samples map[int][]float64
}

// selectServiceTimes picks the records whose batch compute times the simulation uses:
// successful bench records of the model with the same compile (as requested, or as
// applied for seed records), threads, channels_last and quantize (any inter-op threads),
// their samples_ms by batch size; without any, load records of the same configuration and
// instances, their load.service_ms.
func selectServiceTimes(recs []*record.Record, o *LoadOptions) (*serviceSource, error) {
	compileOK := func(r *record.Record) bool {
		if r.Compile != "" {
			return r.Compile == o.Compile
		}
		return (o.Compile == "on" && r.CompileApplied) || (o.Compile == "off" && !r.CompileApplied)
	}
	same := func(r *record.Record) bool {
		return r.Usable() && r.Model == o.Model && compileOK(r) && r.Threads == o.Threads &&
			r.ChannelsLast == o.ChannelsLast && r.Quantize == o.Quantize
	}
	src := &serviceSource{kind: "bench", samples: map[int][]float64{}}
	for _, r := range recs {
		if r.Load == nil && same(r) && len(r.SamplesMs) > 0 {
			src.recs = append(src.recs, r)
			src.samples[r.BatchSize] = append(src.samples[r.BatchSize], r.SamplesMs...)
		}
	}
	if len(src.recs) == 0 {
		src.kind = "load"
		for _, r := range recs {
			if r.Load != nil && r.Mode == "load" && same(r) && r.Load.Instances == o.Instances {
				for b, v := range r.Load.ServiceMs {
					n, err := strconv.Atoi(b)
					if err == nil && len(v) > 0 {
						src.samples[n] = append(src.samples[n], v...)
					}
				}
				src.recs = append(src.recs, r)
			}
		}
	}
	if len(src.samples) > 0 {
		return src, nil
	}
	// Say what there is for this model.
	var have []string
	for _, r := range recs {
		if r.Model != o.Model || !r.Usable() {
			continue
		}
		c := r.Compile
		if c == "" {
			c = loadOnOff(r.CompileApplied)
		}
		d := fmt.Sprintf("compile %s, %d threads", c, r.Threads)
		if r.ChannelsLast {
			d += ", channels_last"
		}
		if r.Quantize {
			d += ", int8"
		}
		if !slices.Contains(have, d) {
			have = append(have, d)
		}
	}
	what := fmt.Sprintf("%s with compile %s, %d threads, channels_last %t, quantize %t", o.Model, o.Compile, o.Threads, o.ChannelsLast, o.Quantize)
	if len(have) == 0 {
		return nil, fmt.Errorf("--from has no usable record of %s: run perflab bench or sweep on it first", o.Model)
	}
	slices.Sort(have)
	return nil, fmt.Errorf("--from has no usable record of %s; it has %s: pick one of those with --compile/--threads", what, strings.Join(have, "; "))
}

func loadOnOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// printLoadSummary prints a load record for a terminal.
func printLoadSummary(w io.Writer, r *record.Record, out string) {
	l := r.Load
	verb := "load"
	if r.Mode == "simulate" {
		verb = "simulated load"
	}
	compile := loadOnOff(r.CompileApplied)
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
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
	for _, m := range r.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", m)
	}
	if e := r.Env; e != nil {
		fmt.Fprintf(w, "  env: %s, %g CPUs, libtorch %s, oneDNN ISA %s, BLAS %s (fingerprint %s)\n", e.CPUModel, e.CPUsAvailable, e.Torch, orUnknown(e.OneDNNISA), e.BLAS, e.Fingerprint)
		printKnobs(w, r)
	}
	if out != "" {
		fmt.Fprintf(w, "  appended to %s\n", out)
	}
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
