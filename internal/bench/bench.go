// Package bench measures one configuration of one model on libtorch and returns its
// record: load, apply the knobs (compile, channels_last, quantize, threads), check the
// outputs against the plain model, warm up, time each forward call, summarise.
//
// Latency of one iteration is the wall time of one forward call on a batch, taken in C++
// around the call alone; throughput is batch_size x iterations / wall time of the loop.
// Run sets process-wide libtorch state (thread pools): call it once per process.
package bench

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/limitfile"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/preprocess"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/torch"
)

// Compile modes (knobs.CompileModes): on means torch::jit::freeze +
// optimize_for_inference, and its failure is an error; auto optimizes unless that fails
// or changes the outputs.
const (
	CompileAuto = knobs.CompileAuto
	CompileOn   = knobs.CompileOn
	CompileOff  = knobs.CompileOff
)

// Tolerance is the correctness guard's element-wise rule against the plain model's
// output: |ref-out| <= atol + Rtol*|ref|, with atol = AtolScale * rms(ref) of each output
// tensor, so that the absolute part follows the output's own scale.
type Tolerance struct {
	Rtol, AtolScale float64
}

// The guard's tolerances: float configurations (compile, channels_last) may only round
// differently; the int8 variant is a different model that must stay close.
var (
	FloatTolerance = Tolerance{Rtol: 1e-3, AtolScale: 1e-3}
	Int8Tolerance  = Tolerance{Rtol: 0.1, AtolScale: 0.1}
)

// DegenerateScale is the largest |reference| at or under which outputs cannot be judged:
// activations that vanished (e.g. untrained BatchNorm statistics) leave only rounding.
const DegenerateScale = 1e-6

// Confidence is the confidence level of the percentile intervals in records.
const Confidence = 0.95

// NoisyIQROverMedian is the dispersion above which a run is flagged as noisy (the
// threshold torch.utils.benchmark warns at).
const NoisyIQROverMedian = 0.10

// Config is one configuration to measure: its knobs and how to measure it.
type Config struct {
	knobs.Knobs
	Iters  int
	Warmup int
	Seed   int64
	// BatchFlag names the flag that set BatchSize in errors: "--batch-size" when "", or
	// perflab load's "--max-batch".
	BatchFlag       string
	PreprocessIters int    // vision models only; 0 = skip
	Image           string // JPEG for preprocessing; "" = a synthetic 640x480 JPEG

	// Adaptive stopping: time at most Iters iterations, but stop early once the
	// TargetPercentile's confidence interval is tight enough (half-width / value <=
	// TargetCI) or MaxSeconds of timed work have passed. Neither stops the run before that
	// percentile has a CI at all. Zero values disable them.
	TargetPercentile string // "p50", "p90", "p95" or "p99"; default p95
	TargetCI         float64
	MaxSeconds       float64
}

// Limits checked before anything runs: each timed iteration keeps its time (8 bytes in
// memory, ~10 in the record), so a million iterations make a 10 MB record.
const (
	MaxIters = 1_000_000
	MaxBatch = knobs.MaxBatch
	// MaxInputElements bounds the elements of one set of inputs (4 GiB of float32).
	MaxInputElements = 1 << 30
	// MaxImageBytes bounds the --image file read.
	MaxImageBytes = 256 << 20
)

// Defaults returns the seed tool's defaults.
func Defaults() Config {
	return Config{Knobs: knobs.Knobs{Device: knobs.CPU, BatchSize: 1, Compile: CompileAuto}, Iters: 200, Warmup: 20, PreprocessIters: 50}
}

// Validate checks what can be checked without loading anything.
func (c *Config) Validate() error {
	if err := c.Knobs.Validate(); err != nil {
		return err
	}
	switch {
	case c.Iters < 1:
		return fmt.Errorf("--iters must be >= 1, got %d", c.Iters)
	case c.Warmup < 0:
		return fmt.Errorf("--warmup must be >= 0, got %d", c.Warmup)
	case c.PreprocessIters < 0:
		return fmt.Errorf("--preprocess-iters must be >= 0, got %d", c.PreprocessIters)
	case c.Iters > MaxIters:
		return fmt.Errorf("--iters %d is more than %d: every iteration's time is kept; use --max-seconds to bound a long run", c.Iters, MaxIters)
	case c.Warmup > MaxIters:
		return fmt.Errorf("--warmup %d is more than %d", c.Warmup, MaxIters)
	case c.PreprocessIters > MaxIters:
		return fmt.Errorf("--preprocess-iters %d is more than %d", c.PreprocessIters, MaxIters)
	}
	// More threads than CPUs measure the scheduler's contention, not the model (and 999
	// threads on 2 CPUs start ~2000 OS threads).
	if cpus := env.DefaultThreads(); c.Threads > cpus {
		return fmt.Errorf("--threads %d is more than the %d CPUs available to this process (affinity and cgroup quota applied): oversubscribed threads measure contention, not the model; use --threads %d or fewer", c.Threads, cpus, cpus)
	} else if c.InteropThreads > cpus {
		return fmt.Errorf("--interop-threads %d is more than the %d CPUs available to this process: use --interop-threads %d or fewer", c.InteropThreads, cpus, cpus)
	}
	if c.Image != "" {
		if fi, err := os.Stat(c.Image); err != nil || !fi.Mode().IsRegular() {
			return fmt.Errorf("--image %s is not a readable file: give a JPEG or PNG", c.Image)
		}
	}
	if _, err := stats.ParsePercentile(c.targetPercentile()); err != nil {
		return fmt.Errorf("--target-percentile %w", err)
	}
	if c.TargetCI < 0 || c.MaxSeconds < 0 {
		return fmt.Errorf("--target-ci and --max-seconds must be >= 0")
	}
	return nil
}

func (c *Config) targetPercentile() string {
	if c.TargetPercentile == "" {
		return "p95"
	}
	return c.TargetPercentile
}

func (c *Config) batchFlag() string {
	if c.BatchFlag == "" {
		return "--" + knobs.FlagBatchSize
	}
	return c.BatchFlag
}

// Run measures the configuration. It locks the calling goroutine to its OS thread for
// the duration (libtorch's thread settings are per OS thread).
func Run(c Config) (*record.Record, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, file, err := resolve(c, c.Model)
	if err != nil {
		return nil, err
	}
	if err := c.Process().Check(); err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := SetOneDNNISA(c.OneDNNISA); err != nil {
		return nil, err
	}
	intra, interop, err := setThreads(c)
	if err != nil {
		return nil, err
	}
	torch.SetCrashContext(crashContext(c, m.Name, intra))
	r, err := newRunner(c, m, file, intra, interop)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.prepare(file); err != nil {
		return nil, err
	}
	if err := r.measure(); err != nil {
		return nil, err
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return r.rec, nil
}

// RunPair measures the configuration for two models (c.Model as A and other as B, which
// takes the same inputs) in one process, alternating their forward calls (A B, B A, ...)
// so that both see the same machine conditions: the measurement behind `perflab gate
// --ab`. Adaptive stopping does not apply; each side times c.Iters calls.
func RunPair(c Config, other string) (a, b *record.Record, err error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	ma, fileA, err := resolve(c, c.Model)
	if err != nil {
		return nil, nil, err
	}
	mb, fileB, err := resolve(c, other)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Process().Check(); err != nil {
		return nil, nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := SetOneDNNISA(c.OneDNNISA); err != nil {
		return nil, nil, err
	}
	intra, interop, err := setThreads(c)
	if err != nil {
		return nil, nil, err
	}
	torch.SetCrashContext(crashContext(c, ma.Name+" and "+mb.Name+" (A/B)", intra))
	ra, err := newRunner(c, ma, fileA, intra, interop)
	if err != nil {
		return nil, nil, err
	}
	defer ra.close()
	rb, err := newRunner(c, mb, fileB, intra, interop)
	if err != nil {
		return nil, nil, err
	}
	defer rb.close()
	if err := ra.prepare(fileA); err != nil {
		return nil, nil, fmt.Errorf("model A (%s): %w", ma.Name, err)
	}
	if err := rb.prepare(fileB); err != nil {
		return nil, nil, fmt.Errorf("model B (%s): %w", mb.Name, err)
	}
	if c.Warmup > 0 {
		if err := ra.module.TimedForwardPair(ra.inputs, rb.module, rb.inputs, make([]int64, c.Warmup), make([]int64, c.Warmup)); err != nil {
			return nil, nil, fmt.Errorf("warm-up forward of %s and %s (A/B) failed: %s", ma.Name, mb.Name, torchMsg(err))
		}
	}
	nsA, nsB := make([]int64, c.Iters), make([]int64, c.Iters)
	runtime.GC()
	old := debug.SetGCPercent(-1)
	ra.cpu[0] = env.SampleCPU()
	err = ra.module.TimedForwardPair(ra.inputs, rb.module, rb.inputs, nsA, nsB)
	ra.cpu[1] = env.SampleCPU()
	rb.cpu = ra.cpu
	debug.SetGCPercent(old)
	if err != nil {
		return nil, nil, fmt.Errorf("timed forward of %s and %s (A/B) failed: %s", ma.Name, mb.Name, torchMsg(err))
	}
	// Each side's wall time is the sum of its own calls: the loop's wall time holds both.
	ra.summarise(nsA, sum(nsA), "iters")
	rb.summarise(nsB, sum(nsB), "iters")
	for _, r := range []*runner{ra, rb} {
		r.rec.Notes = append(r.rec.Notes, "measured interleaved with "+map[*runner]string{ra: mb.Name, rb: ma.Name}[r]+" (A/B, one process)")
		if err := r.finish(); err != nil {
			return nil, nil, err
		}
	}
	return ra.rec, rb.rec, nil
}

// crashContext says what runs, for a native crash's one line.
func crashContext(c Config, name string, threads int) string {
	s := fmt.Sprintf("model %s (batch %d, compile %s, threads %d", name, c.BatchSize, c.Compile, threads)
	if c.ChannelsLast {
		s += ", channels_last"
	}
	if c.Quantize {
		s += ", quantize"
	}
	if len(c.Inputs) > 0 {
		s += ", input " + strings.Join(c.Inputs, " ")
	}
	return s + ")"
}

func sum(ns []int64) int64 {
	var t int64
	for _, v := range ns {
		t += v
	}
	return t
}

// resolve finds the model and the file to load (the int8 variant with --quantize) and
// checks the knobs that depend on the model.
func resolve(c Config, name string) (*model.Model, string, error) {
	m, err := model.Resolve(name, c.Inputs)
	if err != nil {
		return nil, "", err
	}
	if c.ChannelsLast && !m.HasImageInput() {
		return nil, "", fmt.Errorf("--channels-last applies to vision models (a float [B,C,H,W] input); %s takes %s: drop --channels-last", m.Name, specsText(m.Inputs))
	}
	var elems int64
	for _, s := range m.Inputs {
		n := int64(1)
		for _, d := range s.Shape(c.BatchSize) {
			if n *= max(d, 1); n > MaxInputElements {
				break
			}
		}
		elems += n
	}
	if elems > MaxInputElements {
		return nil, "", fmt.Errorf("the inputs at batch size %d hold %d elements, more than the %d perflab allocates (%s): lower %s", c.BatchSize, elems, int64(MaxInputElements), specsText(m.Inputs), c.batchFlag())
	}
	file := m.Path
	if c.Quantize {
		if m.Int8Path == "" {
			if m.Builtin {
				return nil, "", fmt.Errorf("--quantize: %s has no dynamic-int8 variant (only tiny_transformer has one): drop --quantize", m.Name)
			}
			return nil, "", fmt.Errorf("--quantize: %s is your own TorchScript file; quantize it in Python (torch.ao.quantization.quantize_dynamic), save it, and pass that file without --quantize", m.Name)
		}
		if _, err := os.Stat(m.Int8Path); err != nil {
			return nil, "", fmt.Errorf("--quantize: the int8 variant %s is missing: run `make models`", m.Int8Path)
		}
		file = m.Int8Path
	}
	return m, file, nil
}

// SetOneDNNISA caps oneDNN's instruction set for this process ("" leaves the library's
// choice). It must run before any model is loaded or run, once per process.
func SetOneDNNISA(isa string) error {
	if isa == "" {
		return nil
	}
	if err := torch.SetOneDNNISA(isa); err != nil {
		return fmt.Errorf("--onednn-isa %s: %s: it applies once per process, before any model runs", isa, torchMsg(err))
	}
	return nil
}

// setThreads applies the thread counts on the calling (locked) OS thread and reads back
// what libtorch applied.
func setThreads(c Config) (intra, interop int, err error) {
	threads := c.Threads
	if threads == 0 {
		threads = c.Process().Threads(env.DefaultThreads())
	}
	if err := torch.SetThreads(threads, c.InteropThreads); err != nil {
		return 0, 0, fmt.Errorf("cannot set threads (intra %d, inter-op %d): %v", threads, c.InteropThreads, err)
	}
	intra, interop = torch.Threads()
	torch.TakeWarnings() // drop what an earlier run in this process left behind
	return intra, interop, nil
}

func newRunner(c Config, m *model.Model, file string, intra, interop int) (*runner, error) {
	rec := &record.Record{
		SchemaVersion: record.SchemaVersion,
		Mode:          "bench",
		Status:        record.StatusOK,
		Timestamp:     time.Now().UTC().Format(time.RFC3339),
		Knobs:         c.Knobs.Normalize(), // with the model's name and inputs, and the threads as applied, below
		ModelPath:     file,

		Iters:  c.Iters,
		Warmup: c.Warmup,
		Seed:   c.Seed,
	}
	rec.Model, rec.Inputs, rec.Threads, rec.InteropThreads = m.Name, specsTexts(m.Inputs), intra, interop
	var err error
	if rec.ModelSHA256, err = model.SHA256(file); err != nil {
		return nil, fmt.Errorf("read model file %s: %w", file, err)
	}
	return &runner{c: c, m: m, rec: rec}, nil
}

// finish adds the preprocessing timing, libtorch's warnings and the environment.
func (r *runner) finish() error {
	c, m, rec := r.c, r.m, r.rec
	var err error
	if m.Task != model.Vision && c.Image != "" {
		rec.Notes = append(rec.Notes, "--image ignored: preprocessing is timed for the vision built-ins only")
	}
	if m.Task == model.Vision && c.PreprocessIters > 0 {
		if rec.Preprocess, err = timePreprocess(c.Image, c.PreprocessIters); err != nil {
			return err
		}
	}
	for _, w := range torch.TakeWarnings() {
		rec.Warnings = append(rec.Warnings, "libtorch: "+w.String())
	}
	bi, err := torch.Build()
	if err != nil {
		return err
	}
	rec.Env = CollectEnv(bi)
	if other, ok := env.OtherCPUs(r.cpu[0], r.cpu[1]); ok {
		rec.Env.OtherCPUs = &other
		if other >= BusyOtherCPUs {
			rec.Warnings = append(rec.Warnings, fmt.Sprintf("busy machine: other processes kept %.2f CPUs busy during the timed loop (of %g available); figures are contended", other, rec.Env.CPUsAvailable))
		}
	}
	InheritedKnobs(rec, c.Process())
	return nil
}

// BusyOtherCPUs is the contention (CPUs used by other processes during the timed loop)
// from which a record warns that its figures are contended.
const BusyOtherCPUs = 0.5

// InheritedKnobs records in rec's env (and its fingerprint) the CPU serving settings the
// process inherited from its environment rather than from the knobs asked for, with a
// warning: they change the measurement but not the configuration's key.
func InheritedKnobs(rec *record.Record, k procknob.Knobs) {
	if in := k.Inherited(); in != "" {
		rec.Env.InheritedKnobs = in
		rec.Env.Fingerprint = env.Fingerprint(rec.Env)
		rec.Warnings = append(rec.Warnings, "the process inherited "+in+" from its environment: set them with --allocator, --omp-wait and --pin instead, so that the configuration's key says so")
	}
}

// CollectEnv describes this machine and process, with what only libtorch knows.
func CollectEnv(bi torch.BuildInfo) *record.Env {
	isa, _ := torch.OneDNNISA() // "" when oneDNN is not loaded: the record then says nothing
	return env.Collect(env.Libtorch{Version: bi.TorchVersion, BLASConfig: bi.BLASConfig, Parallel: bi.ParallelInfo, OneDNNISA: isa,
		OneDNN: bi.OneDNNVersion, TEFuser: bi.TEFuser, CXX11ABI: bi.CXX11ABI})
}

// runner holds the libtorch handles of one Run; close frees them all.
type runner struct {
	c       Config
	m       *model.Model
	rec     *record.Record
	handles []interface{ Close() error }
	module  *torch.Module          // the configuration to time
	inputs  []*torch.Tensor        // its inputs
	ran     map[*torch.Module]bool // modules whose forward worked once
	cpu     [2]env.CPUTimes        // around the timed loop: how busy the rest of the machine was
	refs    *references            // the plain model's outputs; nil = prepare makes its own
}

func (r *runner) keep(h interface{ Close() error }) { r.handles = append(r.handles, h) }

func (r *runner) close() {
	for _, h := range slices.Backward(r.handles) {
		h.Close()
	}
}

func (r *runner) load(path string) (*torch.Module, error) {
	mod, err := LoadModule(path, len(r.m.Inputs))
	if err != nil {
		return nil, err
	}
	r.keep(mod)
	return mod, nil
}

// LoadModule loads a TorchScript file and checks that its forward takes nInputs
// arguments. Its errors say what is wrong with the file and how to fix it.
func LoadModule(path string, nInputs int) (*torch.Module, error) {
	mod, err := torch.Load(path)
	if err != nil {
		return nil, explainLoad(path, err)
	}
	schema, n, err := mod.Schema()
	if err != nil {
		mod.Close()
		return nil, fmt.Errorf("model %s has no usable forward method: %v", path, err)
	}
	switch {
	case n == nInputs:
	case nInputs == 0:
		mod.Close()
		return nil, fmt.Errorf("model %s: forward takes %d argument(s) but no --input was given (%s): add one --input per argument, e.g. --input 'float32[B,3,224,224]'", path, n, schema)
	case n == 0:
		mod.Close()
		return nil, fmt.Errorf("model %s: forward takes no argument but %d --input given (%s): drop --input", path, nInputs, schema)
	default:
		mod.Close()
		return nil, fmt.Errorf("model %s: forward takes %d argument(s) but %d --input given (%s): give one --input per argument", path, n, nInputs, schema)
	}
	return mod, nil
}

func (r *runner) forward(mod *torch.Module, inputs []*torch.Tensor, what string) (*torch.Value, error) {
	out, err := mod.Forward(inputs)
	if err != nil && r.ran[mod] {
		// It ran before on inputs of the same shapes: the input is not what is wrong.
		return nil, fmt.Errorf("%s failed on a later call with the same input (the first call worked): %s: the model is stateful or fails at random", what, torchMsg(err))
	}
	if err != nil {
		schema, _, _ := mod.Schema()
		return nil, fmt.Errorf("%s rejected input %s at batch size %d: %s: check --input and %s against its forward: %s",
			what, shapesText(r.m.Inputs, r.c.BatchSize), r.c.BatchSize, torchMsg(err), r.c.batchFlag(), schema)
	}
	r.keep(out)
	if r.ran == nil {
		r.ran = map[*torch.Module]bool{}
	}
	r.ran[mod] = true
	return out, nil
}

// measure warms up, then times forward calls with the Go GC paused, in chunks so that
// adaptive stopping can look at the samples between them.
func (r *runner) measure() error {
	c := r.c
	if c.Warmup > 0 {
		if _, err := r.module.TimedForward(r.inputs, make([]int64, c.Warmup)); err != nil {
			return fmt.Errorf("warm-up forward failed: %s", torchMsg(err))
		}
	}
	ns := make([]int64, c.Iters)
	r.cpu[0] = env.SampleCPU()
	n, wall, reason, err := r.timeLoop(ns)
	r.cpu[1] = env.SampleCPU()
	if err != nil {
		return fmt.Errorf("timed forward failed: %s", torchMsg(err))
	}
	r.summarise(ns[:n], wall, reason)
	return nil
}

// summarise fills the record's latency and throughput figures from the per-iteration
// times (ns) and the wall time they took.
func (r *runner) summarise(ns []int64, wall int64, reason string) {
	c, rec := r.c, r.rec
	n := len(ns)
	ms := make([]float64, n)
	for i, v := range ns {
		ms[i] = float64(v) / 1e6
	}
	s := stats.Summarize(ms, Confidence)
	rec.Iters = n
	rec.StopReason = reason
	rec.SamplesMs = ms
	rec.LatencyP50, rec.LatencyP90, rec.LatencyP95, rec.LatencyP99 = s.P50, s.P90, s.P95, s.P99
	rec.LatencyMean, rec.LatencyMin, rec.LatencyMax = s.Mean, s.Min, s.Max
	if s.N > 1 {
		rec.LatencyStd = s.Stddev
	}
	if len(s.CI) > 0 {
		rec.LatencyCI = s.CI
	}
	rec.IQROverMedian = finite(s.IQROverMedian())
	rec.ForwardMsPerBatch = s.Mean
	rec.WallMs = float64(wall) / 1e6
	if wall > 0 {
		rec.ThroughputRPS = float64(c.BatchSize*n) / (float64(wall) / 1e9)
	}
	for _, p := range stats.Percentiles {
		if _, ok := s.CI[p.Name]; !ok {
			rec.Notes = append(rec.Notes, fmt.Sprintf("no %d%% CI for %s: it needs >= %d iterations (have %d)", int(Confidence*100), p.Name, stats.MinSamplesForQuantileCI(p.Q, Confidence), s.N))
		}
	}
	if rec.IQROverMedian > NoisyIQROverMedian {
		rec.Warnings = append(rec.Warnings, fmt.Sprintf("noisy run: IQR/median = %.0f%% (> %.0f%%); the machine was busy: rerun or raise --iters", rec.IQROverMedian*100, NoisyIQROverMedian*100))
	}
}

// timeLoop fills ns with per-iteration times and returns how many it timed, the summed
// wall time of the timed chunks, and why it stopped.
func (r *runner) timeLoop(ns []int64) (n int, wall int64, reason string, err error) {
	c := r.c
	adaptive := c.TargetCI > 0 || c.MaxSeconds > 0
	chunk := len(ns)
	q, _ := stats.PercentileQ(c.targetPercentile())
	minN := stats.MinSamplesForQuantileCI(q, Confidence)
	if adaptive {
		chunk = max(10, min(50, len(ns)/10))
	}
	runtime.GC()
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	sorted := make([]float64, 0, len(ns))
	for n < len(ns) {
		k := min(chunk, len(ns)-n)
		w, err := r.module.TimedForward(r.inputs, ns[n:n+k])
		if err != nil {
			return n, wall, "", err
		}
		n += k
		wall += w
		if !adaptive || n < minN || n == len(ns) {
			continue
		}
		if c.MaxSeconds > 0 && float64(wall)/1e9 >= c.MaxSeconds {
			return n, wall, "time", nil
		}
		if c.TargetCI > 0 {
			sorted = sorted[:0]
			for _, v := range ns[:n] {
				sorted = append(sorted, float64(v))
			}
			slices.Sort(sorted)
			v := stats.Percentile(sorted, q)
			if ci, ok := stats.QuantileCI(sorted, q, Confidence); ok && v > 0 && (ci.Hi-ci.Lo)/2/v <= c.TargetCI {
				return n, wall, "ci", nil
			}
		}
	}
	return n, wall, "iters", nil
}

func finite(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	return x
}

func timePreprocess(image string, iters int) (*record.Preprocess, error) {
	var data []byte
	var err error
	name := image
	if image == "" {
		name = "synthetic 640x480 JPEG"
		data, err = preprocess.SyntheticJPEG(640, 480, 0, 90)
	} else {
		data, err = limitfile.Read(image, MaxImageBytes)
	}
	if err != nil {
		return nil, fmt.Errorf("preprocessing image %s: %w", name, err)
	}
	t, err := preprocess.ImageNet.Time(data, iters)
	if err != nil {
		return nil, fmt.Errorf("preprocessing image %s: %w", name, err)
	}
	s := stats.Summarize(t.SamplesMs, Confidence)
	return &record.Preprocess{Image: name, Iters: t.Iters, P50: s.P50, P95: s.P95, Mean: s.Mean}, nil
}

// explainLoad turns libtorch's load failures into what a user can act on.
func explainLoad(path string, err error) error {
	msg := torchMsg(err)
	switch {
	case errors.Is(err, torch.ErrCheckpoint):
		return fmt.Errorf("model file %s looks like a torch.save checkpoint, not TorchScript (%s): export it with torch.jit.save(torch.jit.script(model), path)", path, msg)
	case errors.Is(err, torch.ErrNotArchive):
		return fmt.Errorf("model file %s is not a TorchScript archive or is truncated (%s): re-export it with torch.jit.save(torch.jit.script(model), path)", path, msg)
	}
	return fmt.Errorf("cannot load model file %s: %s", path, msg)
}

// torchMsg is the one line of a libtorch failure an error message quotes.
func torchMsg(err error) string { return torch.Message(err) }

func specsTexts(specs []model.InputSpec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.String()
	}
	return out
}

func specsText(specs []model.InputSpec) string { return strings.Join(specsTexts(specs), " ") }

func shapesText(specs []model.InputSpec, batch int) string {
	parts := make([]string, len(specs))
	for i, s := range specs {
		dims := make([]string, 0, len(s.Dims))
		for _, d := range s.Shape(batch) {
			dims = append(dims, strconv.FormatInt(d, 10))
		}
		parts[i] = s.DType + "[" + strings.Join(dims, ",") + "]"
	}
	return strings.Join(parts, ", ")
}
