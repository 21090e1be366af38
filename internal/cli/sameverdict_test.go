package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/flow"
	"github.com/perflab/perflab/internal/gate"
)

// sameRounds wraps a gate.Measure so that a second caller asking for the same rounds of
// the same configuration gets the first caller's measurements: two front ends then decide
// on identical data, and any difference in their verdicts is a difference in their code.
func sameRounds(m gate.Measure) (gate.Measure, func() int) {
	type answer struct{ a, b []gate.Run }
	var mu sync.Mutex
	seen := map[string]answer{}
	calls := 0
	return func(ctx context.Context, cfg gate.ABConfig, first, n int) ([]gate.Run, []gate.Run, error) {
		key := fmt.Sprintf("%s|%d|%d", cfg.Key, first, n)
		mu.Lock()
		got, ok := seen[key]
		mu.Unlock()
		if ok {
			return got.a, got.b, nil
		}
		a, b, err := m(ctx, cfg, first, n)
		if err == nil {
			mu.Lock()
			seen[key], calls = answer{a, b}, calls+1
			mu.Unlock()
		}
		return a, b, err
	}, func() int { return calls }
}

// TestActionAndGateAgainstGiveTheSameVerdict: the Action on a pull request and `perflab
// gate --against` are adapters over one flow (flow.GateAgainstBase). On the same
// repository, the same change (the model file made several times slower) and the same
// measured rounds (real ones, of real TorchScript files), they reach the same typed verdict.
func TestActionAndGateAgainstGiveTheSameVerdict(t *testing.T) {
	if testing.Short() {
		t.Skip("sweeps and A/B rounds in child processes")
	}
	t.Setenv(asCLI, "1") // the children of this process are perflab
	r := newABRepo(t)
	head := r.commit("pr", "mlp_slow.pt")
	measure, measured := sameRounds(flow.MeasureInChildren(io.Discard, 10*time.Minute))

	// perflab gate --against BASE, in this process, from the repository.
	t.Chdir(r.root)
	var out, errOut bytes.Buffer
	ios := IO{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut}
	var opts *GateOptions
	cmd := NewGateCmd(ios, func(o *GateOptions) error { opts = o; return nil })
	cmd.SetArgs([]string{"--preset", "perf/ab.yaml", "--sweep-out", filepath.Join(t.TempDir(), "s.jsonl"), "--against", r.base,
		"--rounds", "3", "--iters", "200", "--metrics", "p50,throughput", "--budget", "15m", "--json"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	opts.Measure = measure
	gateErr := RunGate(context.Background(), opts)
	var fromGate gate.Report
	if err := json.Unmarshal(out.Bytes(), &fromGate); err != nil {
		t.Fatalf("gate --against: %v (%v)\n%s", err, gateErr, errOut.String())
	}
	roundsMeasured := measured()

	// The Action on a pull request from BASE to HEAD, in this process.
	ev := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(ev, []byte(fmt.Sprintf(`{"action": "synchronize", "number": 7, "repository": {"full_name": "acme/app", "default_branch": "main"},
  "pull_request": {"number": 7, "base": {"ref": "main", "sha": %q, "repo": {"full_name": "acme/app"}},
  "head": {"ref": "feature", "sha": %q, "repo": {"full_name": "acme/app"}}}}`, r.base, head)), 0o644)
	env := map[string]string{"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": ev, "GITHUB_REPOSITORY": "acme/app",
		"GITHUB_WORKSPACE": r.root, "INPUT_PRESET": "perf/ab.yaml", "INPUT_COMMENT": "false", "INPUT_METRICS": "p50,throughput",
		"INPUT_AB-ROUNDS": "3", "INPUT_ITERS": "200"}
	var log bytes.Buffer
	actionErr := RunAction(context.Background(), &ActionOptions{IO: IO{In: &bytes.Buffer{}, Out: &log, ErrOut: io.Discard},
		Getenv: func(k string) string { return env[k] }, Measure: measure})
	b, err := os.ReadFile(filepath.Join(r.root, "perflab-results", "verdict.json"))
	if err != nil {
		t.Fatalf("action: %v (%v)\n%s", err, actionErr, log.String())
	}
	var fromAction gate.Report
	if err := json.Unmarshal(b, &fromAction); err != nil {
		t.Fatal(err)
	}

	if roundsMeasured == 0 || measured() != roundsMeasured {
		t.Errorf("rounds measured: %d by the gate, %d in all: the action should have asked for the same rounds", roundsMeasured, measured())
	}
	if fromGate.Verdict != gate.Failed {
		t.Errorf("gate --against: verdict %q (%s), want a regression", fromGate.Verdict, fromGate.Summary)
	}
	if fromGate.Verdict != fromAction.Verdict || fromGate.Summary != fromAction.Summary || fromGate.Regressions != fromAction.Regressions {
		t.Errorf("verdicts differ:\n gate   %s: %s\n action %s: %s", fromGate.Verdict, fromGate.Summary, fromAction.Verdict, fromAction.Summary)
	}
	// The configuration notes may differ only in where the base's file was written and in
	// the wall time the rounds took (here: none, they were measured once).
	for _, rep := range []*gate.Report{&fromGate, &fromAction} {
		for k, n := range rep.ConfigNotes {
			n = regexp.MustCompile(`A/B \S+ -> `).ReplaceAllString(n, "A/B (base) -> ")
			rep.ConfigNotes[k] = regexp.MustCompile(`; \d+ s\)`).ReplaceAllString(n, "; (time))")
		}
	}
	for name, pair := range map[string][2]any{"comparisons": {fromGate.Comparisons, fromAction.Comparisons},
		"configuration notes": {fromGate.ConfigNotes, fromAction.ConfigNotes}, "notes": {fromGate.Notes, fromAction.Notes}} {
		g, _ := json.Marshal(pair[0])
		a, _ := json.Marshal(pair[1])
		if !bytes.Equal(g, a) {
			t.Errorf("%s differ:\n gate   %s\n action %s", name, g, a)
		}
	}
	// Both exit 1: the one policy fails a regression in both.
	for name, err := range map[string]error{"gate": gateErr, "action": actionErr} {
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitRegression {
			t.Errorf("%s: %v, want exit %d", name, err, ExitRegression)
		}
	}
}
