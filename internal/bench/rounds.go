package bench

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/torch"
	"github.com/perflab/perflab/internal/wire"
)

// RunWorker measures the configurations of spec side by side in this process: it loads
// the model once, prepares every configuration (compile, channels_last, quantize, each
// checked against the plain model, whose output is computed once per batch size), warms
// each up (time-capped), then runs rounds: every round times one short block (about
// spec.BlockMs) of each configuration still measuring, in a fresh random order, so that
// the process's drift lands on all of them alike. It sends a Prepare message before
// preparing each configuration, Measuring once the rounds start, then one Record per
// configuration (failed records for those that could not be prepared).
//
// It sets process-wide libtorch state (ISA, thread pools): call it once per process.
func RunWorker(spec wire.Spec, send func(wire.Message) error) error {
	if len(spec.Configs) == 0 {
		return fmt.Errorf("worker %s: no configuration to measure", spec.Worker)
	}
	base := Defaults()
	base.Knobs = spec.Process
	base.BatchSize, base.Compile = 1, CompileOff
	base.Iters = max(1, spec.Iters)
	base.Warmup = spec.Warmup
	base.TargetPercentile = spec.TargetPercentile
	base.PreprocessIters = 0
	if err := base.Validate(); err != nil {
		return err
	}
	m, err := model.Resolve(spec.Process.Model, spec.Process.Inputs)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := SetOneDNNISA(spec.Process.OneDNNISA); err != nil {
		return err
	}
	intra, interop, err := setThreads(base)
	if err != nil {
		return err
	}
	var plain *torch.Module // nil: an AOTInductor package without a TorchScript twin
	if m.Path != "" {
		if plain, err = LoadModule(m.Path, len(m.Inputs)); err != nil {
			return err
		}
		defer plain.Close()
	}
	refs := &references{plain: plain, byBatch: map[int]*reference{}}

	// Prepare every configuration; one that fails is recorded and left out.
	var live []*roundsRun
	var all []*runner
	defer func() {
		for _, r := range slices.Backward(all) {
			r.close()
		}
	}()
	for _, wc := range spec.Configs {
		if err := send(wire.Message{Prepare: wc.Key}); err != nil {
			return err
		}
		c := base
		c.Knobs = wc.Knobs
		t0 := time.Now()
		var rr *roundsRun
		if wc.PerProcess().Key() != spec.Process.Key() {
			err = fmt.Errorf("configuration %s does not have the worker's process-wide knobs (%s)", wc.Key, spec.Process.Key())
		} else if err = c.Validate(); err == nil {
			rr, err = prepareRounds(c, refs, intra, interop)
		}
		if rr != nil {
			all = append(all, rr.r)
		}
		if err != nil {
			if err := sendFailed(send, wc, c, err); err != nil {
				return err
			}
			continue
		}
		rr.key = wc.Key
		rr.prepare = time.Since(t0)
		live = append(live, rr)
	}
	if err := send(wire.Message{Measuring: true}); err != nil {
		return err
	}
	for _, rr := range live {
		t0 := time.Now()
		if err := rr.warmUp(spec); err != nil {
			rr.err = err
		}
		rr.warmup = time.Since(t0)
	}
	cpu0 := env.SampleCPU()
	runRounds(spec, live)
	cpu1 := env.SampleCPU()
	for _, rr := range live {
		rr.r.cpu = [2]env.CPUTimes{cpu0, cpu1} // contention over the rounds, shared by the worker's configurations
	}
	// libtorch's warnings are process-wide: they belong to the worker, not one configuration.
	var warnings []string
	for _, w := range torch.TakeWarnings() {
		warnings = append(warnings, "libtorch (worker process): "+w.String())
	}
	for _, rr := range live {
		if rr.err != nil {
			if err := sendFailed(send, wire.Config{Key: rr.key}, rr.r.c, rr.err); err != nil {
				return err
			}
			continue
		}
		rr.finish(spec)
		if err := rr.r.finish(); err != nil {
			return err
		}
		rr.r.rec.Warnings = append(rr.r.rec.Warnings, warnings...)
		if err := send(wire.Message{Key: rr.key, Record: rr.r.rec}); err != nil {
			return err
		}
	}
	if spec.PreprocessIters > 0 && m.Task == model.Vision {
		p, err := timePreprocess("", spec.PreprocessIters)
		if err != nil {
			return err
		}
		if err := send(wire.Message{Preprocess: p}); err != nil {
			return err
		}
	}
	return nil
}

func sendFailed(send func(wire.Message) error, wc wire.Config, c Config, err error) error {
	rec := &record.Record{SchemaVersion: record.SchemaVersion, Mode: "bench", Status: record.StatusFailed, Error: err.Error(),
		Timestamp: time.Now().UTC().Format(time.RFC3339), Knobs: c.Knobs.Normalize(),
	}
	return send(wire.Message{Key: wc.Key, Record: rec})
}

// roundsRun is one configuration measured in rounds.
type roundsRun struct {
	key    string
	r      *runner
	ns     []int64 // samples so far, in order
	wall   int64   // summed wall time of its blocks
	rounds int
	block  int // calls per block, from the warm-up
	// prepare and warmup are how long those took
	prepare, warmup time.Duration
	done            bool
	reason          string
	err             error
}

func prepareRounds(c Config, refs *references, intra, interop int) (*roundsRun, error) {
	m, file, err := resolve(c, c.Model)
	if err != nil {
		return nil, err
	}
	r, err := newRunner(c, m, file, intra, interop)
	if err != nil {
		return nil, err
	}
	r.refs = refs
	rr := &roundsRun{r: r}
	if err := r.prepare(file); err != nil {
		return rr, err
	}
	return rr, nil
}

// warmUp runs the warm-up calls, at most spec.WarmupSeconds of them (at least 2), and
// sizes the block from the last call.
func (rr *roundsRun) warmUp(spec wire.Spec) error {
	n := max(2, spec.Warmup)
	ns := make([]int64, 1)
	var spent int64
	for i := 0; i < n; i++ {
		w, err := rr.r.module.TimedForward(rr.r.inputs, ns)
		if err != nil {
			return fmt.Errorf("warm-up forward failed: %s", torchMsg(err))
		}
		spent += w
		if i >= 1 && spec.WarmupSeconds > 0 && float64(spent)/1e9 >= spec.WarmupSeconds {
			n = i + 1
			break
		}
	}
	rr.r.rec.Warmup = n
	rr.block = 1
	if last := float64(ns[0]) / 1e6; last > 0 && spec.BlockMs > 0 {
		rr.block = max(1, min(64, int(spec.BlockMs/last)))
	}
	rr.ns = make([]int64, 0, max(spec.Iters, spec.MinIters))
	return nil
}

// runRounds times blocks of every live configuration in a fresh random order each
// round until each has stopped.
func runRounds(spec wire.Spec, live []*roundsRun) {
	rng := rand.New(rand.NewPCG(spec.Seed, 0x5851f42d4c957f2d))
	order := slices.Clone(live)
	runtime.GC()
	old := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(old)
	q, _ := stats.PercentileQ(targetOr(spec.TargetPercentile))
	buf := make([]int64, 64)
	sorted := make([]float64, 0, 256)
	for {
		active := 0
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, rr := range order {
			if rr.done || rr.err != nil {
				continue
			}
			active++
			k := min(rr.block, max(1, spec.Iters-len(rr.ns)))
			w, err := rr.r.module.TimedForward(rr.r.inputs, buf[:k])
			if err != nil {
				rr.err = fmt.Errorf("timed forward failed: %s", torchMsg(err))
				continue
			}
			rr.ns = append(rr.ns, buf[:k]...)
			rr.wall += w
			rr.rounds++
			rr.done, rr.reason = rr.stop(spec, q, &sorted)
		}
		if active == 0 {
			return
		}
	}
}

// stop says whether the configuration has enough samples in this worker, and why.
func (rr *roundsRun) stop(spec wire.Spec, q float64, sorted *[]float64) (bool, string) {
	n := len(rr.ns)
	switch {
	case n < spec.MinIters:
		return false, ""
	case n >= spec.Iters:
		return true, "iters"
	case spec.MaxSeconds > 0 && float64(rr.wall)/1e9 >= spec.MaxSeconds:
		return true, "time"
	case spec.TargetCI > 0:
		s := (*sorted)[:0]
		for _, v := range rr.ns {
			s = append(s, float64(v))
		}
		slices.Sort(s)
		*sorted = s
		v := stats.Percentile(s, q)
		if ci, ok := stats.QuantileCI(s, q, Confidence); ok && v > 0 && (ci.Hi-ci.Lo)/2/v <= spec.TargetCI {
			return true, "ci"
		}
	}
	return false, ""
}

// finish summarises the configuration's samples in this worker.
func (rr *roundsRun) finish(spec wire.Spec) {
	reason := rr.reason
	if reason == "" {
		reason = "iters"
	}
	rr.r.summarise(rr.ns, rr.wall, reason)
	rr.r.rec.Notes = append(rr.r.rec.Notes, fmt.Sprintf("worker %s: %d rounds of %d-call blocks, side by side with %d configurations", spec.Worker, rr.rounds, rr.block, len(spec.Configs)))
	rr.r.rec.Runs = []record.Run{{Worker: spec.Worker, Status: record.StatusOK, Iters: len(rr.ns), Rounds: rr.rounds,
		P50: rr.r.rec.LatencyP50, P90: rr.r.rec.LatencyP90, P95: rr.r.rec.LatencyP95, P99: rr.r.rec.LatencyP99,
		ThroughputRPS: rr.r.rec.ThroughputRPS, PrepareMs: ms(rr.prepare), WarmupMs: ms(rr.warmup)}}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func targetOr(p string) string {
	if p == "" {
		return "p95"
	}
	return p
}
