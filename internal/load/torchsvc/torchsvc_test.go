package torchsvc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/load"
	"github.com/perflab/perflab/internal/testutil"
)

func TestServiceOnFixture(t *testing.T) {
	conv := testutil.Fixture(t, "conv.pt")
	svc, err := New(Config{Model: conv, Inputs: []string{"float32[B,3,16,16]"}, Compile: "auto", Threads: 1, InteropThreads: 1, MaxBatch: 3})
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
	if rec.Mode != "load" || rec.Threads != 1 || rec.InteropThreads != 1 || rec.BatchSize != 3 || rec.ModelSHA256 == "" || rec.Env == nil {
		t.Errorf("record %+v", rec)
	}
	if rec.CompileApplied && (rec.Correctness == nil || !rec.Correctness.OK) {
		t.Errorf("compile auto applied without a passing check: %+v", rec.Correctness)
	}
	w := svc.WarmupMs()
	if len(w) != 3 || !(w[1] > 0) || svc.FullBatch() <= 0 {
		t.Errorf("warm-up times %v, full batch %s", w, svc.FullBatch())
	}
	out, err := pool.Run(context.Background(), load.Config{Rate: 200, Arrival: load.Constant, Duration: 300 * time.Millisecond,
		Instances: 2, MaxBatch: 3, MaxDelay: time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := load.Summarize(out)
	if s.Completed != s.Requests || s.Requests != 60 {
		t.Errorf("completed %d of %d", s.Completed, s.Requests)
	}
}

func TestServiceErrors(t *testing.T) {
	conv := testutil.Fixture(t, "conv.pt")
	linear := testutil.Fixture(t, "linear.pt")
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Model: conv, Inputs: []string{"float32[B,3,16,16]"}, Compile: "sometimes", Threads: 1, MaxBatch: 1}, "--compile must be"},
		{Config{Model: conv, Inputs: []string{"float32[B,3,16,16]"}, Compile: "on", Threads: 0, MaxBatch: 1}, "--threads must be >= 1"},
		{Config{Model: linear, Inputs: []string{"float32[B,8]"}, Compile: "on", Threads: 1, MaxBatch: 1, ChannelsLast: true}, "--channels-last applies to vision models"},
		{Config{Model: linear, Inputs: []string{"float32[B,8]"}, Compile: "on", Threads: 1, MaxBatch: 1, Quantize: true}, "--quantize"},
	} {
		if _, err := New(tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want %q", tc.c, err, tc.want)
		}
	}
	// A wrong input shape fails at start, with the batch size and the schema.
	svc, err := New(Config{Model: conv, Inputs: []string{"float32[B,5,16,16]"}, Compile: "off", Threads: 1, MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := load.StartPool(svc, 1); err == nil || !strings.Contains(err.Error(), "instance 1: model") || !strings.Contains(err.Error(), "batch size 1") {
		t.Errorf("wrong input: %v", err)
	}
}
