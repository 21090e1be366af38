package action

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github/fakehub"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/untrusted"
)

// Tests as an attacker, for what a pull request controls in text and in the event: names
// that try to start workflow commands, break the comment's markdown, fake the verdict or
// ping people; option-shaped SHAs and refs; an event without its pull request; and a token
// or a secret that must not land anywhere. Each case asserts on the real log, job summary,
// comment (as the fake API received it), outputs and files.

const secondSecret = "s3cr3t-PERFLAB-second-Vq7"

// recordingHub serves hub and keeps every request body; fail, when set, answers a request
// instead of the hub (a transient 5xx, say).
type recordingHub struct {
	hub    *fakehub.Hub
	mu     sync.Mutex
	bodies []string
	fail   func(r *http.Request) int
}

func (h *recordingHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.bodies = append(h.bodies, r.Method+" "+r.URL.String()+"\n"+string(b))
	fail := h.fail
	h.mu.Unlock()
	if fail != nil {
		if st := fail(r); st != 0 {
			w.WriteHeader(st)
			io.WriteString(w, `{"message":"server error"}`)
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	h.hub.ServeHTTP(w, r)
}

func newHostileWorld(t *testing.T, payload map[string]any) (*world, *fakehub.Hub, *recordingHub) {
	t.Helper()
	w, hub := newHubWorld(t, "pull_request", payload)
	rh := &recordingHub{hub: hub}
	srv := httptest.NewServer(rh)
	t.Cleanup(srv.Close)
	w.env["GITHUB_API_URL"] = srv.URL
	w.env["PERFLAB_TEST_SECRET"] = secondSecret
	return w, hub, rh
}

var allowedCommands = map[string]bool{"error": true, "warning": true, "notice": true, "group": true, "endgroup": true, "add-mask": true, "debug": true}

// checkLog fails when a line of the log starts a workflow command that is not one of the
// Action's own, carries "##[" (the form the runner honours anywhere in a line), or puts
// hostile text in an annotation's properties.
func checkLog(t *testing.T, log string) {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "##[") {
			t.Errorf("log line with ##[: %q", l)
		}
		tl := strings.TrimLeft(l, " \t")
		if !strings.HasPrefix(tl, "::") {
			continue
		}
		head, _, ok := strings.Cut(tl[2:], "::")
		name, props, _ := strings.Cut(head, " ")
		if !ok || !allowedCommands[name] {
			t.Errorf("log line starts a workflow command of its own: %q", l)
		}
		if strings.Contains(props, "PWNED") {
			t.Errorf("hostile text in an annotation's properties: %q", l)
		}
		if name == "add-mask" && strings.Contains(tl, "PWNED") {
			t.Errorf("hostile mask: %q", l)
		}
	}
}

var mentionRe = regexp.MustCompile("(^|[^A-Za-z0-9_./\u200d-])@acme")

var (
	codeSpanRe      = regexp.MustCompile("(^|[^\\\\])`[^`]*`")
	unescapedTickRe = regexp.MustCompile("(^|[^\\\\])`")
	unescapedPipeRe = regexp.MustCompile(`(^|[^\\])\|`)
)

// checkMarkdown fails when a body the Action composed lets hostile text out of its place;
// model is the hostile model name, whose escaped form may head its report section.
func checkMarkdown(t *testing.T, what, md, model string, markers int) {
	t.Helper()
	// "\<!--" is text (Text's escape), "<!--" would open an HTML comment.
	if n := len(regexp.MustCompile(`(^|[^\\])<!--`).FindAllString(md, -1)); n != markers {
		t.Errorf("%s: %d \"<!--\", want %d", what, n, markers)
	}
	// Outside code spans (where HTML is not read), no raw HTML of the name.
	text := codeSpanRe.ReplaceAllString(md, "$1")
	for _, bad := range []string{"<b>PWNED", "<summary>PWNED", "</details>PWNED"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s: raw HTML %q", what, bad)
		}
	}
	if m := mentionRe.FindString(md); m != "" {
		t.Errorf("%s: an @-mention that pings: %q", what, m)
	}
	inFence, table := false, -1
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if strings.HasPrefix(l, "#") && strings.Contains(l, "PWNED") && l != "### "+untrusted.Text(model) {
			t.Errorf("%s: hostile text makes a heading: %q", what, l)
		}
		if strings.HasPrefix(l, "PWNED") || strings.HasPrefix(l, "### ✅ perflab gate: pass") || strings.HasPrefix(l, "::") {
			t.Errorf("%s: hostile text starts a line: %q", what, l)
		}
		if len(unescapedTickRe.FindAllString(l, -1))%2 != 0 {
			t.Errorf("%s: unbalanced code span: %q", what, l)
		}
		if strings.HasPrefix(l, "|") {
			n := len(unescapedPipeRe.FindAllString(l, -1))
			if table < 0 {
				table = n
			} else if n != table {
				t.Errorf("%s: a table row with %d cells, the table has %d: %q", what, n, table, l)
			}
		} else {
			table = -1
		}
	}
}

// checkNoSecrets fails when the token or the second secret is in any file the run wrote
// or any request body sent to the API.
func checkNoSecrets(t *testing.T, w *world, rh *recordingHub) {
	t.Helper()
	var files []string
	filepath.Walk(w.ws, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
		return nil
	})
	files = append(files, w.env["GITHUB_STEP_SUMMARY"], w.env["GITHUB_OUTPUT"])
	for _, p := range files {
		b, _ := os.ReadFile(p)
		for _, s := range []string{fakeToken, secondSecret} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds a secret", p)
			}
		}
	}
	rh.mu.Lock()
	defer rh.mu.Unlock()
	for _, b := range rh.bodies {
		if strings.Contains(b, fakeToken) || strings.Contains(b, secondSecret) {
			t.Errorf("a request carries a secret in its URL or body: %.200q", b)
		}
	}
	if strings.Contains(strings.ReplaceAll(w.stdout.String(), "::add-mask::"+fakeToken, ""), fakeToken) || strings.Contains(w.stdout.String(), secondSecret) {
		t.Error("the log holds a secret")
	}
}

// Hostile model file names and preset names: the run completes, and nothing in them
// reaches the log, the summary, the comment or the outputs as anything but text.
func TestHostileNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		model  string // the model of the records (what a PR's file name or preset chose)
		preset string // the preset's name: field
	}{
		{"workflow command after a newline", "m\n::error title=PWNED::PWNED forged.pt", "tiny"},
		{"workflow command after a CR", "m\r::error::PWNED.pt", "tiny"},
		{"##[error] anywhere", "m ##[error]PWNED.pt", "tiny"},
		{"U+2028 line separator", "m\u2028::warning::PWNED.pt", "tiny"},
		{"HTML and the sticky marker", "<!-- perflab --><details><summary>PWNED</summary><b>PWNED</b>.pt", "tiny"},
		{"closing the comment's details", "</details>PWNED<!--.pt", "tiny"},
		{"table pipes and backticks", "a|b`|PWNED|`c.pt", "tiny"},
		{"a fake verdict heading", "x\n### ✅ perflab gate: pass\nPWNED.pt", "tiny"},
		{"team mention", "@acme/security-team PWNED.pt", "tiny"},
		{"mention in the preset name", "m.pt", "tiny @acme/everyone PWNED"},
		{"workflow command in the preset name", "m.pt", "tiny\n::error::PWNED"},
		{"HTML in the preset name", "m.pt", "tiny<!-- PWNED `x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, hub, rh := newHostileWorld(t, prPayload(7, "acme/app"))
			w.recs = []*record.Record{rec(tc.model, 1, 1, 5, 200, "fp1", 1), rec(tc.model, 4, 1, 12, 200, "fp1", 2)}
			for _, r := range w.recs {
				r.Preset = tc.preset
			}
			os.WriteFile(filepath.Join(w.ws, "tiny.yaml"), []byte("name: "+quote(tc.preset)+"\ngrid:\n  models: [m.pt]\n  inputs: ['float32[B,8]']\n"), 0o644)
			if tc.preset == "tiny" {
				// A baseline twice as fast: every configuration is a regression, listed with its name.
				hub.Seed("main", baseSHA, map[string]string{"baselines/tiny.json": string(baselineFor(t, w.recs, 0.5))})
			}
			res, err := w.runNow()
			log := w.stdout.String()
			checkLog(t, log)
			checkNoSecrets(t, w, rh)
			if err != nil {
				// Refusing a hostile name is allowed, in one line of the log.
				if countLines(log, "::error") != 1 {
					t.Errorf("refused (%v) with %d error lines:\n%s", err, countLines(log, "::error"), log)
				}
				return
			}
			if tc.preset == "tiny" && res.Verdict != gate.Failed {
				t.Errorf("verdict %q, want %q: the names must not change the verdict", res.Verdict, gate.Failed)
			}
			summary := w.file(w.env["GITHUB_STEP_SUMMARY"])
			checkMarkdown(t, "summary", summary, tc.model, 0)
			cs := botComments(hub.Snapshot(), 7)
			if len(cs) != 1 {
				t.Fatalf("%d comments, want 1", len(cs))
			}
			checkMarkdown(t, "comment", cs[0].Body, tc.model, 1)
			if !strings.HasPrefix(cs[0].Body, gate.Marker+"\n") {
				t.Errorf("the comment does not start with its marker: %.80q", cs[0].Body)
			}
			checkMarkdown(t, "comment.md", w.file(filepath.Join(w.ws, OutDir, "comment.md")), tc.model, 1)
			outs := w.outputs()
			if len(outs) != 5 || outs["verdict"] != res.Verdict {
				t.Errorf("outputs %q", outs)
			}
			for k, v := range outs {
				if strings.ContainsAny(v, "\r\n") {
					t.Errorf("output %s spans lines: %q", k, v)
				}
			}
			if !strings.Contains(summary, "PWNED") {
				t.Errorf("the hostile name is not shown at all (it must be shown, neutralised):\n%s", summary)
			}
		})
	}
}

// Hostile or broken events: refused before any use, in one line of the log, and no git
// command or API write runs for them.
func TestHostileEvents(t *testing.T) {
	pwned := filepath.Join(t.TempDir(), "pwned")
	withPR := func(edit func(pr map[string]any)) map[string]any {
		p := prPayload(7, "acme/app")
		edit(p["pull_request"].(map[string]any))
		return p
	}
	for _, tc := range []struct {
		name    string
		event   string
		payload map[string]any
		env     map[string]string
		wantErr string
	}{
		{"option-shaped base sha", "pull_request", withPR(func(pr map[string]any) {
			pr["base"].(map[string]any)["sha"] = "--upload-pack=touch " + pwned
		}), nil, "base SHA"},
		{"short base sha", "pull_request", withPR(func(pr map[string]any) { pr["base"].(map[string]any)["sha"] = "ba5e" }), nil, "not a commit SHA"},
		{"option-shaped head sha", "pull_request", withPR(func(pr map[string]any) { pr["head"].(map[string]any)["sha"] = "-c" }), nil, "head SHA"},
		{"workflow command in the base branch", "pull_request", withPR(func(pr map[string]any) {
			pr["base"].(map[string]any)["ref"] = "main\n::error::PWNED"
		}), nil, "base branch"},
		{"option-shaped base branch", "pull_request", withPR(func(pr map[string]any) { pr["base"].(map[string]any)["ref"] = "--output=x" }), nil, "starts with -"},
		{"base branch with ..", "pull_request", withPR(func(pr map[string]any) { pr["base"].(map[string]any)["ref"] = "a/../b" }), nil, `".."`},
		{"hostile head repository", "pull_request", withPR(func(pr map[string]any) {
			pr["head"].(map[string]any)["repo"] = map[string]any{"full_name": "evil/app\n::error::PWNED"}
		}), nil, "head repository"},
		{"pull_request without pull_request", "pull_request", map[string]any{"action": "opened", "repository": map[string]any{"full_name": "acme/app"}}, nil, "no pull_request object"},
		{"pull_request_target without pull_request", "pull_request_target", map[string]any{"action": "opened"}, nil, "no pull_request object"},
		{"option-shaped GITHUB_SHA", "push", map[string]any{"ref": "refs/heads/main", "repository": map[string]any{"full_name": "acme/app", "default_branch": "main"}},
			map[string]string{"GITHUB_SHA": "--upload-pack=touch " + pwned}, "not a commit SHA"},
		{"hostile GITHUB_REF", "push", map[string]any{"repository": map[string]any{"full_name": "acme/app", "default_branch": "main"}},
			map[string]string{"GITHUB_REF": "refs/heads/x\n##[error]PWNED"}, "not a valid git ref"},
		{"merge group with an option-shaped base", "merge_group", map[string]any{"merge_group": map[string]any{"head_sha": headSHA, "base_sha": "--upload-pack=x", "base_ref": "refs/heads/main"}}, nil, "base SHA"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, hub := newHubWorld(t, tc.event, tc.payload)
			for k, v := range tc.env {
				w.env[k] = v
			}
			res, err := w.runNow()
			log := w.stdout.String()
			checkLog(t, log)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run: %+v, %v; want an error with %q", res, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "\n") || countLines(log, "::error") != 1 {
				t.Errorf("want one error line, got:\n%s", log)
			}
			if len(w.swept) != 0 || strings.Contains(log, "git fetch") {
				t.Errorf("the run went on: swept %d, log:\n%s", len(w.swept), log)
			}
			for _, r := range hub.Snapshot().Requests {
				if r.Method != "GET" {
					t.Errorf("API write: %+v", r)
				}
			}
			if _, err := os.Stat(pwned); err == nil {
				t.Fatal("the option-shaped SHA ran")
			}
		})
	}
}

// A token GitHub refuses (401) is said to be wrong or expired, not a read-only fork token;
// the run still reports (no baseline), and the advice is not the permissions one.
func TestRunBadTokenIsSaidSo(t *testing.T) {
	w, hub, rh := newHostileWorld(t, prPayload(7, "acme/app"))
	hub.Tokens = map[string]fakehub.Token{} // the action's token is unknown: 401 Bad credentials
	res, err := w.runNow()
	if err != nil {
		t.Fatalf("%v\n%s", err, w.stdout.String())
	}
	log, summary := w.stdout.String(), w.file(w.env["GITHUB_STEP_SUMMARY"])
	checkLog(t, log)
	checkNoSecrets(t, w, rh)
	if res.Verdict != gate.NoBaseline {
		t.Errorf("verdict %q", res.Verdict)
	}
	for _, s := range []string{summary, log} {
		if !strings.Contains(s, "github-token was refused") || !strings.Contains(s, "wrong, expired or revoked") {
			t.Errorf("the 401 is not said to be a bad token:\n%s", s)
		}
		if strings.Contains(s, "read-only") || strings.Contains(s, "from forks get") || strings.Contains(s, "contents: read") {
			t.Errorf("a bad token is explained as a permission problem:\n%s", s)
		}
	}
}

// A transient 5xx from the contents API is retried, and the run then gates as usual; when
// it lasts, the summary says GitHub failed (and to re-run), not that permissions are missing.
func TestRunContentsAPI5xx(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failures  int
		want      string
		wantInSum string
	}{
		{"502 then success", 1, gate.Failed, ""},
		{"two 503s then success", 2, gate.Failed, ""},
		{"always 500", 100, gate.NoBaseline, "GitHub's API failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, hub, rh := newHostileWorld(t, prPayload(7, "acme/app"))
			hub.Seed("main", baseSHA, map[string]string{"baselines/tiny.json": string(baselineFor(t, w.recs, 0.5))})
			n := 0
			rh.fail = func(r *http.Request) int {
				if r.Method == "GET" && strings.Contains(r.URL.Path, "/contents/baselines/") && n < tc.failures {
					n++
					return 500 + n%4
				}
				return 0
			}
			res, err := w.runNow()
			if err != nil {
				t.Fatalf("%v\n%s", err, w.stdout.String())
			}
			summary := w.file(w.env["GITHUB_STEP_SUMMARY"])
			if res.Verdict != tc.want {
				t.Errorf("verdict %q, want %q\n%s", res.Verdict, tc.want, summary)
			}
			if tc.failures < 100 && n != tc.failures {
				t.Errorf("%d failures served, want %d", n, tc.failures)
			}
			if tc.wantInSum != "" && (!strings.Contains(summary, tc.wantInSum) || !strings.Contains(summary, "re-run") || strings.Contains(summary, "contents: read") || !strings.Contains(summary, "4 tries")) {
				t.Errorf("summary does not say GitHub failed after 4 tries:\n%s", summary)
			}
		})
	}
}

// countLines counts the lines of s that start with prefix.
func countLines(s, prefix string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// When the baseline branch itself refuses direct writes, the advice is to let the workflow
// commit to it, not to set baseline-branch (which is set: that would be a circle). A 401
// on the store is said to be a bad token.
func TestRunStoreAdviceIsNotACircle(t *testing.T) {
	for _, tc := range []struct {
		name, branch, token string
		want, notWant       []string
	}{
		{"protected main", "main", fakeToken, []string{"Set the input baseline-branch", "one that no protection rule covers"}, nil},
		{"protected baseline branch", "perflab-baselines", fakeToken, []string{"refuses direct writes too", "remove its branch protection", "remove the protection from perflab-baselines"}, []string{"Set the input baseline-branch", "baseline-branch: perflab-baselines"}},
		{"expired token", "", "ghs_expired", []string{"github-token was refused", "wrong, expired or revoked"}, []string{"contents: write", "Set the input"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, hub := newHubWorld(t, "push", pushPayload("main"))
			w.env["GITHUB_REF"], w.env["INPUT_GITHUB-TOKEN"] = "refs/heads/main", tc.token
			if tc.branch == "perflab-baselines" {
				w.env["INPUT_BASELINE-BRANCH"] = tc.branch
				hub.Seed(tc.branch, "ba5e000000000000000000000000000000000002", map[string]string{"README.md": "baselines"})
			}
			if tc.branch != "" {
				body := `{"branch":"` + tc.branch + `","status":409,"message":"Repository rule violations found"}`
				hub.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/_fakehub/protect", strings.NewReader(body)))
			}
			if _, err := w.runNow(); err != nil {
				t.Fatalf("%v\n%s", err, w.stdout.String())
			}
			log, summary := w.stdout.String(), w.file(w.env["GITHUB_STEP_SUMMARY"])
			checkLog(t, log)
			for _, s := range tc.want {
				if !strings.Contains(log+summary, s) {
					t.Errorf("log and summary do not say %q:\n%s\n%s", s, log, summary)
				}
			}
			for _, s := range tc.notWant {
				if strings.Contains(log, s) || strings.Contains(summary, s) {
					t.Errorf("log or summary says %q:\n%s\n%s", s, log, summary)
				}
			}
			if !strings.Contains(summary, "NOT stored") {
				t.Errorf("summary:\n%s", summary)
			}
		})
	}
}

// The baseline inputs are checked before the sweep: a bad one stops the run at once, in
// one line, instead of after minutes of measuring.
func TestBaselineInputsCheckedBeforeTheSweep(t *testing.T) {
	for _, tc := range []struct {
		name, event, key, value, want string
	}{
		{"baseline outside the repository", "pull_request", "INPUT_BASELINE", "../outside.json", "must be a path inside the repository"},
		{"baseline outside, on a push", "push", "INPUT_BASELINE", "/etc/x.json", "must be a path inside the repository"},
		{"option-shaped baseline-branch", "pull_request", "INPUT_BASELINE-BRANCH", "--orphan", "input baseline-branch"},
		{"baseline-branch with ..", "push", "INPUT_BASELINE-BRANCH", "perf..base", "input baseline-branch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := prPayload(7, "acme/app")
			if tc.event == "push" {
				payload = pushPayload("main")
			}
			w, _ := newHubWorld(t, tc.event, payload)
			w.env["GITHUB_REF"] = "refs/heads/main"
			w.env[tc.key] = tc.value
			_, err := w.runNow()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if len(w.swept) != 0 {
				t.Errorf("the sweep ran before the input was checked")
			}
			if countLines(w.stdout.String(), "::error") != 1 {
				t.Errorf("log:\n%s", w.stdout.String())
			}
		})
	}
}
