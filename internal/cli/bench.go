package cli

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/profile"
	"github.com/perflab/perflab/internal/record"
)

// BenchOptions are the inputs of `perflab bench`.
type BenchOptions struct {
	IO     IO
	Config bench.Config
	Out    string // JSONL file to append the record to; "" = none
	JSON   bool   // print the record as JSON on stdout instead of the summary
	ABWith string // a second model measured interleaved with --model (A/B); "" = none
	// ResultFD, when > 0, is the file descriptor the JSON record goes to instead of stdout
	// (hidden --result-fd: sweep and gate --ab children, whose model may print on stdout).
	ResultFD int
	Profile
}

// NewBenchCmd returns `perflab bench`. runF replaces runBench in tests.
func NewBenchCmd(ios IO, runF func(*BenchOptions) error) *cobra.Command {
	opts := &BenchOptions{IO: ios, Config: bench.Defaults()}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark one configuration and append one JSONL record",
		Long: `Benchmark one model configuration on libtorch (CPU) and print its latency percentiles
(nearest-rank p50/p90/p95/p99 with 95% confidence intervals) and throughput. With --out the
record is appended to a JSONL file (folders are created; nothing is written on failure).

Built-in models: ` + strings.Join(model.BuiltinNames(), ", ") + ` (exported by 'make models').
For your own TorchScript file give one --input per forward argument: DTYPE[DIMS] with B for
the batch size, optionally :LO..HI (inclusive value range), e.g. 'float32[B,3,224,224]' or
'int64[B,128]:0..8191'.

--compile on means torch::jit::freeze + torch::jit::optimize_for_inference (torch.compile
does not exist in libtorch C++); auto applies it unless it fails or changes the outputs, and
the record says what was applied. Before timing, every optimized, channels_last or quantized
configuration is checked against the plain model on the same input: element-wise
|ref-out| <= atol + rtol*|ref| (atol follows the output's own scale), NaN/Inf in the same
places, and for classifier outputs the plain model's top-1 class within the top-5.

--onednn-isa caps the instruction set of oneDNN's kernels (what --compile on runs on) for
this process, as ONEDNN_MAX_CPU_ISA does; the ISA used is in every record's env.

CPU serving knobs, set before libtorch initialises (perflab re-executes itself once with
them when the environment does not already have them): --allocator preloads jemalloc or
tcmalloc (LD_PRELOAD; the record says which allocator was actually mapped); --omp-wait
sets OpenMP's wait policy (active: OMP_WAIT_POLICY=ACTIVE GOMP_SPINCOUNT=infinite,
passive: PASSIVE and 0); --pin binds the OpenMP threads: cores (OMP_PROC_BIND=close
OMP_PLACES=cores) or a CPU list such as 0-1 (the process runs on those CPUs, one OpenMP
thread on each).

` + exitCodesHelp,
		Example: `  perflab bench --model resnet18 --batch-size 4 --iters 200 --warmup 20 --compile auto --threads 2 --out results/runs.jsonl
  perflab bench --model mobilenet_v3_small --channels-last --compile on
  perflab bench --model tiny_transformer --quantize --batch-size 8
  perflab bench --model ./model.pt --input 'float32[B,3,224,224]' --input 'int64[B]:0..9' --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return RunBench(opts)
		},
	}
	f := cmd.Flags()
	c := &opts.Config
	knobs.AddFlags(f, &c.Knobs)
	f.IntVar(&c.Iters, "iters", c.Iters, "timed iterations (p99 needs >= 368 for a 95% CI)")
	f.IntVar(&c.Warmup, "warmup", c.Warmup, "untimed warm-up iterations")
	f.Int64Var(&c.Seed, "seed", 0, "seed of the random input data")
	f.IntVar(&c.PreprocessIters, "preprocess-iters", c.PreprocessIters, "vision models: images to preprocess for the separate preprocessing timing (0 = skip)")
	f.StringVar(&c.Image, "image", "", "vision models: JPEG to preprocess (default: a generated 640x480 JPEG)")
	f.StringVar(&c.TargetPercentile, "target-percentile", "p95", "adaptive stopping: the percentile whose CI decides (p50, p90, p95, p99)")
	f.Float64Var(&c.TargetCI, "target-ci", 0, "adaptive stopping: stop once the target percentile's 95% CI half-width is within this fraction of it, e.g. 0.02 (0 = off)")
	f.Float64Var(&c.MaxSeconds, "max-seconds", 0, "adaptive stopping: stop after this many seconds of timed forwards, once the target percentile has a CI (0 = off)")
	f.StringVar(&opts.Out, "out", "", "append the record to this JSONL file (folders are created)")
	f.BoolVar(&opts.JSON, "json", false, "print the record as one JSON line on stdout instead of the summary")
	f.StringVar(&opts.ABWith, "ab-with", "", "A/B: also measure this model (same inputs), alternating forward calls with --model in one process; two records")
	addProfileFlags(f, &opts.Profile)
	f.IntVar(&opts.ResultFD, "result-fd", 0, "write the --json record to this file descriptor instead of stdout (for parent processes)")
	_ = f.MarkHidden("result-fd")
	_ = cmd.MarkFlagRequired("model")
	return cmd
}

// resultOut is where a command's --json result goes: the file descriptor fd when > 0
// (opened by the parent process), else w.
func resultOut(w io.Writer, fd int) io.Writer {
	if fd > 0 {
		return os.NewFile(uintptr(fd), "--result-fd "+strconv.Itoa(fd))
	}
	return w
}

// RunBench measures the configuration (or, with --ab-with, the A/B pair), appends the
// record(s) to --out and prints them.
func RunBench(opts *BenchOptions) error {
	if err := procknob.Apply(opts.Config.AtStart()); err != nil {
		return err
	}
	if err := opts.Profile.apply(opts); err != nil {
		return err
	}
	var recs []*record.Record
	var attr *profile.Attribution
	if opts.ABWith != "" {
		if opts.Config.TargetCI > 0 || opts.Config.MaxSeconds > 0 {
			return fmt.Errorf("--ab-with times --iters calls of each model: drop --target-ci and --max-seconds")
		}
		a, b, at, err := bench.RunPairExplained(opts.Config, opts.ABWith, opts.Profile.attribution(opts))
		if err != nil {
			return err
		}
		recs, attr = []*record.Record{a, b}, at
	} else {
		rec, err := bench.Run(opts.Config)
		if err != nil {
			return err
		}
		recs = []*record.Record{rec}
	}
	for _, rec := range recs {
		if err := emitRecord(resultOut(opts.IO.Out, opts.ResultFD), rec, opts.Out, opts.JSON, func() { printSummary(opts, rec) }); err != nil {
			return err
		}
	}
	if len(recs) == 2 && !opts.JSON && recs[0].LatencyP50 > 0 {
		fmt.Fprintf(opts.IO.Out, "B/A: p50 %.3fx, p95 %.3fx, throughput %.3fx (one process, interleaved calls)\n",
			recs[1].LatencyP50/recs[0].LatencyP50, recs[1].LatencyP95/recs[0].LatencyP95, recs[1].ThroughputRPS/recs[0].ThroughputRPS)
	}
	if attr != nil {
		return opts.Profile.emitAttribution(opts, attr)
	}
	return nil
}

func printSummary(opts *BenchOptions, r *record.Record) {
	w := opts.IO.Out
	fmt.Fprintf(w, "%s  batch %d  compile %s (asked %s)  threads %d/%d  channels_last %t  quantize %t\n",
		record.Printable(r.Model), r.BatchSize, r.CompileRan(), r.Compile, r.Threads, r.InteropThreads, r.ChannelsLast, r.Quantize)
	if r.InductorPackage != "" {
		isa := r.CompileISA
		if isa == "" {
			isa = "unknown"
		}
		cache := ""
		switch r.CompileCache {
		case "hit":
			cache = " (compile cache hit: compiled by an earlier run)"
		case "miss":
			cache = " (compiled now from the torch.export program, cached)"
		}
		fmt.Fprintf(w, "  inductor    package %s, %s kernels, compiled in %.1f s%s\n", record.Printable(r.InductorPackage), isa, r.CompileSeconds, cache)
	}
	printLatencies(w, r, "iterations")
	fmt.Fprintf(w, "  throughput  %9.1f req/s   forward %.3f ms/batch   %d iters, IQR/median %.1f%%\n",
		r.ThroughputRPS, r.ForwardMsPerBatch, r.Iters, r.IQROverMedian*100)
	if r.Preprocess != nil {
		fmt.Fprintf(w, "  preprocess  p50 %.3f ms  p95 %.3f ms per image (%s)\n", r.Preprocess.P50, r.Preprocess.P95, r.Preprocess.Image)
	}
	if c := r.Correctness; c != nil {
		s := c.Summary()
		if !c.OK {
			s = strings.ToUpper(record.VerdictDiffer) + strings.TrimPrefix(s, record.VerdictDiffer)
		}
		fmt.Fprintf(w, "  outputs vs plain model: %s\n", s)
	}
	printProfile(w, r)
	printRecordTail(w, r, opts.Out)
}

// printRecordTail prints a record's notes, warnings, environment and where it went: the
// end of every command's summary.
func printRecordTail(w io.Writer, r *record.Record, out string) {
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

// printLatencies prints a record's latency percentiles with their CIs, one line each;
// samples names what the samples are ("iterations", "requests").
func printLatencies(w io.Writer, r *record.Record, samples string) {
	for _, p := range []struct {
		key string
		v   float64
	}{{"p50", r.LatencyP50}, {"p90", r.LatencyP90}, {"p95", r.LatencyP95}, {"p99", r.LatencyP99}} {
		ci := "(too few " + samples + " for a CI)"
		if c, ok := r.LatencyCI[p.key]; ok {
			ci = fmt.Sprintf("[%.3f, %.3f] %g%% CI", c.Lo, c.Hi, c.Confidence*100)
		}
		fmt.Fprintf(w, "  latency %s  %9.3f ms  %s\n", p.key, p.v, ci)
	}
}

// emitRecord appends rec to the JSONL file out (when given), then prints it: its JSON line
// when asJSON, else the human summary.
func emitRecord(w io.Writer, rec *record.Record, out string, asJSON bool, summary func()) error {
	if out != "" {
		if err := record.AppendFile(out, rec); err != nil {
			return err
		}
	}
	if !asJSON {
		summary()
		return nil
	}
	line, err := record.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = w.Write(line)
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// addKnobFlags adds the CPU serving knobs of procknob (bench and load share them).

// printKnobs prints the CPU serving settings the process ran with, when any is not the
// default.
func printKnobs(w io.Writer, r *record.Record) {
	e := r.Env
	if r.Allocator == "" && r.OMPWait == "" && r.Pin == "" && e.OMP == "" {
		return
	}
	fmt.Fprintf(w, "  process: allocator %s, OpenMP %s, CPUs %s\n", orDefault(e.Allocator, "glibc"), orDefault(e.OMP, "defaults"), orDefault(e.ProcessCPUs, "unknown"))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
