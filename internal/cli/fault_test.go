package cli

import (
	"bytes"
	"fmt"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
	"github.com/perflab/perflab/internal/untrusted"
)

// startPerflab starts the test binary as perflab in dir.
func startPerflab(t *testing.T, dir string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), asCLI+"=1")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

// TestBaselineUpdateConcurrent: two `perflab baseline update` processes on one large
// baseline, each adding its own configurations, both keep their entries (the second
// re-reads the file under the lock).
func TestBaselineUpdateConcurrent(t *testing.T) {
	t.Parallel() // processes and files of its own, no timing: runs beside the other parallel tests, after the timed ones
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	path := filepath.Join(dir, "big.json")
	var seed []*record.Record
	for i := range 300 {
		seed = append(seed, gtRecord(rng, fmt.Sprintf("seed%03d", i), 1, gtFP))
	}
	f := baseline.New("gatetest", 5)
	f.Update(seed, "c0", time.Now())
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	for pair := range 4 {
		var ins []string
		for side := range 2 {
			var recs []*record.Record
			for i := range 5 {
				recs = append(recs, gtRecord(rng, fmt.Sprintf("p%d-s%d-m%d", pair, side, i), 1, gtFP))
			}
			ins = append(ins, writeJSONL(t, filepath.Join(dir, fmt.Sprintf("r%d-%d.jsonl", pair, side)), recs...))
		}
		var cmds []*exec.Cmd
		var outs []*bytes.Buffer
		for _, in := range ins {
			cmd, out := startPerflab(t, dir, "baseline", "update", "--results", in, "--baseline", path, "--commit", "c1")
			cmds, outs = append(cmds, cmd), append(outs, out)
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("pair %d update %d: %v\n%s", pair, i, err, outs[i])
			}
		}
		got, err := baseline.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := 300 + 10*(pair+1); len(got.Entries) != want {
			t.Fatalf("pair %d: %d entries after two concurrent updates, want %d (one update's entries were lost)", pair, len(got.Entries), want)
		}
	}
}

// writePreset writes a sweep preset of one custom model (float32[B,8]).
func writePreset(t *testing.T, dir, model string, timeoutS int) string {
	t.Helper()
	p := filepath.Join(dir, "preset.yaml")
	y := fmt.Sprintf("name: faults\niters: 20\nwarmup: 2\ntimeout_seconds: %d\ngrid:\n  models: [%s]\n  inputs: ['float32[B,8]']\n  threads: [1]\n  compile: [off]\n", timeoutS, model)
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// childrenOf returns the pids of pid's child processes.
func childrenOf(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(s); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// alive reports whether pid runs (a zombie waiting for its reaper does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

// TestSweepKilledTakesItsChild: kill -9 of a sweep whose child hangs ends the child too
// (parent-death signal), long before the configuration's timeout.
func TestSweepKilledTakesItsChild(t *testing.T) {
	dir := t.TempDir()
	preset := writePreset(t, dir, testutil.Hostile(t, "hang.pt"), 600)
	cmd, out := startPerflab(t, dir, "sweep", "--preset", preset, "--out", filepath.Join(dir, "s.jsonl"), "--progress", "none")
	var kids []int
	for deadline := time.Now().Add(60 * time.Second); len(kids) == 0 && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		kids = childrenOf(cmd.Process.Pid)
	}
	if len(kids) == 0 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the sweep started no child\n%s", out)
	}
	time.Sleep(500 * time.Millisecond) // the child is in its forward
	cmd.Process.Kill()
	cmd.Wait()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if !alive(kids[0]) {
			return
		}
	}
	syscall.Kill(kids[0], syscall.SIGKILL)
	t.Fatalf("child %d still runs 20 s after its sweep was killed with kill -9", kids[0])
}

// TestSweepHungChildTimesOut: a hanging configuration is killed at --timeout, with its
// process group, and recorded as failed; the sweep exits 2 when nothing succeeded.
func TestSweepHungChildTimesOut(t *testing.T) {
	t.Parallel() // it mostly waits for the timeout; its own copy of the model keeps processesWith its own
	hang := privateHostile(t, "hang.pt")
	dir := t.TempDir()
	out := filepath.Join(dir, "s.jsonl")
	res := runPerflab(t, nil, "sweep", "--preset", writePreset(t, dir, hang, 600), "--timeout", "3s", "--out", out, "--progress", "none")
	if res.code != ExitUsage || !strings.Contains(res.stderr, "every configuration failed (1)") {
		t.Errorf("sweep where everything failed: exit %d, stderr %q; want 2 and 'every configuration failed'", res.code, res.stderr)
	}
	recs, err := record.ReadFile(out, nil)
	if err != nil || len(recs) != 1 || recs[0].OK() || !strings.Contains(recs[0].Error, "timed out after 3s") {
		t.Fatalf("records %+v (%v), want one failed 'timed out after 3s'\n%s", recs, err, res.stderr)
	}
	for _, p := range processesWith(hang) {
		syscall.Kill(p, syscall.SIGKILL)
		t.Errorf("process %d running %s outlived its timeout", p, hang)
	}
}

// privateHostile copies hostile model name (testutil.Hostile) into the test's own folder:
// a path no other test runs, so that processesWith finds only this test's processes.
func privateHostile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(testutil.Hostile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// processesWith returns the live processes whose command line contains s.
func processesWith(s string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || !strings.Contains(string(b), s) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestNativeCrashReported: a model that crashes libtorch makes bench exit 3 with one line
// naming the signal, model and configuration, and a sweep records it as such.
func TestNativeCrashReported(t *testing.T) {
	t.Parallel() // processes and files of its own, no timing: runs beside the other parallel tests, after the timed ones
	segv := testutil.Hostile(t, "segv.pt")
	res := runPerflab(t, nil, "bench", "--model", segv, "--input", "float32[B,8]", "--iters", "5", "--batch-size", "2")
	if res.code != ExitCrash || strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 || strings.Contains(res.stderr, "goroutine") ||
		!strings.Contains(res.stderr, "native crash: SIGSEGV") || !strings.Contains(res.stderr, segv+" (batch 2, compile auto") {
		t.Fatalf("bench: exit %d, stderr %q; want %d and one line naming SIGSEGV, the model and batch", res.code, res.stderr, ExitCrash)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "s.jsonl")
	runPerflab(t, nil, "sweep", "--preset", writePreset(t, dir, segv, 120), "--out", out, "--progress", "none")
	recs, err := record.ReadFile(out, nil)
	if err != nil || len(recs) != 1 || recs[0].OK() || !strings.Contains(recs[0].Error, "exit status 3: native crash: SIGSEGV") || strings.Contains(recs[0].Error, "gs 0x") {
		t.Fatalf("sweep records %+v (%v), want one failed with the native crash line", recs, err)
	}
}

// TestModelPrintsDoNotCorruptSweep: a model that print()s in its forward is measured by a
// sweep (its child writes the record on a file descriptor of its own).
func TestModelPrintsDoNotCorruptSweep(t *testing.T) {
	t.Parallel() // no timing asserted, processes and files of its own: runs beside the other parallel tests, after the timed ones
	dir := t.TempDir()
	out := filepath.Join(dir, "s.jsonl")
	res := runPerflab(t, nil, "sweep", "--preset", writePreset(t, dir, testutil.Hostile(t, "prints.pt"), 120), "--out", out, "--progress", "none")
	recs, err := record.ReadFile(out, nil)
	if res.code != 0 || err != nil || len(recs) != 1 || !recs[0].OK() || !strings.Contains(strings.Join(recs[0].Notes, "\n"), "the model printed on stdout") {
		t.Fatalf("exit %d, records %+v (%v): want one ok record noting the model's prints\n%s", res.code, recs, err, res.stderr)
	}
}

// TestInfOutputRecorded: a model whose output holds infinities is measured and recorded
// (bench --json with --compile on compares outputs holding Inf), and its record reads back.
func TestInfOutputRecorded(t *testing.T) {
	t.Parallel() // processes and files of its own, no timing: runs beside the other parallel tests, after the timed ones
	inf := testutil.Hostile(t, "inf_out.pt")
	res := runPerflab(t, nil, "bench", "--model", inf, "--input", "float32[B,8]", "--iters", "5", "--compile", "on", "--json")
	if res.code != 0 {
		t.Fatalf("bench: exit %d: %s", res.code, res.stderr)
	}
	r, err := record.Parse([]byte(strings.TrimSpace(res.stdout)))
	if err != nil || r.Correctness == nil {
		t.Fatalf("record %q: %v, want one with a correctness check", res.stdout, err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "s.jsonl")
	res = runPerflab(t, nil, "sweep", "--preset", writePreset(t, dir, inf, 120), "--out", out, "--progress", "none")
	if recs, err := record.ReadFile(out, nil); res.code != 0 || err != nil || len(recs) != 1 || !recs[0].OK() {
		t.Fatalf("sweep: exit %d, records %+v (%v)\n%s", res.code, recs, err, res.stderr)
	}
}

// TestSweepBadFlagsUpFront: negative --timeout and --warmup, and an --out that cannot be
// written, are refused before any configuration runs (the model would hang).
func TestSweepBadFlagsUpFront(t *testing.T) {
	dir := t.TempDir()
	preset := writePreset(t, dir, testutil.Hostile(t, "hang.pt"), 600)
	file := filepath.Join(dir, "plain")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "-1s"}, "--timeout must be positive"},
		{[]string{"--warmup", "-5"}, "--warmup must be >= 0, got -5"},
		{[]string{"--out", dir}, "is not writable"},
		{[]string{"--out", filepath.Join(file, "x.jsonl")}, "cannot create its folder"},
	} {
		args := append([]string{"sweep", "--preset", preset, "--progress", "none", "--out", filepath.Join(dir, "o.jsonl")}, tc.args...)
		code, _, stderr := runMain(args...)
		if code != ExitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestGateABTimeout: gate --ab with a model that hangs ends at --timeout with exit 2 and
// a message naming the models; a model that crashes libtorch gives exit 3; a model that
// print()s is measured.
func TestGateABTimeout(t *testing.T) {
	t.Parallel() // as TestSweepHungChildTimesOut
	lin, hang := testutil.Fixture(t, "linear.pt"), privateHostile(t, "hang.pt")
	start := time.Now()
	r := runPerflab(t, nil, "gate", "--ab", lin, "--ab", hang, "--input", "float32[B,8]", "--rounds", "3", "--iters", "20", "--warmup", "1", "--timeout", "3s")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "timed out after 3s") || !strings.Contains(r.stderr, hang) {
		t.Fatalf("exit %d, stderr %q; want 2 and a timeout naming %s", r.code, r.stderr, hang)
	}
	if took := time.Since(start); took > 60*time.Second {
		t.Errorf("gate --ab took %s with a 3s timeout", took)
	}
	for _, p := range processesWith(hang) {
		syscall.Kill(p, syscall.SIGKILL)
		t.Errorf("process %d running %s outlived the gate", p, hang)
	}
	segv := testutil.Hostile(t, "segv.pt")
	r = runPerflab(t, nil, "gate", "--ab", lin, "--ab", segv, "--input", "float32[B,8]", "--rounds", "3", "--iters", "20", "--warmup", "1")
	if r.code != ExitCrash || !strings.Contains(r.stderr, "native crash: SIGSEGV") || !strings.Contains(r.stderr, segv) {
		t.Fatalf("exit %d, stderr %q; want %d naming the crash and the model", r.code, r.stderr, ExitCrash)
	}
	prints := testutil.Hostile(t, "prints.pt")
	r = runPerflab(t, nil, "gate", "--ab", lin, "--ab", prints, "--input", "float32[B,8]", "--rounds", "3", "--iters", "20", "--warmup", "1", "--metrics", "p50", "--threshold", "99%")
	if r.code != ExitOK && r.code != ExitRegression {
		t.Fatalf("gate --ab with a printing model: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBadBaselineSamplesRefused: gate and update refuse a baseline with a negative, zero
// or absurd sample, with exit 2 naming the entry.
func TestBadBaselineSamplesRefused(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	in := writeJSONL(t, filepath.Join(dir, "r.jsonl"), gtRecord(rng, "m1", 1, gtFP))
	good := filepath.Join(dir, "b.json")
	if code, _, stderr := runMain("baseline", "update", "--results", in, "--baseline", good); code != 0 {
		t.Fatal(stderr)
	}
	b, _ := os.ReadFile(good)
	for _, bad := range []string{"-2.5", "0", "1e300"} {
		path := filepath.Join(dir, "bad.json")
		i := bytes.Index(b, []byte(`"samples_ms": [`)) + len(`"samples_ms": [`)
		os.WriteFile(path, append(append(append([]byte{}, b[:i]...), []byte(bad+",")...), b[i:]...), 0o644)
		for _, args := range [][]string{
			{"gate", "--results", in, "--baseline", path},
			{"baseline", "update", "--results", in, "--baseline", path},
		} {
			code, stdout, stderr := runMain(args...)
			if code != ExitUsage || !strings.Contains(stderr, "entry "+gtKey("m1")+" run 1: samples_ms[0]") || strings.Contains(stdout, "PASS") {
				t.Errorf("%s with sample %s: exit %d, stderr %q; want 2 naming the entry", args[0], bad, code, stderr)
			}
		}
	}
}

// TestSizeLimitsUpFront: absurd sizes and non-regular files end in one line and exit 2,
// in a real process (no Go panic, no out-of-memory crash), before any work.
func TestSizeLimitsUpFront(t *testing.T) {
	t.Parallel() // processes and files of its own, no timing: runs beside the other parallel tests, after the timed ones
	dir := t.TempDir()
	lin := testutil.Fixture(t, "linear.pt")
	fifo := filepath.Join(dir, "model.pt")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	var big strings.Builder
	big.WriteString("name: big\ngrid:\n  models: [m.pt]\n  inputs: ['float32[B,8]']\n  batch_size: [")
	for i := 1; i <= 400; i++ {
		fmt.Fprintf(&big, "%d,", i)
	}
	big.WriteString("401]\n  threads: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30]\n  interop_threads: [1,2,3,4,5,6,7,8,9,10]\n  compile: [on, off, auto]\n  channels_last: [false, true]\n  quantize: [false, true]\n")
	bigPreset := filepath.Join(dir, "big.yaml")
	os.WriteFile(bigPreset, []byte(big.String()), 0o644)
	rng := rand.New(rand.NewPCG(1, 2))
	results := writeJSONL(t, filepath.Join(dir, "r.jsonl"), gtRecord(rng, "m1", 1, gtFP))
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"iters 1e14", []string{"bench", "--model", lin, "--input", "float32[B,8]", "--iters", "100000000000000"}, "--iters 100000000000000 is more than 1000000"},
		{"warmup 1e12", []string{"bench", "--model", lin, "--input", "float32[B,8]", "--warmup", "1000000000000"}, "--warmup 1000000000000 is more than 1000000"},
		{"load rate 1e7 for 100s", []string{"load", "--model", lin, "--input", "float32[B,8]", "--rate", "1e7", "--duration", "100s", "--threads", "1"}, "more than the 5000000 one run holds"},
		{"12M-configuration preset", []string{"sweep", "--preset", bigPreset, "--dry-run"}, "has more than 100000 configurations"},
		{"repeat 1e9", []string{"sweep", "--preset", writePreset(t, dir, lin, 60), "--repeat", "1000000000", "--dry-run"}, "--repeat 1000000000 x 1 configurations is more than"},
		{"results /dev/zero", []string{"gate", "--results", "/dev/zero", "--baseline", filepath.Join(dir, "none.json")}, "/dev/zero is not a regular file (a character device)"},
		{"report /dev/zero", []string{"report", "--input", "/dev/zero", "--out", filepath.Join(dir, "r.md")}, "/dev/zero is not a regular file"},
		{"baseline /dev/zero", []string{"gate", "--results", results, "--baseline", "/dev/zero"}, "/dev/zero is not a regular file"},
		{"merge /dev/zero", []string{"merge", "--out", filepath.Join(dir, "m.jsonl"), "/dev/zero"}, "/dev/zero is not a regular file"},
		{"image /dev/zero", []string{"bench", "--model", "resnet18", "--image", "/dev/zero", "--iters", "1"}, "--image /dev/zero is not a readable file"},
		{"model FIFO", []string{"bench", "--model", fifo, "--input", "float32[B,8]"}, "is not a regular file (a device, FIFO or socket)"},
		{"model /dev/zero", []string{"bench", "--model", "/dev/zero", "--input", "float32[B,8]"}, "model file /dev/zero is not a regular file"},
		{"input of 64 GiB", []string{"bench", "--model", lin, "--input", "float32[B,8]", "--batch-size", "65536", "--input", "float32[B,1024,256]"}, "elements, more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runPerflab(t, nil, tc.args...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tc.want)
			}
			checkErrorLine(t, r.stderr)
		})
	}
}

// TestReportFullDisk: report on a full disk fails with one line and leaves only whole
// files (every PNG there decodes) and no hidden temporary file.
func TestReportFullDisk(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	var recs []*record.Record
	for i := range 6 {
		r := gtRecord(rng, fmt.Sprintf("m%d", i), 1+float64(i)/10, gtFP)
		r.BatchSize = 1 + i%3
		recs = append(recs, r)
	}
	in := writeJSONL(t, filepath.Join(dir, "r.jsonl"), recs...)
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", full).Run() })
	// Fill most of it so that the plots cannot all fit.
	os.WriteFile(filepath.Join(full, "filler"), make([]byte, 40<<10), 0o644)
	r := runPerflab(t, nil, "report", "--input", in, "--out", filepath.Join(full, "report.md"))
	if r.code != ExitUsage || !strings.Contains(r.stderr, "no space left on device") {
		t.Fatalf("report on a full disk: exit %d, stderr %q", r.code, r.stderr)
	}
	checkErrorLine(t, r.stderr)
	pngs, _ := filepath.Glob(filepath.Join(full, "*.png"))
	for _, p := range pngs {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s is not a whole PNG: %v", p, err)
		}
		f.Close()
	}
	if left, _ := filepath.Glob(filepath.Join(full, ".*")); len(left) != 0 {
		t.Errorf("hidden files left: %v", left)
	}
}

// TestNewlineInModelNameEscaped: a model name holding newlines cannot inject a markdown
// heading or a workflow command line into report.md, the gate's verdict or the log.
func TestNewlineInModelNameEscaped(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(9, 10))
	evil := "m\n## injected\n::error::owned\r\x1b[31m"
	in := writeJSONL(t, filepath.Join(dir, "r.jsonl"), gtRecord(rng, evil, 1, gtFP), gtRecord(rng, "plain", 1, gtFP))
	md := filepath.Join(dir, "report.md")
	code, stdout, stderr := runMain("report", "--input", in, "--out", md, "--no-plots")
	if code != 0 {
		t.Fatalf("report: %d %s", code, stderr)
	}
	b, _ := os.ReadFile(md)
	base := filepath.Join(dir, "b.json")
	if code, _, stderr := runMain("baseline", "update", "--results", in, "--baseline", base); code != 0 {
		t.Fatal(stderr)
	}
	gcode, gout, gerr := runMain("gate", "--results", in, "--baseline", base, "--out", filepath.Join(dir, "v.md"))
	v, _ := os.ReadFile(filepath.Join(dir, "v.md"))
	for name, text := range map[string]string{"report.md": string(b), "report stdout": stdout, "gate stdout": gout, "gate stderr": gerr, "gate --out": string(v)} {
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "## injected") || strings.HasPrefix(strings.TrimSpace(line), "::error::") || strings.ContainsAny(line, "\r\x1b") {
				t.Errorf("%s has an injected line: %q", name, line)
			}
		}
	}
	// In markdown the escaped name is itself escaped (untrusted.Text): it renders as
	// m\n## injected\n::error::owned\r\x1b[31m.
	if !strings.Contains(string(b), untrusted.Text(evil)) || untrusted.Text(evil) != `m\\n\#\# injected\\n::error::owned\\r\\x1b\[31m` {
		t.Errorf("report.md does not show the escaped name:\n%s", b)
	}
	if gcode != 0 {
		t.Errorf("gate: exit %d", gcode)
	}
}

// TestSweepFullDiskThenResume: a sweep whose disk fills stops with the error (exit 2),
// leaves only whole records, and --resume completes it once there is room, with every
// configuration recorded once.
func TestSweepFullDiskThenResume(t *testing.T) {
	t.Parallel() // processes and files of its own, no timing: runs beside the other parallel tests, after the timed ones
	dir := t.TempDir()
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", full).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", full).Run() })
	preset := writePreset(t, dir, testutil.Fixture(t, "linear.pt"), 120)
	out := filepath.Join(full, "s.jsonl")
	// Leave room for about one record (each holds its 20 samples and its environment).
	filler := filepath.Join(full, "filler")
	os.WriteFile(filler, make([]byte, 60<<10), 0o644)
	r := runPerflab(t, nil, "sweep", "--preset", preset, "--repeat", "4", "--out", out, "--progress", "none")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "left as it was") {
		t.Fatalf("sweep on a full disk: exit %d, stderr %q", r.code, r.stderr)
	}
	recs, err := record.ReadFile(out, func(le *record.LineError) { t.Errorf("torn line on disk: %v", le) })
	if err != nil || len(recs) >= 4 {
		t.Fatalf("%d records (%v) after the disk filled", len(recs), err)
	}
	os.Remove(filler)
	r = runPerflab(t, nil, "sweep", "--preset", preset, "--repeat", "4", "--out", out, "--resume", "--progress", "none")
	recs, err = record.ReadFile(out, func(le *record.LineError) { t.Errorf("bad line: %v", le) })
	if r.code != 0 || err != nil || len(recs) != 4 {
		t.Fatalf("resume: exit %d, %d records (%v), want 4\n%s", r.code, len(recs), err, r.stderr)
	}
}
