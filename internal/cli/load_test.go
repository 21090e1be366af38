package cli

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
)

// parseLoad runs `load args...` with a runF that captures the options.
func parseLoad(t *testing.T, args ...string) (*LoadOptions, error) {
	t.Helper()
	return parseCmd(t, IO{In: strings.NewReader(""), Out: &bytes.Buffer{}, ErrOut: &bytes.Buffer{}}, NewLoadCmd, args...)
}

func TestLoadFlags(t *testing.T) {
	o, err := parseLoad(t, "--model", "resnet18", "--rate", "40")
	if err != nil {
		t.Fatal(err)
	}
	if o.Knobs.Compile != "auto" || o.Serving.Instances != 1 || o.Serving.MaxBatch != 1 || o.Serving.MaxDelayMs != 0 || o.Serving.Arrival != "poisson" ||
		o.Duration != 10*time.Second || o.Warmup != time.Second || o.LatencyPct != "p95" || o.Knobs.Threads != 0 ||
		o.Tolerance != 0.05 || o.MaxSteps != 12 || o.FindCapacity || o.Simulate || o.JSON || o.Out != "" {
		t.Errorf("defaults: %+v", o)
	}
	every := []string{
		"--model", "./m.pt", "--input", "float32[B,3,8,8]", "--compile", "on", "--threads", "2", "--interop-threads", "1",
		"--channels-last", "--quantize", "--instances", "3", "--max-batch", "8", "--max-delay", "5ms", "--rate", "12.5",
		"--arrival", "constant", "--duration", "30s", "--warmup", "2s", "--timeout", "250ms", "--queue-size", "64",
		"--seed", "-4", "--latency-pct", "p99", "--latency-budget-ms", "50", "--find-capacity", "--tolerance", "0.1",
		"--max-steps", "5", "--simulate", "--from", "a.jsonl", "--from", "b.jsonl", "--out", "o.jsonl", "--json",
		"--allocator", "tcmalloc", "--omp-wait", "active", "--pin", "cores", "--onednn-isa", "avx2",
	}
	o, err = parseLoad(t, every...)
	if err != nil {
		t.Fatal(err)
	}
	want := LoadOptions{IO: o.IO,
		Knobs: knobs.Knobs{Model: "./m.pt", Inputs: []string{"float32[B,3,8,8]"}, Compile: "on", Threads: 2, InteropThreads: 1,
			ChannelsLast: true, Quantize: true, OneDNNISA: "avx2", Allocator: "tcmalloc", OMPWait: "active", Pin: "cores"},
		Serving:  knobs.Serving{Instances: 3, MaxBatch: 8, MaxDelayMs: 5, OfferedRPS: 12.5, Arrival: "constant"},
		Duration: 30 * time.Second, Warmup: 2 * time.Second, Timeout: 250 * time.Millisecond, QueueSize: 64,
		Seed: -4, LatencyPct: "p99", BudgetMs: 50, FindCapacity: true, Tolerance: 0.1, MaxSteps: 5, Simulate: true,
		From: []string{"a.jsonl", "b.jsonl"}, Out: "o.jsonl", JSON: true}
	if !reflect.DeepEqual(*o, want) {
		t.Errorf("every flag:\n got %+v\nwant %+v", *o, want)
	}
	NewLoadCmd(IO{}, nil).Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "help" && !f.Hidden && !slices.Contains(every, "--"+f.Name) {
			t.Errorf("flag --%s is not covered by the every-flag case", f.Name)
		}
	})
}

func TestLoadBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no rate", []string{"--model", "resnet18"}, []string{"--rate is required"}},
		{"zero rate", []string{"--model", "resnet18", "--rate", "0"}, []string{"--rate is required"}},
		{"negative rate", []string{"--model", "resnet18", "--rate", "-5"}, []string{"--rate must be a positive number", "-5"}},
		{"too many threads", []string{"--model", "resnet18", "--rate", "40", "--instances", "64", "--threads", "1"}, []string{"--instances 64 x --threads 1 = 64 threads >", "CPUs available"}},
		{"negative max delay", []string{"--model", "resnet18", "--rate", "40", "--max-delay", "-1ms", "--threads", "1"}, []string{"--max-delay must be >= 0"}},
		{"too short for p99", []string{"--model", "resnet18", "--rate", "40", "--duration", "2s", "--latency-pct", "p99", "--threads", "1"}, []string{"duration too short", "80 requests", "p99 claim needs >= 662", "--duration >= 16.6s"}},
		{"too short for p95", []string{"--model", "resnet18", "--rate", "50", "--duration", "2s", "--threads", "1"}, []string{"duration too short", "p95 claim needs >= 130"}},
		{"capacity without budget", []string{"--model", "resnet18", "--find-capacity", "--threads", "1"}, []string{"--find-capacity needs --latency-budget-ms"}},
		{"bad arrival", []string{"--model", "resnet18", "--rate", "40", "--arrival", "bursty", "--threads", "1"}, []string{"--arrival must be poisson or constant"}},
		{"bad percentile", []string{"--model", "resnet18", "--rate", "40", "--latency-pct", "p42"}, []string{"--latency-pct must be"}},
		{"simulate without from", []string{"--model", "resnet18", "--rate", "40", "--simulate", "--threads", "1"}, []string{"--simulate needs --from"}},
		{"from without simulate", []string{"--model", "resnet18", "--rate", "40", "--from", "x.jsonl", "--threads", "1"}, []string{"--from is for --simulate"}},
		{"missing from file", []string{"--model", "resnet18", "--rate", "40", "--simulate", "--from", "/nonexistent/x.jsonl", "--threads", "1"}, []string{"--from /nonexistent/x.jsonl does not exist"}},
		{"bad tolerance", []string{"--model", "resnet18", "--find-capacity", "--latency-budget-ms", "50", "--tolerance", "2", "--threads", "1"}, []string{"--tolerance"}},
		{"unknown model", []string{"--model", "resnet19", "--rate", "40", "--duration", "5s", "--threads", "1"}, []string{`unknown model "resnet19"`}},
		{"warmup in iterations", []string{"--model", "resnet18", "--rate", "40", "--warmup", "20"}, []string{`"20" for "--warmup"`, "perflab load's --warmup is a duration of traffic (e.g. 1s or 500ms), not iterations as in perflab bench"}},
		{"warmup not a duration", []string{"--model", "resnet18", "--rate", "40", "--warmup", "soon"}, []string{`"soon" for "--warmup"`, "invalid duration"}},
		{"bad onednn isa", []string{"--model", "resnet18", "--rate", "40", "--threads", "1", "--onednn-isa", "avx3"}, []string{"--onednn-isa: unknown oneDNN ISA \"avx3\""}},
		{"bad compile", []string{"--model", "resnet18", "--rate", "40", "--threads", "1", "--compile", "sometimes"}, []string{`--compile must be auto, on, off or inductor, got "sometimes"`}},
		{"max batch too large", []string{"--model", "resnet18", "--rate", "40", "--threads", "1", "--max-batch", "100000"}, []string{"--max-batch 100000 is more than 65536"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUsageError(t, append([]string{"load"}, tt.args...), tt.want) })
	}
}

// instances x threads is checked against the CPUs available (injected here).
func TestLoadCPUCheck(t *testing.T) {
	o := &LoadOptions{Knobs: knobs.Knobs{Model: "m", Compile: "auto", Threads: 2}, Serving: knobs.Serving{OfferedRPS: 100, Arrival: "poisson", Instances: 2, MaxBatch: 1},
		Duration: 10 * time.Second, LatencyPct: "p95", CPUs: func() float64 { return 2 }}
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "--instances 2 x --threads 2 = 4 threads > 2 CPUs available") {
		t.Errorf("2x2 on 2 CPUs: %v", err)
	}
	o.Knobs.Threads = 0 // default: CPUs / instances
	if err := o.validate(); err != nil || o.Knobs.Threads != 1 || o.Knobs.BatchSize != 1 {
		t.Errorf("default threads on 2 CPUs with 2 instances: %d (batch %d), %v", o.Knobs.Threads, o.Knobs.BatchSize, err)
	}
	o.Knobs.Threads, o.Simulate, o.From = 2, true, []string{"x"} // a prediction may oversubscribe (with a warning)
	if err := o.validate(); err != nil {
		t.Errorf("--simulate 2x2 on 2 CPUs: %v", err)
	}
}

func TestLoadHelp(t *testing.T) {
	code, stdout, stderr := runMain("load", "--help")
	if code != ExitOK || stderr != "" {
		t.Fatalf("load --help: %d, %q", code, stderr)
	}
	NewLoadCmd(IO{}, nil).Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden && !strings.Contains(stdout, "--"+f.Name) {
			t.Errorf("help does not mention --%s", f.Name)
		}
	})
	for _, w := range []string{"Open loop", "coordinated omission", "SCHEDULED", "Triton", "--max-delay", "perflab load --model resnet18 --rate 40",
		"--find-capacity", "saturated", "Exit codes", "2  usage or input error"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("help does not contain %q", w)
		}
	}
}

// writeServiceTimes writes bench records of "resnet18" (compile on, 1 thread) at batch 1
// and 4 with known samples: 20 ms and 50 ms per batch.
func writeServiceTimes(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sweep.jsonl")
	for _, b := range []struct {
		size int
		ms   float64
	}{{1, 20}, {4, 50}} {
		r := &record.Record{SchemaVersion: 1, Mode: "bench", Status: "ok", Knobs: knobs.Knobs{Model: "resnet18", BatchSize: b.size, Compile: "on", Threads: 1, InteropThreads: 1}, CompileApplied: true,
			LatencyP50: b.ms, LatencyP90: b.ms, LatencyP95: b.ms, LatencyP99: b.ms,
			ThroughputRPS: 1000 * float64(b.size) / b.ms, Env: &record.Env{Fingerprint: "abc", CPUsAvailable: 2}}
		for i := range 100 {
			r.SamplesMs = append(r.SamplesMs, b.ms*(0.95+0.1*float64(i)/100))
		}
		if err := record.AppendFile(path, r); err != nil {
			t.Fatal(err)
		}
	}
	// Another configuration, which must not be used.
	other := &record.Record{SchemaVersion: 1, Mode: "bench", Status: "ok", Knobs: knobs.Knobs{Model: "resnet18", BatchSize: 1, Compile: "off", Threads: 2},
		LatencyP50: 999, LatencyP90: 999, LatencyP95: 999, LatencyP99: 999, SamplesMs: []float64{999}}
	if err := record.AppendFile(path, other); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadSimulate(t *testing.T) {
	from := writeServiceTimes(t)
	code, stdout, stderr := runMain("load", "--simulate", "--from", from, "--model", "resnet18", "--compile", "on", "--threads", "1",
		"--rate", "30", "--max-batch", "4", "--max-delay", "5ms", "--duration", "60s", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r, err := record.Parse([]byte(stdout))
	if err != nil {
		t.Fatal(err)
	}
	l := r.Load
	if r.Mode != "simulate" || l == nil || l.Instances != 1 || l.MaxBatch != 4 || l.MaxDelayMs != 5 || l.OfferedRPS != 30 ||
		!strings.Contains(l.Source, from) || !strings.Contains(l.Source, "interpolated at 2, 3") {
		t.Fatalf("simulated record: mode %q, load %+v", r.Mode, l)
	}
	if l.Requests < 1500 || l.Completed != l.Requests || l.Saturated || !strings.Contains(r.Key(), "|simulate|inst=1|delay=5ms|poisson|rate=30") {
		t.Errorf("30 req/s into ~80 req/s of capacity: %+v, key %s", l, r.Key())
	}
	// Batches of 1 take 20 ms: no request is faster; batching shows in the histogram.
	if r.LatencyMin < 19 || len(l.BatchHistogram) < 2 || r.Env == nil || r.Env.Fingerprint != "abc" {
		t.Errorf("min latency %g, histogram %v, env %+v", r.LatencyMin, l.BatchHistogram, r.Env)
	}

	// No matching records: the error names what there is.
	code, _, stderr = runMain("load", "--simulate", "--from", from, "--model", "resnet18", "--compile", "auto", "--threads", "1", "--rate", "30", "--duration", "60s")
	if code != ExitUsage || !strings.Contains(stderr, "no usable record of resnet18 with compile auto") || !strings.Contains(stderr, "compile on, 1 threads") {
		t.Errorf("no match: %d %q", code, stderr)
	}
	// Max batch beyond the measured sizes is extrapolated, with two measured sizes.
	code, stdout, _ = runMain("load", "--simulate", "--from", from, "--model", "resnet18", "--compile", "on", "--threads", "1", "--rate", "30", "--max-batch", "6", "--duration", "60s")
	if code != 0 || !strings.Contains(stdout, "extrapolated at 5, 6") || !strings.Contains(stdout, "simulated load resnet18") {
		t.Errorf("extrapolation: %d\n%s", code, stdout)
	}
}

func TestLoadSimulateFindCapacity(t *testing.T) {
	from := writeServiceTimes(t)
	out := filepath.Join(t.TempDir(), "cap.jsonl")
	code, stdout, stderr := runMain("load", "--simulate", "--from", from, "--model", "resnet18", "--compile", "on", "--threads", "1",
		"--find-capacity", "--latency-budget-ms", "100", "--duration", "30s", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, w := range []string{"capacity", "req/s with p95 <= 100 ms", "steps", "pass", "fail"} {
		if !strings.Contains(stdout, w) {
			t.Errorf("summary lacks %q:\n%s", w, stdout)
		}
	}
	if !strings.Contains(stderr, "step 1: ") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
	recs, err := record.ReadFile(out, nil)
	if err != nil || len(recs) < 3 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	sum := recs[len(recs)-1]
	c := sum.Load.Capacity
	if c == nil || len(c.Steps) != len(recs)-1 || !strings.Contains(sum.Key(), "|capacity=p95,100ms") {
		t.Fatalf("summary record: %+v", sum.Load)
	}
	// --out has every step, then the summary (load.SearchCapacity's, tested in load).
	for i, r := range recs[:len(recs)-1] {
		if r.Load.Step != i+1 || r.Load.Capacity != nil || r.Load.OfferedRPS != c.Steps[i].OfferedRPS {
			t.Errorf("step record %d: %+v vs %+v", i+1, r.Load, c.Steps[i])
		}
	}
	if !(c.CapacityRPS > 30 && c.CapacityRPS < 50) || !strings.Contains(stdout, fmt.Sprintf("capacity    %g req/s", c.CapacityRPS)) {
		t.Errorf("capacity %+v, summary:\n%s", c, stdout)
	}
}

// A short real run on a fixture model, in a fresh process.
func TestLoadRealRun(t *testing.T) {
	conv := testutil.Fixture(t, "conv.pt")
	out := filepath.Join(t.TempDir(), "load.jsonl")
	args := []string{"load", "--model", conv, "--input", "float32[B,3,16,16]", "--rate", "50", "--duration", "2s", "--warmup", "500ms",
		"--latency-pct", "p90", "--latency-budget-ms", "100", "--max-batch", "4", "--max-delay", "5ms", "--threads", "1",
		"--interop-threads", "1", "--compile", "on", "--json", "--out", out}
	r := runPerflab(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	rec, err := record.Parse([]byte(r.stdout))
	if err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	l := rec.Load
	if rec.Mode != "load" || rec.Status != "ok" || l == nil || rec.Model != conv || rec.BatchSize != 4 || !rec.CompileApplied || rec.Threads != 1 || rec.InteropThreads != 1 {
		t.Fatalf("record: %+v", rec)
	}
	// 2 s at 50 req/s: about 100 Poisson arrivals.
	if l.Requests < 60 || l.Requests > 140 || l.Completed != l.Requests || l.Timeouts+l.Dropped != 0 || l.Saturated || !l.WithinBudget {
		t.Errorf("load %+v", l)
	}
	if len(rec.SamplesMs) != l.Requests || rec.Iters != l.Requests || !(rec.LatencyP50 > 0) || rec.LatencyP99 < rec.LatencyP50 {
		t.Errorf("latencies: %d samples, p50 %g, p99 %g", len(rec.SamplesMs), rec.LatencyP50, rec.LatencyP99)
	}
	if math.Abs(l.AchievedRPS-l.IssuedRPS) > 0.1*l.IssuedRPS || rec.ThroughputRPS != l.AchievedRPS {
		t.Errorf("achieved %g vs issued %g, throughput %g", l.AchievedRPS, l.IssuedRPS, rec.ThroughputRPS)
	}
	// With max delay 5 ms, every request waits at least a little unless a batch fills: the
	// queue wait p50 is within [0, max delay + slack] and latency >= compute.
	if l.QueueWaitMs == nil || l.QueueWaitMs.P50 > 50 || l.ComputeMs == nil || rec.LatencyMin < l.ComputeMs.P50*0.2 {
		t.Errorf("queue wait %+v, compute %+v, min latency %g", l.QueueWaitMs, l.ComputeMs, rec.LatencyMin)
	}
	total := 0
	for b, n := range l.BatchHistogram {
		var size int
		fmt.Sscan(b, &size)
		if size < 1 || size > 4 {
			t.Errorf("batch of %s outside 1..4", b)
		}
		total += n * size
	}
	if total == 0 || len(l.ServiceMs) == 0 || rec.Correctness == nil || !rec.Correctness.OK || rec.Env == nil {
		t.Errorf("histogram %v, service %d sizes, correctness %+v", l.BatchHistogram, len(l.ServiceMs), rec.Correctness)
	}
	want := "|b4|compile=on|t1|i1|cl=false|q=false|cpu|load|inst=1|delay=5ms|poisson|rate=50"
	if !strings.HasSuffix(rec.Key(), want) {
		t.Errorf("key %s, want suffix %s", rec.Key(), want)
	}
	if data, err := os.ReadFile(out); err != nil || string(data) != r.stdout {
		t.Errorf("--out differs from --json (%v)", err)
	}

	// Two instances, each on its own thread (when the machine has 2 CPUs for them).
	if env.CPUsAvailable() < 2 {
		return
	}
	r = runPerflab(t, nil, "load", "--model", conv, "--input", "float32[B,3,16,16]", "--rate", "100", "--duration", "1500ms",
		"--warmup", "200ms", "--latency-pct", "p90", "--instances", "2", "--threads", "1", "--arrival", "constant")
	if r.code != 0 {
		t.Fatalf("2 instances: exit %d\nstderr: %s", r.code, r.stderr)
	}
	for _, w := range []string{"load " + conv + ": 2 instances x 1 thread", "constant 100 req/s", "150 requests", "latency p90", "queue wait", "compute"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("summary lacks %q:\n%s", w, r.stdout)
		}
	}
}

// --onednn-isa caps oneDNN's kernels for the load run's process as it does for bench: the
// record names the cap (onednn_isa, in its key) and the ISA used (env.onednn_isa).
func TestLoadOneDNNISA(t *testing.T) {
	if !strings.Contains(env.CPUISA(), "avx2") {
		t.Fatalf("this CPU has no AVX2 (%q): perflab's x86-64 test machines all have it", env.CPUISA())
	}
	r := runPerflab(t, []string{model.EnvModelsDir + "=" + testutil.ModelsDir(t)}, "load", "--model", "mobilenet_v3_small",
		"--onednn-isa", "avx2", "--compile", "on", "--rate", "20", "--duration", "1s", "--warmup", "200ms", "--latency-pct", "p50",
		"--threads", "1", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	rec, err := record.Parse([]byte(r.stdout))
	if err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if rec.OneDNNISA != "avx2" || rec.Env == nil || rec.Env.OneDNNISA != "avx2" || !strings.Contains(rec.Key(), "|isa=avx2|load|") {
		t.Errorf("onednn_isa %q, env %+v, key %s", rec.OneDNNISA, rec.Env, rec.Key())
	}
	if !rec.CompileApplied || rec.Correctness == nil || !rec.Correctness.OK {
		t.Errorf("AVX2 kernels, compile on: applied %v, correctness %+v", rec.CompileApplied, rec.Correctness)
	}
}

// A load preset through perflab sweep: one child process per configuration, the record's
// key equal to the planned one.
func TestSweepLoadPreset(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	conv := testutil.Fixture(t, "conv.pt")
	dir := t.TempDir()
	preset := filepath.Join(dir, "serve.yaml")
	doc := fmt.Sprintf(`name: serve
mode: load
duration_s: 1.5
warmup_s: 0.2
latency_pct: p90
grid:
  models: [%s]
  inputs: ['float32[B,3,16,16]']
  compile: [off]
  instances: [1]
  threads: [1]
  max_batch: [2]
  max_delay_ms: [1]
  rates: [60]
`, conv)
	if err := os.WriteFile(preset, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "sweep.jsonl")
	r := runPerflab(t, nil, "sweep", "--preset", preset, "--out", out, "--progress", "lines")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	recs, err := record.ReadFile(out, nil)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v\nstderr: %s", len(recs), err, r.stderr)
	}
	rec := recs[0]
	if rec.Status != "ok" || rec.Mode != "load" || rec.Preset != "serve" || rec.Load == nil || rec.Load.OfferedRPS != 60 || len(rec.Notes) > 0 && strings.Contains(strings.Join(rec.Notes, " "), "differs from the planned") {
		t.Errorf("sweep record: status %q (%s), mode %q, notes %v, load %+v", rec.Status, rec.Error, rec.Mode, rec.Notes, rec.Load)
	}
	// --resume finds it done.
	r = runPerflab(t, nil, "sweep", "--preset", preset, "--out", out, "--resume", "--progress", "none")
	if r.code != 0 || !strings.Contains(r.stderr, "0 configurations to run (1 already in") {
		t.Errorf("resume: %d %s", r.code, r.stderr)
	}
	// And report reads it.
	r = runPerflab(t, nil, "report", "--input", out, "--out", filepath.Join(dir, "rep.md"), "--latency-pct", "p90", "--latency-budget-ms", "100", "--no-plots")
	if r.code != 0 || !strings.Contains(r.stdout, "serving: 1 instance x 1 thread, max batch 2, max delay 1 ms") {
		t.Errorf("report: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestLoadWrongInputNamesMaxBatch: a model that rejects its input at the max batch says to
// check --max-batch, perflab load's flag (the preparation it shares with bench once said
// --batch-size).
func TestLoadWrongInputNamesMaxBatch(t *testing.T) {
	conv := testutil.Fixture(t, "conv.pt")
	code, _, stderr := runMain("load", "--model", conv, "--input", "float32[B,3,16]", "--rate", "50", "--duration", "3s", "--threads", "1", "--max-batch", "2")
	if code == ExitOK || !strings.Contains(stderr, "rejected input") || !strings.Contains(stderr, "--max-batch") || strings.Contains(stderr, "--batch-size") {
		t.Errorf("exit %d, stderr %q: want a rejected-input error naming --max-batch", code, stderr)
	}
}
