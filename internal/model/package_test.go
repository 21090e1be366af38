package model

import (
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
