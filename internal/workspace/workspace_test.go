package workspace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

func TestRelativeModels(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "models"), 0o755)
	wd := filepath.Join(root, "sub")
	os.MkdirAll(wd, 0o755)
	outside := t.TempDir()
	tests := []struct{ model, want string }{
		{filepath.Join(root, "models", "m.pt"), "models/m.pt"}, // absolute inside the repository
		{"../models/m.pt", "models/m.pt"},                      // relative to the working directory
		{"local.pt", "sub/local.pt"},
		{"resnet18", "resnet18"},                                         // a built-in name
		{filepath.Join(outside, "x.pt"), filepath.Join(outside, "x.pt")}, // outside: as given
	}
	var recs []*record.Record
	for _, tt := range tests {
		recs = append(recs, &record.Record{Knobs: knobs.Knobs{Model: tt.model}})
	}
	if n := RelativeModels(recs, root, wd); n != 3 {
		t.Errorf("rewrote %d, want 3", n)
	}
	for i, tt := range tests {
		if recs[i].Model != tt.want {
			t.Errorf("%s -> %s, want %s", tt.model, recs[i].Model, tt.want)
		}
	}
}

func TestGitRootAndRepoRoot(t *testing.T) {
	repo := Real(t.TempDir())
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Skipf("git: %v %s", err, out)
	}
	sub := filepath.Join(repo, "a", "b")
	os.MkdirAll(sub, 0o755)
	if root, err := GitRoot(sub); err != nil || root != repo {
		t.Errorf("GitRoot = %q, %v; want %q", root, err, repo)
	}
	plain := Real(t.TempDir())
	if _, err := GitRoot(plain); err == nil {
		t.Error("GitRoot of a plain folder: no error")
	}
	if got := RepoRoot(sub); got != repo {
		t.Errorf("RepoRoot(in a checkout) = %q, want %q", got, repo)
	}
	if got := RepoRoot(plain); got != plain {
		t.Errorf("RepoRoot(plain folder) = %q, want the folder", got)
	}
}

func TestPathConfines(t *testing.T) {
	dir := Real(t.TempDir())
	outside := Real(t.TempDir())
	os.MkdirAll(filepath.Join(dir, "in"), 0o755)
	os.Symlink(filepath.Join(dir, "in"), filepath.Join(dir, "link-in"))
	os.Symlink(outside, filepath.Join(dir, "link-out"))
	os.Symlink(filepath.Join(dir, "nothing"), filepath.Join(dir, "dangling"))
	w := Open(dir)
	tests := []struct {
		p, want, err string
	}{
		{"in/new.json", filepath.Join(dir, "in", "new.json"), ""},
		{"link-in/x", filepath.Join(dir, "in", "x"), ""},
		{filepath.Join(dir, "in"), filepath.Join(dir, "in"), ""},
		{"../x", "", "outside the workspace"},
		{filepath.Join(outside, "x"), "", "outside the workspace"},
		{"link-out/x", "", "leads outside the workspace"},
		{"dangling", "", "symbolic link to nothing"},
	}
	for _, tt := range tests {
		got, err := w.Path(tt.p, "input x")
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "input x: ") {
				t.Errorf("%s: %q, %v; want an error saying %q", tt.p, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.p, got, err, tt.want)
		}
	}
	if got := w.Rel(filepath.Join(dir, "in", "a.json")); got != "in/a.json" {
		t.Errorf("Rel = %q", got)
	}
	for p, want := range map[string]string{"baselines/x.json": "baselines/x.json", "./a/../b.json": "b.json", filepath.Join(dir, "c.json"): "c.json", "../up.json": "", filepath.Join(outside, "o.json"): ""} {
		got, err := w.RepoPath(p, "input baseline")
		if want == "" {
			if err == nil || !strings.Contains(err.Error(), "must be a path inside the repository") {
				t.Errorf("RepoPath(%s) = %q, %v; want refused", p, got, err)
			}
		} else if err != nil || got != want {
			t.Errorf("RepoPath(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
}
