package bench

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/torch"
	"github.com/perflab/perflab/internal/wire"
)

// RunWorker measures the configurations of spec side by side in this process: it loads
// each model once (a worker holds every model of its process-wide setting), prepares every
// configuration (compile, channels_last, quantize, each checked against its plain model,
// whose output is computed once per model and batch size; a configuration that differs
// from an earlier one only by its batch size reuses that one's prepared module, see
// shareFrom), warms each up until its timings are steady (warmup.go), then runs rounds:
// every round times one short block (about spec.BlockMs) of each configuration still
// measuring, in a fresh random order, so that the process's drift lands on all of them
// alike. It sends a Prepare message before preparing each configuration, Measuring once
// the rounds start, then one Record per configuration (failed records for those that
// could not be prepared), then each model's preprocessing timing when asked, then where
// its time went (Times).
//
// It sets process-wide libtorch state (ISA, thread pools): call it once per process.
func RunWorker(spec wire.Spec, send func(wire.Message) error) error {
	return runWorker(spec, send, true)
}

// RunWorkerExiting is RunWorker for a process that exits as soon as it returns (perflab
// sweep-worker): once the worker has reported its times it leaves its modules, tensors
// and outputs to the process's exit instead of freeing them one by one (two models'
// handles took ~90 ms to free here, counted in the sweep's start part). On an error the
// handles are freed as in RunWorker.
func RunWorkerExiting(spec wire.Spec, send func(wire.Message) error) error {
	return runWorker(spec, send, false)
}

func runWorker(spec wire.Spec, send func(wire.Message) error, free bool) (err error) {
	start := time.Now()
	var times wire.Times
	if len(spec.Configs) == 0 {
		return fmt.Errorf("worker %s: no configuration to measure", spec.Worker)
	}
	setting := wire.Setting(spec.Process)
	base := Defaults()
	base.Knobs = spec.Process
	base.Model, base.Inputs = spec.Configs[0].Model, spec.Configs[0].Inputs // Validate wants a model
	base.BatchSize, base.Compile = 1, CompileOff
	base.Iters = max(1, spec.Iters)
	base.Warmup = spec.Warmup
	base.TargetPercentile = spec.TargetPercentile
	base.PreprocessIters = 0
	if err := base.Validate(); err != nil {
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
	// Each model's plain module and references, loaded on its first configuration.
	type held struct {
		m    *model.Model
		refs *references
	}
	models := map[string]*held{} // by modelID
	byName := map[string]*held{} // by the configurations' model name or path
	defer func() {
		if !free && err == nil {
			return // the process exits: it frees them
		}
		for _, h := range models {
			if h.refs != nil && h.refs.plain != nil {
				h.refs.plain.Close()
			}
		}
	}()
	loadModel := func(k knobs.Knobs) (*held, error) {
		id := modelID(k)
		if h := models[id]; h != nil {
			return h, nil
		}
		m, err := model.Resolve(k.Model, k.Inputs)
		if err != nil {
			return nil, err
		}
		h := &held{m: m}
		var plain *torch.Module // nil: an AOTInductor package without a TorchScript twin
		if m.Path != "" {
			if plain, err = LoadModule(m.Path, len(m.Inputs)); err != nil {
				return nil, err
			}
		}
		h.refs = &references{plain: plain, byBatch: map[int]*reference{}}
		models[id], byName[k.Model] = h, h
		return h, nil
	}

	// Prepare every configuration; one that fails is recorded and left out.
	var live []*roundsRun
	var all []*runner
	defer func() {
		if !free && err == nil {
			return
		}
		for _, r := range slices.Backward(all) {
			r.close()
		}
	}()
	prepared := map[string]*roundsRun{} // by shareKey: the first configuration prepared
	for _, wc := range spec.Configs {
		if err := send(wire.Message{Prepare: wc.Key}); err != nil {
			return err
		}
		c := base
		c.Knobs = wc.Knobs
		t0 := time.Now()
		var rr *roundsRun
		src := prepared[shareKey(c)]
		if wire.Setting(wc.Knobs) != setting {
			err = fmt.Errorf("configuration %s does not have the worker's process-wide knobs (%s)", wc.Key, setting)
		} else if err = c.Validate(); err == nil {
			var h *held
			if h, err = loadModel(c.Knobs); err == nil {
				rr, err = prepareRounds(c, h.refs, intra, interop, src)
			}
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
		if rr.sharedWith != "" {
			times.Shared++
		} else {
			times.Prepared++
			if k := shareKey(c); prepared[k] == nil && shareable(rr.r) {
				prepared[k] = rr
			}
		}
	}
	times.PrepareMs = ms(time.Since(start))
	if err := send(wire.Message{Measuring: true}); err != nil {
		return err
	}
	for _, rr := range live {
		t0 := time.Now()
		if err := rr.warmUp(spec); err != nil {
			rr.err = err
		}
		rr.warmup = time.Since(t0)
		times.WarmupMs += ms(rr.warmup)
	}
	// The reference workload right before and after the rounds (the worker's one thread
	// setting), shared by the worker's configurations as the contention is.
	t0 := time.Now()
	refBefore, err := referenceBlocks(WorkerReferenceWindow)
	if err != nil {
		return err
	}
	times.ReferenceMs = ms(time.Since(t0))
	cpu0 := env.SampleCPU()
	runRounds(spec, live)
	cpu1 := env.SampleCPU()
	t0 = time.Now()
	refAfter, err := referenceBlocks(WorkerReferenceWindow)
	if err != nil {
		return err
	}
	times.ReferenceMs += ms(time.Since(t0))
	for _, rr := range live {
		times.TimedMs += ms(time.Duration(rr.wall))
	}
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
		rr.r.rec.Reference = summariseReference(refBefore, refAfter)
		if err := rr.r.finish(); err != nil {
			return err
		}
		rr.r.rec.Warnings = append(rr.r.rec.Warnings, warnings...)
		if err := send(wire.Message{Key: rr.key, Record: rr.r.rec}); err != nil {
			return err
		}
	}
	if spec.PreprocessIters > 0 {
		for _, name := range spec.PreprocessModels {
			if h := byName[name]; h == nil || h.m.Task != model.Vision {
				continue // not a vision model, or it could not be loaded (its configurations failed)
			}
			p, err := timePreprocess("", spec.PreprocessIters)
			if err != nil {
				return err
			}
			if err := send(wire.Message{Preprocess: p, Model: name}); err != nil {
				return err
			}
		}
	}
	times.TotalMs = ms(time.Since(start))
	return send(wire.Message{Times: &times})
}

// modelID is what loading a configuration's model depends on: its name or path and inputs.
func modelID(k knobs.Knobs) string { return k.Model + "\x00" + strings.Join(k.Inputs, "\x00") }

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
	warmupStop      string // why warm-up stopped (WarmupStable, WarmupCalls, WarmupTime)
	sharedWith      string // the key of the configuration whose prepared module it reuses
	done            bool
	reason          string
	err             error
}

// prepareRounds prepares configuration c, or, when src (a configuration prepared earlier
// in this worker with the same shareKey) is given, reuses src's module (shareFrom).
func prepareRounds(c Config, refs *references, intra, interop int, src *roundsRun) (*roundsRun, error) {
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
	if src != nil && src.err == nil && shareable(r) {
		rr.sharedWith = src.key
		return rr, r.shareFrom(src.r)
	}
	if err := r.prepare(file); err != nil {
		return rr, err
	}
	return rr, nil
}

// shareKey is what preparing a configuration depends on: its knobs but the batch size.
// Configurations with equal keys in one worker load the same file and apply the same
// channels_last, compile and quantize to it: the module one of them prepared serves
// the others, at their own batch size.
func shareKey(c Config) string {
	k := c.Knobs
	k.BatchSize = 0
	return k.Key() + "\x00" + strings.Join(k.Inputs, "\x00")
}

// shareable says whether r's prepared module may serve another batch size: not with
// compile auto (whose verdict is taken at the configuration's batch size) and not for an
// AOTInductor package (compiled for its shapes).
func shareable(r *runner) bool {
	return r.c.Compile != CompileAuto && !r.c.inductor(r.m)
}

// shareFrom prepares r with src's module: the module src prepared (same file,
// channels_last, compile and quantize; a TorchScript module's optimized graph does not
// depend on the batch size, and the plain model is shared between batch sizes the same
// way), r's own inputs at its batch size, and r's own correctness guard against the plain
// model at that batch size. src's handles own the module.
func (r *runner) shareFrom(src *runner) error {
	c, rec := r.c, r.rec
	ref, err := r.refs.get(r)
	if err != nil {
		return err
	}
	rec.Output = ref.out.String()
	in := ref.in
	if c.ChannelsLast {
		if in, err = r.channelsLast(ref.in); err != nil {
			return err
		}
	}
	rec.CompileApplied = src.rec.CompileApplied
	r.module, r.inputs = src.module, in
	if r.module == r.refs.plain && !c.ChannelsLast {
		return nil // the plain model itself: nothing to compare
	}
	out, err := r.forward(r.module, in, "the configured model")
	if err != nil {
		return err
	}
	tol := FloatTolerance
	if c.Quantize {
		tol = Int8Tolerance
	}
	cr, err := CompareOutputs(ref.out, out, tol)
	if err != nil {
		return err
	}
	cr.Reference = "plain model (no compile, contiguous, float) on the same input"
	rec.Correctness = cr
	if w := GuardWarning(cr, rec.CompileApplied); w != "" {
		rec.Warnings = append(rec.Warnings, w)
	}
	return nil
}

// warmUp runs warm-up calls until the warm-up rule (warmup.go) says the timings are
// steady, or a cap (spec.Warmup calls; spec.WarmupSeconds) is reached, and sizes the
// block from the last call.
func (rr *roundsRun) warmUp(spec wire.Spec) error {
	rule := DefaultWarmupRule(max(WarmupMinCalls, spec.Warmup), spec.WarmupSeconds)
	// Preparing ran this module on this very input once already (the correctness guard's
	// forward, or the plain model's reference output: the first call at this batch size).
	// The profiling executor's two calls that are never judged are per module, not per
	// batch size: only those the module has not made yet (at any batch size, in
	// preparation or in another configuration's warm-up) run unjudged here; a module
	// already warm at another batch size starts judging at once.
	made := 1
	if refs := rr.r.refs; refs != nil {
		made = max(1, refs.calls[rr.r.module])
	}
	rule.MinCalls = max(0, WarmupMinCalls-made)
	ns := make([]int64, 0, rule.MaxCalls)
	one := make([]int64, 1)
	for {
		if _, err := rr.r.module.TimedForward(rr.r.inputs, one); err != nil {
			return fmt.Errorf("warm-up forward failed: %s", torchMsg(err))
		}
		ns = append(ns, one[0])
		if stop, why := rule.Stop(ns); stop {
			rr.warmupStop = why
			break
		}
	}
	rr.r.rec.Warmup = len(ns)
	if rr.r.refs != nil {
		rr.r.refs.called(rr.r.module, len(ns))
	}
	rr.block = 1
	if last := float64(ns[len(ns)-1]) / 1e6; last > 0 && spec.BlockMs > 0 {
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
		ThroughputRPS: rr.r.rec.ThroughputRPS, PrepareMs: ms(rr.prepare), WarmupMs: ms(rr.warmup),
		WarmupStop: rr.warmupStop, TimedMs: ms(time.Duration(rr.wall)), PreparedWith: rr.sharedWith}}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func targetOr(p string) string {
	if p == "" {
		return "p95"
	}
	return p
}

// shaMemo holds the sha256 of the model files this process hashed, by path, size and
// modification time: a sweep worker's configurations share one model file (resnet18's
// 47 MB took ~0.1 s to hash for each of its 8 configurations).
var shaMemo sync.Map // fileStamp -> string

type fileStamp struct {
	path  string
	size  int64
	mtime int64
}

// fileSHA256 is model.SHA256 of path, hashed once per process while the file's size and
// modification time stay the same.
func fileSHA256(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return model.SHA256(path) // its error names the file
	}
	k := fileStamp{path, fi.Size(), fi.ModTime().UnixNano()}
	if v, ok := shaMemo.Load(k); ok {
		return v.(string), nil
	}
	sha, err := model.SHA256(path)
	if err == nil {
		shaMemo.Store(k, sha)
	}
	return sha, err
}
