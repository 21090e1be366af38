package model

import (
	"archive/zip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writePackage writes a stand-in package file (its contents are never read here) with
// spec text beside it ("" = no spec), and a TorchScript twin when twin.
func writePackage(t *testing.T, spec string, twin bool) string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "model.pt2")
	if err := os.WriteFile(p, []byte("PK stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
	if spec != "" {
		if err := os.WriteFile(p+".json", []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if twin {
		if err := os.WriteFile(filepath.Join(dir, "model.pt"), []byte("PK stand-in"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

const (
	specDynamic = `{"format":"aoti","inputs":["float32[B,3,224,224]"],"batch_min":1,"batch_max":16,"isa":"scalar","compile_seconds":22.5}`
	specFixed   = `{"format":"aoti","inputs":["float32[B,3,224,224]"],"batch_min":1,"batch_max":1}`
)

func TestResolvePackage(t *testing.T) {
	p := writePackage(t, specDynamic, true)
	m, err := Resolve(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !m.PackageOnly || m.Package == nil || m.Package.Path != p || m.Path != strings.TrimSuffix(p, "2") ||
		len(m.Inputs) != 1 || m.Inputs[0].String() != "float32[B,3,224,224]" || m.Package.Spec.ISA != "scalar" {
		t.Errorf("Resolve(%s) = %+v (package %+v)", p, m, m.Package)
	}
	// The twin resolves with the package beside it.
	tm, err := Resolve(m.Path, []string{"float32[B,3,224,224]"})
	if err != nil || tm.Package == nil || tm.Package.Path != p || tm.PackageOnly {
		t.Errorf("Resolve(twin) = %+v, %v: want its package %s", tm, err, p)
	}
	// No twin: Path is empty (outputs cannot be checked).
	if m, err := Resolve(writePackage(t, specDynamic, false), nil); err != nil || m.Path != "" {
		t.Errorf("without a twin: %+v, %v", m, err)
	}
}

func TestPackageChecks(t *testing.T) {
	tests := []struct {
		name, spec string
		inputs     []string
		batch      int
		want       string // "" = accepted
	}{
		{"in range", specDynamic, nil, 16, ""},
		{"above range", specDynamic, nil, 32, "model.pt2 was compiled for batch 1..16; asked 32"},
		{"fixed batch", specFixed, nil, 4, "model.pt2 was compiled for a fixed batch 1; asked 4: re-export it with a dynamic batch (torch.export.Dim)"},
		{"matching --input", specDynamic, []string{"float32[B,3,224,224]"}, 1, ""},
		{"wrong spatial size", specDynamic, []string{"float32[B,3,100,100]"}, 1, "model.pt2 was compiled for input 0 float32[B,3,224,224]; asked float32[B,3,100,100]"},
		{"wrong dtype", specDynamic, []string{"float64[B,3,224,224]"}, 1, "asked float64[B,3,224,224]"},
		{"two inputs", specDynamic, []string{"float32[B,3,224,224]", "int64[B]"}, 1, "model.pt2 was compiled for 1 input(s) (float32[B,3,224,224]); asked 2"},
		{"no spec, no --input", "", nil, 1, "has no input spec ("},
		{"bad spec", `{"inputs":["float32[B,3]"],"batch_min":4,"batch_max":2}`, nil, 1, "batch range 4..2 is not valid"},
		{"spec without inputs", `{"batch_min":1,"batch_max":2}`, nil, 1, "lists no inputs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Resolve(writePackage(t, tt.spec, true), tt.inputs)
			if err == nil {
				err = m.Package.CheckBatch(tt.batch)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("not one line: %q", err)
			}
		})
	}
}

// A package without a spec runs with the --input given (unchecked).
func TestResolvePackageWithoutSpec(t *testing.T) {
	m, err := Resolve(writePackage(t, "", true), []string{"float32[B,8]"})
	if err != nil || m.Package.Spec != nil || len(m.Inputs) != 1 || m.Package.CheckBatch(1000) != nil {
		t.Errorf("%+v, %v", m, err)
	}
}

// writeZip writes a zip archive holding the named (empty) entries.
func writeZip(t *testing.T, path string, names ...string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	z := zip.NewWriter(f)
	for _, n := range names {
		if _, err := z.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// A .pt2 is told by its contents: torch.export.save's entries (with or without an archive
// folder) make a program, AOTInductor's data/aotinductor a package; what is not a zip is
// left to the loader (a package), whose error says truncated or not an archive.
func TestPT2Kind(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		entries []string // nil: not a zip
		want    string
	}{
		{"torch.export.save", []string{"serialized_exported_program.json", "serialized_state_dict.pt", "version"}, KindProgram},
		{"program in a folder", []string{"archive/serialized_exported_program.json"}, KindProgram},
		{"AOTInductor package", []string{"version", "archive_format", "data/aotinductor/model/x.so"}, KindPackage},
		{"package in a folder", []string{"m/data/aotinductor/model/x.so"}, KindPackage},
		{"other zip", []string{"a.txt"}, KindPackage},
		{"not a zip", nil, KindPackage},
	}
	for i, tt := range tests {
		p := filepath.Join(dir, fmt.Sprintf("m%d.pt2", i))
		if tt.entries == nil {
			os.WriteFile(p, []byte("PK truncated"), 0o644)
		} else {
			writeZip(t, p, tt.entries...)
		}
		if got := PT2Kind(p); got != tt.want {
			t.Errorf("%s: PT2Kind = %s, want %s", tt.name, got, tt.want)
		}
	}
}

// --model prog.pt2 (a torch.export program) resolves to a program to compile, with its
// TorchScript twin; a TorchScript file finds the program beside it (model.pt2 or a
// built-in's model.export.pt2) when there is no package.
func TestResolveProgram(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "model.pt2")
	writeZip(t, prog, "serialized_exported_program.json")
	os.WriteFile(filepath.Join(dir, "model.pt"), []byte("PK stand-in"), 0o644)
	m, err := Resolve(prog, nil)
	if err != nil || m.Program != prog || !m.PackageOnly || m.Package != nil || !m.NeedsCompile() || m.Path != filepath.Join(dir, "model.pt") || len(m.Inputs) != 0 {
		t.Fatalf("Resolve(program) = %+v, %v", m, err)
	}
	tm, err := Resolve(filepath.Join(dir, "model.pt"), []string{"float32[B,3]"})
	if err != nil || tm.Program != prog || tm.Package != nil || tm.PackageOnly {
		t.Errorf("Resolve(twin) = %+v, %v", tm, err)
	}
	// A built-in's layout: name.pt, name.export.pt2 (and no name.pt2).
	dir2 := t.TempDir()
	ep := filepath.Join(dir2, "net"+ProgramSuffix)
	writeZip(t, ep, "serialized_exported_program.json")
	os.WriteFile(filepath.Join(dir2, "net.pt"), []byte("PK stand-in"), 0o644)
	if m, err := Resolve(filepath.Join(dir2, "net.pt"), nil); err != nil || m.Program != ep {
		t.Errorf("Resolve(net.pt) = %+v, %v: want program %s", m, err, ep)
	}
	if m, err := Resolve(ep, nil); err != nil || m.Path != filepath.Join(dir2, "net.pt") {
		t.Errorf("Resolve(%s) = %+v, %v: want the twin net.pt", ep, m, err)
	}
}

// A vectorised package runs only on a CPU with its ISA; scalar kernels run anywhere.
func TestCheckISA(t *testing.T) {
	avx2CPU := []string{"sse4_2", "avx", "avx2", "fma"}
	avx512CPU := append(avx2CPU, "avx512f", "avx512dq", "avx512vl", "avx512bw")
	tests := []struct {
		isa  string
		cpu  []string
		want string // "" = accepted
	}{
		{"scalar", avx2CPU, ""},
		{"avx2", avx2CPU, ""},
		{"avx512", avx512CPU, ""},
		{"avx512", avx2CPU, "model.pt2 was compiled with avx512 vector kernels and this CPU lacks avx512f, avx512dq, avx512vl, avx512bw (it would crash with an illegal instruction)"},
		{"amx", avx512CPU, "lacks amx_tile, amx_bf16"},
		{"avx512", nil, ""},      // unknown CPU: not checked
		{"zvector", avx2CPU, ""}, // an ISA perflab does not know: not checked
	}
	for _, tt := range tests {
		p := &Package{Path: "/x/model.pt2", Spec: &PackageSpec{ISA: tt.isa}}
		err := p.CheckISA(tt.cpu)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s on %v: refused: %v", tt.isa, tt.cpu, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s on %v: got %v, want %q", tt.isa, tt.cpu, err, tt.want)
		}
	}
}

// A package runs only on the libtorch that compiled it.
func TestCheckTorch(t *testing.T) {
	tests := []struct {
		spec, libtorch string
		want           string // "" = accepted
	}{
		{"2.6.0+debian", "2.6.0", ""},
		{"2.6.0", "2.6.0", ""},
		{"", "2.6.0", ""}, // not recorded: not checked
		{"2.5.1", "2.6.0", "model.pt2 was compiled by torch 2.5.1 and perflab runs on libtorch 2.6.0: a package runs only on the libtorch that compiled it: recompile it with torch 2.6.0"},
		{"2.6.1+cpu", "2.6.0", "compiled by torch 2.6.1+cpu"},
	}
	for _, tt := range tests {
		p := &Package{Path: "/x/model.pt2", Spec: &PackageSpec{TorchVersion: tt.spec}}
		err := p.CheckTorch(tt.libtorch)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s on %s: refused: %v", tt.spec, tt.libtorch, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s on %s: got %v, want %q", tt.spec, tt.libtorch, err, tt.want)
		}
	}
}
