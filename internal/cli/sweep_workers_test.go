package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
)

// TestSweepWorkersEndToEnd: a real sweep in worker processes (perflab sweep-worker, real
// libtorch): one record per configuration with its 3 runs and between-process
// intervals, paired knob effects in the report, and a resume that finds it done.
func TestSweepWorkersEndToEnd(t *testing.T) {
	conv := testutil.Fixture(t, "conv.pt")
	dir := t.TempDir()
	preset := filepath.Join(dir, "p.yaml")
	doc := fmt.Sprintf("name: p\niters: 31\nwarmup: 2\nmax_seconds: 1\ngrid:\n  models: [%s]\n  inputs: ['float32[B,3,16,16]']\n  batch_size: [1, 2]\n  threads: [1]\n  compile: [off, on]\n", conv)
	if err := os.WriteFile(preset, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "s.jsonl")
	r := runPerflab(t, nil, "sweep", "--preset", preset, "--out", out, "--progress", "lines")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "3 worker processes per process-wide setting") || strings.Count(r.stderr, "4 configurations side by side") != 3 {
		t.Errorf("progress does not show 3 workers of 4 configurations:\n%s", r.stderr)
	}
	recs, err := record.ReadFile(out, nil)
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for _, rec := range recs {
		if !rec.OK() || len(rec.Runs) != 3 || rec.LatencyRunsCI["p95"].Hi == 0 || rec.LatencyNextPI["p50"].Hi == 0 || rec.Preset != "p" {
			t.Errorf("%s: status %s (%s), %d runs, runs CI %v", rec.Key(), rec.Status, rec.Error, len(rec.Runs), rec.LatencyRunsCI)
		}
		// iters: 31 over 3 workers is 11+10+10 timed iterations, not 3x11.
		if rec.Iters != len(rec.SamplesMs) || rec.Iters != 31 {
			t.Errorf("%s: %d iters, %d samples", rec.Key(), rec.Iters, len(rec.SamplesMs))
		}
	}
	r = runPerflab(t, nil, "sweep", "--preset", preset, "--out", out, "--resume", "--progress", "none")
	if r.code != 0 || !strings.Contains(r.stderr, "0 configurations to run (4 already in") {
		t.Errorf("resume: %d %s", r.code, r.stderr)
	}
	md := filepath.Join(dir, "rep.md")
	r = runPerflab(t, nil, "report", "--input", out, "--out", md, "--no-plots", "--json")
	if r.code != 0 {
		t.Fatalf("report: %d %s", r.code, r.stderr)
	}
	var j struct {
		Recommendations []struct {
			LatencyRunsCI *struct{ Lo, Hi float64 } `json:"latency_runs_ci"`
			Processes     int                       `json:"processes"`
		} `json:"recommendations"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || len(j.Recommendations) != 1 || j.Recommendations[0].LatencyRunsCI == nil || j.Recommendations[0].Processes != 3 {
		t.Errorf("report --json: %v\n%s", err, r.stdout)
	}
	b, _ := os.ReadFile(md)
	if !strings.Contains(string(b), "compile on:") || !strings.Contains(string(b), "paired in 6 worker processes over 2 pairs") {
		t.Errorf("report lacks the paired compile effect:\n%s", b)
	}
}
