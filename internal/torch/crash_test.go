package torch

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/perflab/perflab/internal/testutil"
)

// TestNativeCrash runs a model that crashes libtorch (SIGSEGV, SIGFPE) in a child
// process: it exits with the given code after one line naming the signal and the context,
// with no Go goroutine dump. Both crash libtorch 1.13 and 2.x.
func TestNativeCrash(t *testing.T) {
	if m := os.Getenv("PERFLAB_TEST_CRASH_MODEL"); m != "" {
		OnNativeCrash(42)
		SetCrashContext("the crash test\nwith a newline")
		mod, err := Load(m)
		if err != nil {
			os.Exit(5)
		}
		in, err := Random(Float32, []int64{2, 8}, false, 0, 0, 1)
		if err != nil {
			os.Exit(6)
		}
		if _, err := mod.Forward([]*Tensor{in}); err != nil {
			os.Stderr.WriteString(Message(err) + "\n")
			os.Exit(8)
		}
		os.Exit(7) // not reached
	}
	for _, tc := range []struct{ model, signal string }{{"segv.pt", "SIGSEGV"}, {"fpe.pt", "SIGFPE"}} {
		t.Run(tc.model, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestNativeCrash$")
			cmd.Env = append(os.Environ(), "PERFLAB_TEST_CRASH_MODEL="+testutil.Hostile(t, tc.model))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 42 {
				t.Fatalf("child: %v, want exit code 42\n%s", err, stderr.String())
			}
			msg := stderr.String()
			want := "perflab: native crash: " + tc.signal
			if !strings.HasPrefix(msg, want) || strings.Count(msg, "\n") != 1 ||
				!strings.Contains(msg, "while running the crash test with a newline:") || strings.Contains(msg, "goroutine") {
				t.Fatalf("stderr %q: want one line starting %q naming the context, no Go dump", msg, want)
			}
		})
	}
}

// TestGoPanicAfterOnNativeCrash: a nil dereference in Go code is still a Go panic that
// recover sees, once the native crash handler is installed.
func TestGoPanicAfterOnNativeCrash(t *testing.T) {
	OnNativeCrash(42)
	var p *int
	func() {
		defer func() {
			if r := recover(); r == nil {
				t.Error("no panic from a nil dereference")
			}
		}()
		_ = *p
	}()
}

// TestNativeCrashAbort: SIGABRT (libtorch's abort, std::terminate) takes the same path.
func TestNativeCrashAbort(t *testing.T) {
	if os.Getenv("PERFLAB_TEST_ABORT") != "" {
		OnNativeCrash(42)
		SetCrashContext("abort test")
		syscall.Kill(os.Getpid(), syscall.SIGABRT)
		select {}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestNativeCrashAbort$")
	cmd.Env = append(os.Environ(), "PERFLAB_TEST_ABORT=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 42 || !strings.HasPrefix(stderr.String(), "perflab: native crash: SIGABRT") || strings.Contains(stderr.String(), "goroutine") {
		t.Fatalf("child: %v, stderr %q; want exit 42 and one SIGABRT line", err, stderr.String())
	}
}
