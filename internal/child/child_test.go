package child

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, script     string
		timeout          time.Duration
		result, stdout   string
		why              string
		exited, timeout_ bool
	}{
		{name: "result apart from stdout", script: `echo printed; printf '{"ok":1}' >&3`, result: `{"ok":1}`, stdout: "printed\n"},
		{name: "exit status with stderr's last line", script: `echo one >&2; echo 'perflab: two' >&2; exit 3`, why: "exit status 3: two", exited: true},
		{name: "signal", script: `kill -SEGV $$`, why: "crashed: killed by signal segmentation fault", exited: true},
		{name: "timeout kills the group", script: `sleep 30 & sleep 30`, timeout: 200 * time.Millisecond, timeout_: true, exited: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Run(ctx, Cmd{Exe: "/bin/sh", Args: []string{"-c", tc.script}, Timeout: tc.timeout})
			if string(r.Result) != tc.result || string(r.Stdout) != tc.stdout || r.TimedOut != tc.timeout_ || !r.Started {
				t.Fatalf("got result %q stdout %q timed out %v started %v", r.Result, r.Stdout, r.TimedOut, r.Started)
			}
			why, ok := r.Failure()
			if ok != tc.exited || (tc.why != "" && why != tc.why) {
				t.Fatalf("Failure() = %q, %v; want %q, %v", why, ok, tc.why, tc.exited)
			}
		})
	}
}

func TestRunStreamsAndStdin(t *testing.T) {
	var got bytes.Buffer
	r := Run(context.Background(), Cmd{Exe: "/bin/sh", Args: []string{"-c", `cat >&3`}, Stdin: strings.NewReader("spec"),
		Read: func(rd io.Reader) error { _, err := io.Copy(&got, rd); return err }})
	if r.Err != nil || r.ReadErr != nil || got.String() != "spec" || r.Result != nil {
		t.Fatalf("err %v read %v got %q result %q", r.Err, r.ReadErr, got.String(), r.Result)
	}
	if r := Run(context.Background(), Cmd{Exe: "/nonexistent/perflab"}); r.Started || r.Err == nil {
		t.Fatalf("a missing executable: started %v err %v", r.Started, r.Err)
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	tl := &tail{max: 4}
	for _, s := range []string{"abc", "defgh", "ij", "klmnopqrstu"} {
		tl.Write([]byte(s))
	}
	if tl.String() != "rstu" {
		t.Fatalf("tail = %q", tl.String())
	}
}
