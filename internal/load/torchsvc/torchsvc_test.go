package torchsvc

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/load"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
)

// config returns a one-thread configuration of model with max batch maxBatch.
func config(model string, inputs []string, compile string, maxBatch int) Config {
	return Config{Knobs: knobs.Knobs{Model: model, Inputs: inputs, Compile: compile, Threads: 1, BatchSize: maxBatch}}
}

func TestServiceOnFixture(t *testing.T) {
	conv := testutil.Fixture(t, "conv.pt")
	c := config(conv, []string{"float32[B,3,16,16]"}, knobs.CompileAuto, 3)
	c.InteropThreads = 1
	svc, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := load.StartPool(svc, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rec, err := svc.Record()
	if err != nil {
		t.Fatal(err)
	}
	if rec.Mode != "load" || rec.Threads != 1 || rec.InteropThreads != 1 || rec.BatchSize != 3 || rec.ModelSHA256 == "" || rec.Env == nil ||
		rec.Compile != knobs.CompileAuto || rec.Device != knobs.CPU {
		t.Errorf("record %+v", rec)
	}
	if rec.CompileApplied && (rec.Correctness == nil || !rec.Correctness.OK) {
		t.Errorf("compile auto applied without a passing check: %+v", rec.Correctness)
	}
	w := svc.WarmupMs()
	if len(w) != 3 || !(w[1] > 0) || svc.FullBatch() <= 0 {
		t.Errorf("warm-up times %v, full batch %s", w, svc.FullBatch())
	}
	out, err := pool.Run(context.Background(), load.Config{Serving: knobs.Serving{OfferedRPS: 200, Arrival: load.Constant, Instances: 2, MaxBatch: 3, MaxDelayMs: 1},
		Duration: 300 * time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := load.Summarize(out)
	if s.Completed != s.Requests || s.Requests != 60 {
		t.Errorf("completed %d of %d", s.Completed, s.Requests)
	}
	// Both instances ran batches (the second is a replica of the first).
	if len(out.Batches) == 0 || s.Histogram[1] == 0 {
		t.Errorf("batches %v", s.Histogram)
	}
}

func TestServiceErrors(t *testing.T) {
	conv := testutil.Fixture(t, "conv.pt")
	linear := testutil.Fixture(t, "linear.pt")
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"bad compile", func(c *Config) { c.Compile = "sometimes" }, "--compile must be"},
		{"no threads", func(c *Config) { c.Threads = 0 }, "--threads must be >= 1"},
		{"no max batch", func(c *Config) { c.BatchSize = 0 }, "--max-batch must be >= 1"},
		{"bad ISA", func(c *Config) { c.OneDNNISA = "avx3" }, "--onednn-isa: unknown oneDNN ISA"},
		{"channels_last", func(c *Config) { c.Model, c.Inputs, c.ChannelsLast = linear, []string{"float32[B,8]"}, true }, "--channels-last applies to vision models"},
		{"quantize", func(c *Config) { c.Model, c.Inputs, c.Quantize = linear, []string{"float32[B,8]"}, true }, "--quantize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config(conv, []string{"float32[B,3,16,16]"}, knobs.CompileOn, 1)
			tc.mod(&c)
			if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v) = %v, want %q", c, err, tc.want)
			}
		})
	}
	// A wrong input shape fails at start, at the max batch (where the configuration is
	// prepared), with the schema.
	svc, err := New(config(conv, []string{"float32[B,5,16,16]"}, knobs.CompileOff, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load.StartPool(svc, 1); err == nil || !strings.Contains(err.Error(), "instance 1: model") || !strings.Contains(err.Error(), "batch size 2") {
		t.Errorf("wrong input: %v", err)
	}
}

// TestSameDecisionAsBench: the load service prepares a configuration as perflab bench
// does at the same batch size (its max batch): the same compile auto decision, the same
// guard verdict against the plain model, and records that say what was applied the same
// way. (It used to decide at batch 1 against the plain model: noisy.pt's optimized model
// was kept, mobilenet's fallback had a verdict bench did not have.)
func TestSameDecisionAsBench(t *testing.T) {
	t.Setenv("PERFLAB_MODELS_DIR", testutil.ModelsDir(t))
	conv, noisy := testutil.Fixture(t, "conv.pt"), testutil.Fixture(t, "noisy.pt")
	tests := []struct {
		name string
		k    knobs.Knobs
	}{
		{"noisy compile auto", knobs.Knobs{Model: noisy, Inputs: []string{"float32[B,8]"}, Compile: knobs.CompileAuto}},
		{"conv compile auto channels_last", knobs.Knobs{Model: conv, Inputs: []string{"float32[B,3,16,16]"}, Compile: knobs.CompileAuto, ChannelsLast: true}},
		{"conv compile on", knobs.Knobs{Model: conv, Inputs: []string{"float32[B,3,16,16]"}, Compile: knobs.CompileOn}},
		{"mobilenet compile auto", knobs.Knobs{Model: "mobilenet_v3_small", Compile: knobs.CompileAuto}},
		{"tiny_transformer int8 compile auto", knobs.Knobs{Model: "tiny_transformer", Compile: knobs.CompileAuto, Quantize: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.k
			k.BatchSize, k.Threads = 4, 1
			bc := bench.Defaults()
			bc.Model, bc.Inputs, bc.BatchSize, bc.Compile, bc.Threads, bc.ChannelsLast, bc.Quantize = k.Model, k.Inputs, k.BatchSize, k.Compile, k.Threads, k.ChannelsLast, k.Quantize
			bc.Iters, bc.Warmup, bc.PreprocessIters = 2, 1, 0
			b, err := bench.Run(bc)
			if err != nil {
				t.Fatal(err)
			}
			svc, err := New(Config{Knobs: k})
			if err != nil {
				t.Fatal(err)
			}
			pool, err := load.StartPool(svc, 1)
			if err != nil {
				t.Fatal(err)
			}
			l, err := svc.Record()
			pool.Close()
			if err != nil {
				t.Fatal(err)
			}
			if l.Compile != b.Compile || l.CompileApplied != b.CompileApplied {
				t.Errorf("compile asked %q applied %v in load, asked %q applied %v in bench", l.Compile, l.CompileApplied, b.Compile, b.CompileApplied)
			}
			if verdict(l.Correctness) != verdict(b.Correctness) {
				t.Errorf("guard: load %s, bench %s", verdict(l.Correctness), verdict(b.Correctness))
			}
			if got, want := compileNotes(l.Notes), compileNotes(b.Notes); !slices.Equal(got, want) {
				t.Errorf("compile notes: load %q, bench %q", got, want)
			}
			if got, want := differs(l.Warnings), differs(b.Warnings); got != want {
				t.Errorf("outputs-differ warning: load %v, bench %v (%q)", got, want, l.Warnings)
			}
			if l.Key() != b.Key() { // the configuration's key, before the load run fills in Load
				t.Errorf("key: load %s, bench %s", l.Key(), b.Key())
			}
		})
	}
}

func verdict(c *record.Correctness) string {
	if c == nil {
		return "not checked"
	}
	return c.Verdict + " against " + c.Reference
}

// compileNotes are the reasons of the compile auto notes (without their figures).
func compileNotes(notes []string) []string {
	var out []string
	for _, n := range notes {
		if strings.HasPrefix(n, "compile auto") {
			out = append(out, strings.SplitN(n, ",", 2)[0])
		}
	}
	return out
}

func differs(ws []string) bool {
	return slices.ContainsFunc(ws, func(w string) bool { return strings.Contains(w, "outputs differ from the plain model") })
}
