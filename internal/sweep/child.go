package sweep

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// ResultFD is the file descriptor on which a child perflab writes its JSON result
// (`--result-fd 3`), apart from its stdout: what a model's print() writes there cannot
// corrupt the result.
const ResultFD = 3

// maxChildOutput bounds what is kept of a child's result, stdout and stderr.
const maxChildOutput = 256 << 20

// Child is what a child perflab process left behind.
type Child struct {
	Result   []byte // what it wrote on ResultFD
	Stdout   []byte // the model's own output, if any (at most the last 64 KiB)
	Stderr   string // at most the last 64 KiB
	Err      error  // from exec: nil, an *exec.ExitError, or a start failure
	TimedOut bool   // killed at the timeout
}

// RunChild runs exe with args plus `--result-fd 3`, in its own process group (a Ctrl-C
// reaches the parent, which stops the child itself) with a parent-death signal (a parent
// killed with kill -9 takes the child with it), and kills the whole group when ctx ends
// or the timeout (0 = none) passes.
func RunChild(ctx context.Context, exe string, args []string, timeout time.Duration) Child {
	cctx := ctx
	var cancel context.CancelFunc = func() {}
	if timeout > 0 {
		cctx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	var res Child
	r, w, err := os.Pipe()
	if err != nil {
		res.Err = err
		return res
	}
	defer r.Close()
	cmd := exec.CommandContext(cctx, exe, append(append([]string{}, args...), "--result-fd", "3")...)
	stdout, stderr := &tailBuffer{max: 64 << 10}, &tailBuffer{max: 64 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.ExtraFiles = []*os.File{w} // fd 3 in the child
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
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
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(r, maxChildOutput))
		got <- b
	}()
	res.Err = cmd.Wait()
	select {
	case res.Result = <-got:
	case <-time.After(5 * time.Second): // a grandchild still holds the pipe
		r.Close()
		res.Result = <-got
	}
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.String()
	res.TimedOut = errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	return res
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	buf bytes.Buffer
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > t.max {
		p = p[len(p)-t.max:]
	}
	if t.buf.Len()+len(p) > 2*t.max {
		keep := t.buf.Bytes()[t.buf.Len()-(t.max-len(p)):]
		rest := append([]byte{}, keep...)
		t.buf.Reset()
		t.buf.Write(rest)
	}
	t.buf.Write(p)
	return n, nil
}

func (t *tailBuffer) Bytes() []byte {
	b := t.buf.Bytes()
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	return b
}

func (t *tailBuffer) String() string { return string(t.Bytes()) }
