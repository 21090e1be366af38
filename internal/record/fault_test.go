package record

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
)

// faultyFile is an *os.File whose writes stop after budget bytes with ENOSPC, like a full
// disk: the bytes before the limit are written, the call reports the error.
type faultyFile struct {
	*os.File
	budget  int
	syncErr error
}

func (f *faultyFile) Write(p []byte) (int, error) {
	if len(p) <= f.budget {
		f.budget -= len(p)
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:f.budget])
	f.budget = 0
	return n, syscall.ENOSPC
}

func (f *faultyFile) Sync() error {
	if f.syncErr != nil {
		return f.syncErr
	}
	return f.File.Sync()
}

// TestAppendLineFullDisk: a write cut short (ENOSPC after part of the line) or a failed
// sync leaves the file exactly as it was, so the next append starts on a clean line.
func TestAppendLineFullDisk(t *testing.T) {
	line1 := mustMarshal(t, &Record{Knobs: knobs.Knobs{Model: "first", BatchSize: 1}})
	line2 := []byte(mustMarshal(t, &Record{Knobs: knobs.Knobs{Model: "second", BatchSize: 2}}))
	for _, tc := range []struct {
		name    string
		budget  int
		syncErr error
	}{
		{"nothing written", 0, nil},
		{"half a line written", len(line2) / 2, nil},
		{"all but the newline", len(line2) - 1, nil},
		{"sync fails", 1 << 20, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "runs.jsonl")
			if err := os.WriteFile(path, []byte(line1), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			err = appendLine(&faultyFile{File: f, budget: tc.budget, syncErr: tc.syncErr}, line2)
			f.Close()
			if err == nil {
				t.Fatal("appendLine on a full disk returned nil")
			}
			if got, _ := os.ReadFile(path); string(got) != line1 {
				t.Fatalf("after a failed append the file is %q, want it unchanged %q", got, line1)
			}
			if err := AppendFile(path, &Record{Knobs: knobs.Knobs{Model: "third", BatchSize: 3}}); err != nil {
				t.Fatal(err)
			}
			recs, err := ReadFile(path, func(le *LineError) { t.Errorf("bad line after a failed append: %v", le) })
			if err != nil || len(recs) != 2 || recs[0].Model != "first" || recs[1].Model != "third" {
				t.Fatalf("records %v, %v; want first and third", recs, err)
			}
		})
	}
}

// TestAppendFileNoFinalNewline: appending to a file whose last line lacks its newline
// starts with one, so neither record is lost.
func TestAppendFileNoFinalNewline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.jsonl")
	first := strings.TrimSuffix(mustMarshal(t, &Record{Knobs: knobs.Knobs{Model: "first", BatchSize: 1}}), "\n")
	if err := os.WriteFile(path, []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := AppendFile(path, &Record{Knobs: knobs.Knobs{Model: "second", BatchSize: 1}}); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadFile(path, func(le *LineError) { t.Errorf("bad line: %v", le) })
	if err != nil || len(recs) != 2 || recs[0].Model != "first" || recs[1].Model != "second" {
		t.Fatalf("records %v, %v; want first and second", recs, err)
	}
}

// TestAppendFileRealFullDisk fills a 64 KiB tmpfs and appends: the append fails with the
// disk's error and the file keeps only whole records.
func TestAppendFileRealFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "64k")
	path := filepath.Join(dir, "runs.jsonl")
	big := &Record{Knobs: knobs.Knobs{Model: "big", BatchSize: 1}, SamplesMs: make([]float64, 1500)}
	for i := range big.SamplesMs {
		big.SamplesMs[i] = 1.0 + float64(i)/3
	}
	var ok int
	var err error
	for ok = 0; ok < 100; ok++ {
		if err = AppendFile(path, big); err != nil {
			break
		}
	}
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "left as it was") {
		t.Fatalf("append on a full tmpfs: %v, want ENOSPC saying the file was left as it was", err)
	}
	recs, rerr := ReadFile(path, func(le *LineError) { t.Errorf("torn line left on disk: %v", le) })
	if rerr != nil || len(recs) != ok {
		t.Fatalf("%d appends succeeded but the file holds %d records (%v)", ok, len(recs), rerr)
	}
	// A small record still fits where the big one did not: it is appended whole.
	if err := AppendFile(path, &Record{Knobs: knobs.Knobs{Model: "small", BatchSize: 1}}); err != nil {
		t.Fatalf("small append after ENOSPC: %v", err)
	}
	recs, _ = ReadFile(path, func(le *LineError) { t.Errorf("torn line: %v", le) })
	if len(recs) != ok+1 || recs[ok].Model != "small" {
		t.Fatalf("got %d records, want %d ending with small", len(recs), ok+1)
	}
}

// mountTmpfs mounts a tmpfs of the given size on a fresh folder (perflab's tests run as
// root, in the container of `make test`).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a %s tmpfs on %s (needs root): %v: %s", size, dir, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// TestReaderTornLines: a torn record glued to the next one is reported as torn and the
// next record is kept; a torn last line is reported as torn.
func TestReaderTornLines(t *testing.T) {
	a := mustMarshal(t, &Record{Knobs: knobs.Knobs{Model: "a", BatchSize: 1}})
	b := mustMarshal(t, &Record{Knobs: knobs.Knobs{Model: "b", BatchSize: 1}, Env: &Env{Fingerprint: "x"}})
	c := mustMarshal(t, &Record{Knobs: knobs.Knobs{Model: "c", BatchSize: 1}})
	data := a + b[:len(b)/2] + c + b[:len(b)/3]
	var bad []*LineError
	recs, err := ReadFile(writeFile(t, data), func(le *LineError) { bad = append(bad, le) })
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Model != "a" || recs[1].Model != "c" {
		t.Fatalf("records %v, want a and c", recs)
	}
	if len(bad) != 2 || bad[0].Line != 2 || !strings.Contains(bad[0].Error(), "torn record") ||
		bad[1].Line != 3 || !strings.Contains(bad[1].Error(), "torn last line") {
		t.Fatalf("reports %v, want a torn record on line 2 and a torn last line on 3", bad)
	}
}

func writeFile(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "runs.jsonl")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseRefusesNegativeAndDuplicates(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`{"model":"m","batch_size":1,"latency_p95":-3}`, `"latency_p95" is negative`},
		{`{"model":"m","batch_size":1,"samples_ms":[1,-0.5]}`, `samples_ms[1] is negative`},
		{`{"model":"m","batch_size":1,"latency_p95":3,"latency_p95":1}`, `key "latency_p95" appears twice`},
		{`{"model":"m","batch_size":1,"env":{"fingerprint":"a","fingerprint":"b"}}`, `key "fingerprint" appears twice`},
	} {
		if _, err := Parse([]byte(tc.line)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s) = %v, want %q", tc.line, err, tc.want)
		}
	}
	// The same key in two different objects is fine, and so are keys in arrays of objects.
	ok := `{"model":"m","batch_size":1,"latency_ci":{"p50":{"lo":1,"hi":2},"p95":{"lo":1,"hi":2}},"notes":["model"],"load":{"capacity":{"steps":[{"p50":1},{"p50":2}]}}}`
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("Parse(%s) = %v", ok, err)
	}
}

// TestAppendFileConcurrent: appenders in two real processes take turns; every line is whole.
func TestAppendFileConcurrent(t *testing.T) {
	if os.Getenv("PERFLAB_TEST_APPENDER") != "" {
		for i := range 200 {
			big := &Record{Knobs: knobs.Knobs{Model: os.Getenv("PERFLAB_TEST_APPENDER"), BatchSize: i + 1}, SamplesMs: slices.Repeat([]float64{1.25}, 3000)}
			if err := AppendFile(os.Getenv("PERFLAB_TEST_FILE"), big); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "runs.jsonl")
	var cmds []*exec.Cmd
	for _, name := range []string{"p1", "p2"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestAppendFileConcurrent$")
		cmd.Env = append(os.Environ(), "PERFLAB_TEST_APPENDER="+name, "PERFLAB_TEST_FILE="+path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := ReadFile(path, func(le *LineError) { t.Errorf("bad line: %v", le) })
	if err != nil || len(recs) != 400 {
		t.Fatalf("%d records (%v), want 400", len(recs), err)
	}
}
