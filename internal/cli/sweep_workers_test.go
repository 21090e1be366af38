package cli

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/sweep"
	"github.com/perflab/perflab/internal/testutil"
)

// TestSweepWorkersEndToEnd: a real sweep in worker processes (perflab sweep-worker, real
// libtorch): one record per configuration with its 3 runs and between-process
// intervals, paired knob effects in the report, the time split (each model's module
// prepared once per compile setting and worker, reused by the other batch size), two
// models of one thread setting in the same 3 worker processes, and a resume that finds
// it done.
func TestSweepWorkersEndToEnd(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	conv, linear := testutil.Fixture(t, "conv.pt"), testutil.Fixture(t, "linear.pt")
	dir := t.TempDir()
	preset := filepath.Join(dir, "p.yaml")
	doc := fmt.Sprintf("name: p\niters: 31\nwarmup: 2\nmax_seconds: 1\ngrids:\n"+
		"  - {models: [%s], inputs: ['float32[B,3,16,16]'], batch_size: [1, 2], threads: [1], compile: [off, on]}\n"+
		"  - {models: [%s], inputs: ['float32[B,8]'], batch_size: [1], threads: [1], compile: [off]}\n", conv, linear)
	if err := os.WriteFile(preset, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "s.jsonl")
	began := time.Now()
	r := runPerflab(t, nil, "sweep", "--preset", preset, "--out", out, "--progress", "lines")
	took := time.Since(began)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	checkSplit(t, out, r.stderr, took)
	if !strings.Contains(r.stderr, "3 worker processes per process-wide setting") || strings.Count(r.stderr, "5 configurations side by side") != 3 {
		t.Errorf("progress does not show 3 workers of 5 configurations (both models):\n%s", r.stderr)
	}
	recs, err := record.ReadFile(out, nil)
	if err != nil || len(recs) != 5 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	workersOf := map[string]string{} // model -> its runs' workers
	for _, rec := range recs {
		var ids []string
		for _, run := range rec.Runs {
			ids = append(ids, run.Worker)
		}
		workersOf[rec.Model] = strings.Join(ids, ",")
	}
	if len(workersOf) != 2 || workersOf[conv] != workersOf[linear] {
		t.Errorf("workers by model %v: want both models in the same 3 processes", workersOf)
	}
	for _, rec := range recs {
		if !rec.OK() || len(rec.Runs) != 3 || rec.LatencyRunsCI["p95"].Hi == 0 || rec.LatencyNextPI["p50"].Hi == 0 || rec.Preset != "p" {
			t.Errorf("%s: status %s (%s), %d runs, runs CI %v", rec.Key(), rec.Status, rec.Error, len(rec.Runs), rec.LatencyRunsCI)
		}
		// iters: 31 over 3 workers is 11+10+10 timed iterations, not 3x11.
		if rec.Iters != len(rec.SamplesMs) || rec.Iters != 31 {
			t.Errorf("%s: %d iters, %d samples", rec.Key(), rec.Iters, len(rec.SamplesMs))
		}
	}
	// Per worker, one of the two batch sizes of each compile setting prepared its module
	// and the other reused it.
	shared := map[string]int{} // worker -> runs that reused a module
	byKey := map[string]*record.Record{}
	for _, rec := range recs {
		byKey[rec.Key()] = rec
	}
	for _, rec := range recs {
		for _, run := range rec.Runs {
			if run.PreparedWith != "" {
				shared[run.Worker]++
				if src := byKey[run.PreparedWith]; src == nil || src.Compile != rec.Compile || src.BatchSize == rec.BatchSize {
					t.Errorf("%s reuses the module of %q: want the same compile at the other batch size", rec.Key(), run.PreparedWith)
				}
			}
			if run.TimedMs <= 0 || run.StartMs <= 0 || run.WarmupStop == "" {
				t.Errorf("%s run %s: timed_ms %g, start_ms %g, warmup_stop %q", rec.Key(), run.Worker, run.TimedMs, run.StartMs, run.WarmupStop)
			}
		}
	}
	if len(shared) != 3 {
		t.Errorf("reused modules by worker %v, want 2 in each of 3 workers", shared)
	}
	for w, n := range shared {
		if n != 2 {
			t.Errorf("worker %s: %d configurations reused a module, want 2 (one per compile setting)", w, n)
		}
	}
	r = runPerflab(t, nil, "sweep", "--preset", preset, "--out", out, "--resume", "--progress", "none")
	if r.code != 0 || !strings.Contains(r.stderr, "0 configurations to run (5 already in") {
		t.Errorf("resume: %d %s", r.code, r.stderr)
	}
	md := filepath.Join(dir, "rep.md")
	r = runPerflab(t, nil, "report", "--input", out, "--out", md, "--no-plots", "--json")
	if r.code != 0 {
		t.Fatalf("report: %d %s", r.code, r.stderr)
	}
	var j struct {
		Recommendations []struct {
			LatencyRunsCI *struct{ Lo, Hi float64 } `json:"latency_runs_ci"`
			Processes     int                       `json:"processes"`
		} `json:"recommendations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || len(j.Recommendations) != 2 || j.Recommendations[0].LatencyRunsCI == nil || j.Recommendations[0].Processes != 3 {
		t.Errorf("report --json: %v\n%s", err, r.stdout)
	}
	b, _ := os.ReadFile(md)
	if !strings.Contains(string(b), "compile on:") || !strings.Contains(string(b), "paired in 6 worker processes over 2 pairs") {
		t.Errorf("report lacks the paired compile effect:\n%s", b)
	}
}

// checkSplit checks a worker sweep's time split: printed, written next to the records,
// its parts measured (none negative), adding up to its wall time, which fits in the
// time the test saw the sweep take, and its timed part the records' timed forwards.
func checkSplit(t *testing.T, out, stderr string, took time.Duration) {
	t.Helper()
	if !strings.Contains(stderr, "time split ") || !strings.Contains(stderr, " timed ") {
		t.Errorf("no time split printed:\n%s", stderr)
	}
	s, err := sweep.ReadSplit(sweep.SplitFile(out))
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, p := range s.Parts() {
		if p.Ms < 0 || (p.Name != "other" && p.Ms == 0) {
			t.Errorf("split part %s = %g ms", p.Name, p.Ms)
		}
		sum += p.Ms
	}
	if math.Abs(sum-s.WallMs) > 1 || s.WallMs > float64(took.Milliseconds())+1 {
		t.Errorf("split %+v: parts add up to %g ms, wall %g ms, the test saw %s", s, sum, s.WallMs, took)
	}
	recs, err := record.ReadFile(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	var timed float64
	starts := map[string]float64{}
	for _, rec := range recs {
		for _, run := range rec.Runs {
			timed += run.TimedMs
			starts[run.Worker] = run.StartMs
		}
	}
	var start float64
	for _, v := range starts {
		start += v
	}
	if math.Abs(timed-s.TimedMs) > 0.01*float64(len(recs)*3) || math.Abs(start-s.StartMs) > 0.01*float64(len(starts)) {
		t.Errorf("records: timed %g ms, start %g ms over %d workers; split %+v", timed, start, len(starts), s)
	}
	if s.Workers != len(starts) || s.Prepared+s.Shared != 3*len(recs) {
		t.Errorf("split %+v: %d workers in the records, %d configurations x 3", s, len(starts), len(recs))
	}
}

// TestSweepWorkerCPUKnobs: a worker with CPU knobs (OpenMP's passive waiting) runs with
// them in place and its records say what the process had. The parent starts it with their
// environment (sweep.workerEnv, checked in TestWorkerEnv); re-executing, the fallback,
// would pass here too.
func TestSweepWorkerCPUKnobs(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	linear := testutil.Fixture(t, "linear.pt")
	dir := t.TempDir()
	preset := filepath.Join(dir, "p.yaml")
	doc := fmt.Sprintf("name: p\niters: 9\nwarmup: 2\nmax_seconds: 1\ngrids:\n"+
		"  - {models: [%s], inputs: ['float32[B,8]'], batch_size: [1], threads: [1], compile: [off], omp_wait: [passive]}\n", linear)
	if err := os.WriteFile(preset, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "s.jsonl")
	r := runPerflab(t, nil, "sweep", "--preset", preset, "--out", out, "--progress", "none")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	recs, err := record.ReadFile(out, nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	rec := recs[0]
	if !rec.OK() || rec.OMPWait != "passive" || rec.Env == nil || rec.Env.OMP != "OMP_WAIT_POLICY=PASSIVE GOMP_SPINCOUNT=0" || rec.Env.InheritedKnobs != "" {
		t.Errorf("record: status %s (%s), omp_wait %q, env %+v", rec.Status, rec.Error, rec.OMPWait, rec.Env)
	}
}
