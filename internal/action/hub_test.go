package action

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github/fakehub"
)

// Tests against fakehub, a stateful fake API: what the action leaves behind (comments,
// commits, branches) is checked afterwards, as make e2e does with the real container.

const (
	baseSHA = "ba5e000000000000000000000000000000000001"
	headSHA = "fead000000000000000000000000000000000001"
	pushSHA = "a5a0000000000000000000000000000000000001"
)

func newHubWorld(t *testing.T, event string, payload map[string]any) (*world, *fakehub.Hub) {
	t.Helper()
	w := newWorld(t, event, payload)
	hub := fakehub.New("acme", "app", map[string]fakehub.Token{
		fakeToken: {Login: "github-actions[bot]", Type: "Bot", Write: true, App: true},
		"ro":      {Login: "github-actions[bot]", Type: "Bot", App: true},
	})
	hub.Seed("main", baseSHA, map[string]string{"README.md": "app"})
	hub.Seed("main", pushSHA, map[string]string{"README.md": "app v2"})
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	w.env["GITHUB_API_URL"] = srv.URL
	return w, hub
}

func (w *world) mustRun() *Result {
	w.t.Helper()
	res, err := w.runNow()
	if err != nil {
		w.t.Fatalf("%v\n%s", err, w.stdout.String())
	}
	return res
}

func botComments(st fakehub.State, issue int) []*fakehub.Comment {
	var cs []*fakehub.Comment
	for _, c := range st.Comments {
		if c.Issue == issue && c.Type == "Bot" {
			cs = append(cs, c)
		}
	}
	return cs
}

// Two workflows with two comment keys keep two comments; a reviewer's quote is not touched.
func TestRunCommentKeyKeepsTwoComments(t *testing.T) {
	w, hub := newHubWorld(t, "pull_request", prPayload(7, "acme/app"))
	hub.AddComment(7, fakehub.Comment{Login: "alice", Type: "User", Body: "> " + gate.Marker + "\n> old\n\nreally?"})
	w.mustRun()
	w.env["INPUT_COMMENT-KEY"] = "full"
	w.mustRun()
	w.mustRun()
	delete(w.env, "INPUT_COMMENT-KEY")
	w.mustRun()
	st := hub.Snapshot()
	mine := botComments(st, 7)
	if len(mine) != 2 {
		t.Fatalf("%d bot comments, want 2 (one per key)", len(mine))
	}
	if !strings.HasPrefix(mine[0].Body, gate.Marker+"\n") || mine[0].Edits != 1 {
		t.Errorf("default comment: edits %d, body %.60q", mine[0].Edits, mine[0].Body)
	}
	if !strings.HasPrefix(mine[1].Body, "<!-- perflab-gate:full -->\n") || mine[1].Edits != 1 {
		t.Errorf("keyed comment: edits %d, body %.60q", mine[1].Edits, mine[1].Body)
	}
	if st.Comments[0].Login != "alice" || st.Comments[0].Edits != 0 {
		t.Errorf("the reviewer's comment was edited: %+v", st.Comments[0])
	}
	if _, err := ParseInputs(mapEnv(map[string]string{"INPUT_COMMENT-KEY": "a b"})); err == nil || !strings.Contains(err.Error(), "comment-key") {
		t.Errorf("a bad comment-key: %v", err)
	}
}

// A 403 on reading the baseline never falls back to the pull request's own copy, which
// could hide its regression (here: a copy 100x slower than reality makes everything pass).
func TestRunBaselineReadRefusedNeverUsesThePRCopy(t *testing.T) {
	w, hub := newHubWorld(t, "pull_request", prPayload(7, "acme/app"))
	os.MkdirAll(filepath.Join(w.ws, "baselines"), 0o755)
	os.WriteFile(filepath.Join(w.ws, "baselines", "tiny.json"), baselineFor(t, w.recs, 100), 0o644)
	hub.Seed("main", baseSHA, map[string]string{"baselines/tiny.json": string(baselineFor(t, w.recs, 0.5))})
	post := httptest.NewRequest("POST", "/_fakehub/config", strings.NewReader(`{"deny_read":true}`))
	hub.ServeHTTP(httptest.NewRecorder(), post)
	res := w.mustRun()
	if res.Verdict != gate.NoBaseline || res.Fail {
		t.Errorf("verdict %q (fail %v); want no baseline", res.Verdict, res.Fail)
	}
	s := w.file(w.env["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(s, "No baseline could be read") || !strings.Contains(s, "is never used") || strings.Contains(s, "workspace file") {
		t.Errorf("summary:\n%s", s)
	}
	if c := botComments(hub.Snapshot(), 7); len(c) != 1 || !strings.Contains(c[0].Body, "No baseline could be read") {
		t.Errorf("the comment does not say loudly that no baseline was read")
	}
}

// A protected default branch refuses the baseline commit (409 or 422): the run does not
// fail (exit 2) but says so loudly and names the baseline-branch input; with that input the
// baseline goes to a branch of its own, created from the pushed commit, and pull requests
// read it there.
func TestRunProtectedBranchAndBaselineBranch(t *testing.T) {
	for _, p := range []fakehub.Protection{
		{Status: 409, Message: `Required status check "perf" is expected.`},
		{Status: 422, Message: "Protected branch update failed for refs/heads/main."},
		{Status: 409, Message: "Repository rule violations found\n\nChanges must be made through a pull request."},
	} {
		t.Run(p.Message, func(t *testing.T) {
			w, hub := newHubWorld(t, "push", pushPayload("main"))
			w.env["GITHUB_REF"] = "refs/heads/main"
			body := `{"branch":"main","status":` + map[int]string{409: "409", 422: "422"}[p.Status] + `,"message":` + quote(p.Message) + `}`
			hub.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/_fakehub/protect", strings.NewReader(body)))
			res, err := w.runNow()
			if err != nil {
				t.Fatalf("a protected branch failed the run: %v", err)
			}
			if res.Mode != ModeBaseline {
				t.Fatalf("mode %s", res.Mode)
			}
			s := w.file(w.env["GITHUB_STEP_SUMMARY"])
			if !strings.Contains(s, "NOT stored") || !strings.Contains(s, "No baseline was stored by this run") || !strings.Contains(s, "baseline-branch") {
				t.Errorf("summary:\n%s", s)
			}
			if !strings.Contains(w.stdout.String(), "::warning::") {
				t.Errorf("no warning in the log:\n%s", w.stdout.String())
			}

			w.env["INPUT_BASELINE-BRANCH"] = "perflab-baselines"
			w.mustRun()
			st := hub.Snapshot()
			head := st.Commits[st.Branches["perflab-baselines"]]
			if head == nil || head.Files["baselines/tiny.json"] == "" || !strings.Contains(head.Message, "[skip ci]") {
				t.Fatalf("no baseline on perflab-baselines: %+v", st.Branches)
			}
			if st.Commits[head.Parent] == nil || head.Parent != pushSHA {
				t.Errorf("the branch was not started at the pushed commit: parent %s", head.Parent)
			}
			if st.Commits[st.Branches["main"]].Files["baselines/tiny.json"] != "" {
				t.Error("a baseline was written to the protected main")
			}

			// A pull request reads it from there.
			pw := newWorld(t, "pull_request", prPayload(7, "acme/app"))
			pw.env["GITHUB_API_URL"], pw.env["INPUT_BASELINE-BRANCH"] = w.env["GITHUB_API_URL"], "perflab-baselines"
			pr := pw.mustRun()
			if pr.Verdict == gate.NoBaseline {
				t.Errorf("the pull request found no baseline on the baseline branch:\n%s", pw.stdout.String())
			}
			if !strings.Contains(pw.file(pw.env["GITHUB_STEP_SUMMARY"]), "head of the baseline branch perflab-baselines") {
				t.Errorf("summary does not name the baseline branch")
			}
		})
	}
}

// A read-only token on push stores nothing: the summary says so loudly.
func TestRunReadOnlyTokenOnPushIsLoud(t *testing.T) {
	w, hub := newHubWorld(t, "push", pushPayload("main"))
	w.env["GITHUB_REF"], w.env["INPUT_GITHUB-TOKEN"] = "refs/heads/main", "ro"
	w.mustRun()
	s := w.file(w.env["GITHUB_STEP_SUMMARY"])
	if !strings.Contains(s, "### ⚠️ perflab: baseline") || !strings.Contains(s, "No baseline was stored by this run") {
		t.Errorf("summary:\n%s", s)
	}
	if st := hub.Snapshot(); st.Commits[st.Branches["main"]].Files["baselines/tiny.json"] != "" {
		t.Error("a read-only token stored a baseline")
	}
}

// A manual or scheduled run on the default branch refreshes the baseline like a push; on
// another branch it only reports. A merge queue's group is gated without a comment.
func TestRunDispatchScheduleAndMergeGroup(t *testing.T) {
	for _, tt := range []struct {
		event, ref, mode string
	}{
		{"workflow_dispatch", "refs/heads/main", ModeBaseline},
		{"schedule", "refs/heads/main", ModeBaseline},
		{"workflow_dispatch", "refs/heads/dev", ModeReport},
	} {
		w, hub := newHubWorld(t, tt.event, map[string]any{"ref": tt.ref, "repository": map[string]any{"full_name": "acme/app", "default_branch": "main"}})
		if tt.event == "schedule" {
			w, hub = newHubWorld(t, tt.event, map[string]any{"schedule": "17 4 * * 1"})
		}
		w.env["GITHUB_REF"] = tt.ref
		if res := w.mustRun(); res.Mode != tt.mode {
			t.Errorf("%s on %s: mode %s, want %s", tt.event, tt.ref, res.Mode, tt.mode)
		}
		st := hub.Snapshot()
		if stored := st.Commits[st.Branches["main"]].Files["baselines/tiny.json"] != ""; stored != (tt.mode == ModeBaseline) {
			t.Errorf("%s on %s: baseline stored %v", tt.event, tt.ref, stored)
		}
	}

	w, hub := newHubWorld(t, "merge_group", map[string]any{"action": "checks_requested",
		"merge_group": map[string]any{"head_sha": headSHA, "head_ref": "refs/heads/gh-readonly-queue/main/pr-7-x", "base_sha": baseSHA, "base_ref": "refs/heads/main"},
		"repository":  map[string]any{"full_name": "acme/app", "default_branch": "main"}})
	hub.Seed("main", baseSHA, map[string]string{"baselines/tiny.json": string(baselineFor(t, w.recs, 0.5))})
	res := w.mustRun()
	if res.Mode != ModePullRequest || res.Verdict != gate.Failed || !res.Fail {
		t.Errorf("merge group: %+v; want gated, regression, fail", res)
	}
	if len(hub.Snapshot().Comments) != 0 {
		t.Error("a merge group posted a comment")
	}
}

// The footer shows the pull request's head commit (GITHUB_SHA is GitHub's merge commit)
// and the real version, with the action's ref when the runner gives it.
func TestRunFooterHeadAndVersion(t *testing.T) {
	w, hub := newHubWorld(t, "pull_request", prPayload(7, "acme/app"))
	w.env["GITHUB_ACTION_REF"], w.env["GITHUB_ACTION_REPOSITORY"] = "v0.1.0", "perflab/perflab"
	w.mustRun()
	body := botComments(hub.Snapshot(), 7)[0].Body
	if !strings.Contains(body, "perflab test (action perflab/perflab@v0.1.0)") || !strings.Contains(body, "head fead000000") || strings.Contains(body, "commit a5a000") {
		t.Errorf("footer:\n%s", body[strings.LastIndex(body, "<sub>"):])
	}
}

func quote(s string) string {
	return `"` + strings.NewReplacer(`"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
