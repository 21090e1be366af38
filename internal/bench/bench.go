// Package bench measures one configuration of one model on libtorch and returns its
// record: load, apply the knobs (compile, channels_last, quantize, threads), check the
// outputs against the plain model, warm up, time each forward call, summarise.
//
// Latency of one iteration is the wall time of one forward call on a batch, taken in C++
// around the call alone; throughput is batch_size x iterations / wall time of the loop.
// Run sets process-wide libtorch state (thread pools): call it once per process.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/aoticache"
	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/limitfile"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/preprocess"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/profile"
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
const Confidence = stats.Confidence

// NoisyIQROverMedian is the dispersion above which a run is flagged as noisy.
const NoisyIQROverMedian = stats.NoisyIQROverMedian

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
	// ProfileForwards > 0: after the timed loop, a separate pass of that many forwards under
	// libtorch's operator profiler (perflab bench --profile); its table goes into the record
	// and its Chrome trace to ProfileTrace (when set).
	ProfileForwards int
	ProfileTrace    string
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
	case c.ProfileForwards < 0 || c.ProfileForwards > MaxProfileForwards:
		return fmt.Errorf("--profile-forwards must be in 1..%d, got %d", MaxProfileForwards, c.ProfileForwards)
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
	if err := c.AtStart().Check(); err != nil {
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
	if c.ProfileForwards > 0 { // after the timed loop, never inside it
		if err := r.profile(); err != nil {
			return nil, err
		}
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
	a, b, _, err = RunPairExplained(c, other, nil)
	return a, b, err
}

// RunPairExplained is RunPair, then (when ac is not nil) the attribution: interleaved
// profiled passes of both models after the timed loop, diffed per (operator, shapes)
// (see profilePair); the timed change it is checked against is the pair's mean forwards.
func RunPairExplained(c Config, other string, ac *AttributionConfig) (a, b *record.Record, attr *profile.Attribution, err error) {
	if err := c.Validate(); err != nil {
		return nil, nil, nil, err
	}
	ma, fileA, err := resolve(c, c.Model)
	if err != nil {
		return nil, nil, nil, err
	}
	mb, fileB, err := resolve(c, other)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := c.AtStart().Check(); err != nil {
		return nil, nil, nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := SetOneDNNISA(c.OneDNNISA); err != nil {
		return nil, nil, nil, err
	}
	intra, interop, err := setThreads(c)
	if err != nil {
		return nil, nil, nil, err
	}
	torch.SetCrashContext(crashContext(c, ma.Name+" and "+mb.Name+" (A/B)", intra))
	ra, err := newRunner(c, ma, fileA, intra, interop)
	if err != nil {
		return nil, nil, nil, err
	}
	defer ra.close()
	rb, err := newRunner(c, mb, fileB, intra, interop)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rb.close()
	if err := ra.prepare(fileA); err != nil {
		return nil, nil, nil, fmt.Errorf("model A (%s): %w", ma.Name, err)
	}
	if err := rb.prepare(fileB); err != nil {
		return nil, nil, nil, fmt.Errorf("model B (%s): %w", mb.Name, err)
	}
	if c.Warmup > 0 {
		if err := ra.module.TimedForwardPair(ra.inputs, rb.module, rb.inputs, make([]int64, c.Warmup), make([]int64, c.Warmup)); err != nil {
			return nil, nil, nil, fmt.Errorf("warm-up forward of %s and %s (A/B) failed: %s", ma.Name, mb.Name, torchMsg(err))
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
		return nil, nil, nil, fmt.Errorf("timed forward of %s and %s (A/B) failed: %s", ma.Name, mb.Name, torchMsg(err))
	}
	// Each side's wall time is the sum of its own calls: the loop's wall time holds both.
	ra.summarise(nsA, sum(nsA), "iters")
	rb.summarise(nsB, sum(nsB), "iters")
	for _, r := range []*runner{ra, rb} {
		r.rec.Notes = append(r.rec.Notes, "measured interleaved with "+map[*runner]string{ra: mb.Name, rb: ma.Name}[r]+" (A/B, one process)")
		if err := r.finish(); err != nil {
			return nil, nil, nil, err
		}
	}
	if ac != nil {
		at, err := profilePair(ra, rb, *ac, ra.rec.ForwardMsPerBatch, rb.rec.ForwardMsPerBatch)
		if err != nil {
			return nil, nil, nil, err
		}
		attr = &at
	}
	return ra.rec, rb.rec, attr, nil
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
	if c.inductor(m) && m.NeedsCompile() && torch.AOTISupported() {
		if err := compileProgram(m); err != nil {
			return nil, "", err
		}
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
	if c.inductor(m) {
		file, err := resolveInductor(c, m)
		return m, file, err
	}
	if m.PackageOnly {
		return nil, "", fmt.Errorf("%s is an AOTInductor package: it runs as --compile inductor (or auto); --compile %s needs its TorchScript twin (%s): give that as --model", m.Name, c.Compile, strings.TrimSuffix(m.Name, model.PackageExt)+".pt")
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
	if missing := env.MissingISAFlags(isa, env.CPUFlags()); missing != nil {
		return fmt.Errorf("--onednn-isa %s: this CPU lacks it (no %s in /proc/cpuinfo): oneDNN would silently run a lower ISA; pick one the CPU has, or default", isa, strings.Join(missing, ", "))
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
		threads = c.AtStart().Threads(env.DefaultThreads())
	}
	if err := torch.SetThreads(threads, c.InteropThreads); err != nil {
		return 0, 0, fmt.Errorf("cannot set threads (intra %d, inter-op %d): %v", threads, c.InteropThreads, err)
	}
	intra, interop = torch.Threads()
	torch.TakeWarnings() // drop what an earlier run in this process left behind
	return intra, interop, nil
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

// inductor says whether configuration c runs m's AOTInductor package: --compile inductor,
// or a package given as --model with compile auto.
func (c Config) inductor(m *model.Model) bool {
	return c.Compile == knobs.CompileInductor || (m.PackageOnly && c.Compile == CompileAuto)
}

// resolveInductor checks what --compile inductor needs before anything is loaded: this
// runtime runs packages, m has one, the knobs apply to it, and the batch and inputs are
// those it was compiled for (the package itself checks nothing: a wrong shape crashes it).
func resolveInductor(c Config, m *model.Model) (string, error) {
	if !torch.AOTISupported() {
		return "", &UnsupportedError{Msg: fmt.Sprintf("--compile inductor: unsupported by this runtime: AOTInductor packages need libtorch 2.6 or later (this is %s)", torch.Version())}
	}
	if m.Package == nil {
		want := "<name>" + model.PackageExt
		if m.Path != "" {
			want = strings.TrimSuffix(m.Path, filepath.Ext(m.Path)) + model.PackageExt
		}
		return "", fmt.Errorf("--compile inductor: %s has no AOTInductor package (%s): export one with torch._inductor.aoti_compile_and_package (docs/cli.md, \"What compile means here\")", m.Name, want)
	}
	switch {
	case c.Quantize:
		return "", fmt.Errorf("--compile inductor runs the package as compiled: drop --quantize (quantize before exporting it)")
	case c.ChannelsLast:
		return "", fmt.Errorf("--compile inductor runs the package as compiled: drop --channels-last")
	}
	if err := m.Package.CheckInputs(m.Inputs); err != nil {
		return "", err
	}
	if err := m.Package.CheckTorch(torch.Version()); err != nil {
		return "", err
	}
	if err := m.Package.CheckISA(env.CPUFlags()); err != nil {
		return "", err
	}
	if err := m.Package.CheckBatch(c.BatchSize); err != nil {
		return "", fmt.Errorf("%v (%s)", err, c.batchFlag())
	}
	return m.Package.Path, nil
}

// AutoInductorNote says why compile auto did not pick inductor for a model that has an
// AOTInductor package or a torch.export program ("" when it has neither: inductor was
// never a candidate). Compile auto picks what it can vouch for without measuring: the
// package when the model is given as one (the only form there is), otherwise on (freeze +
// optimize_for_inference, kept only when its outputs match) or off; a package runs only
// when asked (--compile inductor, a sweep), since whether it beats on depends on its
// kernels and the CPU (Inductor's scalar kernels were 4-8x slower than eager in perflab's
// measurements: docs/runtimes.md).
func AutoInductorNote(m *model.Model) string {
	if m.Package == nil && m.Program == "" {
		return ""
	}
	if !torch.AOTISupported() {
		return fmt.Sprintf("compile auto: on or off only: inductor is unsupported by this runtime (libtorch %s)", torch.Version())
	}
	what := "torch.export program " + filepath.Base(m.Program)
	if m.Package != nil {
		what = filepath.Base(m.Package.Path)
		if s := m.Package.Spec; s != nil && s.ISA != "" {
			what += ", " + s.ISA + " kernels"
		}
	}
	return "compile auto: on or off only: inductor (" + what + ") runs when asked (--compile inductor, a sweep), never unmeasured"
}

// UnsupportedByRuntime says why this runtime cannot run a configuration with knobs k at
// all ("" when it can): compile inductor needs libtorch 2.6 or later. A sweep skips such
// configurations as unsupported rather than running them to fail.
func UnsupportedByRuntime(k knobs.Knobs) string {
	if k.Compile == knobs.CompileInductor && !torch.AOTISupported() {
		return fmt.Sprintf("compile inductor: unsupported by this runtime (libtorch %s; AOTInductor packages need 2.6 or later)", torch.Version())
	}
	return ""
}

// compileProgram compiles m's torch.export program into an AOTInductor package, or takes
// it from the compile cache (internal/aoticache), and sets m.Package; a model given as the
// program takes its inputs from the compiled spec (--input, when given, must match it).
func compileProgram(m *model.Model) error {
	dir, err := aoticache.Dir()
	if err != nil {
		return err
	}
	key, err := aoticache.NewKey(m.Program, torch.Version(), env.CPUISA())
	if err != nil {
		return err
	}
	res, err := aoticache.Ensure(context.Background(), dir, m.Program, key)
	if err != nil {
		return err
	}
	m.Package = res.Package
	if !m.PackageOnly {
		return nil
	}
	if len(m.Inputs) > 0 {
		return m.Package.CheckInputs(m.Inputs)
	}
	m.Inputs, err = m.Package.SpecInputs()
	return err
}

// UnsupportedError is a configuration this runtime cannot run (e.g. --compile inductor on
// libtorch before 2.6): errors.Is(err, torch.ErrUnsupported).
type UnsupportedError struct{ Msg string }

func (e *UnsupportedError) Error() string        { return e.Msg }
func (e *UnsupportedError) Is(target error) bool { return target == torch.ErrUnsupported }
