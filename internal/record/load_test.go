package record

import (
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
)

func TestLoadKeys(t *testing.T) {
	bench := Record{Knobs: knobs.Knobs{Model: "resnet18", BatchSize: 8, Compile: "on", Threads: 1, InteropThreads: 1, Device: "cpu"}}
	const benchKey = "resnet18|b8|compile=on|t1|i1|cl=false|q=false|cpu"
	if bench.Key() != benchKey || bench.LoadConfigKey() != benchKey {
		t.Fatalf("bench key %q, want %q (unchanged by load records)", bench.Key(), benchKey)
	}
	at := func(rate float64) *Record {
		r := bench
		r.Mode = "load"
		r.Load = &LoadInfo{Serving: knobs.Serving{Arrival: "poisson", OfferedRPS: rate, Instances: 2, MaxBatch: 8, MaxDelayMs: 5}}
		return &r
	}
	a, b := at(40), at(80)
	if a.Key() != benchKey+"|load|inst=2|delay=5ms|poisson|rate=40" {
		t.Errorf("load key %q", a.Key())
	}
	if a.Key() == b.Key() || a.LoadConfigKey() != b.LoadConfigKey() || a.Key() == bench.Key() {
		t.Error("rates must differ in Key and share LoadConfigKey; load keys must differ from bench keys")
	}
	sim := at(40)
	sim.Mode = "simulate"
	if sim.Key() == a.Key() || !strings.Contains(sim.Key(), "|simulate|") {
		t.Errorf("a simulation must not share a measured run's key: %q", sim.Key())
	}
	c := at(40)
	c.Load.Capacity = &Capacity{CapacityRPS: 40, LatencyPct: "p95", BudgetMs: 50}
	if c.Key() != benchKey+"|load|inst=2|delay=5ms|poisson|capacity=p95,50ms" {
		t.Errorf("capacity summary key %q", c.Key())
	}
	// A load record round-trips.
	line, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(line)
	if err != nil || got.Key() != c.Key() || got.Load.Capacity.CapacityRPS != 40 {
		t.Errorf("round trip: %v, %+v", err, got)
	}
}
