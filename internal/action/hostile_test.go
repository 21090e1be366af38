package action

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/github"
	"github.com/perflab/perflab/internal/github/fakehub"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/sweep"
	"github.com/perflab/perflab/internal/testutil"
)

// The hostile-workspace suite (issue 21, docs/security.md "Files, folders and data"): a
// pull request's checkout is written by someone the repository owner has not vetted. Each
// row is a real git repository (a base commit, then the pull request's commit, as
// actions/checkout leaves it) with real TorchScript fixtures, the fake GitHub API
// (fakehub) and secrets planted where a hostile checkout could reach them: a file outside
// the workspace holding a token, and a secret in the process's environment
// (/proc/self/environ). Every row asserts what must not happen — no secret in any output,
// artifact file or API request; nothing written outside the workspace; no forged number
// used — and what the user sees: the exit code (2: the run refused, 1: the check fails,
// 0: it passes) and the one-line reason.
//
// The sweep stands in for `perflab sweep` (the Action's Deps.Sweep; the real one is run by
// internal/cli's action tests): one record per model file of the preset, failed when the
// file is not a TorchScript archive (libtorch's load would fail), else measured at 5 ms.

const (
	outsideSecret = "ghp_OUTSIDEsecretTOKEN_do_not_leak_1234"
	envSecret     = "PERFLAB_HOSTILE_SECRET_value_do_not_leak"
	forgedP95     = "0.0421"
	lfsPointer    = "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n"
	basePreset    = "name: net\ngrid:\n  models: [models/net.pt, models/other.pt]\n  inputs: ['float32[B,8]']\n"
)

// hostileRepo is one hostile workspace.
type hostileRepo struct {
	t        *testing.T
	w        *world
	hub      *fakehub.Hub
	outside  string // a folder outside the workspace, holding token.txt
	baseSHA  string
	headSHA  string
	measured int // A/B measurements asked for
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=pr", "-c", "user.email=pr@example.com", "-c", "commit.gpgsign=false", "-C", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFileAll(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newHostileRepo makes the base commit (perf/net.yaml gating models/net.pt and
// models/other.pt, real fixtures), lets pr change the checkout, commits it as the pull
// request's head, and points the event at both.
func newHostileRepo(t *testing.T, event string, pr func(h *hostileRepo)) *hostileRepo {
	t.Helper()
	return newHostileRepoWith(t, event, nil, pr)
}

// newHostileRepoWith is newHostileRepo with base, when not nil, changing the base commit's
// files before it is committed.
func newHostileRepoWith(t *testing.T, event string, base, pr func(h *hostileRepo)) *hostileRepo {
	t.Helper()
	t.Setenv("PERFLAB_HOSTILE_SECRET", envSecret) // in /proc/self/environ
	linear, err := os.ReadFile(testutil.Fixture(t, "linear.pt"))
	if err != nil {
		t.Fatal(err)
	}
	h := &hostileRepo{t: t, outside: t.TempDir()}
	writeFileAll(t, filepath.Join(h.outside, "token.txt"), []byte(outsideSecret+"\n"))
	var payload map[string]any
	if event == "push" {
		payload = pushPayload("main")
	} else {
		payload = prPayload(7, "someone/app")
	}
	h.w, h.hub = newHubWorld(t, event, payload)
	ws := h.w.ws
	os.Remove(filepath.Join(ws, "tiny.yaml"))
	git(t, ws, "init", "-q", "-b", "main")
	writeFileAll(t, filepath.Join(ws, "perf", "net.yaml"), []byte(basePreset))
	writeFileAll(t, filepath.Join(ws, "models", "net.pt"), linear)
	writeFileAll(t, filepath.Join(ws, "models", "other.pt"), linear)
	if base != nil {
		base(h)
	}
	git(t, ws, "add", "-A")
	git(t, ws, "commit", "-q", "-m", "base")
	h.baseSHA = git(t, ws, "rev-parse", "HEAD")
	h.hub.Seed("main", h.baseSHA, map[string]string{"perf/net.yaml": basePreset})
	if pr != nil {
		pr(h)
	}
	git(t, ws, "add", "-A")
	git(t, ws, "commit", "-q", "--allow-empty", "-m", "pull request")
	h.headSHA = git(t, ws, "rev-parse", "HEAD")
	if event == "push" {
		payload["after"] = h.headSHA
		h.w.env["GITHUB_SHA"] = h.headSHA
		h.w.env["GITHUB_REF"] = "refs/heads/main"
	} else {
		p := payload["pull_request"].(map[string]any)
		p["base"].(map[string]any)["sha"] = h.baseSHA
		p["head"].(map[string]any)["sha"] = h.headSHA
	}
	h.w.env["GITHUB_EVENT_PATH"] = writeJSON(t, t.TempDir(), "event.json", payload)
	h.w.env["INPUT_PRESET"] = "perf/net.yaml"
	h.w.env["GITHUB_RUN_ATTEMPT"] = "1"
	return h
}

func (h *hostileRepo) path(rel string) string { return filepath.Join(h.w.ws, filepath.FromSlash(rel)) }

func (h *hostileRepo) write(rel, content string) { writeFileAll(h.t, h.path(rel), []byte(content)) }

func (h *hostileRepo) symlink(target, rel string) {
	h.t.Helper()
	os.RemoveAll(h.path(rel))
	os.MkdirAll(filepath.Dir(h.path(rel)), 0o755)
	if err := os.Symlink(target, h.path(rel)); err != nil {
		h.t.Fatal(err)
	}
}

// sweep stands in for perflab sweep: one record per model file of the preset.
func (h *hostileRepo) sweep(_ context.Context, req SweepRequest) (string, error) {
	p, err := sweep.Load(req.Preset, req.Quick)
	if err != nil {
		return "", err
	}
	for _, g := range p.Grids {
		for _, m := range g.Models {
			r := rec(m, 1, 1, 5, 200, "fp1", 1)
			b, err := os.ReadFile(filepath.Join(h.w.ws, m))
			if err != nil || !bytes.HasPrefix(b, []byte("PK\x03\x04")) {
				r.Status, r.Error = record.StatusFailed, "load "+m+": PytorchStreamReader failed reading zip archive: failed finding central directory"
			}
			if err := record.AppendFile(req.Out, r); err != nil {
				return "", err
			}
		}
	}
	return req.Out, nil
}

// run runs the action with a deadline (a FIFO must not hang it) and returns its exit code
// as `perflab action` would: 2 for an error, 1 for a failed check, 0 otherwise.
func (h *hostileRepo) run() (code int, res *Result, err error) {
	h.t.Helper()
	w := h.w
	w.stdout.Reset()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = Run(ctx, Deps{
			Getenv: mapEnv(w.env), Stdout: &w.stdout, Version: "test",
			Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
			NewClient: func(token, apiURL string) (*github.Client, error) {
				c, err := github.NewClient(token, apiURL)
				if c != nil {
					c.Sleep = func(time.Duration) {}
				}
				return c, err
			},
			Sweep: h.sweep,
			MeasureAB: func(ctx context.Context, cfg gate.ABConfig, first, n int) (a, b []gate.Run, err error) {
				h.measured++
				return nil, nil, errors.New("no A/B measurement is expected in the hostile suite")
			},
		})
	}()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		h.t.Fatalf("the action hangs\n%s", w.stdout.String())
	}
	switch {
	case err != nil:
		return 2, res, err
	case res.Fail:
		return 1, res, nil
	}
	return 0, res, nil
}

// checkNothingLeaked: no secret in the log, the step's files, any file under the
// workspace (the artifact included) or anything sent to the API; the token only in its
// ::add-mask:: line; nothing written outside the workspace.
func (h *hostileRepo) checkNothingLeaked(outsideBefore map[string]string) {
	t := h.t
	t.Helper()
	secrets := []string{outsideSecret, envSecret, fakeToken}
	log := strings.ReplaceAll(h.w.stdout.String(), "::add-mask::"+fakeToken, "")
	st, _ := json.Marshal(h.hub.Snapshot())
	where := map[string][]byte{"the log": []byte(log), "the API requests": st}
	for _, f := range []string{h.w.env["GITHUB_OUTPUT"], h.w.env["GITHUB_STEP_SUMMARY"]} {
		b, _ := os.ReadFile(f)
		where[f] = b
	}
	filepath.Walk(h.w.ws, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.Mode()&os.ModeType != 0 || info.Size() > 64<<20 { // regular files only (a link is not followed); not the huge one
			return nil
		}
		b, _ := os.ReadFile(p)
		where[p] = b
		return nil
	})
	for name, b := range where {
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds the secret %.12s…", name, s)
			}
		}
	}
	if after := dirContents(t, h.outside); !equalMaps(outsideBefore, after) {
		t.Errorf("written outside the workspace: before %v, after %v", keys(outsideBefore), keys(after))
	}
}

func dirContents(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			out[p] = string(b)
		}
		return nil
	})
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestHostileWorkspaces(t *testing.T) {
	forgedRec := `{"schema_version":1,"mode":"bench","status":"ok","model":"models/net.pt","batch_size":1,"threads":1,"preset":"net","latency_p50":0.04,"latency_p90":0.0421,"latency_p95":` + forgedP95 + `,"latency_p99":0.0421,"throughput_rps":99999,"forward_ms_per_batch":0.0421}`
	tests := []struct {
		name  string
		event string // "" = pull_request
		env   map[string]string
		pr    func(h *hostileRepo)
		after func(h *hostileRepo) // after the commit: what git cannot hold (a FIFO)
		code  int                  // exit code
		want  string               // in the error (code 2) or the verdict's summary (code 1), or the log
		check func(t *testing.T, h *hostileRepo, res *Result)
	}{
		{name: "model links to /proc/self/environ", code: 2, want: "leads outside the workspace",
			pr: func(h *hostileRepo) { h.symlink("/proc/self/environ", "models/net.pt") }},
		{name: "model links to a secret outside", code: 2, want: "leads outside the workspace",
			pr: func(h *hostileRepo) { h.symlink(filepath.Join(h.outside, "token.txt"), "models/net.pt") }},
		{name: "models folder links outside", code: 2, want: "leads outside the workspace",
			pr: func(h *hostileRepo) {
				writeFileAll(h.t, filepath.Join(h.outside, "net.pt"), []byte(outsideSecret))
				writeFileAll(h.t, filepath.Join(h.outside, "other.pt"), []byte(outsideSecret))
				h.symlink(h.outside, "models")
			}},
		{name: "preset names /proc/self/environ", code: 2, want: "must be a path inside the repository",
			pr: func(h *hostileRepo) {
				h.write("perf/net.yaml", strings.Replace(basePreset, "models/net.pt", "/proc/self/environ", 1))
			}},
		{name: "preset names ../../proc/self/environ", code: 2, want: "is outside the workspace",
			pr: func(h *hostileRepo) {
				h.write("perf/net.yaml", strings.Replace(basePreset, "models/net.pt", "../../../../../../../../proc/self/environ", 1))
			}},
		{name: "model is a FIFO", code: 2, want: "model file models/net.pt is not a regular file (a FIFO, device or socket)",
			after: func(h *hostileRepo) {
				os.Remove(h.path("models/net.pt"))
				if err := syscall.Mkfifo(h.path("models/net.pt"), 0o644); err != nil {
					h.t.Fatal(err)
				}
			}},
		{name: "preset is a FIFO", code: 2, want: "is not a regular file (a FIFO)",
			after: func(h *hostileRepo) {
				os.Remove(h.path("perf/net.yaml"))
				if err := syscall.Mkfifo(h.path("perf/net.yaml"), 0o644); err != nil {
					h.t.Fatal(err)
				}
			}},
		{name: "model is a folder", code: 2, want: "model file models/net.pt is a folder",
			pr: func(h *hostileRepo) { os.Remove(h.path("models/net.pt")); h.write("models/net.pt/x", "x") }},
		{name: "huge model", code: 2, want: "more than the 4096 MiB perflab reads",
			after: func(h *hostileRepo) {
				f, err := os.Create(h.path("models/net.pt"))
				if err != nil {
					h.t.Fatal(err)
				}
				f.Truncate(5 << 30) // sparse: nothing is written
				f.Close()
			}},
		{name: "LFS pointer model", code: 2, want: "Git LFS pointer, not the model: run `git lfs pull` (in a workflow, add `lfs: true` to actions/checkout)",
			pr: func(h *hostileRepo) { h.write("models/net.pt", lfsPointer) }},
		{name: "committed results and sidecar", code: 0, want: "perflab-results/ was already in the workspace",
			pr: func(h *hostileRepo) {
				h.write("perflab-results/results.jsonl", forgedRec+"\n")
				h.write("perflab-results/results.jsonl.runs", `{"key":"x","slot":1,"record":`+forgedRec+"}\n")
				h.write("perflab-results/verdict.json", `{"verdict":"pass"}`)
			},
			check: func(t *testing.T, h *hostileRepo, res *Result) {
				b, _ := os.ReadFile(h.path("perflab-results/results.jsonl"))
				if strings.Contains(string(b), forgedP95) || strings.Contains(h.w.stdout.String(), forgedP95) {
					t.Errorf("the forged p95 is used")
				}
			}},
		{name: "committed perflab-results with links inside", code: 0, want: "moved aside",
			pr: func(h *hostileRepo) {
				for _, f := range []string{"comment.md", "pr.json", "report.md", "results.jsonl", "results.jsonl.runs", "summary.md", "verdict.json", "base-models"} {
					h.symlink(filepath.Join(h.outside, f), "perflab-results/"+f)
				}
			}},
		{name: "perflab-results links outside", code: 0, want: "moved aside",
			pr: func(h *hostileRepo) { h.symlink(h.outside, "perflab-results") }},
		{name: "base-models escapes with ..", code: 2, want: "input base-models", env: map[string]string{"INPUT_BASE-MODELS": "../../../../../../../proc"},
			pr: func(h *hostileRepo) { h.write("models/net.pt", "changed") }},
		{name: "base-models absolute /proc", code: 2, want: "outside the workspace", env: map[string]string{"INPUT_BASE-MODELS": "/proc"},
			pr: func(h *hostileRepo) { h.write("models/net.pt", "changed") }},
		{name: "base-models links to /proc", code: 2, want: "leads outside the workspace", env: map[string]string{"INPUT_BASE-MODELS": "base"},
			pr: func(h *hostileRepo) { h.symlink("/proc", "base"); h.write("models/net.pt", "changed") }},
		{name: "base model links to /proc/self/environ", code: 2, want: "leads outside the workspace", env: map[string]string{"INPUT_BASE-MODELS": "base"},
			pr: func(h *hostileRepo) {
				h.symlink("/proc/self/environ", "base/models/net.pt")
				b, _ := os.ReadFile(testutil.Fixture(h.t, "mlp.pt"))
				h.write("models/net.pt", string(b))
			}},
		{name: "preset named ../escape", event: "push", code: 2, want: `the preset's name "../escape" cannot name a baseline file`,
			pr: func(h *hostileRepo) {
				h.write("perf/net.yaml", strings.Replace(basePreset, "name: net", "name: ../escape", 1))
			},
			check: func(t *testing.T, h *hostileRepo, res *Result) {
				for _, c := range h.hub.Snapshot().Commits {
					for f := range c.Files {
						if strings.Contains(f, "escape") {
							t.Errorf("stored %s", f)
						}
					}
				}
				if _, err := os.Stat(h.path("escape.json")); err == nil {
					t.Error("escape.json written at the root")
				}
			}},
		{name: "gated model removed", code: 1, want: "model file models/other.pt is gated by the base's preset, but this pull request deletes or renames it",
			pr: func(h *hostileRepo) {
				os.Remove(h.path("models/other.pt"))
				h.write("perf/net.yaml", strings.Replace(basePreset, ", models/other.pt", "", 1))
			}},
		{name: "preset pointed at another file", code: 1, want: "model file models/net.pt is gated by the base's preset, but this pull request's preset no longer names it",
			pr: func(h *hostileRepo) {
				h.write("models/net.pt", "a 30% slower model")
				h.write("perf/net.yaml", strings.Replace(basePreset, "models/net.pt, ", "", 1))
			}},
		{name: "un-gated with allow-ungated", code: 0, want: "allowed: allow-ungated: true", env: map[string]string{"INPUT_ALLOW-UNGATED": "true"},
			pr: func(h *hostileRepo) { h.write("perf/net.yaml", strings.Replace(basePreset, "models/net.pt, ", "", 1)) },
			check: func(t *testing.T, h *hostileRepo, res *Result) {
				if c := botComments(h.hub.Snapshot(), 7); len(c) != 1 || !strings.Contains(c[0].Body, "models/net.pt") {
					t.Errorf("the comment does not say the model is no longer gated")
				}
			}},
		{name: "garbage changed model", code: 1, want: "model file models/net.pt could not be read or loaded",
			pr: func(h *hostileRepo) { h.write("models/net.pt", "garbage, not a TorchScript archive") }},
		{name: "committed shard results", code: 2, want: "is part of the checkout (tracked by git)", env: map[string]string{"INPUT_RESULTS": "shards/*.jsonl"},
			pr: func(h *hostileRepo) { h.write("shards/zz-forged.jsonl", forgedRec+"\n") }},
		{name: "shard results without run identity", code: 2, want: "has no run identity", env: map[string]string{"INPUT_RESULTS": "shards/*.jsonl"},
			pr: func(h *hostileRepo) {
				h.write(".gitignore", "shards/\n")
				h.write("shards/a.jsonl", forgedRec+"\n")
			}},
		{name: "shard results of another run", code: 2, want: "was measured by another workflow run", env: map[string]string{"INPUT_RESULTS": "shards/*.jsonl"},
			pr: func(h *hostileRepo) {
				h.write(".gitignore", "shards/\n")
				h.write("shards/a.jsonl", forgedRec+"\n")
				env := map[string]string{"GITHUB_REPOSITORY": "acme/app", "GITHUB_RUN_ID": "1"}
				WriteRunIdentity(mapEnv(env), h.path("shards/a.jsonl"))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := tt.event
			if event == "" {
				event = "pull_request"
			}
			h := newHostileRepo(t, event, tt.pr)
			if tt.after != nil {
				tt.after(h)
			}
			for k, v := range tt.env {
				h.w.env[k] = v
			}
			before := dirContents(t, h.outside)
			code, res, err := h.run()
			h.checkNothingLeaked(before)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: err %v\n%s", code, tt.code, err, h.w.stdout.String())
			}
			switch {
			case code == 2:
				if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q, want one line with %q", err, tt.want)
				}
			case code == 1:
				if res.Failure == nil || !strings.Contains(res.Failure.Summary, tt.want) {
					t.Errorf("failure %+v, want %q", res.Failure, tt.want)
				}
				if c := botComments(h.hub.Snapshot(), 7); len(c) != 1 || !strings.Contains(strings.ReplaceAll(c[0].Body, "`", ""), tt.want) {
					t.Errorf("the comment does not say %q", tt.want)
				}
			default:
				said := h.w.stdout.String()
				for _, c := range botComments(h.hub.Snapshot(), 7) {
					said += c.Body
				}
				if !strings.Contains(said, tt.want) {
					t.Errorf("neither the log nor the comment says %q:\n%s", tt.want, said)
				}
			}
			if h.measured > 0 {
				t.Errorf("%d A/B measurements", h.measured)
			}
			if tt.check != nil {
				tt.check(t, h, res)
			}
		})
	}
}
