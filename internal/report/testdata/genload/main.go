// Command genload writes ../load.jsonl, the load records of the report tests, from the
// queue simulation (so that they are realistic and reproducible):
//
//	go run ./internal/report/testdata/genload
package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/load"
	"github.com/perflab/perflab/internal/record"
)

// jittered is a batch time a + b*n with +-10% uniform noise.
type jittered struct{ a, b time.Duration }

func (j jittered) Mean(n int) time.Duration { return j.a + time.Duration(n)*j.b }
func (j jittered) Sample(n int, r *rand.Rand) time.Duration {
	return time.Duration(float64(j.Mean(n)) * (0.9 + 0.2*r.Float64()))
}

type cfg struct {
	model        string
	mode         string
	inst, thr, b int
	delayMs      float64
	svc          jittered
	rates        []float64
	capacity     bool
	failed       string
	pct          string
	budget       float64
}

var env = &record.Env{Fingerprint: "25a5ef032987", CPUModel: "AMD EPYC", LogicalCPUs: 2, CPUsAvailable: 2,
	Torch: "1.13.0", BLAS: "openblas-pthread/libblas.so.3", OS: "linux/amd64", Perflab: "dev", Go: "go1.26.8"}

func base(c cfg) *record.Record {
	return &record.Record{SchemaVersion: 1, Mode: c.mode, Status: record.StatusOK, Timestamp: "2026-01-30T14:30:22Z",
		Knobs: knobs.Knobs{Model: c.model, Device: "cpu", BatchSize: c.b, Compile: "on", Threads: c.thr, InteropThreads: 1}, CompileApplied: true, Env: env}
}

func run(c cfg, rate float64) (*record.Record, load.Summary) {
	lc := load.Config{Serving: knobs.Serving{OfferedRPS: rate, Arrival: load.Poisson, Instances: c.inst, MaxBatch: c.b, MaxDelayMs: c.delayMs},
		Duration: time.Duration(math.Max(3, 300/rate) * float64(time.Second)), Warmup: time.Second, Timeout: time.Second, Seed: 1}
	o, err := load.Simulate(lc, c.svc)
	if err != nil {
		panic(err)
	}
	s := load.Summarize(o)
	for i, v := range s.LatencyMs {
		s.LatencyMs[i] = math.Round(v*100) / 100
	}
	for b, v := range s.ServiceMs {
		for i := range v {
			v[i] = math.Round(v[i]*100) / 100
		}
		s.ServiceMs[b] = v
	}
	r := base(c)
	s.Fill(r, lc, c.pct, c.budget)
	r.Load.IssueLagP99Ms = 0.4
	return r, s
}

func main() {
	mob := jittered{3 * time.Millisecond, 3 * time.Millisecond}
	res := jittered{5 * time.Millisecond, 40 * time.Millisecond}
	cfgs := []cfg{
		{model: "mobilenet_v3_small", mode: "load", inst: 1, thr: 1, b: 1, svc: mob, rates: []float64{50, 100, 150, 200}, pct: "p95", budget: 50},
		{model: "mobilenet_v3_small", mode: "load", inst: 2, thr: 1, b: 4, delayMs: 2, svc: mob, rates: []float64{100, 200, 400, 600}, pct: "p95", budget: 50},
		{model: "mobilenet_v3_small", mode: "load", inst: 1, thr: 2, b: 4, delayMs: 5, svc: jittered{2 * time.Millisecond, 2 * time.Millisecond}, capacity: true, pct: "p95", budget: 50},
		{model: "mobilenet_v3_small", mode: "simulate", inst: 1, thr: 1, b: 1, svc: mob, rates: []float64{100, 200}, pct: "p95", budget: 50},
		{model: "mobilenet_v3_small", mode: "load", inst: 2, thr: 1, b: 8, delayMs: 5, failed: "exit status 2: perflab: instance 2: out of memory", rates: []float64{100}, pct: "p95", budget: 50},
		{model: "resnet18", mode: "load", inst: 1, thr: 2, b: 1, svc: res, rates: []float64{5, 10, 20}, pct: "p95", budget: 50},
	}
	f, err := os.Create("internal/report/testdata/load.jsonl")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	write := func(r *record.Record) {
		b, err := record.Marshal(r)
		if err != nil {
			panic(err)
		}
		f.Write(b)
	}
	for _, c := range cfgs {
		switch {
		case c.failed != "":
			r := base(c)
			r.Status, r.Error = record.StatusFailed, c.failed
			r.Load = &record.LoadInfo{Serving: knobs.Serving{Arrival: "poisson", OfferedRPS: c.rates[0], Instances: c.inst, MaxBatch: c.b, MaxDelayMs: c.delayMs}, LatencyPct: c.pct, LatencyBudgetMs: c.budget}
			write(r)
		case c.capacity:
			var steps []record.CapacityStep
			var best *record.Record
			var lo, hi float64
			for _, rate := range []float64{400, 200, 300, 250, 275} {
				r, s := run(c, rate)
				pass, _ := s.Passes(c.pct, c.budget)
				steps = append(steps, s.Step(load.Config{Serving: knobs.Serving{OfferedRPS: rate}}, pass))
				if pass && rate > lo {
					lo, best = rate, r
				}
				if !pass && (hi == 0 || rate < hi) {
					hi = rate
				}
			}
			best.Load.Capacity = &record.Capacity{CapacityRPS: lo, LatencyPct: c.pct, BudgetMs: c.budget, BracketLoRPS: lo, BracketHiRPS: hi,
				Tolerance: 0.1, Converged: (hi-lo)/hi <= 0.1, Reason: fmt.Sprintf("%g req/s passed and %g req/s failed", lo, hi), Steps: steps}
			best.SamplesMs, best.Load.ServiceMs = nil, nil // a summary as sweep children print it, trimmed
			write(best)
		default:
			for _, rate := range c.rates {
				r, _ := run(c, rate)
				write(r)
			}
		}
	}
}
