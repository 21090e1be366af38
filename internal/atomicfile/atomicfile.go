// Package atomicfile writes files so that a reader sees either the old content or the new,
// never a partial file: a temporary file in the same folder, synced, then renamed. A
// failed write (a full disk) or a SIGINT/SIGTERM during it leaves the old file and no
// temporary file; the temporary file of a writer killed with SIGKILL is removed by the
// next Write of the same path.
package atomicfile

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
)

// Write replaces path with b (mode 0644), creating its folder. A SIGINT or SIGTERM that
// arrives during the write removes the temporary file before the signal takes its
// course.
func Write(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create folder for %s: %w", path, err)
	}
	removeStale(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The lock on the temporary file says its writer is alive (removeStale); it is held
	// until after the rename.
	syscall.Flock(int(tmp.Fd()), syscall.LOCK_EX)
	defer cleanupOnSignal(tmp.Name())()
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	defer tmp.Close()
	for _, step := range []func() error{
		func() error { _, err := tmp.Write(b); return err },
		func() error { return tmp.Chmod(0o644) },
		tmp.Sync,
		func() error { testHookBeforeRename(); return nil },
		func() error { return os.Rename(tmp.Name(), path) },
		tmp.Close,
	} {
		if err := step(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// testHookBeforeRename lets a test hold a Write between its temporary file and the rename.
var testHookBeforeRename = func() {}

// cleanupOnSignal removes name if SIGINT or SIGTERM arrives before the returned function
// is called, then lets the signal act as it would have (it is sent again).
func cleanupOnSignal(name string) (done func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case s := <-sigs:
			os.Remove(name)
			signal.Stop(sigs)
			if sig, ok := s.(syscall.Signal); ok {
				syscall.Kill(os.Getpid(), sig)
			}
		case <-stop:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(stop)
		<-finished
	}
}

// removeStale deletes the temporary files an earlier Write of path left behind when its
// process was killed (kill -9, a TERM it did not catch): those nobody holds locked.
func removeStale(path string) {
	olds, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+".*.tmp"))
	for _, name := range olds {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(name)
		}
		f.Close()
	}
}

func globEscape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '*' || c == '?' || c == '[' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}

// Lock takes an exclusive lock for a read-modify-write of path: flock on the sidecar file
// path + ".lock" (created next to it and left there: removing it would let two writers
// lock different files). It blocks until the lock is free; other perflab processes that
// lock the same path wait. Read path after Lock, write it with Write, then unlock.
// The lock is released when the process dies.
func Lock(path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create folder for %s: %w", path, err)
	}
	lp := path + ".lock"
	f, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s (flock %s): %w", path, lp, err)
	}
	return func() { f.Close() }, nil // closing the file releases the lock
}
