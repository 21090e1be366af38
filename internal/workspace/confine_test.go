package workspace

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRegular: what Regular lets a pull request's checkout make perflab read.
func TestRegular(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644)
	os.WriteFile(filepath.Join(ws, "ok.pt"), []byte("PK\x03\x04model"), 0o644)
	os.Symlink("ok.pt", filepath.Join(ws, "in.pt"))
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(ws, "out.pt"))
	os.Symlink(outside, filepath.Join(ws, "outdir"))
	syscall.Mkfifo(filepath.Join(ws, "fifo.pt"), 0o644)
	os.Mkdir(filepath.Join(ws, "dir.pt"), 0o755)
	os.WriteFile(filepath.Join(ws, "lfs.pt"), []byte("version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 3\n"), 0o644)
	os.WriteFile(filepath.Join(ws, "big.pt"), make([]byte, 2<<20), 0o644)
	w := Open(ws)
	tests := []struct{ path, want string }{
		{"ok.pt", ""},
		{"in.pt", ""},
		{"out.pt", "leads outside the workspace"},
		{"outdir/secret", "leads outside the workspace"},
		{"../" + filepath.Base(outside) + "/secret", "outside the workspace"},
		{"/proc/self/environ", "outside the workspace"},
		{"fifo.pt", "is not a regular file (a FIFO, device or socket)"},
		{"dir.pt", "is a folder"},
		{"lfs.pt", "Git LFS pointer"},
		{"big.pt", "is 2 MiB, more than the 1 MiB perflab reads"},
		{"missing.pt", "does not exist"},
	}
	for _, tt := range tests {
		_, head, err := w.Regular(tt.path, "model file "+tt.path, 1<<20)
		switch {
		case tt.want == "" && (err != nil || !strings.HasPrefix(string(head), "PK")):
			t.Errorf("%s: %v, head %q", tt.path, err, head)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err %v, want %q", tt.path, err, tt.want)
		}
	}
	if _, _, err := w.Regular("missing.pt", "m", 0); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v, want ErrNotExist", err)
	}
}

// TestFresh: the Action's results folder is new and empty; whatever was there is moved
// aside, never followed.
func TestFresh(t *testing.T) {
	ws, outside := t.TempDir(), t.TempDir()
	w := Open(ws)
	dir, moved, err := w.Fresh("out", "the output folder")
	if err != nil || moved != "" || dir != filepath.Join(w.Dir, "out") {
		t.Fatalf("nothing there: %s %q %v", dir, moved, err)
	}
	os.WriteFile(filepath.Join(dir, "forged.jsonl"), []byte("forged"), 0o644)
	if _, moved, err = w.Fresh("out", "the output folder"); err != nil || moved != "out.old" {
		t.Fatalf("a folder there: moved %q, %v", moved, err)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "out.old", "forged.jsonl")); string(b) != "forged" {
		t.Error("not moved aside")
	}
	os.RemoveAll(filepath.Join(ws, "out"))
	os.Symlink(outside, filepath.Join(ws, "out"))
	dir, moved, err = w.Fresh("out", "the output folder")
	if err != nil || moved != "out.old2" {
		t.Fatalf("a link there: moved %q, %v", moved, err)
	}
	if fi, err := os.Lstat(dir); err != nil || !fi.IsDir() {
		t.Errorf("the new folder is not a folder: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(outside, "*")); len(m) != 0 {
		t.Errorf("written outside: %v", m)
	}
	if _, _, err := w.Fresh("../x", "the output folder"); err == nil {
		t.Error("a folder outside the workspace was made")
	}
}
