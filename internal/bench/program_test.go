package bench_test

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/aoticache"
	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
	"github.com/perflab/perflab/internal/torch"
)

// TestBenchProgram: --model model.pt2 that is a torch.export program (the built-in's
// <name>.export.pt2, exported by models/export.py with torch 2.6) is compiled with
// AOTInductor into the compile cache and benched, its outputs checked against its
// TorchScript twin; the second run, at another batch size, hits the cache. On 1.13 the
// program is one line, unsupported, and nothing is compiled.
func TestBenchProgram(t *testing.T) {
	cache := t.TempDir()
	t.Setenv(aoticache.EnvDir, cache)
	dir := t.TempDir()
	p := filepath.Join(dir, "model.pt2")
	src := filepath.Join(testutil.ModelsDir(t), "mobilenet_v3_small")
	if torch.AOTISupported() {
		if _, err := os.Stat(src + ".export.pt2"); err != nil {
			t.Fatalf("%s.export.pt2 is not exported: run models/export.py with torch 2.6", src)
		}
		if err := os.Symlink(src+".export.pt2", p); err != nil {
			t.Fatal(err)
		}
	} else {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		z := zip.NewWriter(f)
		z.Create("serialized_exported_program.json")
		z.Close()
		f.Close()
	}
	if err := os.Symlink(src+".pt", filepath.Join(dir, "model.pt")); err != nil {
		t.Fatal(err)
	}
	for i, batch := range []int{1, 4} {
		c := builtin(t, "mobilenet_v3_small")
		c.Model, c.Threads, c.BatchSize = p, 1, batch
		rec, err := bench.Run(c)
		if !torch.AOTISupported() {
			wantUnsupported(t, err)
			if ents, _ := os.ReadDir(cache); len(ents) != 0 {
				t.Errorf("the cache holds %d entries on a runtime without AOTInductor", len(ents))
			}
			return
		}
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		want := []string{"miss", "hit"}[i]
		cr := rec.Correctness
		if rec.CompileCache != want || rec.CompileSeconds <= 0 || rec.CompileISA == "" || rec.CompileRan() != "inductor" ||
			!strings.HasPrefix(rec.InductorPackage, cache+"/") || cr == nil || cr.Verdict != record.VerdictMatch {
			t.Errorf("batch %d: compile_cache %q (want %s), compile_seconds %g, isa %q, package %q, correctness %+v",
				batch, rec.CompileCache, want, rec.CompileSeconds, rec.CompileISA, rec.InductorPackage, cr)
		}
	}
	// One entry (and its lock file), no staging folder left behind.
	ents, _ := os.ReadDir(cache)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(ents) != 2 || !strings.HasSuffix(names[0]+names[1], ".lock") {
		t.Errorf("cache holds %v, want one entry and its lock", names)
	}
}

// Compile auto says why it did not pick inductor when the model has a package or program,
// and says nothing when inductor was never a candidate.
func TestAutoInductorNote(t *testing.T) {
	pkg := &model.Model{Package: &model.Package{Path: "/x/m.pt2", Spec: &model.PackageSpec{ISA: "scalar"}}}
	prog := &model.Model{Program: "/x/m.export.pt2"}
	want := map[*model.Model]string{
		pkg:  "compile auto: on or off only: inductor (m.pt2, scalar kernels) runs when asked (--compile inductor, a sweep), never unmeasured",
		prog: "compile auto: on or off only: inductor (torch.export program m.export.pt2) runs when asked (--compile inductor, a sweep), never unmeasured",
	}
	if !torch.AOTISupported() {
		u := "compile auto: on or off only: inductor is unsupported by this runtime (libtorch " + torch.Version() + ")"
		want[pkg], want[prog] = u, u
	}
	for m, w := range want {
		if got := bench.AutoInductorNote(m); got != w {
			t.Errorf("got  %q\nwant %q", got, w)
		}
	}
	if got := bench.AutoInductorNote(&model.Model{}); got != "" {
		t.Errorf("no package: %q", got)
	}
}
