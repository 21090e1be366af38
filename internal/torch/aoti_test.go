package torch

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/model"
)

// aotiPackage returns the exported AOTInductor package of built-in name and its
// TorchScript twin (models/export.py writes both with torch 2.6: the 2.6 test leg has
// them). It fails when they are missing on a runtime that runs packages.
func aotiPackage(t *testing.T, name string) (pkg, twin string) {
	t.Helper()
	for _, dir := range model.SearchDirs() {
		p := filepath.Join(dir, name+".pt2")
		if _, err := os.Stat(p); err == nil {
			return p, filepath.Join(dir, name+".pt")
		}
	}
	t.Fatalf("no %s.pt2 in %v: export the models with torch 2.6 (models/export.py)", name, model.SearchDirs())
	return "", ""
}

// leftovers returns the loader's folders in /tmp (six-character names holding an
// unpacked package) that are not in before.
// leftovers lists the unpacked packages in /tmp that were not there before and that no
// other process uses: go test runs other packages' tests (which load packages too, into the
// same hard-coded /tmp) beside this one.
func leftovers(before map[string]bool) []string {
	var out []string
	for name := range tempDirs() {
		if !before[name] && !InUseElsewhere(filepath.Join(aotiTempRoot, name)) {
			if _, err := os.Stat(filepath.Join(aotiTempRoot, name, "data", "aotinductor")); err == nil {
				out = append(out, name)
			}
		}
	}
	return out
}

func TestAOTIUnsupported(t *testing.T) {
	if AOTISupported() {
		t.Skip("this libtorch runs AOTInductor packages (TestAOTIForward)")
	}
	_, err := LoadAOTI("/nonexistent/model.pt2")
	msg := torchError(t, err, "load")
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("errors.Is(err, ErrUnsupported) = false: %v", err)
	}
	want := "AOTInductor packages need libtorch 2.6 or later (this is " + Version() + ")"
	if msg != want || !strings.HasPrefix(Version(), "1.") {
		t.Errorf("message %q, want %q (version %s)", msg, want, Version())
	}
}

// TestAOTIForward runs a built-in's package at batch 1 and 4 (one package, dynamic batch)
// and compares its outputs with its eager TorchScript twin's on the same input.
func TestAOTIForward(t *testing.T) {
	if !AOTISupported() {
		t.Skip("libtorch " + Version() + " runs no AOTInductor packages (TestAOTIUnsupported)")
	}
	pkgPath, twinPath := aotiPackage(t, "resnet18")
	before := tempDirs()
	pkg, err := LoadAOTI(pkgPath)
	if err != nil {
		t.Fatalf("LoadAOTI: %v", err)
	}
	twin, err := Load(twinPath)
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Close()
	md, err := pkg.AOTIMetadata()
	if err != nil || md["AOTI_DEVICE_KEY"] != "cpu" {
		t.Errorf("metadata %v, %v: want AOTI_DEVICE_KEY cpu", md, err)
	}
	for _, b := range []int64{1, 4} {
		in := random(t, Float32, []int64{b, 3, 224, 224}, false, 0, 0, 7)
		got, want := forward(t, pkg, in), forward(t, twin, in)
		if d := got.String(); d != "float32["+strconv.FormatInt(b, 10)+",1000]" {
			t.Errorf("batch %d: package output %s", b, d)
		}
		cmp, err := want.Compare(got, 1e-3, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		if cmp.Worst > 1 || cmp.Top1Agree != b {
			t.Errorf("batch %d: package outputs differ from the twin's: worst %.3g of the tolerance, max diff %.3g, top-1 %d/%d", b, cmp.Worst, cmp.MaxAbsDiff, cmp.Top1Agree, b)
		}
		ns := make([]int64, 3)
		if wall, err := pkg.TimedForward([]*Tensor{in}, ns); err != nil || wall <= 0 || ns[2] <= 0 {
			t.Errorf("TimedForward: wall %d, samples %v, %v", wall, ns, err)
		}
	}
	for name, f := range map[string]func() error{
		"schema":   func() error { _, _, err := pkg.Schema(); return err },
		"optimize": func() error { _, err := pkg.Optimize(); return err },
		"clone":    func() error { _, err := pkg.Clone(); return err },
	} {
		if err := f(); err == nil || !strings.Contains(err.Error(), "needs a TorchScript module, not an AOTInductor package") {
			t.Errorf("%s on a package: %v", name, err)
		}
	}
	pkg.Close()
	if l := leftovers(before); len(l) > 0 {
		t.Errorf("Close left the unpacked package in /tmp: %v", l)
	}
}

// TestAOTILoadErrors: a truncated package and a file that is no package are one line each,
// ErrNotArchive, and leave nothing in /tmp.
func TestAOTILoadErrors(t *testing.T) {
	if !AOTISupported() {
		t.Skip("libtorch " + Version() + " runs no AOTInductor packages (TestAOTIUnsupported)")
	}
	pkgPath, _ := aotiPackage(t, "resnet18")
	data, err := os.ReadFile(pkgPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.pt2")
	text := filepath.Join(dir, "text.pt2")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	os.WriteFile(text, []byte("not a package\n"), 0o644)
	for _, p := range []string{truncated, text} {
		before := tempDirs()
		_, err := LoadAOTI(p)
		msg := torchError(t, err, "load "+p)
		if !errors.Is(err, ErrNotArchive) || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q (kind %v), want one line of kind ErrNotArchive", filepath.Base(p), msg, err.(*Error).Kind)
		}
		if l := leftovers(before); len(l) > 0 {
			t.Errorf("%s: the failed load left %v in /tmp", filepath.Base(p), l)
		}
	}
}

// TestInUseElsewhere: a folder where another process holds a file open is in use; once that
// process exits, or for a folder nobody uses (this process's own open files do not count),
// it is not.
func TestInUseElsewhere(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "lib.so")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	own, err := os.Open(f)
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	if InUseElsewhere(dir) {
		t.Fatalf("%s in use elsewhere with only this process holding a file open", dir)
	}
	cmd := exec.Command("sh", "-c", "exec 3<\"$1\"; echo ready; exec sleep 60", "sh", f)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if !InUseElsewhere(dir) {
		t.Errorf("%s not in use elsewhere while process %d holds %s open", dir, cmd.Process.Pid, f)
	}
	if InUseElsewhere(dir + "-other") {
		t.Errorf("a folder whose name only starts like %s counted as in use", dir)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if InUseElsewhere(dir) {
		t.Errorf("%s still in use after process %d exited", dir, cmd.Process.Pid)
	}
}
