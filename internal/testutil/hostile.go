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

//go:embed hostile.py
var hostilePy []byte

var (
	hostileOnce sync.Once
	hostileDir  string
	hostileErr  string
)

// Hostile returns the path of one model of hostile.py — segv.pt, fpe.pt, hang.pt,
// prints.pt, inf_out.pt, later_raise.pt (raises from its second call on; float32[B,8]) and noarg.pt (no argument) —
// exported once per machine and cached under the temp folder, keyed by the script's hash.
func Hostile(t testing.TB, name string) string {
	t.Helper()
	hostileOnce.Do(func() {
		sum := sha256.Sum256(hostilePy)
		hostileDir = filepath.Join(os.TempDir(), "perflab-hostile-"+hex.EncodeToString(sum[:6]))
		if _, err := os.Stat(filepath.Join(hostileDir, "done")); err == nil {
			return
		}
		tmp, err := os.MkdirTemp(os.TempDir(), "perflab-hostile-tmp-")
		if err != nil {
			hostileErr = err.Error()
			return
		}
		script := filepath.Join(tmp, "hostile.py")
		if err := os.WriteFile(script, hostilePy, 0o644); err != nil {
			hostileErr = err.Error()
			return
		}
		if out, err := exec.Command(Python, script, tmp).CombinedOutput(); err != nil {
			hostileErr = "export hostile models with " + Python + " (run `make setup`): " + err.Error() + "\n" + string(out)
			return
		}
		os.Remove(script)
		if err := os.WriteFile(filepath.Join(tmp, "done"), nil, 0o644); err != nil {
			hostileErr = err.Error()
			return
		}
		if err := os.Rename(tmp, hostileDir); err != nil {
			os.RemoveAll(tmp) // another test binary won the race
			if _, err := os.Stat(filepath.Join(hostileDir, "done")); err != nil {
				hostileErr = "cache hostile models: " + err.Error()
			}
		}
	})
	if hostileErr != "" {
		t.Fatal(hostileErr)
	}
	return filepath.Join(hostileDir, name)
}
