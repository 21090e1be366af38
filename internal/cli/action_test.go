package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/action"
	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github/githubtest"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
)

// End-to-end tests of `perflab action`: the test binary runs as perflab in a child process
// (its sweep starts its own children), in a simulated runner — event payload, workspace,
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, INPUT_* variables with their hyphens — against
// a fake GitHub REST API that fails the test when a stub goes unused.

// e2eToken is distinctive so that any leak is found.
const e2eToken = "ghs_E2EsecretTOKEN_do_not_print_7f3a9c"

// e2eSecret is a second secret in the action's environment (as a workflow's env: would
// put one): like the token, it must reach no file, log line, output or request.
const e2eSecret = "E2E_second_SECRET_9b1d4e"

type actionEnv struct {
	t   *testing.T
	ws  string
	env map[string]string
}

// copyIn copies a results file into the workspace (the results input must name files
// there) and returns its path in the repository.
func (e *actionEnv) copyIn(path string) string {
	e.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.ws, "shards"), 0o755); err != nil {
		e.t.Fatal(err)
	}
	dst := filepath.Join(e.ws, "shards", filepath.Base(path))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	// As a shard job of this run would leave it: with this run's identity.
	if err := action.WriteRunIdentity(func(k string) string { return e.env[k] }, dst); err != nil {
		e.t.Fatal(err)
	}
	return "shards/" + filepath.Base(path)
}

// baseFilesAreNew answers the contents API's reads of the workspace's model file and
// preset at the base (the A/B test's and the base preset's, docs/security.md): not there,
// both new in the pull request; times reads of each.
func baseFilesAreNew(api *githubtest.Server, times int) {
	for _, f := range []string{"models/conv.pt", "perf/tiny.yaml"} {
		api.Reply("GET", "/repos/acme/app/contents/"+f, 404, githubtest.Message("Not Found")).WithQuery("ref", e2eBaseSHA).Times(times)
	}
}

// newActionEnv makes a workspace holding a tiny preset (one configuration of the conv.pt
// fixture, copied into the workspace: the Action reads model files only there; 100
// iterations: enough for a p95 confidence interval, a second of work).
func newActionEnv(t *testing.T, eventName, payload string) *actionEnv {
	t.Helper()
	ws := t.TempDir()
	preset := `name: tiny
iters: 100
warmup: 5
grid:
  models: [models/conv.pt]
  inputs: ['float32[B,3,16,16]']
  batch_size: [1]
  threads: [1]
  interop_threads: [1]
  compile: ["off"]
`
	conv, err := os.ReadFile(testutil.Fixture(t, "conv.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ws, "models"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "models", "conv.pt"), conv, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ws, "perf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "perf", "tiny.yaml"), []byte(preset), 0o644); err != nil {
		t.Fatal(err)
	}
	runner := t.TempDir()
	ev, err := filepath.Abs(filepath.Join("testdata", "events", payload))
	if err != nil {
		t.Fatal(err)
	}
	e := &actionEnv{t: t, ws: ws, env: map[string]string{
		"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": eventName, "GITHUB_EVENT_PATH": ev,
		"GITHUB_REPOSITORY": "acme/app", "GITHUB_WORKSPACE": ws, "GITHUB_SHA": "cccc000000000000000000000000000000000002",
		"GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242",
		"GITHUB_OUTPUT": filepath.Join(runner, "output"), "GITHUB_STEP_SUMMARY": filepath.Join(runner, "step_summary"),
		"INPUT_PRESET": "perf/tiny.yaml", "INPUT_GITHUB-TOKEN": e2eToken, "INPUT_FAIL-ON-REGRESSION": "true",
		"INPUT_COMMENT": "true", "INPUT_UPDATE-BASELINE": "auto", "PERFLAB_E2E_SECRET": e2eSecret,
	}}
	if eventName == "push" {
		var p struct {
			Ref string `json:"ref"`
		}
		b, _ := os.ReadFile(ev)
		json.Unmarshal(b, &p)
		e.env["GITHUB_REF"] = p.Ref
	}
	return e
}

type actionResult struct {
	cliResult
	summary string
	outputs map[string]string
}

// run runs `perflab action` as a child process in the workspace.
func (e *actionEnv) run(api *githubtest.Server) actionResult {
	t := e.t
	t.Helper()
	if api != nil {
		e.env["GITHUB_API_URL"] = api.URL
	}
	os.Remove(e.env["GITHUB_OUTPUT"])
	os.Remove(e.env["GITHUB_STEP_SUMMARY"])
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "action")
	// The runner's own variables (when the tests themselves run in GitHub Actions) must not
	// leak into the simulated one.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "GITHUB_") && !strings.HasPrefix(k, "INPUT_") && !strings.HasPrefix(k, "RUNNER_") && !strings.HasPrefix(k, "ACTIONS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, asCLI+"=1")
	for k, v := range e.env {
		cmd.Env = append(cmd.Env, k+"="+v) // INPUT_FAIL-ON-REGRESSION: not a shell name, fine here
	}
	cmd.Dir = e.ws
	r := actionResult{cliResult: runCmd(t, cmd)}
	if b, err := os.ReadFile(e.env["GITHUB_STEP_SUMMARY"]); err == nil {
		r.summary = string(b)
	}
	r.outputs = readOutputs(t, e.env["GITHUB_OUTPUT"])
	return r
}

func (r actionResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// readOutputs parses a GITHUB_OUTPUT file: name<<DELIMITER, value lines, DELIMITER.
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	f, err := os.Open(path)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, delim, ok := strings.Cut(sc.Text(), "<<")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %q is not name<<delimiter", sc.Text())
		}
		var val []string
		closed := false
		for sc.Scan() {
			if sc.Text() == delim {
				closed = true
				break
			}
			val = append(val, sc.Text())
		}
		if !closed {
			t.Fatalf("GITHUB_OUTPUT: %s's value is not closed by %s", name, delim)
		}
		out[name] = strings.Join(val, "\n")
	}
	return out
}

// checkNoTokenLeak: the token appears only in the ::add-mask:: command, which the runner
// consumes and never shows.
func checkNoTokenLeak(t *testing.T, e *actionEnv, r actionResult, bodies ...string) {
	t.Helper()
	masked := false
	for _, line := range strings.Split(r.stdout, "\n") {
		if line == "::add-mask::"+e2eToken {
			masked = true
		} else if strings.Contains(line, e2eToken) || strings.Contains(line, e2eSecret) {
			t.Errorf("stdout shows a secret: %q", line)
		}
	}
	if !masked {
		t.Error("the token was not masked (::add-mask::)")
	}
	places := map[string]string{"stderr": r.stderr, "summary": r.summary}
	for k, v := range r.outputs {
		places["output "+k] = v
	}
	for i, b := range bodies {
		places[fmt.Sprintf("request body %d", i)] = b
	}
	filepath.Walk(e.ws, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			places[p] = string(b)
		}
		return nil
	})
	for where, s := range places {
		if strings.Contains(s, e2eToken) || strings.Contains(s, e2eSecret) {
			t.Errorf("%s contains a secret", where)
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func fileAnswer(content []byte, sha string) map[string]any {
	return map[string]any{"type": "file", "encoding": "base64", "sha": sha, "size": len(content), "content": b64(content)}
}

// fastBaseline is a baseline for recs whose latencies are 100 times shorter (and
// throughput 100 times higher), measured on the same environment fingerprint: against it,
// any real run is a regression.
func fastBaseline(t *testing.T, recs []*record.Record) []byte {
	t.Helper()
	f := baseline.New("tiny", 5)
	for run := 0; run < 3; run++ {
		var fast []*record.Record
		for _, r := range recs {
			c := *r
			c.SamplesMs = nil
			for i, s := range r.SamplesMs {
				c.SamplesMs = append(c.SamplesMs, s*0.01*(1+0.001*float64((i+run)%7)))
			}
			c.ThroughputRPS *= 100
			if c.Env != nil { // contention unknown: the regression must not depend on the load now
				env := *c.Env
				env.OtherCPUs = nil
				c.Env = &env
			}
			fast = append(fast, &c)
		}
		f.Update(fast, fmt.Sprintf("old%d", run), time.Date(2026, 1, 1, run, 0, 0, 0, time.UTC))
	}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	e2eBaseSHA  = "bbbb000000000000000000000000000000000001" // pull_request.base.sha of testdata/events/pull_request.json
	e2eContents = "/repos/acme/app/contents/baselines/tiny.json"
)

func TestActionEndToEnd(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	if testing.Short() {
		t.Skip("runs perflab action and sweeps in child processes")
	}
	var firstResults []*record.Record                    // the first run's records, for the crafted baseline
	shared := filepath.Join(t.TempDir(), "shared.jsonl") // a copy of them, for runs that gate given results

	t.Run("pull request: comment created once, then edited", func(t *testing.T) {
		e := newActionEnv(t, "pull_request", "pull_request.json")
		api := githubtest.New(t)
		api.Reply("GET", e2eContents, 404, githubtest.Message("Not Found")).WithQuery("ref", e2eBaseSHA).Times(2)
		baseFilesAreNew(api, 2)
		var stored []map[string]any
		var bodies []string
		api.Handle("GET", "/repos/acme/app/issues/7/comments", func(r *githubtest.Request) (int, any) {
			if r.Header.Get("Authorization") != "Bearer "+e2eToken {
				t.Errorf("Authorization header %q", r.Header.Get("Authorization"))
			}
			return 200, append([]map[string]any{{"id": 1, "body": "LGTM"}}, stored...)
		}).Times(2)
		api.Reply("GET", "/user", 403, githubtest.Message("Resource not accessible by integration"))
		api.Handle("POST", "/repos/acme/app/issues/7/comments", func(r *githubtest.Request) (int, any) {
			var in map[string]string
			r.JSON(&in)
			bodies = append(bodies, in["body"])
			c := map[string]any{"id": 77, "body": in["body"], "html_url": "https://github.com/acme/app/pull/7#issuecomment-77",
				"user": map[string]any{"login": "github-actions[bot]", "type": "Bot"}}
			stored = append(stored, c)
			return 201, c
		})
		api.Handle("PATCH", "/repos/acme/app/issues/comments/77", func(r *githubtest.Request) (int, any) {
			var in map[string]string
			r.JSON(&in)
			bodies = append(bodies, in["body"])
			return 200, map[string]any{"id": 77, "body": in["body"], "html_url": "https://github.com/acme/app/pull/7#issuecomment-77"}
		})

		r := e.run(api)
		if r.code != 0 {
			t.Fatalf("first run: %v", r)
		}
		if r.outputs["verdict"] != gate.NoBaseline || r.outputs["regressions"] != "0" ||
			r.outputs["results"] != "perflab-results/results.jsonl" || r.outputs["report"] != "perflab-results/report.md" {
			t.Errorf("outputs %v", r.outputs)
		}
		var rc struct {
			Recommendations []struct {
				Model     string `json:"model"`
				BatchSize int    `json:"batch_size"`
			} `json:"recommendations"`
		}
		if err := json.Unmarshal([]byte(r.outputs["recommended-config"]), &rc); err != nil || len(rc.Recommendations) != 1 || rc.Recommendations[0].BatchSize != 1 {
			t.Errorf("recommended-config %q: %v", r.outputs["recommended-config"], err)
		}
		for _, want := range []string{"perflab gate: no baseline", "Baseline used:", "does not exist at the base main bbbb000000", "Recommended configuration", "xychart-beta"} {
			if !strings.Contains(r.summary, want) {
				t.Errorf("summary lacks %q:\n%s", want, r.summary)
			}
		}
		if len(r.summary) > action.MaxSummaryBytes {
			t.Errorf("summary is %d bytes", len(r.summary))
		}
		for _, f := range []string{"report.md", "results.jsonl", "comment.md", "summary.md", "pr.json"} {
			if _, err := os.Stat(filepath.Join(e.ws, action.OutDir, f)); err != nil {
				t.Error(err)
			}
		}
		if len(bodies) != 1 || !strings.HasPrefix(bodies[0], gate.Marker) || !strings.Contains(bodies[0], "<details><summary>Full report</summary>") ||
			!strings.Contains(bodies[0], "```mermaid") {
			t.Fatalf("comment bodies %q", bodies)
		}
		recs, err := record.ReadFile(filepath.Join(e.ws, "perflab-results", "results.jsonl"), nil)
		if err != nil || len(recs) != 1 || !recs[0].OK() {
			t.Fatalf("results: %d records, %v", len(recs), err)
		}
		firstResults = recs
		b, _ := os.ReadFile(filepath.Join(e.ws, "perflab-results", "results.jsonl"))
		if err := os.WriteFile(shared, b, 0o644); err != nil {
			t.Fatal(err)
		}

		r2 := e.run(api)
		if r2.code != 0 {
			t.Fatalf("second run: %v", r2)
		}
		if n := api.Count("POST", "/repos/acme/app/issues/7/comments"); n != 1 {
			t.Errorf("%d comments created; want the first one edited", n)
		}
		if len(bodies) != 2 || !strings.Contains(bodies[1], gate.Marker) {
			t.Errorf("the edit did not keep the marker")
		}
		checkNoTokenLeak(t, e, r2, bodies...)
	})
	if firstResults == nil {
		t.Fatal("the first run failed: no results to build on")
	}

	prRegressionAPI := func(t *testing.T) *githubtest.Server {
		api := githubtest.New(t)
		api.Reply("GET", e2eContents, 200, fileAnswer(fastBaseline(t, firstResults), "blob-base")).WithQuery("ref", e2eBaseSHA)
		baseFilesAreNew(api, 1)
		return api
	}

	t.Run("regression fails the check", func(t *testing.T) {
		e := newActionEnv(t, "pull_request", "pull_request.json")
		e.env["INPUT_COMMENT"] = "false"
		r := e.run(prRegressionAPI(t)) // a real sweep, same machine: same fingerprint
		if r.code != ExitRegression {
			t.Fatalf("want exit 1: %v", r)
		}
		if r.outputs["verdict"] != gate.Failed || r.outputs["regressions"] == "0" {
			t.Errorf("outputs %v", r.outputs)
		}
		n := strings.Count(r.stdout, "::error title=perflab regression::")
		if n == 0 || n > action.MaxAnnotations {
			t.Errorf("%d regression annotations:\n%s", n, r.stdout)
		}
		if !strings.Contains(r.summary, "perflab gate: regression") || !strings.Contains(r.stderr, "regression") {
			t.Errorf("%v\nsummary:\n%s", r, r.summary)
		}
	})

	t.Run("regression with fail-on-regression false passes", func(t *testing.T) {
		e := newActionEnv(t, "pull_request", "pull_request.json")
		e.env["INPUT_COMMENT"] = "false"
		e.env["INPUT_FAIL-ON-REGRESSION"] = "false"
		e.env["INPUT_RESULTS"] = e.copyIn(shared)
		r := e.run(prRegressionAPI(t))
		if r.code != 0 || r.outputs["verdict"] != gate.Failed {
			t.Fatalf("want exit 0 with verdict regression: %v", r)
		}
		if strings.Contains(r.stdout, "::error") || !strings.Contains(r.stdout, "::warning title=perflab regression::") {
			t.Errorf("regressions that do not fail the check should be warnings:\n%s", r.stdout)
		}
	})

	t.Run("push to main stores the baseline, retrying a conflict", func(t *testing.T) {
		e := newActionEnv(t, "push", "push_main.json")
		old := fastBaseline(t, firstResults)
		api := githubtest.New(t)
		api.Reply("GET", e2eContents, 200, fileAnswer(old, "blob-1")).WithQuery("ref", "main")
		api.Reply("GET", e2eContents, 200, fileAnswer(old, "blob-2")).WithQuery("ref", "main") // re-read after the conflict
		var puts []map[string]any
		api.Handle("PUT", e2eContents, func(r *githubtest.Request) (int, any) {
			var in map[string]any
			r.JSON(&in)
			puts = append(puts, in)
			if len(puts) == 1 {
				return 409, githubtest.Message("baselines/tiny.json does not match blob-1")
			}
			return 200, map[string]any{"content": map[string]any{"sha": "blob-3"}, "commit": map[string]any{"sha": "dddd000000000000000000000000000000000004"}}
		}).Times(2)
		r := e.run(api)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		if len(puts) != 2 || puts[0]["sha"] != "blob-1" || puts[1]["sha"] != "blob-2" || puts[1]["branch"] != "main" {
			t.Fatalf("PUTs %v", puts)
		}
		msg, _ := puts[1]["message"].(string)
		if !strings.Contains(msg, "[skip ci]") || !strings.Contains(msg, "update baseline baselines/tiny.json") {
			t.Errorf("commit message %q", msg)
		}
		content, _ := base64.StdEncoding.DecodeString(puts[1]["content"].(string))
		f, err := baseline.Parse("put", content)
		if err != nil {
			t.Fatal(err)
		}
		if len(f.Entries) != 1 || len(f.Entries[0].Runs) != 4 || f.Entries[0].Runs[3].Commit != e.env["GITHUB_SHA"] {
			t.Errorf("stored baseline: %d entries, runs %+v", len(f.Entries), f.Entries)
		}
		if !strings.Contains(r.stdout, "stored on main in commit dddd000000") || r.outputs["verdict"] == "" {
			t.Errorf("%v", r)
		}
		var bodies []string
		for _, p := range puts {
			bodies = append(bodies, fmt.Sprint(p))
		}
		checkNoTokenLeak(t, e, r, bodies...)
	})

	t.Run("read-only token on a fork: no failure, summary written, log explains", func(t *testing.T) {
		e := newActionEnv(t, "pull_request", "pull_request_fork.json")
		e.env["INPUT_RESULTS"] = e.copyIn(shared)
		api := githubtest.New(t)
		api.Reply("GET", e2eContents, 404, githubtest.Message("Not Found"))
		baseFilesAreNew(api, 1)
		api.Reply("GET", "/repos/acme/app/issues/8/comments", 200, []any{})
		api.Reply("POST", "/repos/acme/app/issues/8/comments", 403, githubtest.Message("Resource not accessible by integration"))
		r := e.run(api)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		if !strings.Contains(r.stdout, "workflow_run") || !strings.Contains(r.stdout, "read-only") {
			t.Errorf("the log does not say how to get comments:\n%s", r.stdout)
		}
		if !strings.Contains(r.summary, "No comment was posted") || r.outputs["verdict"] != gate.NoBaseline {
			t.Errorf("summary:\n%s\noutputs %v", r.summary, r.outputs)
		}
		checkNoTokenLeak(t, e, r)
	})

	t.Run("read-only token on push: baseline left in the workspace", func(t *testing.T) {
		e := newActionEnv(t, "push", "push_main.json")
		e.env["INPUT_RESULTS"] = e.copyIn(shared)
		api := githubtest.New(t)
		api.Reply("GET", e2eContents, 404, githubtest.Message("Not Found"))
		api.Reply("PUT", e2eContents, 403, githubtest.Message("Resource not accessible by integration"))
		r := e.run(api)
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		if _, err := baseline.Load(filepath.Join(e.ws, "baselines", "tiny.json")); err != nil {
			t.Errorf("no updated baseline in the workspace: %v", err)
		}
		if !strings.Contains(r.stdout, "git commit") || !strings.Contains(r.stdout, "contents: write") {
			t.Errorf("the log does not say how to store the baseline:\n%s", r.stdout)
		}
	})

	t.Run("push to another branch: report only", func(t *testing.T) {
		e := newActionEnv(t, "push", "push_branch.json")
		e.env["INPUT_RESULTS"] = e.copyIn(shared)
		api := githubtest.New(t) // no request may be made
		r := e.run(api)
		if r.code != 0 || r.outputs["verdict"] != action.NotGated || len(api.Requests()) != 0 {
			t.Fatalf("%v\noutputs %v\nrequests %v", r, r.outputs, api.Requests())
		}
	})

	t.Run("no token: no failure", func(t *testing.T) {
		e := newActionEnv(t, "pull_request", "pull_request.json")
		delete(e.env, "INPUT_GITHUB-TOKEN")
		e.env["INPUT_RESULTS"] = e.copyIn(shared)
		r := e.run(nil)
		if r.code != 0 || !strings.Contains(r.stdout, "no github-token") || r.summary == "" {
			t.Fatalf("%v", r)
		}
	})

	t.Run("bad input: exit 2 with an error annotation", func(t *testing.T) {
		e := newActionEnv(t, "pull_request", "pull_request.json")
		e.env["INPUT_CONSTRAINT"] = "fastest"
		r := e.run(nil)
		if r.code != ExitUsage || !strings.Contains(r.stdout, "::error::perflab: input constraint") || !strings.HasPrefix(r.stderr, "perflab: action: input constraint") {
			t.Fatalf("%v", r)
		}
	})
}

func TestMergeCommand(t *testing.T) {
	dir := t.TempDir()
	line := func(model string, batch int) string {
		return fmt.Sprintf(`{"schema_version":1,"status":"ok","model":%q,"batch_size":%d,"compile":false,"threads":1,"channels_last":false,"quantize":false,"latency_p50":1,"latency_p90":1,"latency_p95":1,"latency_p99":1,"throughput_rps":1,"forward_ms_per_batch":1}`, model, batch)
	}
	a := filepath.Join(dir, "a.jsonl")
	b := filepath.Join(dir, "b.jsonl")
	os.WriteFile(a, []byte(line("m", 1)+"\n"+line("m", 2)+"\n"), 0o644)
	os.WriteFile(b, []byte(line("m", 3)+"\nnot json\n\n"+line("m", 1)+"\n"), 0o644) // one duplicate of a's first line
	out := filepath.Join(dir, "sub", "all.jsonl")
	code, stdout, stderr := runMain("merge", "--out", out, a, b)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.TrimSpace(stdout) != out {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, b+":2: malformed record") || !strings.Contains(stderr, "merged 3 records from 2 files (1 duplicates dropped, 1 malformed lines skipped") {
		t.Errorf("stderr %q", stderr)
	}
	recs, err := record.ReadFile(out, func(le *record.LineError) { t.Error(le) })
	if err != nil || len(recs) != 3 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	// Errors: missing file, no valid record, --out among the inputs, no --out.
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("junk\n"), 0o644)
	for _, args := range [][]string{
		{"merge", "--out", out, filepath.Join(dir, "missing.jsonl")},
		{"merge", "--out", filepath.Join(dir, "x.jsonl"), bad},
		{"merge", "--out", a, a, b},
		{"merge", a},
	} {
		code, _, stderr := runMain(args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code != ExitUsage || !strings.HasPrefix(lines[len(lines)-1], "perflab: ") {
			t.Errorf("%q: exit %d, stderr %q", args, code, stderr)
		}
	}
}

func TestActionCommandIsDocumented(t *testing.T) {
	code, stdout, _ := runMain("--help")
	if code != 0 || !strings.Contains(stdout, "action") || !strings.Contains(stdout, "merge") {
		t.Errorf("perflab --help does not list action and merge:\n%s", stdout)
	}
	code, stdout, _ = runMain("action", "--help")
	if code != 0 || !strings.Contains(stdout, "workflow_run") || !strings.Contains(stdout, "Exit codes") {
		t.Errorf("perflab action --help:\n%s", stdout)
	}
}
