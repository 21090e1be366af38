// Package model knows perflab's built-in models, where their exported TorchScript files
// live, and how a user's own TorchScript file is described (one InputSpec per forward
// argument). It does not load anything: that is the torch package's job.
package model

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Task is what kind of input a model takes.
type Task string

// Tasks.
const (
	Vision Task = "vision" // float32 images [B,3,H,W]
	Text   Task = "text"   // int64 token ids [B,T]
	Custom Task = "custom" // a user's TorchScript file
)

// Builtin is a model that `make models` exports (models/export.py).
type Builtin struct {
	Name     string
	Task     Task
	File     string   // file name in the models folder
	Int8File string   // dynamic-int8 variant, "" when there is none
	Inputs   []string // InputSpec texts
}

// Builtins lists the built-in models, by name.
var Builtins = []Builtin{
	{Name: "resnet18", Task: Vision, File: "resnet18.pt", Inputs: []string{"float32[B,3,224,224]"}},
	{Name: "mobilenet_v3_small", Task: Vision, File: "mobilenet_v3_small.pt", Inputs: []string{"float32[B,3,224,224]"}},
	{Name: "tiny_transformer", Task: Text, File: "tiny_transformer.pt", Int8File: "tiny_transformer_int8.pt", Inputs: []string{"int64[B,128]:0..8191"}},
}

// BuiltinNames returns the built-in model names.
func BuiltinNames() []string {
	names := make([]string, len(Builtins))
	for i, b := range Builtins {
		names[i] = b.Name
	}
	return names
}

// LookupBuiltin returns the built-in model called name.
func LookupBuiltin(name string) (Builtin, bool) {
	for _, b := range Builtins {
		if b.Name == name {
			return b, true
		}
	}
	return Builtin{}, false
}

// EnvModelsDir names the environment variable that points at the exported models.
const EnvModelsDir = "PERFLAB_MODELS_DIR"

// SearchDirs returns the folders searched for built-in model files: $PERFLAB_MODELS_DIR
// alone when it is set; otherwise, in order, relative to the executable
// <exe>/../models/exported (a source checkout's bin/perflab) and
// <exe>/../share/perflab/models (an installed binary, e.g. the container's
// /usr/local/bin/perflab), then /usr/share/perflab/models.
func SearchDirs() []string {
	if d := os.Getenv(EnvModelsDir); d != "" {
		return []string{d}
	}
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		root := filepath.Dir(filepath.Dir(exe))
		dirs = append(dirs, filepath.Join(root, "models", "exported"), filepath.Join(root, "share", "perflab", "models"))
	}
	return append(dirs, "/usr/share/perflab/models")
}

// Model is a resolved model: a file to load and how to feed it.
type Model struct {
	Name     string // built-in name, or the path the user gave
	Path     string // the TorchScript file to load
	Task     Task
	Builtin  bool
	Int8Path string // the dynamic-int8 variant, "" when there is none
	Inputs   []InputSpec

	// Package is the model's AOTInductor package (--compile inductor): the .pt2 given as
	// --model, the one beside the TorchScript file, a built-in's exported one; nil when
	// there is none. PackageOnly: --model named the package; Path is then its TorchScript
	// twin (same stem, .pt), "" when there is none (outputs cannot be checked).
	Package     *Package
	PackageOnly bool

	// Program is the model's torch.export program (torch.export.save, a .pt2 told from a
	// package by its contents) when it has no package: --compile inductor compiles it with
	// AOTInductor (internal/aoticache) into Package. With PackageOnly, --model named it.
	Program string
}

// NeedsCompile says whether m's inductor configuration has to compile a program first.
func (m *Model) NeedsCompile() bool { return m.Package == nil && m.Program != "" }

// Resolve turns --model and --input values into a Model. A built-in name takes no
// --input (unless they match its own); anything else is a path to a TorchScript file and
// needs one --input per forward argument (none for a forward without arguments).
func Resolve(nameOrPath string, inputs []string) (*Model, error) {
	if nameOrPath == "" {
		return nil, errors.New("missing --model: give a built-in name (" + strings.Join(BuiltinNames(), ", ") + ") or a TorchScript file path")
	}
	if b, ok := LookupBuiltin(nameOrPath); ok {
		return resolveBuiltin(b, inputs)
	}
	if !looksLikePath(nameOrPath) {
		return nil, fmt.Errorf("unknown model %q: use a built-in (%s) or a path to a TorchScript .pt file", nameOrPath, strings.Join(BuiltinNames(), ", "))
	}
	if err := checkFile(nameOrPath); err != nil {
		return nil, err
	}
	if IsPackage(nameOrPath) {
		return resolvePackage(nameOrPath, inputs)
	}
	// No --input is right for a forward without arguments; loading the file checks the
	// count against its forward (bench.LoadModule).
	specs, err := parseInputs(inputs)
	if err != nil {
		return nil, err
	}
	pkg, prog, err := findPackage(nameOrPath)
	if err != nil {
		return nil, err
	}
	return &Model{Name: nameOrPath, Path: nameOrPath, Task: Custom, Inputs: specs, Package: pkg, Program: prog}, nil
}

// resolvePackage resolves --model model.pt2: its inputs come from its spec (--input, when
// given, must match it; without a spec they are taken as given, unchecked).
func resolvePackage(path string, inputs []string) (*Model, error) {
	if PT2Kind(path) == KindProgram {
		// A torch.export program: its inputs are known once it is compiled (the compile
		// writes the spec); --input, when given, is checked against that spec then.
		given, err := parseInputs(inputs)
		if err != nil {
			return nil, err
		}
		return &Model{Name: path, Path: twinOf(path), Task: Custom, Program: path, PackageOnly: true, Inputs: given}, nil
	}
	pkg, err := packageAt(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Name: path, Path: twinOf(path), Task: Custom, Package: pkg, PackageOnly: true}
	given, err := parseInputs(inputs)
	if err != nil {
		return nil, err
	}
	switch {
	case pkg.Spec == nil && len(given) == 0:
		return nil, fmt.Errorf("%s has no input spec (%s.json) and no --input was given: perflab needs the inputs the package was compiled for (it checks none itself), e.g. --input 'float32[B,3,224,224]'", path, path)
	case pkg.Spec == nil:
		m.Inputs = given
	default:
		if m.Inputs, err = parseInputs(pkg.Spec.Inputs); err != nil {
			return nil, err
		}
		if len(given) > 0 {
			if err := pkg.CheckInputs(given); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func resolveBuiltin(b Builtin, inputs []string) (*Model, error) {
	specs, err := parseInputs(b.Inputs)
	if err != nil {
		return nil, err
	}
	if len(inputs) > 0 {
		given, err := parseInputs(inputs)
		if err != nil {
			return nil, err
		}
		if fmt.Sprint(given) != fmt.Sprint(specs) {
			return nil, fmt.Errorf("built-in model %s takes %s; drop --input (it is only for your own TorchScript files)", b.Name, strings.Join(b.Inputs, " "))
		}
	}
	m := &Model{Name: b.Name, Task: b.Task, Builtin: true, Inputs: specs}
	var searched []string
	for _, dir := range SearchDirs() {
		p := filepath.Join(dir, b.File)
		searched = append(searched, dir)
		if _, err := os.Stat(p); err == nil {
			m.Path = p
			if b.Int8File != "" {
				m.Int8Path = filepath.Join(dir, b.Int8File)
			}
			if m.Package, m.Program, err = findPackage(p); err != nil {
				return nil, err
			}
			return m, nil
		}
	}
	return nil, fmt.Errorf("built-in model %s is not exported yet (looked in %s): run `make models`, or set %s to the folder holding %s",
		b.Name, strings.Join(searched, ", "), EnvModelsDir, b.File)
}

func parseInputs(texts []string) ([]InputSpec, error) {
	specs := make([]InputSpec, 0, len(texts))
	for _, t := range texts {
		s, err := ParseInput(t)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	return specs, nil
}

// LooksLikePath reports whether a --model value names a file rather than a built-in.
func LooksLikePath(s string) bool { return looksLikePath(s) }

func looksLikePath(s string) bool {
	return strings.ContainsAny(s, `/\`) || strings.HasSuffix(s, ".pt") || strings.HasSuffix(s, ".pt2") || strings.HasSuffix(s, ".pth") ||
		strings.HasSuffix(s, ".ts") || strings.HasSuffix(s, ".torchscript")
}

func checkFile(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("model file %s does not exist: check the path (built-ins are %s)", path, strings.Join(BuiltinNames(), ", "))
	case err != nil:
		return fmt.Errorf("model file %s: %w", path, err)
	case fi.IsDir():
		return fmt.Errorf("model file %s is a folder: give the .pt file inside it", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("model file %s is not a regular file (a device, FIFO or socket): give a TorchScript .pt file", path)
	case fi.Size() == 0:
		return fmt.Errorf("model file %s is empty: re-export it with torch.jit.save", path)
	}
	if f, err := os.Open(path); err == nil {
		head := make([]byte, len(LFSPointerPrefix))
		n, _ := io.ReadFull(f, head)
		f.Close()
		if IsLFSPointer(head[:n]) {
			return fmt.Errorf("model file %s %s", path, LFSPointerAdvice)
		}
	}
	return nil
}

// LFSPointerPrefix starts every Git LFS pointer file (https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md).
const LFSPointerPrefix = "version https://git-lfs.github.com/spec/v1"

// LFSPointerAdvice follows a model file's name when the file is a Git LFS pointer.
const LFSPointerAdvice = "is a Git LFS pointer, not the model: run `git lfs pull` (in a workflow, add `lfs: true` to actions/checkout)"

// IsLFSPointer reports whether b (a file's first bytes) is a Git LFS pointer.
func IsLFSPointer(b []byte) bool { return strings.HasPrefix(string(b), LFSPointerPrefix) }

// ErrNotRegular is wrapped by the errors of OpenRegular for what is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// OpenRegular opens path for reading only when it is a regular file of at most max bytes
// (max <= 0: any size). It never blocks: a FIFO is opened non-blocking and refused; a final
// symbolic link is not followed (nofollow); a folder, device or socket is refused. The
// error is one line naming what (e.g. "model file models/net.pt").
func OpenRegular(path, what string, nofollow bool, max int64) (*os.File, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if nofollow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link: refusing to follow it: %w", what, ErrNotRegular)
		}
		if errors.Is(err, syscall.ENXIO) { // a socket, or a FIFO opened for writing
			return nil, fmt.Errorf("%s is not a regular file (a FIFO, device or socket): refusing to read it: %w", what, ErrNotRegular)
		}
		return nil, err
	}
	fi, err := f.Stat()
	switch {
	case err != nil:
		f.Close()
		return nil, fmt.Errorf("%s: %w", what, err)
	case fi.IsDir():
		f.Close()
		return nil, fmt.Errorf("%s is a folder, not a file: %w", what, ErrNotRegular)
	case !fi.Mode().IsRegular():
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (a FIFO, device or socket): refusing to read it: %w", what, ErrNotRegular)
	case max > 0 && fi.Size() > max:
		f.Close()
		return nil, fmt.Errorf("%s is %d MiB, more than the %d MiB perflab reads: refusing it", what, fi.Size()>>20, max>>20)
	}
	return f, nil
}

// MaxFileBytes caps the model files perflab hashes and copies (4 GiB).
const MaxFileBytes int64 = 4 << 30

// SHA256 returns the hex sha256 of a file: a regular file only (a FIFO is refused, never
// waited on).
func SHA256(path string) (string, error) {
	f, err := OpenRegular(path, "model file "+path, false, MaxFileBytes)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// HasImageInput reports whether some input looks like a batch of images, [B,C,H,W] float.
func (m *Model) HasImageInput() bool {
	for _, s := range m.Inputs {
		if s.IsFloat() && len(s.Dims) == 4 {
			return true
		}
	}
	return false
}
