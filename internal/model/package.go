package model

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// AOTInductor packages (.pt2, torch._inductor.aoti_compile_and_package) are the compiled
// form of a model: `--model model.pt2` runs one, and `--compile inductor` runs the package
// of a model given as TorchScript (model.pt2 beside model.pt; a built-in's exported
// <name>.pt2). The package checks nothing about its inputs (a batch outside its range is
// accepted, a wrong shape crashes the process), so perflab keeps the input spec beside it,
// in <package>.json (PackageSpec, written by models/export.py), and refuses a
// configuration outside it before anything runs (CheckBatch, CheckInputs).

// PackageExt is the file extension of AOTInductor packages and of torch.export programs.
const PackageExt = ".pt2"

// The two kinds of .pt2 file, told apart by their contents (PT2Kind).
const (
	KindPackage = "aoti"   // an AOTInductor package: data/aotinductor/<model>/*.so
	KindProgram = "export" // a torch.export program (torch.export.save): serialized_exported_program.json
)

// PT2Kind tells a torch.export program from an AOTInductor package by the zip entries of
// path. A file that is not a readable zip archive is taken as a package: loading it then
// fails with the loader's one-line error (truncated, not an archive).
func PT2Kind(path string) string {
	z, err := zip.OpenReader(path)
	if err != nil {
		return KindPackage
	}
	defer z.Close()
	for _, f := range z.File {
		name := f.Name
		if name == "serialized_exported_program.json" || strings.HasSuffix(name, "/serialized_exported_program.json") {
			return KindProgram
		}
		if strings.HasPrefix(name, "data/aotinductor/") || strings.Contains(name, "/data/aotinductor/") {
			return KindPackage
		}
	}
	return KindPackage
}

// PackageSpec is what a package was compiled for: <package>.json beside it.
type PackageSpec struct {
	Name           string   `json:"name,omitempty"`
	Format         string   `json:"format,omitempty"` // "aoti"
	Inputs         []string `json:"inputs"`           // InputSpec texts, B = the batch
	BatchMin       int      `json:"batch_min"`        // the dynamic batch range; min = max for a fixed batch
	BatchMax       int      `json:"batch_max"`
	ISA            string   `json:"isa,omitempty"` // the vector ISA Inductor compiled for, "scalar" for none
	CompileSeconds float64  `json:"compile_seconds,omitempty"`
	TorchVersion   string   `json:"torch_version,omitempty"`
	Twin           string   `json:"twin,omitempty"` // the TorchScript file of the same model, beside it
}

// maxSpecBytes bounds a spec file.
const maxSpecBytes = 1 << 20

// IsPackage reports whether path names an AOTInductor package (by extension).
func IsPackage(path string) bool { return strings.HasSuffix(path, PackageExt) }

// ReadPackageSpec reads <pkg>.json. A missing file is os.ErrNotExist (wrapped).
func ReadPackageSpec(pkg string) (*PackageSpec, error) {
	p := pkg + ".json"
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("input spec %s is not a regular file", p)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSpecBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read input spec %s: %v", p, err)
	}
	if len(data) > maxSpecBytes {
		return nil, fmt.Errorf("input spec %s is larger than %d bytes", p, maxSpecBytes)
	}
	var s PackageSpec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("input spec %s is not valid JSON: %v", p, err)
	}
	if len(s.Inputs) == 0 {
		return nil, fmt.Errorf("input spec %s lists no inputs", p)
	}
	if _, err := parseInputs(s.Inputs); err != nil {
		return nil, fmt.Errorf("input spec %s: %v", p, err)
	}
	if s.BatchMin < 1 || s.BatchMax < s.BatchMin {
		return nil, fmt.Errorf("input spec %s: batch range %d..%d is not valid (want 1 <= batch_min <= batch_max)", p, s.BatchMin, s.BatchMax)
	}
	return &s, nil
}

// Package is a model's AOTInductor package and its spec (nil when there is no spec).
// Cache says where it came from when perflab compiled it from a torch.export program:
// "hit" (an earlier compile was reused) or "miss" (compiled by this run); "" for a package
// given as such.
type Package struct {
	Path  string
	Spec  *PackageSpec
	Cache string
}

// SpecInputs are the inputs the package was compiled for (nil without a spec).
func (p *Package) SpecInputs() ([]InputSpec, error) {
	if p.Spec == nil {
		return nil, nil
	}
	return parseInputs(p.Spec.Inputs)
}

// PackageAt returns the package at p with its spec (a missing spec leaves Spec nil).
func PackageAt(p string) (*Package, error) { return packageAt(p) }

// CheckTorch refuses a package compiled by another torch version than libtorch's (its
// spec's torch_version; none: not checked), in one line: a package loads only in the
// libtorch that compiled it (AOTInductor's C ABI and kernels change between releases).
func (p *Package) CheckTorch(libtorch string) error {
	if p.Spec == nil || p.Spec.TorchVersion == "" || libtorch == "" {
		return nil
	}
	if v := version3(p.Spec.TorchVersion); v != version3(libtorch) {
		return fmt.Errorf("%s was compiled by torch %s and perflab runs on libtorch %s: a package runs only on the libtorch that compiled it: recompile it with torch %s (or give its torch.export program)",
			filepath.Base(p.Path), p.Spec.TorchVersion, libtorch, version3(libtorch))
	}
	return nil
}

// version3 is major.minor.patch of a torch version ("2.6.0+debian" -> "2.6.0").
func version3(v string) string {
	v, _, _ = strings.Cut(v, "+")
	parts := strings.SplitN(v, ".", 4)
	if len(parts) > 3 {
		parts = parts[:3]
	}
	return strings.Join(parts, ".")
}

// inductorISAFlags are the /proc/cpuinfo flags each of Inductor's vector ISAs
// (torch._inductor.cpu_vec_isa: str(pick_vec_isa())) compiles kernels with.
var inductorISAFlags = map[string][]string{
	"avx2":   {"avx2", "fma"},
	"avx512": {"avx512f", "avx512dq", "avx512vl", "avx512bw", "fma"},
	"amx":    {"avx512f", "avx512dq", "avx512vl", "avx512bw", "fma", "amx_tile", "amx_bf16"},
}

// CheckISA refuses a package whose kernels were vectorised for an ISA this CPU lacks (cpu
// flags: env.CPUFlags; nil = unknown CPU, not checked), in one line. "scalar" kernels run
// anywhere; an ISA perflab does not know is not checked.
func (p *Package) CheckISA(cpu []string) error {
	if p.Spec == nil || len(cpu) == 0 {
		return nil
	}
	needs, ok := inductorISAFlags[p.Spec.ISA]
	if !ok {
		return nil
	}
	have := map[string]bool{}
	for _, f := range cpu {
		have[f] = true
	}
	var missing []string
	for _, n := range needs {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s was compiled with %s vector kernels and this CPU lacks %s (it would crash with an illegal instruction): compile it on this machine (give the torch.export program) or with scalar kernels",
			filepath.Base(p.Path), p.Spec.ISA, strings.Join(missing, ", "))
	}
	return nil
}

// CheckBatch refuses a batch size outside the package's range, in one line.
func (p *Package) CheckBatch(batch int) error {
	if p.Spec == nil || (batch >= p.Spec.BatchMin && batch <= p.Spec.BatchMax) {
		return nil
	}
	name := filepath.Base(p.Path)
	if p.Spec.BatchMin == p.Spec.BatchMax {
		return fmt.Errorf("%s was compiled for a fixed batch %d; asked %d: re-export it with a dynamic batch (torch.export.Dim)", name, p.Spec.BatchMin, batch)
	}
	return fmt.Errorf("%s was compiled for batch %d..%d; asked %d", name, p.Spec.BatchMin, p.Spec.BatchMax, batch)
}

// CheckInputs refuses inputs other than those the package was compiled for (dtypes,
// shapes except the batch, count), in one line.
func (p *Package) CheckInputs(inputs []InputSpec) error {
	if p.Spec == nil {
		return nil
	}
	want, err := parseInputs(p.Spec.Inputs)
	if err != nil {
		return err
	}
	name := filepath.Base(p.Path)
	if len(inputs) != len(want) {
		return fmt.Errorf("%s was compiled for %d input(s) (%s); asked %d", name, len(want), strings.Join(p.Spec.Inputs, " "), len(inputs))
	}
	for i := range want {
		if want[i].DType != inputs[i].DType || fmt.Sprint(want[i].Dims) != fmt.Sprint(inputs[i].Dims) {
			return fmt.Errorf("%s was compiled for input %d %s; asked %s (the package checks nothing and would crash or compute garbage)", name, i, want[i], inputs[i])
		}
	}
	return nil
}

// findPackage returns the package beside TorchScript file pt (same stem, .pt2), or nil;
// when that file is a torch.export program, or there is no package but a built-in's
// program (<stem>.export.pt2), it returns the program instead (compiled when a
// configuration runs it).
func findPackage(pt string) (*Package, string, error) {
	stem := strings.TrimSuffix(pt, filepath.Ext(pt))
	p := stem + PackageExt
	if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
		if PT2Kind(p) == KindProgram {
			return nil, p, nil
		}
		pkg, err := packageAt(p)
		return pkg, "", err
	}
	if fi, err := os.Stat(stem + ProgramSuffix); err == nil && fi.Mode().IsRegular() {
		return nil, stem + ProgramSuffix, nil
	}
	return nil, "", nil
}

// ProgramSuffix names a built-in's torch.export program beside its TorchScript file
// (models/export.py: <name>.export.pt2); its twin is <name>.pt.
const ProgramSuffix = ".export" + PackageExt

// packageAt reads the spec of package p (a missing spec leaves Spec nil).
func packageAt(p string) (*Package, error) {
	spec, err := ReadPackageSpec(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return &Package{Path: p, Spec: spec}, nil
}

// twinOf returns the TorchScript file of the same stem beside package or program p
// (model.pt2 -> model.pt; a built-in's program model.export.pt2 -> model.pt), or "".
func twinOf(p string) string {
	for _, t := range []string{strings.TrimSuffix(p, PackageExt) + ".pt", strings.TrimSuffix(p, ProgramSuffix) + ".pt"} {
		if fi, err := os.Stat(t); err == nil && fi.Mode().IsRegular() {
			return t
		}
	}
	return ""
}
