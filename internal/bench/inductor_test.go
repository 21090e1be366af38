package bench_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/bench"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/testutil"
	"github.com/perflab/perflab/internal/torch"
)

// On libtorch 2.6 the models folder holds each float built-in's AOTInductor package
// (models/export.py); on 1.13 there is none and --compile inductor is unsupported.

const unsupported = "--compile inductor: unsupported by this runtime: AOTInductor packages need libtorch 2.6 or later (this is "

// wantUnsupported asserts the one-line error of an inductor configuration on libtorch < 2.6.
func wantUnsupported(t *testing.T, err error) {
	t.Helper()
	if err == nil || !errors.Is(err, torch.ErrUnsupported) || err.Error() != unsupported+torch.Version()+")" {
		t.Errorf("got %v, want %q", err, unsupported+torch.Version()+")")
	}
}

// packageCopy links the built-in's package (and, with twin, its TorchScript file) into a
// fresh folder as model.pt2 / model.pt, with spec as model.pt2.json ("" = the exported
// spec). On 1.13 (no package exported) the package is a stand-in file.
func packageCopy(t *testing.T, name, spec string, twin bool) string {
	t.Helper()
	src := filepath.Join(testutil.ModelsDir(t), name)
	dir := t.TempDir()
	p := filepath.Join(dir, "model.pt2")
	if _, err := os.Stat(src + ".pt2"); err == nil {
		if err := os.Symlink(src+".pt2", p); err != nil {
			t.Fatal(err)
		}
		if spec == "" {
			b, err := os.ReadFile(src + ".pt2.json")
			if err != nil {
				t.Fatal(err)
			}
			spec = string(b)
		}
	} else if torch.AOTISupported() {
		t.Fatalf("%s.pt2 is not exported: run models/export.py with torch 2.6", src)
	} else {
		os.WriteFile(p, []byte("stand-in"), 0o644)
		if spec == "" {
			spec = `{"inputs":["float32[B,3,224,224]"],"batch_min":1,"batch_max":64}`
		}
	}
	if err := os.WriteFile(p+".json", []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if twin {
		if err := os.Symlink(src+".pt", filepath.Join(dir, "model.pt")); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestBenchInductor: a built-in's package benches at batch 1 and 4 (one package, dynamic
// batch), its outputs checked against its TorchScript twin; the record says which package
// ran, its compile time and ISA.
func TestBenchInductor(t *testing.T) {
	for _, b := range []int{1, 4} {
		c := builtin(t, "mobilenet_v3_small")
		c.Compile, c.BatchSize, c.Threads = knobs.CompileInductor, b, 1
		if !torch.AOTISupported() {
			_, err := bench.Run(c)
			wantUnsupported(t, err)
			continue
		}
		rec := run(t, c)
		cr := rec.Correctness
		if cr == nil || cr.Verdict != record.VerdictMatch || !strings.Contains(cr.Reference, "mobilenet_v3_small.pt") || cr.Top1Agree != int64(b) {
			t.Errorf("batch %d: correctness %+v, want a match with the TorchScript twin", b, cr)
		}
		if !strings.HasSuffix(rec.InductorPackage, "mobilenet_v3_small.pt2") || rec.ModelPath != rec.InductorPackage ||
			rec.CompileSeconds <= 0 || rec.CompileISA == "" || rec.CompileApplied {
			t.Errorf("batch %d: package %q, model path %q, compile %.1f s, ISA %q, compile applied %v", b, rec.InductorPackage, rec.ModelPath, rec.CompileSeconds, rec.CompileISA, rec.CompileApplied)
		}
	}
}

// TestBenchPackageModel: --model model.pt2 runs the package (compile auto); with its twin
// beside it the outputs are checked, without one the record says they were not.
func TestBenchPackageModel(t *testing.T) {
	for _, twin := range []bool{true, false} {
		c := builtin(t, "mobilenet_v3_small")
		c.Model, c.Threads = packageCopy(t, "mobilenet_v3_small", "", twin), 1
		rec, err := bench.Run(c)
		if !torch.AOTISupported() {
			wantUnsupported(t, err)
			continue
		}
		if err != nil {
			t.Fatalf("twin %v: %v", twin, err)
		}
		cr := rec.Correctness
		switch {
		case cr == nil:
			t.Errorf("twin %v: no correctness", twin)
		case twin && cr.Verdict != record.VerdictMatch:
			t.Errorf("with the twin: %+v, want match", cr)
		case !twin && (cr.Verdict != record.VerdictUnchecked || !strings.Contains(strings.Join(rec.Warnings, "\n"), "outputs not checked: no TorchScript twin (model.pt) beside model.pt2")):
			t.Errorf("without the twin: %+v, warnings %q: want unchecked", cr, rec.Warnings)
		}
		if rec.LatencyP50 <= 0 || rec.Compile != knobs.CompileAuto {
			t.Errorf("twin %v: p50 %g, compile %q", twin, rec.LatencyP50, rec.Compile)
		}
	}
}

// TestBenchInductorRefused: configurations outside what the package was compiled for are
// refused in one line before anything runs (the package would accept a wrong batch and
// crash on a wrong shape); a truncated package is one line too.
func TestBenchInductorRefused(t *testing.T) {
	fixed := `{"inputs":["float32[B,3,224,224]"],"batch_min":1,"batch_max":1}`
	tests := []struct {
		name  string
		spec  string
		edit  func(c *bench.Config)
		want  string
		on113 bool // refused the same way on 1.13 (before the runtime is asked)
	}{
		{"fixed batch", fixed, func(c *bench.Config) { c.BatchSize = 4 }, "model.pt2 was compiled for a fixed batch 1; asked 4: re-export it with a dynamic batch (torch.export.Dim) (--batch-size)", false},
		{"batch over the range", "", func(c *bench.Config) { c.BatchSize = 65 }, "model.pt2 was compiled for batch 1..64; asked 65 (--batch-size)", false},
		{"wrong spatial size", "", func(c *bench.Config) { c.Inputs = []string{"float32[B,3,100,100]"} }, "model.pt2 was compiled for input 0 float32[B,3,224,224]; asked float32[B,3,100,100]", true},
		{"wrong dtype", "", func(c *bench.Config) { c.Inputs = []string{"float64[B,3,224,224]"} }, "asked float64[B,3,224,224]", true},
		{"compile on", "", func(c *bench.Config) { c.Compile = bench.CompileOn }, "model.pt2 is an AOTInductor package: it runs as --compile inductor (or auto); --compile on needs its TorchScript twin", true},
		{"channels_last", "", func(c *bench.Config) { c.ChannelsLast = true }, "--compile inductor runs the package as compiled: drop --channels-last", false},
		{"wrong libtorch", `{"inputs":["float32[B,3,224,224]"],"batch_min":1,"batch_max":64,"torch_version":"2.5.1"}`, func(c *bench.Config) {},
			"model.pt2 was compiled by torch 2.5.1 and perflab runs on libtorch " + torch.Version() + ": a package runs only on the libtorch that compiled it", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := builtin(t, "mobilenet_v3_small")
			c.Model, c.Threads = packageCopy(t, "mobilenet_v3_small", tt.spec, true), 1
			tt.edit(&c)
			_, err := bench.Run(c)
			if !torch.AOTISupported() && !tt.on113 {
				wantUnsupported(t, err)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("got %v, want one line containing %q", err, tt.want)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		c := builtin(t, "mobilenet_v3_small")
		c.Model, c.Threads = packageCopy(t, "mobilenet_v3_small", "", false), 1
		if torch.AOTISupported() {
			data, err := os.ReadFile(c.Model)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(c.Model)
			os.WriteFile(c.Model, data[:len(data)/3], 0o644)
		}
		_, err := bench.Run(c)
		if !torch.AOTISupported() {
			wantUnsupported(t, err)
			return
		}
		if err == nil || !errors.Is(err, torch.ErrNotArchive) || strings.Contains(err.Error(), "\n") ||
			!strings.HasPrefix(err.Error(), "load AOTInductor package "+c.Model+": not an AOTInductor package (.pt2 zip archive), or truncated") {
			t.Errorf("got %v, want one line: not an AOTInductor package, or truncated", err)
		}
	})
}
