package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 21's small fixes: each mistake gets one line that names the problem.
func TestMistakesAreNamed(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o644)
	nan := filepath.Join(dir, "nan.yaml")
	os.WriteFile(nan, []byte("name: x\ntarget_ci: .nan\ngrid:\n  models: [resnet18]\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"merge with no arguments", []string{"merge", "--out", filepath.Join(dir, "all.jsonl")}, []string{"merge: name the JSONL files to merge"}},
		{"--workers 0", []string{"sweep", "--preset", "cpu_vision", "--workers", "0", "--dry-run"}, []string{"--workers must be >= 1, got 0"}},
		{"--workers -1", []string{"sweep", "--preset", "cpu_vision", "--workers", "-1", "--dry-run"}, []string{"--workers must be >= 1, got -1"}},
		{"an empty preset", []string{"sweep", "--preset", empty, "--dry-run"}, []string{"empty.yaml is empty", `"name"`, `"grid"`}},
		{"a NaN in a preset", []string{"sweep", "--preset", nan, "--dry-run"}, []string{"line 2: want a finite number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkUsageError(t, tt.args, tt.want) })
	}
}

// sweep-worker run by hand (no pipe at fd 3) says what it is instead of reading stdin.
func TestWorkerWithoutItsPipe(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "not-a-pipe"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, out := range []*os.File{nil, f} {
		err := RunWorker(strings.NewReader("{}"), out)
		if err == nil || !strings.Contains(err.Error(), "not a command to run by hand") || !strings.Contains(err.Error(), "file descriptor 3") {
			t.Errorf("RunWorker(%v): %v", out, err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := RunWorker(strings.NewReader(""), w); err == nil || !strings.Contains(err.Error(), "read the worker spec") {
		t.Errorf("with its pipe: %v, want the spec read", err)
	}
}
