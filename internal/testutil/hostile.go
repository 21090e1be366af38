package testutil

import (
	_ "embed"
	"path/filepath"
	"testing"
)

//go:embed hostile.py
var hostilePy []byte

var hostile = export{script: hostilePy, name: "hostile", what: "hostile models"}

// Hostile returns the path of one model of hostile.py — segv.pt, fpe.pt, hang.pt,
// prints.pt, inf_out.pt, later_raise.pt (raises from its second call on; float32[B,8]) and noarg.pt (no argument) —
// exported once per machine and cached under the temp folder, keyed by the script's hash.
func Hostile(t testing.TB, name string) string {
	t.Helper()
	return filepath.Join(hostile.dir(t), name)
}
