package bench

// The runner: one model loaded in this process, its inputs, and the timed loop that
// measures it (one cgo crossing for all iterations, the Go GC paused).

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/torch"
)

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
	if rec.ModelSHA256, err = fileSHA256(file); err != nil {
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
	if w := env.TwoPoolsWarning(rec.Env, rec.Threads); w != "" {
		rec.Warnings = append(rec.Warnings, w)
	}
	if other, ok := env.OtherCPUs(r.cpu[0], r.cpu[1]); ok {
		rec.Env.OtherCPUs = &other
		if other >= BusyOtherCPUs {
			rec.Warnings = append(rec.Warnings, fmt.Sprintf("busy machine: other processes kept %.2f CPUs busy during the timed loop (of %g available); figures are contended", other, rec.Env.CPUsAvailable))
		}
	}
	InheritedKnobs(rec, c.AtStart())
	return nil
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
	if r.refs != nil {
		r.refs.called(mod, 1)
	}
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
	before, err := referenceBlocks(ReferenceWindow) // the machine's speed right before the loop
	if err != nil {
		return err
	}
	r.cpu[0] = env.SampleCPU()
	n, wall, reason, err := r.timeLoop(ns)
	r.cpu[1] = env.SampleCPU()
	if err != nil {
		return fmt.Errorf("timed forward failed: %s", torchMsg(err))
	}
	after, err := referenceBlocks(ReferenceWindow) // and right after it
	if err != nil {
		return err
	}
	r.summarise(ns[:n], wall, reason)
	r.rec.Reference = summariseReference(before, after)
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
	rec.IQROverMedian = stats.Finite(s.IQROverMedian())
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
