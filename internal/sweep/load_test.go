package sweep

import (
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

const loadDoc = `name: serve
mode: load
duration_s: 4
warmup_s: 0.5
latency_pct: p90
latency_budget_ms: 40
grid:
  models: [resnet18]
  compile: [on]
  instances: [1, 2]
  threads: [1, 2]
  max_batch: [1, 8]
  max_delay_ms: [0, 2.5]
  rates: [20, 40]
`

func TestParseLoadPreset(t *testing.T) {
	p := mustParse(t, loadDoc)
	if p.Mode != ModeLoad || p.Load != (LoadSettings{DurationS: 4, WarmupS: 0.5, LatencyPct: "p90", BudgetMs: 40}) {
		t.Errorf("load settings: %s %+v", p.Mode, p.Load)
	}
	g := p.Grids[0]
	if len(g.Instances) != 2 || len(g.MaxBatch) != 2 || g.MaxDelayMs[1] != 2.5 || len(g.Rates) != 2 || g.Arrival[0] != "poisson" || g.Values["batch_size"] != nil {
		t.Errorf("grid %+v", g)
	}
	cfgs, skipped, err := p.Expand(PlanOptions{CPUsAvailable: 2})
	if err != nil {
		t.Fatal(err)
	}
	// 2 instances x 2 threads x 2 batches x 2 delays x 2 rates = 32, of which the 2x2 ones (8) exceed 2 CPUs.
	if len(cfgs) != 24 || len(skipped) != 8 || !strings.Contains(skipped[0].Reason, "2 instances x 2 threads > 2 CPUs available") {
		t.Fatalf("%d configs, %d skipped (%v)", len(cfgs), len(skipped), skipped)
	}
	var c Config
	for _, x := range cfgs {
		if x.Instances == 2 && x.BatchSize == 8 && x.MaxDelayMs == 2.5 && x.OfferedRPS == 40 {
			c = x
		}
	}
	if c.Mode != ModeLoad || c.Instances != 2 || c.Threads != 1 || c.BatchSize != 8 || c.MaxDelayMs != 2.5 || c.OfferedRPS != 40 || c.LatencyPct != "p90" || c.BudgetMs != 40 {
		t.Errorf("config %+v", c)
	}
	// The planned key is the key of the record perflab load writes for it.
	r := &record.Record{Mode: "load", Knobs: knobs.Knobs{Model: "resnet18", BatchSize: 8, Compile: "on", Threads: 1, InteropThreads: 1, Device: "cpu"}, CompileApplied: true,
		Load: &record.LoadInfo{Serving: knobs.Serving{Arrival: "poisson", OfferedRPS: 40, Instances: 2, MaxBatch: 8, MaxDelayMs: 2.5}}}
	if c.Key != r.Key() {
		t.Errorf("planned key %s != record key %s", c.Key, r.Key())
	}
	if s := c.String(); s != "resnet18 2x1t max-batch 8 delay 2.5ms compile=on 40 req/s" {
		t.Errorf("String() = %q", s)
	}
	rn := &Runner{Preset: p}
	got := strings.Join(rn.Args(c), " ")
	want := "load --model resnet18 --compile on --threads 1 --interop-threads 1 --instances 2 --max-batch 8 --max-delay 2.5ms --arrival poisson --rate 40 --duration 4s --warmup 500ms --latency-pct p90 --latency-budget-ms 40 --json"
	if got != want {
		t.Errorf("Args:\n got %s\nwant %s", got, want)
	}
	// A failed child gives a failed load record with the planned key.
	if f := c.record(); f.Key() != c.Key || f.Load == nil {
		t.Errorf("failed record key %s", f.Key())
	}
}

func TestParseLoadPresetCapacity(t *testing.T) {
	doc := "name: s\nmode: load\nlatency_budget_ms: 50\nfind_capacity: true\ngrid:\n  models: [m.pt]\n  inputs: ['float32[B,3,8,8]']\n  max_batch: [4]\n"
	p := mustParse(t, doc)
	cfgs, _, err := p.Expand(PlanOptions{})
	if err != nil || len(cfgs) != 1 {
		t.Fatalf("%d configs, %v", len(cfgs), err)
	}
	c := cfgs[0]
	if !c.FindCapacity || c.OfferedRPS != 0 || c.Instances != 1 || c.MaxDelayMs != 0 || !strings.HasSuffix(c.Key, "|load|inst=1|delay=0ms|poisson|capacity=p95,50ms") {
		t.Errorf("config %+v", c)
	}
	args := strings.Join((&Runner{Preset: p, ExtraArgs: []string{"--seed", "3"}}).Args(c), " ")
	if !strings.Contains(args, "load --model m.pt --input float32[B,3,8,8] --compile auto") || !strings.Contains(args, " --find-capacity --json --seed 3") || strings.Contains(args, "--rate") || !strings.Contains(args, "--max-delay 0s") {
		t.Errorf("Args: %s", args)
	}
}

func TestParseLoadPresetErrors(t *testing.T) {
	head := "name: x\nmode: load\n"
	tests := []struct{ name, yaml, want string }{
		{"unknown mode", "name: x\nmode: serve\ngrid:\n  models: [m.pt]\n", `mode: unknown value "serve"`},
		{"load keys in bench", "name: x\ngrid:\n  models: [m.pt]\n  instances: [2]\n", `add "mode: load"`},
		{"batch_size in load", head + "grid:\n  models: [m.pt]\n  batch_size: [4]\n  rates: [10]\n", "use max_batch"},
		{"no rates", head + "grid:\n  models: [m.pt]\n", "needs rates"},
		{"rates and capacity", head + "latency_budget_ms: 5\nfind_capacity: true\ngrid:\n  models: [m.pt]\n  rates: [10]\n", "not both"},
		{"capacity without budget", head + "find_capacity: true\ngrid:\n  models: [m.pt]\n", "find_capacity needs latency_budget_ms"},
		{"too short", head + "duration_s: 2\nlatency_pct: p99\ngrid:\n  models: [m.pt]\n  rates: [40]\n", "rate 40: at 40 req/s, 2s gives 80 requests; a p99 claim needs >= 662"},
		{"bad rate", head + "grid:\n  models: [m.pt]\n  rates: [0]\n", `line 5: rates: unknown value "0" (want a number > 0)`},
		{"negative delay", head + "grid:\n  models: [m.pt]\n  rates: [10]\n  max_delay_ms: [-1]\n", `max_delay_ms: unknown value "-1"`},
		{"bad arrival", head + "grid:\n  models: [m.pt]\n  rates: [10]\n  arrival: [bursty]\n", `arrival: unknown value "bursty"`},
		{"bad instances", head + "grid:\n  models: [m.pt]\n  rates: [10]\n  instances: [0]\n", `instances: unknown value "0"`},
		{"zero duration", head + "duration_s: 0\ngrid:\n  models: [m.pt]\n  rates: [10]\n", "duration_s: must be > 0"},
		{"bad latency_pct", head + "latency_pct: p42\ngrid:\n  models: [m.pt]\n  rates: [10]\n", `latency_pct: unknown value "p42"`},
		{"quick changes mode", head + "grid:\n  models: [m.pt]\n  rates: [10]\nquick:\n  mode: bench\n", `quick may not change "mode"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(tt.yaml), false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse error = %v, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "preset p.yaml") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q should be one line naming the preset", err)
			}
		})
	}
}

func TestServingVisionPreset(t *testing.T) {
	for _, quick := range []bool{false, true} {
		p, err := Load("serving_vision", quick)
		if err != nil {
			t.Fatal(err)
		}
		cfgs, skipped, err := p.Expand(PlanOptions{CPUsAvailable: 2})
		if err != nil {
			t.Fatal(err)
		}
		if p.Mode != ModeLoad || !p.Load.FindCapacity || p.Load.BudgetMs != 50 || p.Load.LatencyPct != "p95" {
			t.Errorf("quick %v: %+v", quick, p.Load)
		}
		want, wantSkipped := 36, 12 // 2 models x (1x1, 1x2, 2x1) x 3 batches x 2 delays; 2x2 skipped
		if quick {
			want, wantSkipped = 4, 0
		}
		if len(cfgs) != want || len(skipped) != wantSkipped {
			t.Errorf("quick %v: %d configs, %d skipped; want %d, %d", quick, len(cfgs), len(skipped), want, wantSkipped)
		}
	}
}

// TestLoadPresetOneDNNISA: a load preset's onednn_isa values are configurations of their
// own, passed to perflab load (which takes --onednn-isa since the knobs are one type).
func TestLoadPresetOneDNNISA(t *testing.T) {
	p := mustParse(t, "name: s\nmode: load\ngrid:\n  models: [resnet18]\n  max_batch: [2]\n  rates: [40]\n  onednn_isa: [default, avx2]\n")
	cfgs, _, err := p.Expand(PlanOptions{})
	if err != nil || len(cfgs) != 2 {
		t.Fatalf("%d configs, %v", len(cfgs), err)
	}
	c := cfgs[1]
	if c.OneDNNISA != "avx2" || !strings.Contains(c.Key, "|isa=avx2|load|") {
		t.Errorf("config %+v", c)
	}
	if args := strings.Join((&Runner{Preset: p}).Args(c), " "); !strings.Contains(args, "--onednn-isa avx2") || !strings.Contains(args, "--max-batch 2") {
		t.Errorf("Args: %s", args)
	}
	if args := strings.Join((&Runner{Preset: p}).Args(cfgs[0]), " "); strings.Contains(args, "--onednn-isa") {
		t.Errorf("Args of the default ISA: %s", args)
	}
}
