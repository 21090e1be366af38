package action

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A dangling baselines/<preset>.json link (or a linked baselines folder) must not make the
// action create or replace a file outside the workspace; a link inside it is followed and
// the file replaced atomically (no temporary file left, the link kept).
func TestRunBaselineWriteThroughLinks(t *testing.T) {
	outside := t.TempDir()
	tests := []struct {
		name  string
		setup func(ws string)
		ok    bool
	}{
		{"dangling file link", func(ws string) {
			os.MkdirAll(filepath.Join(ws, "baselines"), 0o755)
			os.Symlink(filepath.Join(outside, "created.json"), filepath.Join(ws, "baselines", "tiny.json"))
		}, false},
		{"folder link out", func(ws string) { os.Symlink(outside, filepath.Join(ws, "baselines")) }, false},
		{"file link out", func(ws string) {
			os.WriteFile(filepath.Join(outside, "created.json"), []byte("{}"), 0o644)
			os.MkdirAll(filepath.Join(ws, "baselines"), 0o755)
			os.Symlink(filepath.Join(outside, "created.json"), filepath.Join(ws, "baselines", "tiny.json"))
		}, false},
		{"link inside", func(ws string) {
			os.MkdirAll(filepath.Join(ws, "perf"), 0o755)
			os.Symlink(filepath.Join(ws, "perf"), filepath.Join(ws, "baselines"))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(outside, "created.json"))
			w, _ := newHubWorld(t, "push", pushPayload("main"))
			w.env["GITHUB_REF"] = "refs/heads/main"
			tt.setup(w.ws)
			before, _ := os.ReadFile(filepath.Join(outside, "created.json"))
			_, err := w.runNow()
			after, _ := os.ReadFile(filepath.Join(outside, "created.json"))
			if string(after) != string(before) {
				t.Errorf("a file outside the workspace was written: %.80q", after)
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("a link inside the workspace was refused: %v", err)
				}
				if b, err := os.ReadFile(filepath.Join(w.ws, "perf", "tiny.json")); err != nil || !strings.Contains(string(b), `"entries"`) {
					t.Errorf("the baseline was not written at the link's target: %v", err)
				}
				if fi, err := os.Lstat(filepath.Join(w.ws, "baselines")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Error("the link was replaced")
				}
				if m, _ := filepath.Glob(filepath.Join(w.ws, "perf", ".*.tmp")); len(m) > 0 {
					t.Errorf("temporary files left: %v", m)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("err %v; want the link refused", err)
			}
		})
	}
}

// INPUT_PRESET and INPUT_RESULTS name files in the workspace only, and an error about a
// file never shows its content.
func TestRunInputsConfinedToWorkspace(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "passwd")
	os.WriteFile(secret, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o644)
	tests := []struct {
		name  string
		env   map[string]string
		setup func(ws string)
		want  string
	}{
		{"absolute preset outside", map[string]string{"INPUT_PRESET": secret}, nil, "outside the workspace"},
		{"relative preset escaping", map[string]string{"INPUT_PRESET": "../../" + secret}, nil, "outside the workspace"},
		{"preset link out", map[string]string{"INPUT_PRESET": "p.yaml"}, func(ws string) { os.Symlink(secret, filepath.Join(ws, "p.yaml")) }, "symbolic link"},
		{"preset in the workspace that is not YAML", map[string]string{"INPUT_PRESET": "p.yaml"}, func(ws string) {
			b, _ := os.ReadFile(secret)
			os.WriteFile(filepath.Join(ws, "p.yaml"), b, 0o644)
		}, "preset"},
		{"results outside", map[string]string{"INPUT_RESULTS": secret}, nil, "outside the workspace"},
		{"results glob outside", map[string]string{"INPUT_RESULTS": filepath.Join(outside, "*")}, nil, "outside the workspace"},
		{"results link out", map[string]string{"INPUT_RESULTS": "r/*.jsonl"}, func(ws string) {
			os.MkdirAll(filepath.Join(ws, "r"), 0o755)
			os.Symlink(secret, filepath.Join(ws, "r", "a.jsonl"))
		}, "symbolic link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t, "push", pushPayload("feature"))
			delete(w.env, "INPUT_GITHUB-TOKEN")
			for k, v := range tt.env {
				w.env[k] = v
			}
			if tt.setup != nil {
				tt.setup(w.ws)
			}
			// The real sweep reads the preset; this one stands in for it.
			_, err := w.runNow()
			if err == nil {
				t.Fatalf("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %q; want %q", err, tt.want)
			}
			for _, where := range []string{err.Error(), w.stdout.String()} {
				if strings.Contains(where, "root:x") {
					t.Errorf("the file's content is shown: %s", where)
				}
			}
			if m, _ := filepath.Glob(filepath.Join(outside, "*")); len(m) != 1 {
				t.Errorf("files written outside the workspace: %v", m)
			}
		})
	}
}
