package load

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

// serviceTimes returns bench records of "resnet18" (compile on, 1 thread) at batch 1 and
// 4, 20 ms and 50 ms per batch, and one of another configuration.
func serviceTimes() []*record.Record {
	var recs []*record.Record
	for _, b := range []struct {
		size int
		ms   float64
	}{{1, 20}, {4, 50}} {
		r := &record.Record{SchemaVersion: 1, Mode: "bench", Status: "ok", Knobs: knobs.Knobs{Model: "resnet18", BatchSize: b.size, Compile: "on", Threads: 1, InteropThreads: 1},
			CompileApplied: true, Env: &record.Env{Fingerprint: "abc", CPUsAvailable: 2}}
		for i := range 100 {
			r.SamplesMs = append(r.SamplesMs, b.ms*(0.95+0.1*float64(i)/100))
		}
		recs = append(recs, r)
	}
	return append(recs, &record.Record{SchemaVersion: 1, Mode: "bench", Status: "ok", Knobs: knobs.Knobs{Model: "resnet18", BatchSize: 1, Compile: "off", Threads: 2}, SamplesMs: []float64{999}},
		&record.Record{SchemaVersion: 1, Mode: "bench", Status: "ok", Knobs: knobs.Knobs{Model: "resnet18", BatchSize: 2, Threads: 2}, SamplesMs: []float64{999}}) // a seed record: compile off
}

func TestSelectServiceTimes(t *testing.T) {
	recs := serviceTimes()
	on := knobs.Knobs{Model: "resnet18", Compile: "on", Threads: 1}
	st, err := SelectServiceTimes(recs, on, 1)
	if err != nil || st.Kind != "bench" || len(st.Records) != 2 || len(st.Ms[1]) != 100 || len(st.Ms[4]) != 100 || len(st.Ms) != 2 {
		t.Fatalf("compile on, 1 thread: %+v, %v", st, err)
	}
	// A seed record (no compile_requested) counts as the compile it applied.
	if st, err := SelectServiceTimes(recs, knobs.Knobs{Model: "resnet18", Compile: "off", Threads: 2}, 1); err != nil || len(st.Records) != 2 {
		t.Errorf("compile off, 2 threads: %+v, %v", st, err)
	}
	// Load records of the same configuration and instances, when there is no bench record.
	l := &record.Record{Mode: "load", Status: "ok", Knobs: knobs.Knobs{Model: "resnet18", BatchSize: 4, Compile: "auto", Threads: 1},
		Load: &record.LoadInfo{Serving: knobs.Serving{Instances: 2}, ServiceMs: map[string][]float64{"1": {10}, "3": {25, 26}}}}
	if st, err := SelectServiceTimes(append(recs, l), knobs.Knobs{Model: "resnet18", Compile: "auto", Threads: 1}, 2); err != nil || st.Kind != "load" || len(st.Ms[3]) != 2 {
		t.Errorf("load records: %+v, %v", st, err)
	}
	for _, tc := range []struct {
		k    knobs.Knobs
		want []string
	}{
		{knobs.Knobs{Model: "resnet18", Compile: "auto", Threads: 1}, []string{"no usable record of resnet18 with compile auto, 1 threads", "compile off, 2 threads; compile on, 1 threads"}},
		{knobs.Knobs{Model: "resnet50", Compile: "on", Threads: 1}, []string{"no usable record of resnet50: run perflab bench or sweep"}},
	} {
		_, err := SelectServiceTimes(recs, tc.k, 1)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %v, want %q", tc.k, err, w)
			}
		}
	}
}

// TestSearchCapacitySimulated: the capacity search on a simulated backend records every
// step and summarises at the capacity step.
func TestSearchCapacitySimulated(t *testing.T) {
	k := knobs.Knobs{Model: "resnet18", Compile: "on", Threads: 1}
	s := knobs.Serving{Instances: 1, MaxBatch: 1, Arrival: Poisson}
	be, err := SimBackend(serviceTimes(), []string{"sweep.jsonl"}, k, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if be.Base.Mode != "simulate" || be.Base.BatchSize != 1 || be.Base.Env.Fingerprint != "abc" || !strings.Contains(be.Source, "sweep.jsonl: 2 bench records") {
		t.Fatalf("base %+v, source %q", be.Base, be.Source)
	}
	claim := Claim{Pct: "p95", BudgetMs: 100}
	var seen []Step
	sum, steps, err := be.SearchCapacity(context.Background(), Config{Serving: s, Duration: 30 * time.Second}, claim, Search{Tolerance: 0.05, MaxSteps: 12},
		func(st Step) error { seen = append(seen, st); return nil })
	if err != nil {
		t.Fatal(err)
	}
	c := sum.Load.Capacity
	if c == nil || len(c.Steps) != len(steps) || len(seen) != len(steps) || len(steps) < 3 || !strings.Contains(sum.Key(), "|capacity=p95,100ms") {
		t.Fatalf("summary %+v, %d steps", sum.Load, len(steps))
	}
	for i, r := range steps {
		if r.Load.Step != i+1 || seen[i].N != i+1 || seen[i].Record != r || r.Load.Capacity != nil || r.Load.OfferedRPS != c.Steps[i].OfferedRPS ||
			r.Load.WithinBudget != c.Steps[i].Pass || seen[i].Duration < 30*time.Second || c.Steps[i].Requests < 130 {
			t.Errorf("step %d: %+v vs %+v", i+1, r.Load, c.Steps[i])
		}
	}
	// One instance, max batch 1, 20 ms per request: at most 50 req/s; p95 <= 100 ms holds
	// up to roughly rho 0.8 (M/D/1). The first rate tried is 1 / 20 ms.
	if steps[0].Load.OfferedRPS != 50 || !(c.CapacityRPS > 30 && c.CapacityRPS < 50) || c.BracketHiRPS <= c.CapacityRPS ||
		sum.Load.OfferedRPS != c.CapacityRPS || !sum.Load.WithinBudget || sum.Load.Step != 0 || !strings.Contains(strings.Join(sum.Notes, " "), "capacity-search summary") {
		t.Errorf("capacity %+v; summary at %g req/s", c, sum.Load.OfferedRPS)
	}
}

// An interrupted search returns the steps run before it, and says it was cancelled.
func TestSearchCapacityInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	runs := 0
	be := &Backend{Base: &record.Record{}, FullBatch: 10 * time.Millisecond, Run: func(ctx context.Context, c Config) (*Outcome, error) {
		if runs++; runs == 2 {
			cancel()
			return nil, ctx.Err()
		}
		return Simulate(c, Fixed(func(int) time.Duration { return 10 * time.Millisecond }))
	}}
	s := knobs.Serving{Instances: 1, MaxBatch: 1, Arrival: Constant}
	_, steps, err := be.SearchCapacity(ctx, Config{Serving: s, Duration: time.Second}, Claim{Pct: "p50", BudgetMs: 50}, Search{}, func(Step) error { return nil })
	if !errors.Is(err, context.Canceled) || len(steps) != 1 {
		t.Errorf("interrupted at step 2: %d steps, %v", len(steps), err)
	}
	// Without a first rate or a service time there is nothing to start from.
	be.FullBatch = 0
	if _, _, err := be.SearchCapacity(context.Background(), Config{Serving: s, Duration: time.Second}, Claim{Pct: "p50", BudgetMs: 50}, Search{}, nil); err == nil || !strings.Contains(err.Error(), "give --rate") {
		t.Errorf("no start rate: %v", err)
	}
}
