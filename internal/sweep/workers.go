package sweep

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/perflab/perflab/internal/child"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/wire"
)

// The worker design's defaults (docs/statistics.md, "How a sweep measures").
const (
	DefaultWorkers       = 3    // worker processes per process-wide setting
	DefaultBlockMs       = 50.0 // one configuration's block in a round
	DefaultWarmupSeconds = 0.25 // warm-up cap per configuration
)

// ProcessKey identifies a configuration's process-wide setting with its model
// (knobs.Knobs.PerProcess).
func (c Config) ProcessKey() string { return c.PerProcess().Key() }

// WorkerKey identifies a configuration's worker processes: its process-wide setting
// without the model (wire.Setting). Configurations with equal keys (and repetition) share
// worker processes, whatever their model; the others (batch size, compile,
// channels_last, quantize, and the model) are prepared side by side inside each worker.
func (c Config) WorkerKey() string { return wire.Setting(c.Knobs) }

// WorkerEvent reports one finished worker process.
type WorkerEvent struct {
	Slot, Workers int      // 1-based slot of Workers
	Done, Total   int      // worker processes run so far (this one included) and planned
	Setting       Config   // its process-wide setting (the first configuration it held)
	Models        []string // the models it held, in the order of their first configuration
	Configs       int      // configurations it held
	Failed        string   // why the process failed; "" when it ended normally
	Took          time.Duration
}

// group is the configurations of one process-wide setting and repetition.
type group struct {
	key     string
	configs []Config
}

// partLine is one line of the sidecar file (Out + ".runs"): a worker's result for one
// configuration (or a model's preprocessing timing), kept until the configuration's
// record is written, so that an interrupted sweep resumes without redoing finished
// worker processes.
type partLine struct {
	Run        string             `json:"run,omitempty"` // the first line: the run's identity (Runner.Identity)
	Key        string             `json:"key,omitempty"`
	Repeat     int                `json:"repeat,omitempty"`
	Slot       int                `json:"slot,omitempty"`
	Record     *record.Record     `json:"record,omitempty"`
	Model      string             `json:"model,omitempty"`
	Preprocess *record.Preprocess `json:"preprocess,omitempty"`
}

// PartFile is the sidecar file of a sweep writing out.
func PartFile(out string) string { return out + ".runs" }

type slotKey struct {
	key    string
	repeat int
	slot   int
}

// runWorkers runs the plan's bench configurations in worker processes (see RunWorker's
// design in docs/statistics.md): for each slot 1..Workers, one worker per process-wide setting,
// the settings in a shuffled order, so that a configuration's processes are spread over
// the sweep.
func (rn *Runner) runWorkers(ctx context.Context, todo []Config, res *Result) error {
	began := time.Now()
	split := &Split{}
	res.Split = split
	defer func() { split.finish(time.Since(began)) }()
	part := PartFile(rn.Out)
	lock, err := lockPart(part)
	if err != nil {
		return err
	}
	defer lock.Close()
	runs, prep, stale, err := readPart(part, rn.identity)
	if err != nil {
		return err
	}
	if stale {
		// Another run's sidecar (other configurations, a model file replaced since, or
		// none of this format): never reused.
		if rn.Stale != nil {
			rn.Stale(part)
		}
		if err := os.Remove(part); err != nil {
			return err
		}
	}
	if fi, err := os.Lstat(part); err != nil || fi.Size() == 0 {
		if err := appendPart(part, partLine{Run: rn.identity}); err != nil {
			return err
		}
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, c := range todo {
		k := c.WorkerKey() + "|#" + strconv.Itoa(c.Repeat)
		g := byKey[k]
		if g == nil {
			g = &group{key: k}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.configs = append(g.configs, c)
	}
	W := rn.Workers
	total := 0
	for w := 1; w <= W; w++ {
		for _, g := range groups {
			if len(missing(g.configs, runs, w)) > 0 {
				total++
			}
		}
	}
	rng := rand.New(rand.NewPCG(rn.OrderSeed, 0xda3e39cb94b95bdb))
	written := map[string]bool{}
	nDone, nWorkers := 0, 0
	for w := 1; w <= W; w++ {
		order := slices.Clone(groups)
		if w > 1 {
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for _, g := range order {
			queue := [][]Config{missing(g.configs, runs, w)}
			for len(queue) > 0 {
				held := queue[0]
				queue = queue[1:]
				if len(held) == 0 {
					continue
				}
				if ctx.Err() != nil {
					res.Interrupted = true
					return nil
				}
				start := time.Now()
				var wantPrep []string // models whose preprocessing no worker timed yet
				for _, m := range modelsOf(held) {
					if rn.PreprocessIters > 0 && prep[m] == nil {
						wantPrep = append(wantPrep, m)
					}
				}
				got, pp, failed, rerun, byModel := rn.runWorker(ctx, held, w, wantPrep, split)
				if ctx.Err() != nil {
					res.Interrupted = true
					return nil
				}
				for _, m := range wantPrep {
					if pp[m] == nil {
						continue
					}
					prep[m] = pp[m]
					if err := appendPart(part, partLine{Model: m, Preprocess: pp[m]}); err != nil {
						return err
					}
				}
				for _, c := range held {
					r := got[c.Key]
					if r == nil {
						continue
					}
					runs[slotKey{c.Key, c.Repeat, w}] = r
					if err := appendPart(part, partLine{Key: c.Key, Repeat: c.Repeat, Slot: w, Record: r}); err != nil {
						return err
					}
				}
				nWorkers++
				if rn.WorkerProgress != nil {
					rn.WorkerProgress(WorkerEvent{Slot: w, Workers: W, Done: nWorkers, Total: max(total, nWorkers), Setting: held[0],
						Models: modelsOf(held), Configs: len(held), Failed: failed, Took: time.Since(start)})
				}
				if byModel {
					// The process died measuring several models: each model again in a
					// process of its own, so that one model's crash fails only its own
					// configurations.
					for _, m := range modelsOf(rerun) {
						var one []Config
						for _, c := range rerun {
							if c.Model == m {
								one = append(one, c)
							}
						}
						queue = append(queue, one)
					}
				} else {
					queue = append(queue, rerun) // configurations a crash in another one's preparation left unmeasured
				}
			}
			// Write every configuration of the group whose runs are all in.
			for _, c := range g.configs {
				if written[c.Key+"#"+strconv.Itoa(c.Repeat)] || w < W || !complete(c, runs, W) {
					continue
				}
				var rs []*record.Record
				for s := 1; s <= W; s++ {
					rs = append(rs, runs[slotKey{c.Key, c.Repeat, s}])
				}
				rec := MergeRuns(c, rs, prep[c.Model])
				rec.Preset, rec.Repeat, rec.OrderSeed = rn.Preset.Name, c.Repeat, rn.OrderSeed
				if err := record.AppendFile(rn.Out, rec); err != nil {
					return err
				}
				written[c.Key+"#"+strconv.Itoa(c.Repeat)] = true
				if rec.OK() {
					res.Done++
				} else {
					res.Failed++
				}
				if rn.Progress != nil {
					rn.Progress(nDone, len(todo), c, rec, time.Duration(rec.WallMs*float64(time.Millisecond)))
				}
				nDone++
			}
		}
	}
	if err := os.Remove(part); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	os.Remove(part + ".lock")
	return nil
}

// modelsOf lists the models of cs, in the order of their first configuration.
func modelsOf(cs []Config) []string {
	var out []string
	for _, c := range cs {
		if !slices.Contains(out, c.Model) {
			out = append(out, c.Model)
		}
	}
	return out
}

// complete reports whether c has a run in every slot.
func complete(c Config, runs map[slotKey]*record.Record, W int) bool {
	for s := 1; s <= W; s++ {
		if runs[slotKey{c.Key, c.Repeat, s}] == nil {
			return false
		}
	}
	return true
}

// missing returns the configurations without a run in slot w.
func missing(cs []Config, runs map[slotKey]*record.Record, w int) []Config {
	var out []Config
	for _, c := range cs {
		if runs[slotKey{c.Key, c.Repeat, w}] == nil {
			out = append(out, c)
		}
	}
	return out
}

// workerSpec is the spec of a worker holding cs (one process-wide setting, any models) in
// slot w, timing the preprocessing of the models in preprocess.
func (rn *Runner) workerSpec(cs []Config, w int, preprocess []string) wire.Spec {
	p, W := rn.Preset, rn.Workers
	c0 := cs[0]
	q, ok := stats.PercentileQ(p.TargetPercentile)
	if !ok {
		q = 95
	}
	minTotal := stats.MinSamplesForQuantileCI(q, stats.Confidence)
	spec := wire.Spec{
		Worker:           fmt.Sprintf("%x.%d.%d", rn.OrderSeed&0xffffff, c0.Repeat, w) + "." + shortHash(c0.WorkerKey()),
		Process:          setting(c0),
		MinIters:         min(ceilDiv(minTotal, W), IterShare(p.Iters, W, w)),
		Iters:            IterShare(p.Iters, W, w),
		MaxSeconds:       p.MaxSeconds / float64(W),
		TargetPercentile: p.TargetPercentile,
		TargetCI:         p.TargetCI * math.Sqrt(float64(W)),
		Warmup:           p.Warmup,
		WarmupSeconds:    orDefault(rn.WarmupSeconds, DefaultWarmupSeconds),
		BlockMs:          orDefault(rn.BlockMs, DefaultBlockMs),
		Seed:             rn.OrderSeed ^ uint64(w)<<32 ^ uint64(c0.Repeat),
	}
	if p.Iters < minTotal {
		spec.MinIters = spec.Iters // --iters below the CI's minimum: the user asked for few
	}
	if len(preprocess) > 0 {
		spec.PreprocessIters, spec.PreprocessModels = rn.PreprocessIters, preprocess
	}
	for _, c := range cs {
		spec.Configs = append(spec.Configs, wire.Config{Key: c.Key, Knobs: c.Knobs})
	}
	return spec
}

// setting is c's process-wide knobs without the model (the worker's wire.Spec.Process).
func setting(c Config) knobs.Knobs {
	p := c.PerProcess()
	p.Model, p.Inputs = "", nil
	return p
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// IterShare is slot w's (1-based, of W) share of iters timed iterations: the shares add
// up to iters exactly (the first iters%W slots take one more), so that --iters 100 with 3
// workers times 34+33+33 iterations, not 3x34. A slot always times at least one (with
// fewer iterations than workers the total is W).
func IterShare(iters, W, w int) int {
	if W < 1 {
		return max(1, iters)
	}
	share := iters / W
	if w-1 < iters%W {
		share++
	}
	return max(1, share)
}

func orDefault(v, d float64) float64 {
	if v > 0 {
		return v
	}
	return d
}

func shortHash(s string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return fmt.Sprintf("%06x", h&0xffffff)
}

// runWorker runs one worker process holding cs. It returns each configuration's record
// in this worker (failed records for those the worker could not measure), the
// preprocessing timings asked for (by model), why the process failed ("" when it did not), and the
// configurations to run again in a fresh worker: when the process died while preparing
// one configuration, that one is recorded as failed and the others it had not measured
// yet are handed back; when it died measuring (or finishing) configurations of several
// models, which model crashed is unknown: every configuration without a record is handed
// back with byModel set (run each model's in a worker of its own).
func (rn *Runner) runWorker(ctx context.Context, cs []Config, w int, preprocess []string, split *Split) (got map[string]*record.Record, pp map[string]*record.Preprocess, failed string, rerun []Config, byModel bool) {
	timeout := rn.Timeout
	if timeout == 0 {
		timeout = time.Duration(rn.Preset.TimeoutSeconds * float64(time.Second))
	}
	timeout *= time.Duration(len(cs)) // each configuration's own limit
	spec := rn.workerSpec(cs, w, preprocess)
	got, pp = map[string]*record.Record{}, map[string]*record.Preprocess{}
	fail := func(c Config, why string) {
		r := c.record()
		r.Status, r.Error, r.Timestamp = record.StatusFailed, why, time.Now().UTC().Format(time.RFC3339)
		r.Runs = []record.Run{{Worker: spec.Worker, Status: record.StatusFailed, Error: why}}
		got[c.Key] = r
	}
	var last string
	measuring := false
	var times *wire.Times
	t0 := time.Now()
	printed, err := rn.startWorker(ctx, spec, timeout, func(m wire.Message) {
		switch {
		case m.Prepare != "":
			last = m.Prepare
		case m.Measuring:
			measuring = true
		case m.Record != nil:
			r := m.Record
			if !r.OK() && len(r.Runs) == 0 {
				r.Runs = []record.Run{{Worker: spec.Worker, Status: record.StatusFailed, Error: r.Error}}
			}
			got[m.Key] = r
		case m.Preprocess != nil:
			pp[m.Model] = m.Preprocess
		case m.Times != nil:
			times = m.Times
		}
	})
	if took := time.Since(t0); times != nil {
		// What the process took beyond its own work: exec, Go and libtorch start-up, exit.
		start := max(0, ms(took)-times.TotalMs)
		split.add(*times, start)
		for _, r := range got {
			for i := range r.Runs {
				r.Runs[i].StartMs = start
			}
		}
	}
	if out := bytes.TrimSpace(printed); len(out) > 0 {
		for _, r := range got {
			if r.OK() {
				r.Notes = append(r.Notes, "the model printed on stdout (kept apart from the result): "+child.FirstLine(out))
			}
		}
	}
	if ctx.Err() != nil || err == nil {
		for _, c := range cs {
			if got[c.Key] == nil && ctx.Err() == nil {
				fail(c, "the worker process ended without a result for it")
			}
		}
		return got, pp, "", nil, false
	}
	failed = err.Error()
	if measuring && len(modelsOf(cs)) > 1 {
		for _, c := range cs {
			if got[c.Key] == nil {
				rerun = append(rerun, c)
			}
		}
		return got, pp, failed, rerun, true
	}
	for _, c := range cs {
		switch {
		case got[c.Key] != nil:
		case !measuring && c.Key == last:
			fail(c, failed+" (while preparing it)")
		case !measuring && last != "":
			rerun = append(rerun, c) // not its fault: measure it in a fresh worker
		default:
			fail(c, failed+" (worker process held "+strconv.Itoa(len(cs))+" configurations)")
		}
	}
	return got, pp, failed, rerun, false
}

// startWorker runs `Exe sweep-worker` with spec on stdin, calls f with each message of
// its result descriptor, and returns what the worker printed on stdout (the model's
// output, at most its tail) and why the process failed (nil when it exited 0).
func (rn *Runner) startWorker(ctx context.Context, spec wire.Spec, timeout time.Duration, f func(wire.Message)) (stdoutTail []byte, err error) {
	in, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	ch := child.Run(ctx, child.Cmd{Exe: rn.Exe, Args: append([]string{"sweep-worker"}, spec.Process.ProcessArgs()...),
		Env: workerEnv(spec.Process.AtStart()), Stdin: bytes.NewReader(in), Timeout: timeout, Read: func(r io.Reader) error { return wire.Read(r, f) }})
	switch {
	case ch.TimedOut:
		return ch.Stdout, fmt.Errorf("timed out after %s (timeout_seconds x %d configurations); killed", timeout, len(spec.Configs))
	case ch.Err != nil:
		if why, ok := ch.Failure(); ok {
			return ch.Stdout, errors.New(why)
		}
		if !ch.Started {
			return ch.Stdout, fmt.Errorf("could not run perflab sweep-worker: %v", ch.Err)
		}
		return ch.Stdout, fmt.Errorf("perflab sweep-worker: %v", ch.Err)
	case ch.ReadErr != nil:
		return ch.Stdout, ch.ReadErr
	}
	return ch.Stdout, nil
}

// workerEnv is the environment a worker with the CPU knobs k starts in: the parent's,
// with the variables the knobs set (LD_PRELOAD of the allocator, OpenMP's), so that the
// worker finds them in place and does not re-execute itself (procknob.Apply: a second
// exec and libtorch start-up, ~0.45 s here). A CPU list to pin to is left to the worker's
// re-execution, which also sets the affinity; nil (the parent's environment) when no
// knob sets anything.
func workerEnv(k procknob.Knobs) []string {
	if p, err := procknob.ParsePin(k.Pin); err != nil || len(p.CPUs) > 0 || (k.Allocator == "" && k.OMPWait == "" && !p.Cores) {
		return nil
	}
	return k.Environ(os.Environ())
}

// readPart reads the sidecar of the run whose identity is id. stale: the file holds another
// run's (or no identity line first): nothing of it is returned.
func readPart(path, id string) (runs map[slotKey]*record.Record, prep map[string]*record.Preprocess, stale bool, err error) {
	runs = map[slotKey]*record.Record{}
	prep = map[string]*record.Preprocess{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return runs, prep, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	first := true
	for {
		line, err := br.ReadBytes('\n')
		if first {
			first = false
			var pl partLine
			if len(line) == 0 && err == io.EOF {
				return runs, prep, false, nil // empty: a new sidecar
			}
			if json.Unmarshal(line, &pl) != nil || pl.Run == "" || pl.Run != id {
				return map[slotKey]*record.Record{}, map[string]*record.Preprocess{}, true, nil
			}
			continue
		}
		if len(bytes.TrimSpace(line)) > 0 && bytes.HasSuffix(line, []byte("\n")) { // a cut last line is dropped
			var pl partLine
			if json.Unmarshal(line, &pl) == nil {
				switch {
				case pl.Preprocess != nil:
					prep[pl.Model] = pl.Preprocess
				case pl.Record != nil && pl.Key != "" && pl.Slot > 0:
					runs[slotKey{pl.Key, pl.Repeat, pl.Slot}] = pl.Record
				}
			}
		}
		if err == io.EOF {
			return runs, prep, false, nil
		}
		if err != nil {
			return nil, nil, false, err
		}
	}
}

func appendPart(path string, pl partLine) error {
	b, err := json.Marshal(pl)
	if err != nil {
		return err
	}
	return record.AppendLine(path, append(b, '\n'))
}

// MergeRuns makes a configuration's record from its runs (one record per worker process,
// failed ones included): the pooled samples give the percentiles and the within-run
// order-statistic CIs (latency_ci); the runs' own percentiles give the between-process
// intervals (latency_runs_ci, latency_next_pi, throughput_runs_ci); Runs lists every
// process. With no successful run the record is failed, with each process's reason.
func MergeRuns(c Config, rs []*record.Record, pre *record.Preprocess) *record.Record {
	var ok []*record.Record
	var runs []record.Run
	var whys []string
	for _, r := range rs {
		if r == nil {
			continue
		}
		if r.OK() {
			ok = append(ok, r)
		} else if !slices.Contains(whys, r.Error) {
			whys = append(whys, r.Error)
		}
		runs = append(runs, r.Runs...)
	}
	if len(ok) == 0 {
		out := c.record()
		out.Status, out.Error, out.Timestamp = record.StatusFailed, strings.Join(whys, "; "), time.Now().UTC().Format(time.RFC3339)
		if len(rs) > 0 && rs[0] != nil {
			out.Timestamp = rs[0].Timestamp
		}
		out.Runs = runs
		return out
	}
	out := *ok[0]
	out.Runs = runs
	refs := make([]*record.Reference, len(ok))
	for i, r := range ok {
		refs[i] = r.Reference
	}
	out.Reference = record.MergeReferences(refs) // the machine's speed over the workers
	out.Notes, out.Warnings = nil, nil
	var all []float64
	var wall float64
	reasons := map[string]int{}
	for _, r := range ok {
		all = append(all, r.SamplesMs...)
		wall += r.WallMs
		reasons[r.StopReason]++
		if r.Correctness != nil && !r.Correctness.OK {
			out.Correctness = r.Correctness
		}
		for _, n := range r.Notes {
			if !strings.HasPrefix(n, "no ") && !strings.HasPrefix(n, "worker ") && !slices.Contains(out.Notes, n) {
				out.Notes = append(out.Notes, n)
			}
		}
		for _, w := range r.Warnings {
			if !strings.HasPrefix(w, "noisy run") && !slices.Contains(out.Warnings, w) {
				out.Warnings = append(out.Warnings, w)
			}
		}
	}
	s := stats.Summarize(all, stats.Confidence)
	out.SamplesMs = all
	out.Iters = s.N
	out.LatencyP50, out.LatencyP90, out.LatencyP95, out.LatencyP99 = s.P50, s.P90, s.P95, s.P99
	out.LatencyMean, out.LatencyMin, out.LatencyMax, out.LatencyStd = s.Mean, s.Min, s.Max, 0
	if s.N > 1 {
		out.LatencyStd = s.Stddev
	}
	out.LatencyCI = nil
	if len(s.CI) > 0 {
		out.LatencyCI = s.CI
	}
	out.IQROverMedian = 0
	if v := s.IQROverMedian(); !math.IsNaN(v) && !math.IsInf(v, 0) {
		out.IQROverMedian = v
	}
	out.ForwardMsPerBatch = s.Mean
	out.WallMs = wall
	if wall > 0 {
		out.ThroughputRPS = float64(out.BatchSize*s.N) / (wall / 1e3)
	}
	out.StopReason = ok[0].StopReason
	for r, n := range reasons {
		if n > reasons[out.StopReason] {
			out.StopReason = r
		}
	}
	if pre != nil {
		out.Preprocess = pre
	}
	out.LatencyRunsCI, out.LatencyNextPI, out.ThroughputRunsCI = nil, nil, nil
	var tput []float64
	for _, r := range runs {
		if r.OK() {
			tput = append(tput, r.ThroughputRPS)
		}
	}
	for _, p := range stats.PercentileNames {
		var v []float64
		for _, r := range runs {
			if r.OK() {
				v = append(v, r.Pct(p))
			}
		}
		if rs, ok := stats.SummarizeRuns(v, stats.Confidence); ok {
			if out.LatencyRunsCI == nil {
				out.LatencyRunsCI, out.LatencyNextPI = map[string]stats.CI{}, map[string]stats.CI{}
			}
			out.LatencyRunsCI[p], out.LatencyNextPI[p] = rs.Mean, rs.Next
		}
	}
	if rs, ok := stats.SummarizeRuns(tput, stats.Confidence); ok {
		out.ThroughputRunsCI = &rs.Mean
	}
	rounds := 0
	for _, r := range runs {
		rounds += r.Rounds
	}
	out.Notes = append(out.Notes, fmt.Sprintf("measured in %d worker %s side by side with the other configurations of its process-wide setting (%d rounds in all)",
		len(ok), textfmt.Plural(len(ok), "process", "processes"), rounds))
	if len(ok) < len(runs) {
		out.Notes = append(out.Notes, fmt.Sprintf("%d of %d worker processes failed: %s", len(runs)-len(ok), len(runs), strings.Join(whys, "; ")))
	}
	if out.LatencyRunsCI == nil {
		out.Notes = append(out.Notes, fmt.Sprintf("no between-process interval: it needs >= %d successful worker processes (have %d)", stats.MinRuns, len(ok)))
	}
	for _, p := range stats.Percentiles {
		if _, ok := s.CI[p.Name]; !ok {
			out.Notes = append(out.Notes, fmt.Sprintf("no 95%% within-run CI for %s: it needs >= %d pooled iterations (have %d)", p.Name, stats.MinSamplesForQuantileCI(p.Q, stats.Confidence), s.N))
		}
	}
	if out.IQROverMedian > stats.NoisyIQROverMedian {
		out.Warnings = append(out.Warnings, fmt.Sprintf("noisy: IQR/median of the pooled samples = %.0f%% (> %.0f%%); the machine was busy: rerun or raise --iters", out.IQROverMedian*100, stats.NoisyIQROverMedian*100))
	}
	if out.Key() != c.Key {
		out.Notes = append(out.Notes, "applied configuration differs from the planned one: "+c.Key)
	}
	return &out
}
