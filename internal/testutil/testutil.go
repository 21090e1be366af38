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

var fixtures = export{script: fixturesPy, name: "fixtures", what: "fixtures"}

// Fixtures returns a folder with the tiny models of fixtures.py: conv.pt
// (float32[B,3,16,16]), two_inputs.pt (float32[B,8], int64[B,4]:0..9), linear.pt
// (float32[B,8]), raises.pt, noisy.pt, warns.pt, warns_shapes.pt (float32[B,8]), mlp.pt,
// mlp_twin.pt (the same architecture, other weights) and mlp_slow.pt (several times slower;
// all float32[B,64]) and state_dict.pt (a torch.save checkpoint). They are exported once and
// cached under the temp folder, keyed by the script's hash.
func Fixtures(t testing.TB) string {
	t.Helper()
	return fixtures.dir(t)
}

// export is a Python script that writes models into a folder, run once per machine: its
// folder is cached under the temp folder, keyed by the script's hash.
type export struct {
	script []byte
	name   string // the script's name (name.py) and the cache folder's prefix
	what   string // what it exports, for messages
	once   sync.Once
	path   string
	errMsg string
}

// dir returns the export's folder, running the script the first time on this machine.
func (e *export) dir(t testing.TB) string {
	t.Helper()
	e.once.Do(func() {
		sum := sha256.Sum256(e.script)
		e.path = filepath.Join(os.TempDir(), "perflab-"+e.name+"-"+hex.EncodeToString(sum[:6]))
		if _, err := os.Stat(filepath.Join(e.path, "done")); err == nil {
			return
		}
		tmp, err := os.MkdirTemp(os.TempDir(), "perflab-"+e.name+"-tmp-")
		if err != nil {
			e.errMsg = err.Error()
			return
		}
		script := filepath.Join(tmp, e.name+".py")
		if err := os.WriteFile(script, e.script, 0o644); err != nil {
			e.errMsg = err.Error()
			return
		}
		if out, err := exec.Command(Python, script, tmp).CombinedOutput(); err != nil {
			e.errMsg = "export " + e.what + " with " + Python + " (run `make setup`): " + err.Error() + "\n" + string(out)
			return
		}
		os.Remove(script)
		if err := os.WriteFile(filepath.Join(tmp, "done"), nil, 0o644); err != nil {
			e.errMsg = err.Error()
			return
		}
		if err := os.Rename(tmp, e.path); err != nil {
			// Another test binary won the race; use its folder.
			os.RemoveAll(tmp)
			if _, err := os.Stat(filepath.Join(e.path, "done")); err != nil {
				e.errMsg = "cache " + e.what + ": " + err.Error()
			}
		}
	})
	if e.errMsg != "" {
		t.Fatal(e.errMsg)
	}
	return e.path
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
