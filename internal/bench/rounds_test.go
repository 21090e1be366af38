package bench_test

import (
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
	"github.com/perflab/perflab/internal/torch"
	"github.com/perflab/perflab/internal/wire"
)

// TestRunWorkerModels: one worker holds the configurations of two models that share a
// process-wide setting (a sweep's worker per setting): each model is loaded once and
// checked against its own plain model, a batch size shares a module only with its own
// model, a configuration of another setting is refused, and the preprocessing is timed
// for the vision model only.
func TestRunWorkerModels(t *testing.T) {
	t.Setenv("PERFLAB_MODELS_DIR", testutil.ModelsDir(t))
	conv := testutil.Fixture(t, "conv.pt")
	convIn := []string{"float32[B,3,16,16]"}
	proc := knobs.Knobs{Threads: 1, InteropThreads: 1} // no model: the setting of both
	cfg := func(key, m string, in []string, batch int, compile string, threads int) wire.Config {
		k := proc
		k.Model, k.Inputs, k.BatchSize, k.Compile, k.Threads = m, in, batch, compile, threads
		return wire.Config{Key: key, Knobs: k}
	}
	// mobilenet_v3_small channels_last: compile on may differ from the plain model on an
	// AVX-512 CPU (docs/cli.md, "oneDNN ISA"), which is not what this test is about.
	cl := cfg("m-cl", "mobilenet_v3_small", nil, 1, "off", 1)
	cl.ChannelsLast = true
	spec := wire.Spec{Worker: "w1", Process: proc,
		MinIters: 5, Iters: 10, TargetPercentile: "p95", Warmup: 10, WarmupSeconds: 0.001, BlockMs: 0.5, Seed: 3,
		PreprocessIters: 3, PreprocessModels: []string{"mobilenet_v3_small", conv},
		Configs: []wire.Config{
			cl,
			cfg("c-on", conv, convIn, 1, "on", 1),
			cfg("m-off", "mobilenet_v3_small", nil, 1, "off", 1),
			cfg("c-on-b2", conv, convIn, 2, "on", 1),
			cfg("c-t2", conv, convIn, 1, "off", 2),
		}}
	recs := map[string]*record.Record{}
	var prep []string
	var times *wire.Times
	err := bench.RunWorker(spec, func(m wire.Message) error {
		switch {
		case m.Record != nil:
			recs[m.Key] = m.Record
		case m.Preprocess != nil:
			prep = append(prep, m.Model)
		case m.Times != nil:
			times = m.Times
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, model string
		batch      int
		sharedWith string // runs[0].prepared_with
		guarded    bool   // checked against the plain model (not the plain model itself)
		failed     string // part of the error; "" = measured
	}{
		{key: "m-cl", model: "mobilenet_v3_small", batch: 1, guarded: true},
		{key: "c-on", model: conv, batch: 1, guarded: true},
		{key: "m-off", model: "mobilenet_v3_small", batch: 1},
		{key: "c-on-b2", model: conv, batch: 2, sharedWith: "c-on", guarded: true},
		{key: "c-t2", failed: "does not have the worker's process-wide knobs"},
	} {
		r := recs[tc.key]
		switch {
		case r == nil:
			t.Errorf("%s: no record", tc.key)
		case tc.failed != "":
			if r.OK() || !strings.Contains(r.Error, tc.failed) {
				t.Errorf("%s: status %s error %q, want failed with %q", tc.key, r.Status, r.Error, tc.failed)
			}
		case !r.OK():
			t.Errorf("%s: %s", tc.key, r.Error)
		default:
			if r.ModelPath == "" || !strings.Contains(r.ModelPath, strings.TrimSuffix(tc.model, ".pt")) || r.BatchSize != tc.batch || r.Iters < spec.MinIters {
				t.Errorf("%s: model %s (%s) batch %d, %d iters; want %s batch %d", tc.key, r.Model, r.ModelPath, r.BatchSize, r.Iters, tc.model, tc.batch)
			}
			if got := r.Runs[0].PreparedWith; got != tc.sharedWith {
				t.Errorf("%s: prepared with %q, want %q", tc.key, got, tc.sharedWith)
			}
			if guarded := r.Correctness != nil; guarded != tc.guarded || guarded && !r.Correctness.OK {
				t.Errorf("%s: guard %+v, want checked=%v and ok", tc.key, r.Correctness, tc.guarded)
			}
		}
	}
	if recs["m-cl"] != nil && recs["c-on"] != nil && recs["m-cl"].ModelSHA256 == recs["c-on"].ModelSHA256 {
		t.Errorf("both models' records carry the sha256 %s", recs["m-cl"].ModelSHA256)
	}
	if strings.Join(prep, ",") != "mobilenet_v3_small" {
		t.Errorf("preprocessing timed for %v, want the vision model only", prep)
	}
	if times == nil || times.Prepared != 3 || times.Shared != 1 {
		t.Errorf("times %+v, want 3 prepared (m-cl, c-on, m-off) and 1 shared", times)
	}
}

// TestRunWorkerInductorModels: on libtorch 2.6, one worker holds two models' AOTInductor
// packages next to their TorchScript configurations (a sweep's worker per thread
// setting): each package is loaded for its own configuration (never shared between batch
// sizes) and checked against its own model's twin. Before 2.6 the package
// configurations fail as unsupported and the others are measured.
func TestRunWorkerInductorModels(t *testing.T) {
	t.Setenv("PERFLAB_MODELS_DIR", testutil.ModelsDir(t))
	cfg := func(key, m string, batch int, compile string) wire.Config {
		return wire.Config{Key: key, Knobs: knobs.Knobs{Model: m, BatchSize: batch, Compile: compile, Threads: 1, InteropThreads: 1}}
	}
	spec := wire.Spec{Worker: "w1", Process: knobs.Knobs{Threads: 1, InteropThreads: 1},
		MinIters: 3, Iters: 6, TargetPercentile: "p95", Warmup: 10, WarmupSeconds: 0.001, BlockMs: 0.5, Seed: 3,
		Configs: []wire.Config{
			cfg("m-ind-1", "mobilenet_v3_small", 1, knobs.CompileInductor),
			cfg("r-ind-1", "resnet18", 1, knobs.CompileInductor),
			cfg("m-off-1", "mobilenet_v3_small", 1, knobs.CompileOff),
			cfg("m-ind-4", "mobilenet_v3_small", 4, knobs.CompileInductor),
			cfg("r-off-1", "resnet18", 1, knobs.CompileOff),
		}}
	recs := map[string]*record.Record{}
	if err := bench.RunWorker(spec, func(m wire.Message) error {
		if m.Record != nil {
			recs[m.Key] = m.Record
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key, model string
		inductor   bool
	}{
		{"m-ind-1", "mobilenet_v3_small", true}, {"r-ind-1", "resnet18", true}, {"m-ind-4", "mobilenet_v3_small", true},
		{"m-off-1", "mobilenet_v3_small", false}, {"r-off-1", "resnet18", false},
	} {
		r := recs[tc.key]
		switch {
		case r == nil:
			t.Errorf("%s: no record", tc.key)
		case tc.inductor && !torch.AOTISupported():
			if r.OK() || !strings.Contains(r.Error, "unsupported by this runtime") {
				t.Errorf("%s on libtorch %s: status %s error %q, want unsupported", tc.key, torch.Version(), r.Status, r.Error)
			}
		case !r.OK():
			t.Errorf("%s: %s", tc.key, r.Error)
		case tc.inductor:
			cr := r.Correctness
			if !strings.HasSuffix(r.InductorPackage, tc.model+".pt2") || r.Runs[0].PreparedWith != "" ||
				cr == nil || cr.Verdict != record.VerdictMatch || !strings.Contains(cr.Reference, tc.model+".pt") {
				t.Errorf("%s: package %q, prepared with %q, guard %+v; want its own model's package, checked against its twin", tc.key, r.InductorPackage, r.Runs[0].PreparedWith, cr)
			}
		default:
			if r.Model != tc.model || r.InductorPackage != "" || r.Iters < spec.MinIters {
				t.Errorf("%s: model %s, package %q, %d iters", tc.key, r.Model, r.InductorPackage, r.Iters)
			}
		}
	}
}
