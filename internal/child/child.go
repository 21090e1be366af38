// Package child runs a measuring perflab child process: a sweep's `perflab bench` or
// `perflab load`, a sweep worker (`perflab sweep-worker`), an A/B round. Every child gets
// the same treatment, here and nowhere else: its own process group (a Ctrl-C reaches the
// parent, which stops the child itself; a timeout kills the whole group), a parent-death
// signal (a parent killed with kill -9 takes the child with it), its result on a file
// descriptor of its own (ResultFD) apart from its stdout (what a model's print() writes
// there cannot corrupt the result), and the tails of its stdout and stderr kept.
package child

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ResultFD is the file descriptor on which a child perflab writes its result (the first
// of exec.Cmd.ExtraFiles): `--result-fd 3` for bench and load, the worker's messages for
// sweep-worker.
const ResultFD = 3

// ResultFDArgs are the flags that send a bench or load child's JSON record to ResultFD.
func ResultFDArgs() []string { return []string{"--result-fd", strconv.Itoa(ResultFD)} }

// MaxResult bounds what is kept of a child's result when Cmd.Read is nil.
const MaxResult = 256 << 20

// MaxOutput bounds what is kept of a child's stdout and stderr (their last bytes).
const MaxOutput = 64 << 10

// waitDelay is how long the parent waits for the pipes once the child is gone (a
// grandchild may still hold them).
const waitDelay = 5 * time.Second

// Cmd is one child to run.
type Cmd struct {
	Exe     string
	Args    []string
	Stdin   io.Reader     // nil = none
	Env     []string      // the child's environment; nil = the parent's
	Timeout time.Duration // 0 = none; the whole process group is killed at it
	// Read consumes the result descriptor as the child writes it; nil keeps it (at most
	// MaxResult bytes) in Result.Result.
	Read func(io.Reader) error
}

// Result is what a child process left behind.
type Result struct {
	Result   []byte // what it wrote on ResultFD (when Cmd.Read is nil)
	ReadErr  error  // Cmd.Read's error
	Stdout   []byte // the model's own output, if any (at most the last MaxOutput bytes)
	Stderr   string // at most the last MaxOutput bytes
	Err      error  // from exec: nil, an *exec.ExitError, or a start failure
	Started  bool   // the process started (Err is not a start failure)
	TimedOut bool   // killed at the timeout
}

// Run runs c and waits for it (and for its result descriptor to close).
func Run(ctx context.Context, c Cmd) Result {
	cctx := ctx
	var cancel context.CancelFunc = func() {}
	if c.Timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, c.Timeout)
	}
	defer cancel()
	var res Result
	r, w, err := os.Pipe()
	if err != nil {
		res.Err = fmt.Errorf("create the result pipe: %v", err)
		return res
	}
	defer r.Close()
	cmd := exec.CommandContext(cctx, c.Exe, c.Args...)
	if c.Stdin != nil {
		cmd.Stdin = c.Stdin
	}
	cmd.Env = c.Env
	stdout, stderr := &tail{max: MaxOutput}, &tail{max: MaxOutput}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = []*os.File{w} // ResultFD in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	// The parent-death signal fires when the forking OS thread exits: keep this goroutine
	// on it until the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		w.Close()
		res.Err = err
		return res
	}
	w.Close()
	res.Started = true
	read := c.Read
	if read == nil {
		read = func(r io.Reader) error {
			b, err := io.ReadAll(io.LimitReader(r, MaxResult))
			res.Result = b
			return err
		}
	}
	done := make(chan error, 1)
	go func() { done <- read(r) }()
	res.Err = cmd.Wait()
	select {
	case res.ReadErr = <-done:
	case <-time.After(waitDelay): // a grandchild still holds the pipe
		r.Close()
		res.ReadErr = <-done
	}
	res.Stdout, res.Stderr = stdout.bytes(), stderr.String()
	res.TimedOut = errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	return res
}

// Failure says how an exited child failed, with the last line of its stderr: "crashed:
// killed by signal segmentation fault: ..." or "exit status 3: ..."; ok is false when
// Err is not an exit (nil, or a start failure).
func (r Result) Failure() (why string, ok bool) {
	var ee *exec.ExitError
	if !errors.As(r.Err, &ee) {
		return "", false
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("crashed: killed by signal %s%s", ws.Signal(), LastLine(r.Stderr, ": ")), true
	}
	return fmt.Sprintf("exit status %d%s", ee.ExitCode(), LastLine(r.Stderr, ": ")), true
}

// LastLine returns the last non-empty line of s (without a "perflab: " prefix, at most
// 500 bytes), prefixed, or "".
func LastLine(s, prefix string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			l = strings.TrimPrefix(l, "perflab: ")
			if len(l) > 500 {
				l = l[:500] + "..."
			}
			return prefix + l
		}
	}
	return ""
}

// FirstLine returns b's first line, at most 200 bytes, quoted, for a note.
func FirstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = append(b[:200:200], "..."...)
	}
	return strconv.Quote(string(b))
}

// tail keeps the last max bytes written to it.
type tail struct {
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*t.max {
		t.b = append(t.b[:0:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) bytes() []byte {
	if len(t.b) > t.max {
		return t.b[len(t.b)-t.max:]
	}
	return t.b
}

func (t *tail) String() string { return string(t.bytes()) }
