package aoticache

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Each component of the key changes it: a package is never reused across a change of the
// program, the libtorch version, the CPU's ISA or an option.
func TestKeyComponents(t *testing.T) {
	base := Key{ProgramSHA256: "aa", Libtorch: "2.6.0", ISA: "avx2 fma", Options: map[string]string{"script": "1"}}
	tests := []struct {
		name   string
		change func(k *Key)
	}{
		{"program", func(k *Key) { k.ProgramSHA256 = "ab" }},
		{"libtorch", func(k *Key) { k.Libtorch = "2.7.0" }},
		{"isa", func(k *Key) { k.ISA = "avx2 avx512f fma" }},
		{"option value", func(k *Key) { k.Options = map[string]string{"script": "2"} }},
		{"option added", func(k *Key) { k.Options = map[string]string{"script": "1", "batch": "1..16"} }},
		{"no options", func(k *Key) { k.Options = nil }},
		// A value cannot pass for another component: the text names each line.
		{"shifted text", func(k *Key) { k.ProgramSHA256, k.Libtorch = "aa\nlibtorch 2.6.0", "" }},
	}
	seen := map[string]string{base.ID(): "base"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := base
			tt.change(&k)
			if k.Text() == base.Text() || k.ID() == base.ID() {
				t.Errorf("key unchanged:\n%s", k.Text())
			}
			if prev, ok := seen[k.ID()]; ok {
				t.Errorf("same ID as %s", prev)
			}
			seen[k.ID()] = tt.name
		})
	}
	// The same components, in another map order, are the same key.
	same := base
	same.Options = map[string]string{"script": "1"}
	if same.ID() != base.ID() || len(base.ID()) != 32 {
		t.Errorf("ID %q vs %q", same.ID(), base.ID())
	}
	if want := "program_sha256 aa\nlibtorch 2.6.0\nisa avx2 fma\noption script=1\n"; base.Text() != want {
		t.Errorf("Text = %q, want %q", base.Text(), want)
	}
}

func TestNewKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.pt2")
	os.WriteFile(p, []byte("program"), 0o644)
	k, err := NewKey(p, "2.6.0", "avx2")
	if err != nil || len(k.ProgramSHA256) != 64 || k.Options["script"] != ScriptVersion() {
		t.Fatalf("%+v, %v", k, err)
	}
	os.WriteFile(p, []byte("program 2"), 0o644)
	k2, _ := NewKey(p, "2.6.0", "avx2")
	if k2.ID() == k.ID() {
		t.Errorf("a changed program kept its key")
	}
	if _, err := NewKey(filepath.Join(t.TempDir(), "missing.pt2"), "2.6.0", ""); err == nil {
		t.Errorf("a missing program has a key")
	}
}

func TestDir(t *testing.T) {
	t.Setenv(EnvDir, "/some/where")
	if d, err := Dir(); err != nil || d != "/some/where" {
		t.Errorf("Dir() = %q, %v", d, err)
	}
	// A relative folder is the working folder's (the Action's workspace: .perflab-aoti), the
	// same for every worker process.
	wd, _ := os.Getwd()
	t.Setenv(EnvDir, ".perflab-aoti")
	if d, err := Dir(); err != nil || d != filepath.Join(wd, ".perflab-aoti") {
		t.Errorf("Dir() = %q, %v; want %s", d, err, filepath.Join(wd, ".perflab-aoti"))
	}
	t.Setenv(EnvDir, "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d, err := Dir(); err != nil || d != "/xdg/perflab/aoti" {
		t.Errorf("Dir() = %q, %v", d, err)
	}
}

// writeEntry writes a cache entry as Ensure leaves one.
func writeEntry(t *testing.T, dir string, k Key, keyText string) {
	t.Helper()
	e := filepath.Join(dir, k.ID())
	os.MkdirAll(e, 0o755)
	os.WriteFile(filepath.Join(e, "model.pt2"), []byte("PK"), 0o644)
	os.WriteFile(filepath.Join(e, "model.pt2.json"), []byte(`{"format":"aoti","inputs":["float32[B,3]"],"batch_min":1,"batch_max":8,"isa":"scalar","compile_seconds":12.5}`), 0o644)
	os.WriteFile(filepath.Join(e, "key.txt"), []byte(keyText), 0o644)
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	k := Key{ProgramSHA256: "aa", Libtorch: "2.6.0", ISA: "avx2"}
	if r, err := Lookup(dir, k); r != nil || err != nil {
		t.Fatalf("empty cache: %+v, %v", r, err)
	}
	writeEntry(t, dir, k, k.Text())
	r, err := Lookup(dir, k)
	if err != nil || r == nil || r.Package.Cache != "hit" || r.Package.Spec.CompileSeconds != 12.5 || r.Package.Path != filepath.Join(dir, k.ID(), "model.pt2") {
		t.Fatalf("Lookup = %+v, %v", r, err)
	}
	// An entry whose key.txt is not the key's text (a partial or foreign entry) is no hit.
	other := Key{ProgramSHA256: "bb", Libtorch: "2.6.0", ISA: "avx2"}
	writeEntry(t, dir, other, k.Text())
	if r, err := Lookup(dir, other); r != nil || err != nil {
		t.Errorf("foreign entry: %+v, %v", r, err)
	}
	// A hit is returned without compiling anything.
	if r, err := Ensure(context.Background(), dir, "/nonexistent.pt2", k); err != nil || r.Package.Cache != "hit" {
		t.Errorf("Ensure on a hit: %+v, %v", r, err)
	}
}

// The compile's failures are one line: no python3, and a python3 whose torch is not the
// linked libtorch's version (the host's python3-torch, if any, is not "0.0.1").
func TestEnsureErrors(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "m.pt2")
	os.WriteFile(prog, []byte("program"), 0o644)
	k := Key{ProgramSHA256: "aa", Libtorch: "0.0.1", ISA: "avx2"}

	t.Setenv(EnvPython, "/nonexistent/python3")
	dir := t.TempDir()
	_, err := Ensure(context.Background(), dir, prog, k)
	if err == nil || !strings.Contains(err.Error(), "needs python3 with torch 0.0.1") || strings.Contains(err.Error(), "\n") {
		t.Errorf("no python3: %v", err)
	}
	py := ""
	for _, c := range []string{"python3", "/usr/bin/python3"} {
		if p, lerr := exec.LookPath(c); lerr == nil && exec.Command(p, "-c", "import torch").Run() == nil {
			py = p
			break
		}
	}
	if py != "" {
		t.Setenv(EnvPython, py)
		_, err = Ensure(context.Background(), dir, prog, k)
		if err == nil || !strings.Contains(err.Error(), "perflab runs on libtorch 0.0.1: a package only loads in the libtorch that compiled it") || strings.Contains(err.Error(), "\n") {
			t.Errorf("another torch: %v", err)
		}
	} else {
		t.Log("no python3 with torch: the version check is not exercised")
	}
	// Nothing is left behind but the lock file.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lock") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}
