package cli

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/perflab/perflab/internal/baseline"
	"github.com/perflab/perflab/internal/record"
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
