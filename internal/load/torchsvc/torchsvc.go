// Package torchsvc is the libtorch-backed load.Service of perflab load: every instance
// loads its own replica of the TorchScript module on its own OS thread, with that thread's
// intra-op thread count, makes one input per batch size it may see (1..max batch) and
// warms each up.
//
// Instance 0 prepares the configuration as perflab bench does (bench.Prepare, at the max
// batch): it applies the knobs, decides compile auto and checks the outputs against the
// plain model; the other instances are replicas of it (bench.Prepared.Replica) and follow
// its decision.
package torchsvc

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/load"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/torch"
)

// Config is the model side of a load run.
type Config struct {
	// Knobs are the configuration: BatchSize is the batcher's max batch, Threads the
	// intra-op threads of each instance (>= 1), InteropThreads the process's. The CPU
	// serving knobs (Process) must already be in place in this process (procknob.Apply,
	// called by perflab load); the oneDNN ISA is applied by instance 0, before any kernel
	// runs.
	knobs.Knobs
	Seed        int64 // input data
	WarmupIters int   // forwards per batch size at start; default 2
}

// Service is the libtorch-backed load.Service.
type Service struct {
	cfg  Config
	m    *model.Model
	file string

	mu      sync.Mutex
	first   *bench.Prepared   // instance 0's: the compile decision and the guard's verdict
	threads [2]int            // as read back on instance 0
	warmMs  map[int][]float64 // batch size -> warm-up forward times (ms), every instance
}

// New resolves the model and checks the configuration; nothing is loaded yet.
func New(c Config) (*Service, error) {
	if c.BatchSize < 1 {
		return nil, fmt.Errorf("--max-batch must be >= 1, got %d", c.BatchSize)
	}
	if c.Threads < 1 {
		return nil, fmt.Errorf("--threads must be >= 1, got %d", c.Threads)
	}
	if err := c.Knobs.Validate(); err != nil {
		return nil, err
	}
	if c.WarmupIters <= 0 {
		c.WarmupIters = 2
	}
	if err := c.AtStart().Check(); err != nil {
		return nil, err
	}
	m, file, err := bench.Resolve(c.Knobs)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: c, m: m, file: file, warmMs: map[int][]float64{}}, nil
}

// instance is one replica.
type instance struct {
	p      *bench.Prepared
	inputs [][]*torch.Tensor // by batch size
	ns     []int64
}

func (in *instance) Close() error { return in.p.Close() }

func (in *instance) Infer(n int) error {
	if n < 1 || n >= len(in.inputs) {
		return fmt.Errorf("batch of %d outside 1..%d", n, len(in.inputs)-1)
	}
	_, err := in.p.Module.TimedForward(in.inputs[n], in.ns)
	return err
}

// NewInstance loads and prepares replica id on the calling (locked) OS thread.
func (s *Service) NewInstance(id int) (load.Instance, error) {
	c := s.cfg
	interop := 0
	if id == 0 {
		if err := bench.SetOneDNNISA(c.OneDNNISA); err != nil {
			return nil, err
		}
		interop = c.InteropThreads
	}
	if err := torch.SetThreads(c.Threads, interop); err != nil {
		return nil, fmt.Errorf("cannot set threads (intra %d, inter-op %d): %v", c.Threads, c.InteropThreads, err)
	}
	p, err := s.prepare(id)
	if err != nil {
		return nil, err
	}
	in := &instance{p: p, ns: make([]int64, 1), inputs: make([][]*torch.Tensor, c.BatchSize+1)}
	if err := s.warmUp(in); err != nil {
		in.Close()
		return nil, err
	}
	return in, nil
}

// prepare makes instance id's module: instance 0 prepares the configuration, the others
// replicate it.
func (s *Service) prepare(id int) (*bench.Prepared, error) {
	if id > 0 {
		s.mu.Lock()
		first := s.first
		s.mu.Unlock()
		return first.Replica()
	}
	torch.TakeWarnings()
	a, b := torch.Threads()
	p, err := bench.Prepare(s.cfg.Knobs, s.cfg.Seed)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.first, s.threads = p, [2]int{a, b}
	s.mu.Unlock()
	return p, nil
}

// warmUp makes the inputs of every batch size and warms each up: the first calls at a new
// shape pay one-time costs.
func (s *Service) warmUp(in *instance) error {
	ns := make([]int64, s.cfg.WarmupIters)
	for b := 1; b < len(in.inputs); b++ {
		ts, err := in.p.InputsAt(b)
		if err != nil {
			return err
		}
		in.inputs[b] = ts
		if _, err := in.p.Module.TimedForward(ts, ns); err != nil {
			schema, _, _ := in.p.Module.Schema()
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
// applied, compile as applied, correctness, notes, libtorch warnings, environment),
// without measurements. Call it after the pool started.
func (s *Service) Record() (*record.Record, error) {
	c := s.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == nil {
		return nil, errors.New("torchsvc: Record before the first instance started")
	}
	p := s.first
	rec := &record.Record{
		SchemaVersion: record.SchemaVersion, Mode: "load", Status: record.StatusOK,
		Knobs: c.Knobs.Normalize(), ModelPath: s.file, CompileApplied: p.CompileApplied,
		Seed: c.Seed, Correctness: p.Correctness, Notes: slices.Clone(p.Notes), Warnings: slices.Clone(p.Warnings),
	}
	rec.Model, rec.Inputs = s.m.Name, specs(s.m.Inputs)
	rec.Threads, rec.InteropThreads = s.threads[0], s.threads[1]
	var err error
	if rec.ModelSHA256, err = model.SHA256(s.file); err != nil {
		return nil, fmt.Errorf("read model file %s: %w", s.file, err)
	}
	for _, w := range torch.TakeWarnings() {
		rec.Warnings = append(rec.Warnings, "libtorch: "+w.String())
	}
	bi, err := torch.Build()
	if err != nil {
		return nil, err
	}
	rec.Env = bench.CollectEnv(bi)
	if w := env.TwoPoolsWarning(rec.Env, rec.Threads); w != "" {
		rec.Warnings = append(rec.Warnings, w)
	}
	bench.InheritedKnobs(rec, c.AtStart())
	return rec, nil
}

// FullBatch returns the median warm-up time of a full batch.
func (s *Service) FullBatch() time.Duration {
	return time.Duration(s.WarmupMs()[s.cfg.BatchSize] * 1e6)
}

// Start starts n instances of the configuration and returns the live load.Backend over
// them, and the function that stops them.
func Start(c Config, n int) (*load.Backend, func(), error) {
	svc, err := New(c)
	if err != nil {
		return nil, nil, err
	}
	pool, err := load.StartPool(svc, n)
	if err != nil {
		return nil, nil, err
	}
	base, err := svc.Record()
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return &load.Backend{Base: base, FullBatch: svc.FullBatch(), Run: pool.Run}, func() { pool.Close() }, nil
}

func specs(in []model.InputSpec) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = s.String()
	}
	return out
}

func msg(err error) string { return torch.Message(err) }
