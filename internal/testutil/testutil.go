// Package testutil provides perflab's tests with real TorchScript fixtures, exported once
// per machine by Debian's python3-torch (fixtures.py), and with built-in model paths.
package testutil

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

//go:embed fixtures.py
var fixturesPy []byte

// Python is the interpreter that has torch (Debian's, not whatever python3 is on PATH).
const Python = "/usr/bin/python3"

var (
	once   sync.Once
	dir    string
	errMsg string
)

// Fixtures returns a folder with the tiny models of fixtures.py: conv.pt
// (float32[B,3,16,16]), two_inputs.pt (float32[B,8], int64[B,4]:0..9), linear.pt
// (float32[B,8]), raises.pt, noisy.pt, warns.pt, warns_shapes.pt (float32[B,8]), mlp.pt,
// mlp_twin.pt (the same architecture, other weights) and mlp_slow.pt (several times slower;
// all float32[B,64]) and state_dict.pt (a torch.save checkpoint). They are exported once and
// cached under the temp folder, keyed by the script's hash.
func Fixtures(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		sum := sha256.Sum256(fixturesPy)
		dir = filepath.Join(os.TempDir(), "perflab-fixtures-"+hex.EncodeToString(sum[:6]))
		if _, err := os.Stat(filepath.Join(dir, "done")); err == nil {
			return
		}
		tmp, err := os.MkdirTemp(os.TempDir(), "perflab-fixtures-tmp-")
		if err != nil {
			errMsg = err.Error()
			return
		}
		script := filepath.Join(tmp, "fixtures.py")
		if err := os.WriteFile(script, fixturesPy, 0o644); err != nil {
			errMsg = err.Error()
			return
		}
		out, err := exec.Command(Python, script, tmp).CombinedOutput()
		if err != nil {
			errMsg = "export fixtures with " + Python + " (run `make setup`): " + err.Error() + "\n" + string(out)
			return
		}
		os.Remove(script)
		if err := os.WriteFile(filepath.Join(tmp, "done"), nil, 0o644); err != nil {
			errMsg = err.Error()
			return
		}
		if err := os.Rename(tmp, dir); err != nil {
			// Another test binary won the race; use its folder.
			os.RemoveAll(tmp)
			if _, err := os.Stat(filepath.Join(dir, "done")); err != nil {
				errMsg = "cache fixtures: " + err.Error()
			}
		}
	})
	if errMsg != "" {
		t.Fatal(errMsg)
	}
	return dir
}

// Fixture returns the path of one fixture file, e.g. Fixture(t, "conv.pt").
func Fixture(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(Fixtures(t), name)
}

// ModelsDir returns the exported built-in models folder ($PERFLAB_MODELS_DIR, set by
// `make test`), failing the test when the models are not exported: run `make models`.
func ModelsDir(t testing.TB) string {
	t.Helper()
	d := os.Getenv("PERFLAB_MODELS_DIR")
	if d == "" {
		wd, _ := os.Getwd()
		for p := wd; p != filepath.Dir(p); p = filepath.Dir(p) {
			if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
				d = filepath.Join(p, "models", "exported")
				break
			}
		}
	}
	if _, err := os.Stat(filepath.Join(d, "mobilenet_v3_small.pt")); err != nil {
		t.Fatalf("built-in models are not exported in %q: run `make models` (or `make test`)", d)
	}
	return d
}
