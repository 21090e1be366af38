package bench_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/profile"
	"github.com/perflab/perflab/internal/testutil"
)

// TestRunProfile: --profile adds a per-operator table to the record (after the timed loop:
// the timed figures are all there) and writes a Chrome trace that parses. At compile on
// the convolution is a prepacked oneDNN kernel the dispatcher does not see: it must still
// be a row (prim::mkldnn_convolution, through the instrumented copy of the graph) with its
// input's shape, and the record must say what was instrumented.
func TestRunProfile(t *testing.T) {
	tests := []struct {
		compile          string
		wantOp           string
		wantInstrumented string
	}{
		{bench.CompileOff, "conv", ""},
		{bench.CompileOn, "prim::mkldnn_convolution", "prim::mkldnn_convolution x1"},
	}
	for _, tc := range tests {
		t.Run("compile "+tc.compile, func(t *testing.T) {
			c := cfg(t, "conv.pt", "float32[B,3,16,16]")
			c.Compile = tc.compile
			c.ProfileForwards = 6
			c.ProfileTrace = filepath.Join(t.TempDir(), "conv.trace.json")
			rec, err := bench.Run(c)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			p := rec.Profile
			if p == nil || len(p.Ops) == 0 {
				t.Fatalf("profile %+v, want operator rows", p)
			}
			if rec.Iters != c.Iters || len(rec.SamplesMs) != c.Iters {
				t.Errorf("timed %d iterations, want %d", rec.Iters, c.Iters)
			}
			if p.Forwards != 6 || p.Trace != c.ProfileTrace || p.Note != "" {
				t.Errorf("forwards %d, trace %q, note %q", p.Forwards, p.Trace, p.Note)
			}
			if p.Instrumented != tc.wantInstrumented {
				t.Errorf("instrumented %q, want %q", p.Instrumented, tc.wantInstrumented)
			}
			conv := false
			var sum float64
			for i, o := range p.Ops {
				sum += o.SelfMs
				if i > 0 && o.SelfMs > p.Ops[i-1].SelfMs {
					t.Errorf("rows not sorted by self time at %d", i)
				}
				if strings.Contains(o.Op, tc.wantOp) && strings.HasPrefix(o.Shapes, "[1,3,16,16]") {
					conv = true
				}
			}
			if !conv {
				t.Errorf("no %s row with the input's shape [1,3,16,16] in %+v", tc.wantOp, p.Ops)
			}
			if d := sum - p.OpsMs; d > 1e-9 || d < -1e-9 || p.OpsMs <= 0 || p.OpsMs+p.BetweenMs > 1.01*p.ForwardMs+0.01 {
				t.Errorf("rows sum to %g ms, ops_ms %g, between %g, forward %g", sum, p.OpsMs, p.BetweenMs, p.ForwardMs)
			}
			if n, err := profile.CheckTrace(c.ProfileTrace); err != nil || n == 0 {
				t.Errorf("CheckTrace: %d events, %v", n, err)
			}
		})
	}
}

// TestRunPairExplained: a model with more layers than its base is slower in the
// attribution, and the change lands on its matrix multiplications.
func TestRunPairExplained(t *testing.T) {
	c := cfg(t, "mlp.pt", "float32[B,64]")
	dir := t.TempDir()
	// The product's rounds (12 of 5 forwards): enough that a round slowed by other work on a
	// shared machine is set aside rather than hiding the extra layers' rows.
	ac := bench.DefaultAttribution
	ac.BaseTrace, ac.HeadTrace = filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	a, b, at, err := bench.RunPairExplained(c, testutil.Fixture(t, "mlp_slow.pt"), &ac)
	if err != nil {
		t.Fatalf("RunPairExplained: %v", err)
	}
	if a == nil || b == nil || at == nil {
		t.Fatal("missing records or attribution")
	}
	if at.Rounds != ac.Rounds || at.Forwards != ac.Forwards || at.ChangeMs <= 0 || at.HeadMs <= at.BaseMs {
		t.Errorf("attribution %+v: want %d rounds of %d forwards and a slower head", at, ac.Rounds, ac.Forwards)
	}
	// The top operator row (the time between operators grows with the machine's load and may
	// rank above it on a busy machine; it is no operator) is one of the extra layers': an
	// operator the head calls more often per forward than the base (the layers' matmul, bias
	// add, linear or relu/clamp_min, by how this libtorch lowers them).
	var top *profile.DiffRow
	for i, r := range at.Rows {
		if r.Op != profile.Between {
			top = &at.Rows[i]
			break
		}
	}
	if top == nil || top.HeadCalls <= top.BaseCalls || top.ChangeMs <= 0 {
		t.Errorf("top rows %+v, want the extra layers' operators first", at.Rows)
	}
	if len(at.Traces) != 2 {
		t.Errorf("traces %v", at.Traces)
	}
	for _, p := range at.Traces {
		if _, err := profile.CheckTrace(p); err != nil {
			t.Error(err)
		}
	}
	if b.ForwardMsPerBatch <= 0 || at.TimedHeadMs != b.ForwardMsPerBatch {
		t.Errorf("timed head %g, record's forward %g", at.TimedHeadMs, b.ForwardMsPerBatch)
	}
}
