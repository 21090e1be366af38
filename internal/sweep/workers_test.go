package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"path/filepath"
	"slices"

	"github.com/perflab/perflab/internal/child"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/wire"
)

// fakeWorkerEnv makes the test binary act as `perflab sweep-worker` (see TestMain): a
// stand-in that speaks the real protocol on the real descriptor, and misbehaves by model:
//
//	crashprep.pt  is killed (SIGKILL, as the OOM killer does) while preparing its b2 compile=on configuration
//	crashrun.pt   dies after the rounds started
//	noisy prints junk on stdout (what a model's print() does) in every case.
const fakeWorkerEnv = "PERFLAB_FAKE_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(fakeWorkerEnv) == "1" && len(os.Args) > 1 && os.Args[1] == "sweep-worker" {
		os.Exit(fakeWorker())
	}
	os.Exit(m.Run())
}

func fakeWorker() int {
	began := time.Now()
	var spec wire.Spec
	if err := json.NewDecoder(os.Stdin).Decode(&spec); err != nil {
		fmt.Fprintln(os.Stderr, "perflab: bad spec:", err)
		return 2
	}
	w := wire.NewWriter(os.NewFile(child.ResultFD, "results"))
	fmt.Println("{not a record: a model printed this}")
	for _, c := range spec.Configs {
		w.Send(wire.Message{Prepare: c.Key})
		if c.Model == "crashprep.pt" && c.BatchSize == 2 && c.Compile == "on" {
			fmt.Fprintln(os.Stderr, "native crash in prepare")
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Second)
		}
	}
	w.Send(wire.Message{Measuring: true})
	if spec.Process.Model != "" {
		fmt.Fprintln(os.Stderr, "perflab: the spec's process-wide setting names a model:", spec.Process.Model)
		return 2
	}
	for _, c := range spec.Configs {
		if c.Model == "crashrun.pt" {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Second)
		}
	}
	slot := spec.Worker[strings.LastIndex(spec.Worker[:strings.LastIndex(spec.Worker, ".")], ".")+1:]
	for i, c := range spec.Configs {
		v := float64(c.BatchSize) * (1 + 0.01*float64(len(slot)+i%2)) // per-process differences
		if strings.HasPrefix(slot, "2") {
			v *= 1.03
		}
		samples := make([]float64, spec.MinIters)
		for k := range samples {
			samples[k] = v * (1 + 0.001*float64(k%7))
		}
		r := &record.Record{SchemaVersion: 1, Mode: "bench", Status: "ok", Knobs: knobs.Knobs{Model: c.Model, Inputs: c.Inputs, Device: "cpu", BatchSize: c.BatchSize, Compile: c.Compile, Threads: spec.Process.Threads, InteropThreads: spec.Process.InteropThreads},
			CompileApplied: c.Compile == "on",
			SamplesMs:      samples, LatencyP50: v, LatencyP90: v, LatencyP95: v, LatencyP99: v, ThroughputRPS: 1000 / v, WallMs: v * float64(len(samples)),
			Iters: len(samples), StopReason: "iters", Notes: []string{"worker " + spec.Worker + ": 3 rounds"},
			Runs: []record.Run{{Worker: spec.Worker, Status: "ok", Iters: len(samples), Rounds: 3, P50: v, P90: v, P95: v, P99: v, ThroughputRPS: 1000 / v}}}
		w.Send(wire.Message{Key: c.Key, Record: r})
	}
	if spec.PreprocessIters > 0 {
		for _, m := range spec.PreprocessModels {
			w.Send(wire.Message{Model: m, Preprocess: &record.Preprocess{Image: "synthetic", Iters: spec.PreprocessIters, P50: 1, P95: 2, Mean: 1}})
		}
	}
	time.Sleep(20 * time.Millisecond) // "timed"
	total := float64(time.Since(began).Microseconds()) / 1e3
	w.Send(wire.Message{Times: &wire.Times{TotalMs: total, TimedMs: 20, ReferenceMs: 1, PrepareMs: total - 21, Prepared: len(spec.Configs)}})
	return 0
}

func workerRunner(t *testing.T, p *Preset, out string) *Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeWorkerEnv, "1")
	return &Runner{Preset: p, Exe: exe, Out: out, OrderSeed: 5, Workers: 3, PreprocessIters: 5}
}

func TestWorkerSweep(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [ok.pt, crashprep.pt, crashrun.pt]\n  inputs: ['float32[B,3,8,8]']\n  batch_size: [1, 2]\n  compile: [off, on]\n")
	plan, err := p.MakePlan(PlanOptions{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "s.jsonl")
	rn := workerRunner(t, p, out)
	var events []WorkerEvent
	rn.WorkerProgress = func(e WorkerEvent) { events = append(events, e) }
	res, err := rn.Run(context.Background(), plan, nil)
	if err != nil {
		t.Fatal(err)
	}
	// ok.pt: 4 ok; crashprep.pt: 3 ok (its crashing configuration failed, the others rerun
	// in a fresh worker); crashrun.pt: 4 failed, and only its own: the three models share
	// one setting, so one worker per slot holds all 12 configurations; it dies preparing
	// crashprep.pt's b2 compile=on, the 11 others rerun together, that worker dies
	// measuring (crashrun.pt), and they run again one model per worker.
	if res.Done != 7 || res.Failed != 5 {
		t.Fatalf("result %+v", res)
	}
	var held []string
	for _, e := range events {
		if e.Slot == 1 {
			held = append(held, fmt.Sprintf("%d:%s", e.Configs, strings.Join(e.Models, "+")))
		}
	}
	if len(events) != 15 || len(held) != 5 || held[0] != "12:"+strings.Join(modelsOf(plan.Configs), "+") || !strings.HasPrefix(held[1], "11:") ||
		!strings.Contains(strings.Join(held[2:], " "), "4:ok.pt") || !strings.Contains(strings.Join(held[2:], " "), "3:crashprep.pt") || !strings.Contains(strings.Join(held[2:], " "), "4:crashrun.pt") {
		t.Errorf("%d worker processes (want 15), slot 1's held %v (want 12 of all models, 11, then one model each: 4, 3, 4)", len(events), held)
	}
	recs, err := record.ReadFile(out, func(le *record.LineError) { t.Errorf("bad line: %v", le) })
	if err != nil || len(recs) != 12 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	// The split: the 6 workers that ended normally reported their times (ok.pt's 3 and
	// crashprep.pt's 3 reruns), the crashed ones' time is in other; the parts add up.
	s := res.Split
	if s == nil || s.Workers != 6 || s.TimedMs != 6*20 || s.ReferenceMs != 6 || s.StartMs <= 0 || s.OtherMs < 0 {
		t.Fatalf("split %+v", s)
	}
	if sum := s.TimedMs + s.WarmupMs + s.PrepareMs + s.StartMs + s.ReferenceMs + s.OtherMs; math.Abs(sum-s.WallMs) > 0.001 {
		t.Errorf("split parts add up to %g ms, wall %g ms", sum, s.WallMs)
	}
	if _, err := os.Stat(PartFile(out)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sidecar %s is left after a complete sweep", PartFile(out))
	}
	workers := map[string]map[string]bool{} // model -> worker ids
	for _, r := range recs {
		if len(r.Runs) != 3 {
			t.Errorf("%s: %d runs, want 3", r.Key(), len(r.Runs))
		}
		if r.Preset != "t" || r.OrderSeed != 5 || r.Repeat != 1 {
			t.Errorf("%s: sweep fields %q %d %d", r.Key(), r.Preset, r.OrderSeed, r.Repeat)
		}
		for _, run := range r.Runs {
			if workers[r.Model] == nil {
				workers[r.Model] = map[string]bool{}
			}
			workers[r.Model][run.Worker] = true
		}
		switch {
		case r.Model == "crashrun.pt":
			if r.OK() || !strings.Contains(r.Error, "crashed: killed by signal killed") || !strings.Contains(r.Error, "held 4 configurations") {
				t.Errorf("%s: status %s error %q", r.Key(), r.Status, r.Error)
			}
		case r.Model == "crashprep.pt" && r.BatchSize == 2 && r.Compile == "on":
			if r.OK() || !strings.Contains(r.Error, "while preparing it") || !strings.Contains(r.Error, "crashed: killed by signal killed: native crash in prepare") {
				t.Errorf("%s: status %s error %q", r.Key(), r.Status, r.Error)
			}
		default:
			if !r.OK() {
				t.Errorf("%s: %s", r.Key(), r.Error)
				continue
			}
			if r.Iters != 3*24 || len(r.SamplesMs) != 72 || r.LatencyCI["p95"].Hi == 0 {
				t.Errorf("%s: pooled %d iters, %d samples, CI %v", r.Key(), r.Iters, len(r.SamplesMs), r.LatencyCI)
			}
			ci, ok := r.LatencyRunsCI["p95"]
			if !ok || !(ci.Lo < r.LatencyP95 && r.LatencyP95 < ci.Hi) || r.LatencyNextPI["p95"].Hi <= ci.Hi || r.ThroughputRunsCI == nil {
				t.Errorf("%s: between-process CI %v (p95 %g), next %v", r.Key(), ci, r.LatencyP95, r.LatencyNextPI["p95"])
			}
			if r.Preprocess == nil || r.Preprocess.Iters != 5 {
				t.Errorf("%s: preprocessing %+v, want the model's one timing", r.Key(), r.Preprocess)
			}
			for _, n := range r.Notes {
				if strings.HasPrefix(n, "worker ") {
					t.Errorf("%s: per-worker note kept: %q", r.Key(), n)
				}
			}
		}
	}
	if n := len(workers["ok.pt"]); n != 3 {
		t.Errorf("ok.pt's configurations saw %d worker ids, want 3 shared ones", n)
	}
}

func TestWorkerSweepResume(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [a.pt, b.pt]\n  inputs: ['float32[B,8]']\n  batch_size: [1, 2]\n")
	plan, err := p.MakePlan(PlanOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "s.jsonl")
	rn := workerRunner(t, p, out)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	rn.WorkerProgress = func(e WorkerEvent) {
		if len(e.Models) != 2 || e.Configs != 4 {
			t.Errorf("worker %d/%d held %d configurations of %v, want 4 of a.pt and b.pt (one setting)", e.Slot, e.Workers, e.Configs, e.Models)
		}
		if n++; n == 2 {
			cancel()
		}
	}
	res, err := rn.Run(ctx, plan, nil)
	if err != nil || !res.Interrupted {
		t.Fatalf("interrupted run: %+v, %v", res, err)
	}
	if _, err := os.Stat(PartFile(out)); err != nil {
		t.Fatalf("no sidecar after an interrupted sweep: %v", err)
	}
	done, err := Done(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	rn = workerRunner(t, p, out)
	n = 0
	rn.WorkerProgress = func(WorkerEvent) { n++ }
	res, err = rn.Run(context.Background(), plan, done)
	if err != nil || res.Interrupted || res.Done != 4 {
		t.Fatalf("resumed run: %+v, %v", res, err)
	}
	if n != 1 {
		t.Errorf("the resumed sweep ran %d worker processes, want 1 (3 planned, 2 kept)", n)
	}
	recs, _ := record.ReadFile(out, nil)
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	workers := map[string]string{} // model -> its runs' workers
	for _, r := range recs {
		if len(r.Runs) != 3 || !r.OK() {
			t.Errorf("%s: %d runs, status %s", r.Key(), len(r.Runs), r.Status)
		}
		if r.Preprocess == nil {
			t.Errorf("%s: no preprocessing timing (each model's is asked of the worker holding it)", r.Key())
		}
		var ids []string
		for _, run := range r.Runs {
			ids = append(ids, run.Worker)
		}
		workers[r.Model] = strings.Join(ids, ",")
	}
	if workers["a.pt"] != workers["b.pt"] {
		t.Errorf("a.pt ran in workers %s, b.pt in %s: one setting, so the same processes", workers["a.pt"], workers["b.pt"])
	}
}

func TestProcessKeyGroups(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [resnet18]\n  batch_size: [1, 4]\n  threads: [1, 2]\n  compile: [off, on]\n  channels_last: [false, true]\n  onednn_isa: [default, avx2]\n")
	cfgs, _, err := p.Expand(PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	for _, c := range cfgs {
		groups[c.ProcessKey()]++
	}
	if len(cfgs) != 32 || len(groups) != 4 {
		t.Fatalf("%d configs in %d process settings, want 32 in 4 (threads x isa)", len(cfgs), len(groups))
	}
	for k, n := range groups {
		if n != 8 {
			t.Errorf("%s holds %d configurations, want 8 (batch x compile x channels_last)", k, n)
		}
	}
}

// TestShardsBySetting: with at least as many process-wide settings as shards, a shard holds
// whole settings, so that its configurations are still measured side by side.
func TestShardsBySetting(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [resnet18]\n  batch_size: [1, 4]\n  threads: [1, 2]\n  compile: [off, on]\n")
	seen := map[string]int{}
	for i := 1; i <= 2; i++ {
		pl, err := p.MakePlan(PlanOptions{Shard: i, Shards: 2, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		settings := map[string]bool{}
		for _, c := range pl.Configs {
			settings[c.ProcessKey()] = true
			seen[c.Key]++
		}
		if len(pl.Configs) != 4 || len(settings) != 1 {
			t.Errorf("shard %d: %d configurations over %d settings, want 4 of one", i, len(pl.Configs), len(settings))
		}
	}
	if len(seen) != 8 {
		t.Errorf("shards cover %d configurations, want 8", len(seen))
	}
}

// TestWorkerSweepStaleSidecar: a sweep stopped after some workers, then a model file
// replaced: the next sweep (resumed or not) must not record the old file's runs as the new
// file's (issue 21: the stale sidecar recorded the OLD model as ok). A sidecar of another
// plan, or without an identity line (a forged or old one), is not reused either.
func TestWorkerSweepStaleSidecar(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.pt")
	os.WriteFile(a, []byte("model v1"), 0o644)
	p := mustParse(t, "name: t\ngrid:\n  models: ["+a+"]\n  inputs: ['float32[B,8]']\n  batch_size: [1, 2]\n")
	plan, err := p.MakePlan(PlanOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(out string) // between the interrupted run and the next
		kept   bool             // the sidecar's runs are reused
	}{
		{"same run resumes", func(string) {}, true},
		{"model replaced", func(string) { os.WriteFile(a, []byte("model v2: garbage"), 0o644) }, false},
		{"forged sidecar without identity", func(out string) {
			b, _ := os.ReadFile(PartFile(out))
			_, rest, _ := strings.Cut(string(b), "\n")
			os.WriteFile(PartFile(out), []byte(rest), 0o644)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(a, []byte("model v1"), 0o644)
			out := filepath.Join(t.TempDir(), "s.jsonl")
			rn := workerRunner(t, p, out)
			ctx, cancel := context.WithCancel(context.Background())
			rn.WorkerProgress = func(WorkerEvent) { cancel() } // stop after the first worker
			if res, err := rn.Run(ctx, plan, nil); err != nil || !res.Interrupted {
				t.Fatalf("interrupted run: %+v, %v", res, err)
			}
			tt.change(out)
			rn = workerRunner(t, p, out)
			n, stale := 0, ""
			rn.WorkerProgress = func(WorkerEvent) { n++ }
			rn.Stale = func(part string) { stale = part }
			if _, err := rn.Run(context.Background(), plan, nil); err != nil {
				t.Fatal(err)
			}
			want := 3
			if tt.kept {
				want = 2
			}
			if n != want || (stale != "") == tt.kept {
				t.Errorf("%d worker processes (want %d), stale sidecar said: %q", n, want, stale)
			}
		})
	}
}

// TestWorkerSweepBusySidecar: two sweeps writing the same file never share its sidecar:
// the second one stops at once with a one-line reason.
func TestWorkerSweepBusySidecar(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [ok.pt]\n  inputs: ['float32[B,8]']\n")
	plan, err := p.MakePlan(PlanOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "s.jsonl")
	held, err := lockPart(PartFile(out))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = workerRunner(t, p, out).Run(context.Background(), plan, nil)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "give another --out") {
		t.Fatalf("err %v, want ErrBusy", err)
	}
	if recs, _ := record.ReadFile(out, nil); len(recs) != 0 {
		t.Errorf("%d records written by the second sweep", len(recs))
	}
}

// TestDoneForModelFile: --resume counts a record as done only when it was measured on the
// model file as it is now.
func TestDoneForModelFile(t *testing.T) {
	out := filepath.Join(t.TempDir(), "s.jsonl")
	r := &record.Record{SchemaVersion: record.SchemaVersion, Mode: "bench", Status: record.StatusOK, ModelSHA256: "old"}
	r.Model, r.BatchSize, r.Threads = "m.pt", 1, 1
	record.AppendFile(out, r)
	for shas, want := range map[*map[string]string]int{{"m.pt": "old"}: 1, {"m.pt": "new"}: 0, {}: 1} {
		done, err := DoneFor(out, *shas, nil)
		if err != nil || done[r.Key()] != want {
			t.Errorf("shas %v: done %v, want %d (%v)", *shas, done, want, err)
		}
	}
}

// --iters is the number of timed iterations of a configuration across its workers.
func TestIterShareAddsUp(t *testing.T) {
	for _, tc := range []struct{ iters, workers, want int }{
		{100, 3, 100}, {200, 3, 200}, {10, 4, 10}, {7, 1, 7}, {3, 3, 3}, {1000, 7, 1000},
		{2, 3, 3}, // fewer iterations than workers: one each
	} {
		total := 0
		for w := 1; w <= tc.workers; w++ {
			total += IterShare(tc.iters, tc.workers, w)
		}
		if total != tc.want {
			t.Errorf("--iters %d over %d workers: %d timed iterations, want %d", tc.iters, tc.workers, total, tc.want)
		}
	}
}

// The progress line counts the worker processes that run: on a resumed sweep, those still
// missing (3 of the 6 planned), not the plan's.
func TestWorkerProgressCountsOnlyProcessesThatRun(t *testing.T) {
	p := mustParse(t, "name: t\ngrid:\n  models: [a.pt, b.pt]\n  inputs: ['float32[B,8]']\n  batch_size: [1, 2]\n  threads: [1, 2]\n")
	plan, err := p.MakePlan(PlanOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "s.jsonl")
	var events []WorkerEvent
	rn := workerRunner(t, p, out)
	ctx, cancel := context.WithCancel(context.Background())
	rn.WorkerProgress = func(e WorkerEvent) {
		if events = append(events, e); len(events) == 3 {
			cancel()
		}
	}
	if _, err := rn.Run(ctx, plan, nil); err != nil {
		t.Fatal(err)
	}
	done, err := Done(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	events = nil
	rn = workerRunner(t, p, out)
	rn.WorkerProgress = func(e WorkerEvent) { events = append(events, e) }
	if _, err := rn.Run(context.Background(), plan, done); err != nil {
		t.Fatal(err)
	}
	for i, e := range events {
		if e.Done != i+1 || e.Total != len(events) {
			t.Errorf("progress (%d/%d) at process %d of %d run", e.Done, e.Total, i+1, len(events))
		}
	}
	if len(events) != 3 {
		t.Errorf("%d processes ran, want 3", len(events))
	}
}

// TestWorkerEnv: a worker starts with the environment its CPU knobs need, so that it does
// not re-execute itself to get it; a CPU list is left to the re-execution (it also sets
// the affinity), and no knob leaves the parent's environment as it is.
func TestWorkerEnv(t *testing.T) {
	t.Setenv("OMP_WAIT_POLICY", "")
	os.Unsetenv("OMP_WAIT_POLICY")
	cases := []struct {
		name string
		k    knobs.Knobs
		want []string // variables that must be set; nil = the parent's environment (nil)
	}{
		{"none", knobs.Knobs{}, nil},
		{"passive", knobs.Knobs{OMPWait: "passive"}, []string{"OMP_WAIT_POLICY=PASSIVE", "GOMP_SPINCOUNT=0"}},
		{"active", knobs.Knobs{OMPWait: "active"}, []string{"OMP_WAIT_POLICY=ACTIVE", "GOMP_SPINCOUNT=infinite"}},
		{"cores", knobs.Knobs{Pin: "cores"}, []string{"OMP_PROC_BIND=close", "OMP_PLACES=cores"}},
		{"cpu list", knobs.Knobs{Pin: "0"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := workerEnv(tc.k.AtStart())
			if tc.want == nil {
				if env != nil {
					t.Fatalf("workerEnv = %d variables, want nil (the parent's environment)", len(env))
				}
				return
			}
			for _, kv := range tc.want {
				if !slices.Contains(env, kv) {
					t.Errorf("workerEnv lacks %s", kv)
				}
			}
			if !slices.Contains(env, "PATH="+os.Getenv("PATH")) {
				t.Errorf("workerEnv dropped the parent's PATH")
			}
		})
	}
}
