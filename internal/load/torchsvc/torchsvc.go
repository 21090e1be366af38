// Package torchsvc is the libtorch-backed load.Service of perflab load: every instance
// loads its own replica of the TorchScript module on its own OS thread, with that thread's
// intra-op thread count, applies the configuration's knobs (compile, channels_last,
// quantize), makes one input per batch size it may see (1..max batch) and warms each up.
//
// Instance 0 also checks the configuration against the plain model (as perflab bench
// does) and, for compile auto, decides whether the optimized module is used; the other
// instances follow its decision.
package torchsvc

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/load"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/torch"
)

// Config is the model side of a load run.
type Config struct {
	Model          string
	Inputs         []string
	Compile        string // auto, on, off
	Threads        int    // intra-op threads of each instance
	InteropThreads int    // 0 = libtorch's default (process-wide)
	ChannelsLast   bool
	Quantize       bool
	MaxBatch       int
	Seed           int64 // input data
	WarmupIters    int   // forwards per batch size at start; default 2
	// Knobs are the CPU serving knobs, which must already be in place in this process
	// (procknob.Apply, called by perflab load).
	Knobs procknob.Knobs
}

// Service is the libtorch-backed load.Service.
type Service struct {
	cfg  Config
	m    *model.Model
	file string

	mu          sync.Mutex
	decided     bool // instance 0 decided compile
	compiled    bool
	correctness *record.Correctness
	notes       []string
	threads     [2]int            // as read back on instance 0
	warmMs      map[int][]float64 // batch size -> warm-up forward times (ms), every instance
}

// New resolves the model and checks the configuration; nothing is loaded yet.
func New(c Config) (*Service, error) {
	if c.MaxBatch < 1 {
		return nil, fmt.Errorf("--max-batch must be >= 1, got %d", c.MaxBatch)
	}
	if c.Threads < 1 {
		return nil, fmt.Errorf("--threads must be >= 1, got %d", c.Threads)
	}
	switch c.Compile {
	case bench.CompileAuto, bench.CompileOn, bench.CompileOff:
	default:
		return nil, fmt.Errorf("--compile must be auto, on or off, got %q", c.Compile)
	}
	if c.WarmupIters <= 0 {
		c.WarmupIters = 2
	}
	if err := c.Knobs.Check(); err != nil {
		return nil, err
	}
	m, err := model.Resolve(c.Model, c.Inputs)
	if err != nil {
		return nil, err
	}
	if c.ChannelsLast && !m.HasImageInput() {
		return nil, fmt.Errorf("--channels-last applies to vision models (a float [B,C,H,W] input); drop --channels-last for %s", m.Name)
	}
	file := m.Path
	if c.Quantize {
		if m.Int8Path == "" {
			return nil, fmt.Errorf("--quantize: %s has no dynamic-int8 variant (only tiny_transformer has one): drop --quantize", m.Name)
		}
		if _, err := os.Stat(m.Int8Path); err != nil {
			return nil, fmt.Errorf("--quantize: the int8 variant %s is missing: run `make models`", m.Int8Path)
		}
		file = m.Int8Path
	}
	return &Service{cfg: c, m: m, file: file, warmMs: map[int][]float64{}}, nil
}

// instance is one replica.
type instance struct {
	handles []interface{ Close() error }
	module  *torch.Module
	inputs  [][]*torch.Tensor // by batch size
	ns      []int64
}

func (in *instance) keep(h interface{ Close() error }) { in.handles = append(in.handles, h) }

func (in *instance) Close() error {
	for _, h := range slices.Backward(in.handles) {
		h.Close()
	}
	in.handles = nil
	return nil
}

func (in *instance) Infer(n int) error {
	if n < 1 || n >= len(in.inputs) {
		return fmt.Errorf("batch of %d outside 1..%d", n, len(in.inputs)-1)
	}
	_, err := in.module.TimedForward(in.inputs[n], in.ns)
	return err
}

// NewInstance loads and prepares replica id on the calling (locked) OS thread.
func (s *Service) NewInstance(id int) (load.Instance, error) {
	c := s.cfg
	interop := 0
	if id == 0 {
		interop = c.InteropThreads
	}
	if err := torch.SetThreads(c.Threads, interop); err != nil {
		return nil, fmt.Errorf("cannot set threads (intra %d, inter-op %d): %v", c.Threads, c.InteropThreads, err)
	}
	in := &instance{ns: make([]int64, 1), inputs: make([][]*torch.Tensor, c.MaxBatch+1)}
	if err := s.prepare(id, in); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

func (s *Service) prepare(id int, in *instance) error {
	c := s.cfg
	if id == 0 {
		torch.TakeWarnings()
		a, b := torch.Threads()
		s.threads = [2]int{a, b}
	}
	base, err := s.load(s.file, in)
	if err != nil {
		return err
	}
	for b := 1; b <= c.MaxBatch; b++ {
		ts, err := s.makeInputs(b, in)
		if err != nil {
			return err
		}
		in.inputs[b] = ts
	}
	if c.ChannelsLast {
		if err := base.ToChannelsLast(); err != nil {
			return fmt.Errorf("convert model to channels_last: %v", msg(err))
		}
	}
	final := base
	s.mu.Lock()
	decided, compiled := s.decided, s.compiled
	s.mu.Unlock()
	switch {
	case c.Compile == bench.CompileOff:
	case decided && !compiled:
	default:
		opt, err := base.Optimize()
		if err != nil {
			if c.Compile == bench.CompileOn {
				return fmt.Errorf("--compile on: optimize_for_inference failed on %s: %s: use --compile auto or off", s.m.Name, msg(err))
			}
			s.note("compile auto: optimize_for_inference failed, ran without it: " + msg(err))
		} else {
			in.keep(opt)
			final = opt
		}
	}
	if id == 0 {
		if final, err = s.check(base, final, in); err != nil {
			return err
		}
		s.mu.Lock()
		s.decided, s.compiled = true, final != base
		s.mu.Unlock()
	}
	in.module = final
	// Warm up every batch size: the first calls at a new shape pay one-time costs.
	ns := make([]int64, c.WarmupIters)
	for b := 1; b <= c.MaxBatch; b++ {
		if _, err := final.TimedForward(in.inputs[b], ns); err != nil {
			schema, _, _ := final.Schema()
			return fmt.Errorf("model %s rejected its input at batch size %d: %s: check --input against its forward: %s", s.m.Name, b, msg(err), schema)
		}
		s.mu.Lock()
		for _, v := range ns[min(1, len(ns)-1):] {
			s.warmMs[b] = append(s.warmMs[b], float64(v)/1e6)
		}
		s.mu.Unlock()
	}
	return nil
}

// check compares the configured module's output with the plain model's at batch 1 (instance
// 0 only). With compile auto, an optimized module whose outputs differ is dropped.
func (s *Service) check(base, final *torch.Module, in *instance) (*torch.Module, error) {
	c := s.cfg
	if final == base && !c.ChannelsLast && !c.Quantize {
		return final, nil
	}
	plain, err := s.load(s.m.Path, in)
	if err != nil {
		return nil, err
	}
	plainIn, err := s.plainInputs(in)
	if err != nil {
		return nil, err
	}
	ref, err := plain.Forward(plainIn)
	if err != nil {
		return nil, fmt.Errorf("model %s rejected input at batch size 1: %s", s.m.Name, msg(err))
	}
	defer ref.Close()
	tol := bench.FloatTolerance
	if c.Quantize {
		tol = bench.Int8Tolerance
	}
	cr, err := compare(ref, final, in.inputs[1], tol)
	if err != nil {
		return nil, err
	}
	if final != base && c.Compile == bench.CompileAuto && !cr.OK {
		// Is it the optimization that changed the outputs?
		crBase, err := compare(ref, base, in.inputs[1], tol)
		if err == nil && crBase.OK {
			s.note("compile auto: optimize_for_inference changed the outputs, " + cr.Summary() + ", ran without it")
			final, cr = base, crBase
		}
	}
	cr.Reference = "plain model (no compile, contiguous, float) on the same input, batch 1"
	s.mu.Lock()
	s.correctness = cr
	s.mu.Unlock()
	return final, nil
}

func compare(ref *torch.Value, m *torch.Module, in []*torch.Tensor, tol bench.Tolerance) (*record.Correctness, error) {
	out, err := m.Forward(in)
	if err != nil {
		return nil, fmt.Errorf("the configured model failed at batch size 1: %s", msg(err))
	}
	defer out.Close()
	return bench.CompareOutputs(ref, out, tol)
}

func (s *Service) load(path string, in *instance) (*torch.Module, error) {
	mod, err := bench.LoadModule(path, len(s.m.Inputs))
	if err != nil {
		return nil, err
	}
	in.keep(mod)
	return mod, nil
}

// makeInputs makes the inputs of batch size b (channels_last when configured).
func (s *Service) makeInputs(b int, in *instance) ([]*torch.Tensor, error) {
	out := make([]*torch.Tensor, len(s.m.Inputs))
	for i, sp := range s.m.Inputs {
		dt, err := torch.ParseDType(sp.DType)
		if err != nil {
			return nil, err
		}
		t, err := torch.Random(dt, sp.Shape(b), sp.HasRange, sp.Lo, sp.Hi, uint64(s.cfg.Seed)+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("make input %d (%s) at batch size %d: %v", i, sp, b, msg(err))
		}
		in.keep(t)
		if s.cfg.ChannelsLast && len(sp.Dims) == 4 {
			if t, err = t.ChannelsLast(); err != nil {
				return nil, fmt.Errorf("convert input %d to channels_last: %v", i, msg(err))
			}
			in.keep(t)
		}
		out[i] = t
	}
	return out, nil
}

// plainInputs makes contiguous batch-1 inputs with the same data as the configured ones.
func (s *Service) plainInputs(in *instance) ([]*torch.Tensor, error) {
	if !s.cfg.ChannelsLast {
		return in.inputs[1], nil
	}
	out := make([]*torch.Tensor, len(s.m.Inputs))
	for i, sp := range s.m.Inputs {
		dt, err := torch.ParseDType(sp.DType)
		if err != nil {
			return nil, err
		}
		t, err := torch.Random(dt, sp.Shape(1), sp.HasRange, sp.Lo, sp.Hi, uint64(s.cfg.Seed)+uint64(i))
		if err != nil {
			return nil, fmt.Errorf("make input %d: %v", i, msg(err))
		}
		in.keep(t)
		out[i] = t
	}
	return out, nil
}

func (s *Service) note(n string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.notes, n) {
		s.notes = append(s.notes, n)
	}
}

// WarmupMs returns the median warm-up forward time (ms) of each batch size over the
// instances (after each instance's first call at that size): what a batch costs when the
// instances are not all busy at once.
func (s *Service) WarmupMs() map[int]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]float64{}
	for b, v := range s.warmMs {
		v = slices.Clone(v)
		slices.Sort(v)
		out[b] = v[len(v)/2]
	}
	return out
}

// Record returns a record describing the configuration (model, knobs, threads as
// applied, correctness, notes, libtorch warnings, environment), without measurements.
// Call it after the pool started.
func (s *Service) Record() (*record.Record, error) {
	c := s.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := &record.Record{
		SchemaVersion: record.SchemaVersion, Mode: "load", Status: record.StatusOK,
		Knobs: knobs.Knobs{Model: s.m.Name, Inputs: specs(s.m.Inputs), Device: "cpu", BatchSize: c.MaxBatch, Compile: c.Compile, Threads: s.threads[0], InteropThreads: s.threads[1], ChannelsLast: c.ChannelsLast, Quantize: c.Quantize}, ModelPath: s.file,
		CompileApplied: s.compiled,

		Seed: c.Seed, Correctness: s.correctness, Notes: slices.Clone(s.notes),
	}
	k := c.Knobs.Normalize()
	rec.Allocator, rec.OMPWait, rec.Pin = k.Allocator, k.OMPWait, k.Pin
	var err error
	if rec.ModelSHA256, err = model.SHA256(s.file); err != nil {
		return nil, fmt.Errorf("read model file %s: %w", s.file, err)
	}
	if cr := s.correctness; cr != nil {
		if w := bench.GuardWarning(cr, s.compiled); w != "" {
			rec.Warnings = append(rec.Warnings, w)
		}
	}
	for _, w := range torch.TakeWarnings() {
		rec.Warnings = append(rec.Warnings, "libtorch: "+w.String())
	}
	bi, err := torch.Build()
	if err != nil {
		return nil, err
	}
	rec.Env = bench.CollectEnv(bi)
	bench.InheritedKnobs(rec, c.Knobs)
	return rec, nil
}

// FullBatch returns the median warm-up time of a full batch.
func (s *Service) FullBatch() time.Duration {
	return time.Duration(s.WarmupMs()[s.cfg.MaxBatch] * 1e6)
}

func specs(in []model.InputSpec) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = s.String()
	}
	return out
}

func msg(err error) string { return torch.Message(err) }
