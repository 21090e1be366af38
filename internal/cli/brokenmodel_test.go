package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/github/githubtest"
	"github.com/perflab/perflab/internal/testutil"
)

// TestActionBrokenPRModel: a pull request that replaces the one model of a one-model
// preset with bytes that do not load fails the check (the regression exit code, 1), and
// the author reads why in the pull request's comment, in one line with the load error,
// as well as in the log; no runner path anywhere.
func TestActionBrokenPRModel(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	if testing.Short() {
		t.Skip("runs perflab action and sweeps in child processes")
	}
	e := newActionEnv(t, "pull_request", "pull_request.json")
	conv, err := os.ReadFile(testutil.Fixture(t, "conv.pt"))
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte("garbage, not a TorchScript archive\n")
	if err := os.WriteFile(filepath.Join(e.ws, "models", "conv.pt"), garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	api := githubtest.New(t)
	api.Reply("GET", e2eContents, 404, githubtest.Message("Not Found")).WithQuery("ref", e2eBaseSHA)
	api.Reply("GET", "/repos/acme/app/contents/models/conv.pt", 200, fileAnswer(conv, "c0")).WithQuery("ref", e2eBaseSHA)
	api.Reply("GET", "/repos/acme/app/contents/perf/tiny.yaml", 404, githubtest.Message("Not Found")).WithQuery("ref", e2eBaseSHA)
	api.Reply("GET", "/repos/acme/app/issues/7/comments", 200, []map[string]any{})
	var body string
	api.Handle("POST", "/repos/acme/app/issues/7/comments", func(r *githubtest.Request) (int, any) {
		var in map[string]string
		r.JSON(&in)
		body = in["body"]
		return 201, map[string]any{"id": 78, "body": body, "html_url": "https://github.com/acme/app/pull/7#issuecomment-78"}
	})
	r := e.run(api)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (a failed check)\n%v", r.code, r)
	}
	if r.outputs["verdict"] != "regression" {
		t.Errorf("verdict output %q, want regression", r.outputs["verdict"])
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(body, "<!-- perflab-gate -->\n"), "\n")
	if !strings.Contains(first, "regression") || !strings.Contains(first, "does not load") {
		t.Errorf("the comment's first line %q: want the verdict and the model that does not load\n%s", first, body)
	}
	// The load error, on one line, in the comment and in the log.
	const loadErr = "not a TorchScript archive"
	var line string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, loadErr) {
			line = l
			break
		}
	}
	if line == "" || !strings.Contains(line, "models/conv.pt") {
		t.Errorf("no comment line names models/conv.pt with its load error %q:\n%s", loadErr, body)
	}
	if !strings.Contains(r.stdout, loadErr) {
		t.Errorf("the log does not say the load error:\n%s", r.stdout)
	}
	for what, s := range map[string]string{"comment": body, "summary": r.summary, "log": r.stdout + r.stderr, "outputs": strings.Join(mapValues(r.outputs), "\n")} {
		if strings.Contains(s, e.ws) || strings.Contains(s, os.TempDir()+"/") {
			t.Errorf("the %s shows a runner path:\n%s", what, s)
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestActionBrokenBaseModel: the pull request fixes a model file whose base version does
// not load. The A/B round fails, the probe (a real child loading each file) finds the base
// at fault, and the check does not fail; the comment says the base's version does not load.
func TestActionBrokenBaseModel(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	if testing.Short() {
		t.Skip("runs perflab action, sweeps and A/B rounds in child processes")
	}
	e := newActionEnv(t, "pull_request", "pull_request.json")
	api := githubtest.New(t)
	api.Reply("GET", e2eContents, 404, githubtest.Message("Not Found")).WithQuery("ref", e2eBaseSHA)
	api.Reply("GET", "/repos/acme/app/contents/models/conv.pt", 200, fileAnswer([]byte("garbage at the base\n"), "c1")).WithQuery("ref", e2eBaseSHA)
	api.Reply("GET", "/repos/acme/app/contents/perf/tiny.yaml", 404, githubtest.Message("Not Found")).WithQuery("ref", e2eBaseSHA)
	api.Reply("GET", "/repos/acme/app/issues/7/comments", 200, []map[string]any{})
	var body string
	api.Handle("POST", "/repos/acme/app/issues/7/comments", func(r *githubtest.Request) (int, any) {
		var in map[string]string
		r.JSON(&in)
		body = in["body"]
		return 201, map[string]any{"id": 79, "body": body, "html_url": "https://github.com/acme/app/pull/7#issuecomment-79"}
	})
	r := e.run(api)
	if r.code != 0 {
		t.Fatalf("exit %d, want 0: a pull request that fixes its base's model does not fail\n%v", r.code, r)
	}
	if !strings.Contains(body, "`models/conv.pt` changed: the base's version does not load, this change's does") ||
		!strings.Contains(body, "the base's version does not load (") {
		t.Errorf("the comment does not say that the base's version does not load:\n%s", body)
	}
	if strings.Contains(body, e.ws) || strings.Contains(r.stdout, e.ws) {
		t.Errorf("a runner path is shown")
	}
}
