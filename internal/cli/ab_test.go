package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github/githubtest"
	"github.com/perflab/perflab/internal/testutil"
)

// A/B against a base revision, end to end: a real git repository in a temporary folder,
// real TorchScript models (mlp.pt; mlp_slow.pt is several times slower; mlp_twin.pt has
// the same architecture and other weights), perflab in child processes.

// abRepo is a git repository holding perf/ab.yaml (one configuration of models/m.pt) and,
// at its first commit, models/m.pt = mlp.pt.
type abRepo struct {
	t    *testing.T
	root string
	base string // the first commit
}

const abPreset = `name: ab
iters: 200
warmup: 5
grid:
  models: [models/m.pt]
  inputs: ['float32[B,64]']
  batch_size: [1]
  threads: [1]
  interop_threads: [1]
  compile: ["off"]
`

func newABRepo(t *testing.T) *abRepo {
	t.Helper()
	r := &abRepo{t: t, root: t.TempDir()}
	r.git("init", "-q", "-b", "main")
	r.git("config", "user.email", "ci@example.com")
	r.git("config", "user.name", "ci")
	os.MkdirAll(filepath.Join(r.root, "perf"), 0o755)
	os.WriteFile(filepath.Join(r.root, "perf", "ab.yaml"), []byte(abPreset), 0o644)
	r.base = r.commit("base", "mlp.pt")
	return r
}

func (r *abRepo) git(args ...string) string {
	r.t.Helper()
	out, err := exec.Command("git", append([]string{"-C", r.root}, args...)...).CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// setModel copies a fixture to models/m.pt.
func (r *abRepo) setModel(fixture string) {
	r.t.Helper()
	b, err := os.ReadFile(testutil.Fixture(r.t, fixture))
	if err != nil {
		r.t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(r.root, "models"), 0o755)
	if err := os.WriteFile(filepath.Join(r.root, "models", "m.pt"), b, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *abRepo) commit(msg, fixture string) string {
	r.setModel(fixture)
	r.git("add", "-A")
	r.git("commit", "-q", "-m", msg)
	return r.git("rev-parse", "HEAD")
}

func TestGateAgainst(t *testing.T) {
	if testing.Short() {
		t.Skip("sweeps and A/B rounds in child processes")
	}
	r := newABRepo(t)
	args := []string{"gate", "--preset", "perf/ab.yaml", "--sweep-out", filepath.Join(t.TempDir(), "s.jsonl"), "--rounds", "3",
		"--iters", "200", "--warmup", "5", "--metrics", "p50,throughput", "--json"}

	// Nothing changed since the revision: nothing can have regressed; no A/B round runs.
	res := runPerflabIn(t, r.root, nil, append(args, "--against", "HEAD")...)
	var rep gate.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || res.code != ExitOK {
		t.Fatalf("unchanged: exit %d, %v\n%s\n%s", res.code, err, res.stdout, res.stderr)
	}
	if rep.Verdict != gate.Pass || !strings.HasPrefix(rep.Summary, "no model file changed since the base") || strings.Contains(res.stderr, "A p95") {
		t.Errorf("unchanged: verdict %q: %q\n%s", rep.Verdict, rep.Summary, res.stderr)
	}

	// The working tree's model is several times slower than HEAD's: a regression, confirmed
	// by a second look before it fails.
	r.setModel("mlp_slow.pt")
	res = runPerflabIn(t, r.root, nil, append(args, "--against", "main")...)
	rep = gate.Report{}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("slow: %v\n%s\n%s", err, res.stdout, res.stderr)
	}
	if res.code != ExitRegression || rep.Verdict != gate.Failed || len(rep.Comparisons) != 2 {
		t.Fatalf("slow: exit %d, verdict %q (%s), %d comparisons\n%s", res.code, rep.Verdict, rep.Summary, len(rep.Comparisons), res.stderr)
	}
	key := "models/m.pt|b1|compile=off|t1|i1|cl=false|q=false|cpu"
	for _, c := range rep.Comparisons {
		// p50 must be a confirmed regression; throughput (one value per round, noisier on a
		// busy machine) may stay inconclusive, but never "no change".
		want := c.Verdict == gate.Regression || (c.Metric == "throughput" && c.Verdict == gate.Inconclusive && c.Ratio < 1)
		if c.Key != key || !want || c.Rounds != 6 || !strings.HasPrefix(c.Method, "paired A/B: 6 interleaved rounds") || c.Ratio < 1.5 && c.Metric == "p50" {
			t.Errorf("%s %s: %s, %d rounds, ratio %.2f (%s)", c.Key, c.Metric, c.Verdict, c.Rounds, c.Ratio, c.Method)
		}
	}
	if note := rep.ConfigNotes[key]; !strings.Contains(note, "3 rounds: regression, then 6 rounds: regression (regression confirmed") {
		t.Errorf("config note %q", note)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "`models/m.pt`: model file changed") || !strings.Contains(res.stderr, "A/B against main (") {
		t.Errorf("notes %q\nstderr %s", rep.Notes, res.stderr)
	}

	// A revision that does not exist: one line naming it.
	res = runPerflabIn(t, r.root, nil, append(args, "--against", "nosuchbranch")...)
	if res.code != ExitUsage || !strings.Contains(res.stderr, "--against: revision nosuchbranch is not in the checkout") {
		t.Errorf("bad revision: exit %d, %s", res.code, res.stderr)
	}
	checkErrorLine(t, res.stderr)
}

// TestActionABAgainstBase: a pull request that replaces the repository's model, no stored
// baseline: the action measures the base's model file against the pull request's on the
// runner and decides without any baseline.
func TestActionABAgainstBase(t *testing.T) {
	if testing.Short() {
		t.Skip("runs perflab action, a sweep and A/B rounds in child processes")
	}
	for _, tc := range []struct {
		name     string
		fixture  string
		checkout bool // the workspace is a git checkout; else the contents API serves the base
		code     int
		verdicts []string
	}{
		{"slower model fails the check (git checkout)", "mlp_slow.pt", true, ExitRegression, []string{gate.Failed}},
		{"slower model fails the check (contents API)", "mlp_slow.pt", false, ExitRegression, []string{gate.Failed}},
		{"same-speed twin does not", "mlp_twin.pt", true, ExitOK, []string{gate.Pass, gate.NotConclusive}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newABRepo(t)
			head := r.commit("pr", tc.fixture)
			e := newActionEnv(t, "pull_request", "pull_request.json")
			e.ws = r.root
			if !tc.checkout {
				os.RemoveAll(filepath.Join(r.root, ".git"))
			}
			payload := fmt.Sprintf(`{"action": "synchronize", "number": 7, "repository": {"full_name": "acme/app", "default_branch": "main"},
  "pull_request": {"number": 7, "base": {"ref": "main", "sha": %q, "repo": {"full_name": "acme/app"}},
  "head": {"ref": "feature", "sha": %q, "repo": {"full_name": "acme/app"}}}}`, r.base, head)
			ev := filepath.Join(t.TempDir(), "event.json")
			os.WriteFile(ev, []byte(payload), 0o644)
			e.env["GITHUB_EVENT_PATH"], e.env["GITHUB_WORKSPACE"] = ev, r.root
			e.env["INPUT_PRESET"], e.env["INPUT_COMMENT"] = "perf/ab.yaml", "false"
			e.env["INPUT_METRICS"], e.env["INPUT_AB-ROUNDS"], e.env["INPUT_ITERS"] = "p50,throughput", "3", "200"
			api := githubtest.New(t)
			api.Reply("GET", "/repos/acme/app/contents/baselines/ab.json", 404, githubtest.Message("Not Found")).WithQuery("ref", r.base)
			if !tc.checkout {
				b, _ := os.ReadFile(testutil.Fixture(t, "mlp.pt"))
				api.Reply("GET", "/repos/acme/app/contents/models/m.pt", 200, fileAnswer(b, "blob-m")).WithQuery("ref", r.base)
				// The base's preset: what it gates must still be gated (docs/security.md).
				api.Reply("GET", "/repos/acme/app/contents/perf/ab.yaml", 200, fileAnswer([]byte(abPreset), "blob-p")).WithQuery("ref", r.base)
			}
			res := e.run(api)
			if res.code != tc.code || !contains(tc.verdicts, res.outputs["verdict"]) {
				t.Fatalf("exit %d (want %d), verdict %q (want one of %v)\n%v", res.code, tc.code, res.outputs["verdict"], tc.verdicts, res)
			}
			for _, want := range []string{"`models/m.pt`: model file changed", "A/B models/m.pt (base vs this change)"} {
				if !strings.Contains(res.summary, want) {
					t.Errorf("summary lacks %q:\n%s", want, res.summary)
				}
			}
			// Files are named as the repository does, never by the runner's path.
			if strings.Contains(res.summary, r.root) || strings.Contains(res.stdout, r.root) {
				t.Errorf("a runner path is shown:\n%s\n%s", res.summary, res.stdout)
			}
			if tc.checkout && !strings.Contains(res.summary, "git "+r.base[:10]) {
				t.Errorf("summary does not say the base came from git:\n%s", res.summary)
			}
			if !tc.checkout && !strings.Contains(res.summary, "contents API at "+r.base[:10]) {
				t.Errorf("summary does not say the base came from the contents API:\n%s", res.summary)
			}
		})
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
