package atomicfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "b", "f.json")
	for _, content := range []string{"first\n", "second, longer\n", ""} {
		if err := Write(path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("content %q, %v; want %q", got, err, content)
		}
		fi, _ := os.Stat(path)
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("mode %v, want 0644", fi.Mode().Perm())
		}
		entries, _ := os.ReadDir(filepath.Dir(path))
		if len(entries) != 1 {
			t.Errorf("folder holds %d entries, want only the file (no temporary left)", len(entries))
		}
	}
	// A folder in the way: an error naming the path, the old content intact.
	if err := os.Mkdir(filepath.Join(dir, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x", "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "x"), []byte("new")); err == nil {
		t.Error("writing over a non-empty folder succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "x", "keep")); string(b) != "k" {
		t.Error("the folder's content changed")
	}
}

// TestLockExcludes: a second Lock of the same path waits until the first is released.
func TestLockExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "b.json")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		u2, err := Lock(path)
		if err != nil {
			t.Error(err)
		}
		close(got)
		u2()
	}()
	select {
	case <-got:
		t.Fatal("a second Lock succeeded while the first was held")
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	select {
	case <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("the second Lock did not get the lock after the first was released")
	}
}

// TestWriteRemovesStaleTemporaries: the hidden temporary file a killed writer left is
// removed by the next Write; one a live writer holds is not.
func TestWriteRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "b.json")
	stale := filepath.Join(dir, ".b.json.123.tmp")
	live := filepath.Join(dir, ".b.json.456.tmp")
	other := filepath.Join(dir, ".c.json.789.tmp")
	for _, p := range []string{stale, live, other} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the stale temporary file is still there: %v", err)
	}
	for _, p := range []string{live, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

// TestWriteFullDisk: on a full 64 KiB tmpfs the write fails with ENOSPC, the old file
// stays as it was and no temporary file is left.
func TestWriteFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	path := filepath.Join(dir, "plot.png")
	if err := Write(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	err := Write(path, make([]byte, 200<<10))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write of 200 KiB on a 64 KiB tmpfs: %v, want ENOSPC", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("the old file changed: %q", b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestWriteTERMRemovesTemporary: a process stopped by SIGTERM in the middle of a Write
// leaves no temporary file, and still dies of the signal.
func TestWriteTERMRemovesTemporary(t *testing.T) {
	if dir := os.Getenv("PERFLAB_TEST_WRITE_DIR"); dir != "" {
		testHookBeforeRename = func() { os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); time.Sleep(time.Minute) }
		Write(filepath.Join(dir, "out.json"), make([]byte, 1<<20))
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteTERMRemovesTemporary$")
	cmd.Env = append(os.Environ(), "PERFLAB_TEST_WRITE_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the writer never reached its rename")
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 1 {
		t.Fatalf("want the writer's temporary file while it writes, got %v", left)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("writer ended with %v, want killed by SIGTERM", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) != 0 {
		t.Errorf("temporary files left after SIGTERM: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, "out.json")); !os.IsNotExist(err) {
		t.Errorf("the interrupted write created out.json: %v", err)
	}
}
