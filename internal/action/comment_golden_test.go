package action

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/testutil"
)

// TestCommentGolden: the pull request comment in the cases people meet, from the real
// action (a git repository with a base and a head commit, the fake API, the sweep and
// the A/B rounds standing in with fixed numbers): the first line is the verdict with the
// number that decided it, then what was compared (base -> head, every model file by its
// repository path), the table, the reasons per metric, the rule with each metric's band,
// the notes; no note contradicts the table, and no runner path appears anywhere.
func TestCommentGolden(t *testing.T) {
	// Fixed commit dates: fixed commit SHAs in the comment.
	t.Setenv("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
	t.Setenv("GIT_COMMITTER_DATE", "2026-01-02T03:04:05Z")
	mlp, err := os.ReadFile(testutil.Fixture(t, "mlp.pt"))
	if err != nil {
		t.Fatal(err)
	}
	changeNet := func(h *hostileRepo) { h.write("models/net.pt", string(mlp)) }
	tests := []struct {
		name     string
		base, pr func(h *hostileRepo)
		factor   float64 // NEW / OLD in the A/B rounds
		budget   string
		code     int
		verdict  string
		first    string // in the first line
	}{
		{name: "pass", pr: changeNet, factor: 1.0, code: 0, verdict: gate.Pass, first: "every gated metric inside its band"},
		{name: "fail", pr: changeNet, factor: 1.3, code: 1, verdict: gate.Failed, first: "p95 +30"},
		{name: "broken-head", pr: func(h *hostileRepo) { h.write("models/net.pt", "garbage, not a TorchScript archive") },
			code: 1, verdict: gate.Failed, first: "a changed model file does not load"},
		{name: "broken-base", base: func(h *hostileRepo) { h.write("models/net.pt", "garbage at the base") }, pr: changeNet,
			code: 0, verdict: gate.NoBaseline},
		// Both files change, 65 s of budget at 10 s a round: 3 rounds each, a first look
		// only: a 30% slowdown is seen and said, not confirmed, not a pass.
		{name: "budget-exhausted", pr: func(h *hostileRepo) { changeNet(h); h.write("models/other.pt", string(mlp)) }, factor: 1.3, budget: "65s",
			code: 0, verdict: gate.NotConclusive, first: "not confirmed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHostileRepoWith(t, "pull_request", tt.base, tt.pr)
			if tt.budget != "" {
				h.w.env["INPUT_AB-BUDGET"] = tt.budget
			}
			clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			rng := rand.New(rand.NewPCG(7, 7))
			loads := func(path string) error {
				b, err := os.ReadFile(path)
				if err != nil || !bytes.HasPrefix(b, []byte("PK\x03\x04")) {
					return errors.New("load " + path + ": PytorchStreamReader failed reading zip archive: failed finding central directory")
				}
				return nil
			}
			res, err := Run(context.Background(), Deps{
				Getenv: mapEnv(h.w.env), Stdout: &h.w.stdout, Version: "test",
				Now: func() time.Time { return clock },
				NewClient: func(token, apiURL string) (*github.Client, error) {
					c, err := github.NewClient(token, apiURL)
					if c != nil {
						c.Sleep = func(time.Duration) {}
					}
					return c, err
				},
				Sweep: h.sweep,
				MeasureAB: func(_ context.Context, cfg gate.ABConfig, first, n int) (a, b []gate.Run, err error) {
					for _, p := range []string{cfg.Old, cfg.New} {
						if err := loads(p); err != nil {
							return nil, nil, errors.New("A/B round 1 of " + cfg.Key + " failed: " + err.Error())
						}
					}
					for range n {
						d := math.Exp(0.1 * rng.NormFloat64())
						a = append(a, synthRun(rng, 10*d))
						b = append(b, synthRun(rng, 10*d*tt.factor*math.Exp(0.005*rng.NormFloat64())))
						clock = clock.Add(10 * time.Second)
					}
					return a, b, nil
				},
				Probe: func(_ context.Context, path string, _ gate.ABConfig) error { return loads(path) },
			})
			code := 0
			switch {
			case err != nil:
				t.Fatalf("error %v\n%s", err, h.w.stdout.String())
			case res.Fail:
				code = 1
			}
			if code != tt.code || res.Verdict != tt.verdict {
				t.Fatalf("exit %d, verdict %q; want %d, %q\n%s", code, res.Verdict, tt.code, tt.verdict, h.w.stdout.String())
			}
			cs := botComments(h.hub.Snapshot(), 7)
			if len(cs) != 1 {
				t.Fatalf("%d comments, want 1", len(cs))
			}
			body := cs[0].Body
			first, _, _ := strings.Cut(strings.TrimPrefix(body, gate.Marker+"\n"), "\n")
			if !strings.Contains(first, tt.verdict) || !strings.Contains(first, tt.first) {
				t.Errorf("first line %q: want %q and %q", first, tt.verdict, tt.first)
			}
			if tt.name == "broken-head" && !strings.Contains(body, "**Does not load:** `models/net.pt`: load models/net.pt: PytorchStreamReader failed reading zip archive") {
				t.Errorf("the comment does not say, under its first line, which file does not load and why:\n%s", body)
			}
			for what, s := range map[string]string{"comment": body, "log": h.w.stdout.String(), "summary": h.w.file(filepath.Join(h.w.ws, OutDir, "summary.md"))} {
				if strings.Contains(s, h.w.ws) || strings.Contains(s, os.TempDir()+"/") {
					t.Errorf("the %s shows a runner path", what)
				}
			}
			if strings.Contains(body, "cannot fail on a regression") && tt.verdict == gate.Failed {
				t.Errorf("a failing comment says it cannot fail")
			}
			testutil.Golden(t, filepath.Join("testdata", "comment-"+tt.name+".md.golden"), []byte(numberHashes(verdictPart(body))))
		})
	}
}

// verdictPart is the comment up to its recommendations (the report after it has its own
// golden files).
func verdictPart(body string) string {
	if i := strings.Index(body, "#### Recommended configuration"); i >= 0 {
		return body[:i]
	}
	return body
}

// synthRun is 400 lognormal samples around median ms.
func synthRun(rng *rand.Rand, median float64) gate.Run {
	s := make([]float64, 400)
	sum := 0.0
	for i := range s {
		s[i] = median * math.Exp(0.05*rng.NormFloat64())
		sum += s[i]
	}
	return gate.Run{SamplesMs: s, ThroughputRPS: 1000 / (sum / 400)}
}

// numberHashes replaces each distinct git SHA and sha256 prefix in s by a numbered
// placeholder (<hash1>, <hash2>, ... in order of first use): the fixture models' bytes, and so
// every hash, differ between libtorch versions, while which hash stands where (the base's sha
// on every line that names the base) is what the golden checks.
func numberHashes(s string) string {
	seen := map[string]string{}
	return hashRE.ReplaceAllStringFunc(s, func(h string) string {
		if _, ok := seen[h]; !ok {
			seen[h] = fmt.Sprintf("<hash%d>", len(seen)+1)
		}
		return seen[h]
	})
}

var hashRE = regexp.MustCompile(`\b[0-9a-f]{10}(?:[0-9a-f]{2})?\b`)
