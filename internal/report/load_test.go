package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
)

// testdata/load.jsonl is written by `go run ./internal/report/testdata/genload` (simulated
// load records: four serving configurations of mobilenet_v3_small, one of them a capacity
// search summary only and one simulated, a failed run, and resnet18 always over budget).

func TestLoadReport(t *testing.T) {
	rep := mustCompute(t, readRecords(t, "testdata/load.jsonl"), Options{Balanced, "p95", 0})
	lr := rep.Load
	if lr == nil {
		t.Fatal("no load report for load records")
	}
	if len(rep.Entries) != 0 || len(rep.Failures) != 0 || len(rep.Recommendations) != 0 {
		t.Errorf("load records leaked into the bench report: %d entries, %d failures, %d recommendations", len(rep.Entries), len(rep.Failures), len(rep.Recommendations))
	}
	// No --latency-budget-ms: the runs' own budget (they agree on p95 <= 50 ms).
	if lr.Percentile != "p95" || lr.BudgetMs != 50 || !strings.Contains(lr.BudgetFrom, "load runs") {
		t.Errorf("budget %s <= %g from %q; want the records' p95 <= 50", lr.Percentile, lr.BudgetMs, lr.BudgetFrom)
	}
	if len(lr.Configs) != 5 || len(lr.Failures) != 1 || !slices.Equal(lr.Models, []string{"mobilenet_v3_small", "resnet18"}) {
		t.Fatalf("%d configs, %d failures, models %v", len(lr.Configs), len(lr.Failures), lr.Models)
	}
	caps := map[string]float64{}
	for _, c := range lr.Configs {
		caps[c.ShortLabel()] = c.Capacity
		if !slices.IsSortedFunc(c.Points, func(a, b *LoadPoint) int { return int(a.OfferedRPS - b.OfferedRPS) }) {
			t.Errorf("%s: points not sorted by rate", c.ShortLabel())
		}
	}
	want := map[string]float64{"1x1t b1 d0ms": 100, "2x1t b4 d2ms": 400, "1x2t b4 d5ms": 300, "1x1t b1 d0ms sim": 100, "1x2t b1 d0ms": 0}
	for k, v := range want {
		if caps[k] != v {
			t.Errorf("capacity of %s = %g, want %g (all: %v)", k, caps[k], v, caps)
		}
	}
	// A saturated point never passes, whatever its latency.
	for _, c := range lr.Configs {
		for _, p := range c.Points {
			if p.Saturated && p.Pass {
				t.Errorf("%s at %g: saturated but passes", c.ShortLabel(), p.OfferedRPS)
			}
		}
	}
	if len(lr.Recommendations) != 2 {
		t.Fatalf("%d recommendations", len(lr.Recommendations))
	}
	mob, res := lr.Recommendations[0], lr.Recommendations[1]
	if mob.None || mob.Chosen.ShortLabel() != "2x1t b4 d2ms" || mob.Predicted || mob.RunnerUp == nil || mob.RunnerUp.ShortLabel() != "1x2t b4 d5ms" {
		t.Errorf("mobilenet: %+v", mob)
	}
	if !res.None || !strings.Contains(res.Reason, "no serving configuration of resnet18") {
		t.Errorf("resnet18: %+v", res)
	}

	// The report's own budget wins: at p95 <= 20 ms fewer rates pass.
	rep = mustCompute(t, readRecords(t, "testdata/load.jsonl"), Options{Latency, "p95", 20})
	for _, c := range rep.Load.Configs {
		if c.ShortLabel() == "2x1t b4 d2ms" && c.Capacity != 200 {
			t.Errorf("2x1t b4 d2ms at p95 <= 20 ms: capacity %g, want 200", c.Capacity)
		}
	}
}

func TestLoadRecommendationTiesAndPredictions(t *testing.T) {
	mk := func(inst, thr, b int, delay float64, mode string, rate, p95 float64) *record.Record {
		return &record.Record{Mode: mode, Knobs: knobs.Knobs{Model: "m", BatchSize: b, Threads: thr, Compile: "on"}, CompileApplied: true,
			LatencyP50: p95 / 2, LatencyP90: p95, LatencyP95: p95, LatencyP99: p95, ThroughputRPS: rate,
			Load: &record.LoadInfo{Serving: knobs.Serving{Arrival: "poisson", OfferedRPS: rate, Instances: inst, MaxBatch: b, MaxDelayMs: delay}, AchievedRPS: rate, Requests: 500}}
	}
	recs := []*record.Record{
		mk(2, 1, 8, 5, "load", 100, 40), // capacity 100, 2 CPUs
		mk(1, 1, 4, 2, "load", 97, 45),  // capacity 97 (within 5%), 1 CPU: cheaper
		mk(1, 1, 4, 2, "load", 120, 80),
		mk(1, 2, 1, 0, "simulate", 500, 10), // predicted: never beats measured
	}
	rep := mustCompute(t, recs, Options{Latency, "p95", 50})
	r := rep.Load.Recommendations[0]
	if r.None || r.Chosen.Instances != 1 || r.Chosen.Capacity != 97 || !r.Tie || r.Predicted || !strings.Contains(r.Reason, "cheaper") {
		t.Errorf("tie: chosen %+v, reason %q", r.Chosen, r.Reason)
	}
	// Nothing measured passes: the simulated one is recommended as a prediction.
	rep = mustCompute(t, recs, Options{Latency, "p95", 30})
	r = rep.Load.Recommendations[0]
	if r.None || !r.Predicted || !r.Chosen.Simulated || r.Chosen.Capacity != 500 {
		t.Errorf("predicted: %+v", r)
	}
	// No budget anywhere: curves only, no recommendation.
	rep = mustCompute(t, recs, Options{Balanced, "p95", 0})
	if rep.Load.BudgetMs != 0 || len(rep.Load.Recommendations) != 0 {
		t.Errorf("without a budget: %+v", rep.Load)
	}
	var md bytes.Buffer
	if err := Markdown(&md, rep, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "No latency budget") {
		t.Errorf("markdown does not say there is no budget:\n%s", md.String())
	}
}

func TestLoadMarkdownAndJSONGolden(t *testing.T) {
	rep := mustCompute(t, readRecords(t, "testdata/load.jsonl"), Options{Latency, "p95", 50})
	rep.Inputs = []string{"testdata/load.jsonl"}
	var md bytes.Buffer
	if err := Markdown(&md, rep, RenderOptions{Generator: "perflab test", Plots: []PlotFile{{Title: "Request latency vs offered load", Path: "x_latency_vs_load.png"}}}); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "load_p95_50.md.golden"), md.Bytes())
	for _, w := range []string{"## Serving under load", "### Recommended serving configuration", "CANNOT KEEP UP", "**capacity**", "(simulated)", "capacity-search step", "### Failed load runs", "out of memory"} {
		if !strings.Contains(md.String(), w) {
			t.Errorf("markdown lacks %q", w)
		}
	}
	if strings.Contains(md.String(), "## What each knob did") {
		t.Error("a load-only report must not have the bench sections")
	}
	var js bytes.Buffer
	if err := WriteJSON(&js, rep); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "load_p95_50.json.golden"), js.Bytes())
	var got struct {
		Serving []JSONServing `json:"serving"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Serving) != 2 || got.Serving[0].CapacityRPS != 400 || got.Serving[0].Instances != 2 || got.Serving[0].MaxDelayMs == nil || *got.Serving[0].MaxDelayMs != 2 || !got.Serving[1].None {
		t.Errorf("serving JSON: %+v", got.Serving)
	}
	var txt bytes.Buffer
	if err := Text(&txt, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "mobilenet_v3_small serving: 2 instances x 1 thread") || !strings.Contains(txt.String(), "resnet18 serving: no recommendation") {
		t.Errorf("text:\n%s", txt.String())
	}
}

// Bench and load records together: the bench part renders exactly as without the load
// records, and the serving section follows.
func TestMixedBenchAndLoad(t *testing.T) {
	opts := Options{Balanced, "p95", 50}
	bench := mustCompute(t, readRecords(t, "testdata/sweep.jsonl"), opts)
	mixed := mustCompute(t, readRecords(t, "testdata/sweep.jsonl", "testdata/load.jsonl"), opts)
	var a, b bytes.Buffer
	if err := Markdown(&a, bench, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := Markdown(&b, mixed, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	section := func(s string) string {
		i := strings.Index(s, "## Recommendations")
		j := strings.Index(s, "## Failed configurations")
		return s[i:j]
	}
	if section(a.String()) != section(b.String()) {
		t.Error("load records changed the bench sections")
	}
	if !strings.Contains(b.String(), "## Serving under load") || strings.Contains(a.String(), "Serving under load") {
		t.Error("the serving section must appear with load records only")
	}
	ja, _ := json.Marshal(bench.ToJSON().Recommendations)
	jb, _ := json.Marshal(mixed.ToJSON().Recommendations)
	if !bytes.Equal(ja, jb) {
		t.Error("load records changed the bench recommendations")
	}
}

func TestLoadPlot(t *testing.T) {
	rep := mustCompute(t, readRecords(t, "testdata/load.jsonl"), Options{Latency, "p95", 50})
	dir := t.TempDir()
	files, err := WritePlots(rep, dir, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != "latest_latency_vs_load.png" {
		t.Fatalf("plots %+v; want only the latency-vs-load plot for load records", files)
	}
	img := decodePNG(t, filepath.Join(dir, files[0].Path))
	if n := distinctColors(img); n < 5 {
		t.Errorf("latency-vs-load plot has %d colours: blank?", n)
	}
	// Bench records only: no load plot.
	rep = mustCompute(t, readRecords(t, "testdata/sweep.jsonl"), Options{Latency, "p95", 50})
	files, err = WritePlots(rep, t.TempDir(), "b")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.Contains(f.Path, "load") {
			t.Errorf("bench-only report wrote %s", f.Path)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "latest_throughput_vs_p95.png")); err == nil {
		t.Error("a load-only report wrote a bench plot")
	}
}
