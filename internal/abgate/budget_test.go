package abgate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
)

// TestRerunAfterBrokenBaseKeepsTheBudget: when the A/B test fails because a base version
// does not load, the re-run of the other configurations spends what is left of the budget,
// not a new one. Here the failed run used up the whole budget (20 of 15 minutes on the
// clock), so the other file is not measured and says so.
func TestRerunAfterBrokenBaseKeepsTheBudget(t *testing.T) {
	mlp := testutil.Fixture(t, "mlp.pt")
	garbage := filepath.Join(t.TempDir(), "garbage.pt")
	if err := os.WriteFile(garbage, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "other.pt")
	b, _ := os.ReadFile(mlp)
	if err := os.WriteFile(other, append(b, 0), 0o644); err != nil { // other bytes: a changed file
		t.Fatal(err)
	}
	r := newRepo(t)
	base := r.commit("base", map[string]string{"a.pt": garbage, "b.pt": mlp})
	r.commit("pr", map[string]string{"a.pt": mlp, "b.pt": other})
	rec := func(m string) *record.Record {
		return &record.Record{SchemaVersion: 1, Mode: "bench", Status: record.StatusOK, LatencyP95: 1,
			Knobs: knobs.Knobs{Model: m, Inputs: []string{"float32[B,64]"}, BatchSize: 1, Compile: "off", Threads: 1, InteropThreads: 1, Device: "cpu"}}
	}
	clock := time.Date(2026, 12, 7, 4, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	var measured []string
	measure := func(_ context.Context, cfg gate.ABConfig, _, n int) ([]gate.Run, []gate.Run, error) {
		if strings.Contains(cfg.New, "a.pt") {
			clock = clock.Add(20 * time.Minute)
			return nil, nil, errors.New("load base a.pt: not a model")
		}
		measured = append(measured, cfg.New)
		clock = clock.Add(time.Second)
		return nil, nil, errors.New("not expected to run")
	}
	probe := func(_ context.Context, path string, _ gate.ABConfig) error {
		if b, _ := os.ReadFile(path); string(b) == "not a model" {
			return errors.New("not a model")
		}
		return nil
	}
	seq := gate.SeqOptions{Options: gate.Options{Alpha: 0.01, Threshold: 0.05}, Rounds: 3, MaxLooks: 2, Budget: 15 * time.Minute, Now: now}
	res, err := Run(context.Background(), Request{Records: []*record.Record{rec("a.pt"), rec("b.pt")}, Root: r.root, Source: &Git{Root: r.root, Rev: base},
		Dir: t.TempDir(), Selectors: []string{SelAll}, Metrics: []string{"p95"}, Seq: seq, Iters: 10, Warmup: 1, Measure: measure, Probe: probe})
	if err != nil {
		t.Fatal(err)
	}
	if len(measured) != 0 {
		t.Errorf("the re-run measured %q with the budget used up", measured)
	}
	if len(res.Runs) != 1 || res.Runs[0].Stopped != gate.StopNotRun {
		t.Fatalf("runs %+v, want b.pt's configuration not run for lack of budget", res.Runs)
	}
	for _, c := range res.Report.Comparisons {
		if c.Verdict != gate.Inconclusive || !strings.Contains(c.Reason, "budget") {
			t.Errorf("%s: %s (%s), want inconclusive for lack of budget", c.Key, c.Verdict, c.Reason)
		}
	}
}
