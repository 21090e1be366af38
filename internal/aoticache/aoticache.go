// Package aoticache compiles torch.export programs into AOTInductor packages, once: a
// package is cached under a key made of everything it depends on (the program's sha256,
// the libtorch version perflab runs on, the CPU's vector ISA and the compile options), so
// a second run of the same program reuses it and a change of any of them compiles again.
//
// The compile is done by the python3 whose torch matches the linked libtorch (a package
// loads only in the libtorch that compiled it), running a small script embedded in perflab
// (compile.py) with torch._inductor.aoti_compile_and_package. The package goes into the
// cache with its spec (<package>.json: inputs, batch range, vector ISA, compile time, as
// internal/model reads it) and the key's text (key.txt).
//
// The cache folder is $PERFLAB_AOTI_CACHE, else <user cache dir>/perflab/aoti (e.g.
// ~/.cache/perflab/aoti). Entries are written to a temporary folder and renamed into place;
// concurrent compiles of one key (a sweep's workers) wait on a lock file and reuse the
// first one's result.
package aoticache

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/perflab/perflab/internal/model"
)

//go:embed compile.py
var compileScript []byte

// EnvDir names the environment variable that overrides the cache folder.
const EnvDir = "PERFLAB_AOTI_CACHE"

// EnvPython names the environment variable naming the python3 that compiles (default
// python3 on PATH).
const EnvPython = "PERFLAB_PYTHON"

// Dir returns the cache folder: $PERFLAB_AOTI_CACHE (a relative path is taken from the
// working folder, e.g. .perflab-aoti in the Action's workspace), else <user cache
// dir>/perflab/aoti.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return filepath.Abs(d)
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for compiled packages (%v): set %s", err, EnvDir)
	}
	return filepath.Join(base, "perflab", "aoti"), nil
}

// Key is what a compiled package depends on. Every field is part of the key: a package is
// never reused across a change of any of them.
type Key struct {
	ProgramSHA256 string            // the torch.export program file's sha256
	Libtorch      string            // the libtorch version perflab runs on (torch.Version())
	ISA           string            // the CPU's vector ISA flags (env.CPUISA()), which Inductor compiles for
	Options       map[string]string // compile options (e.g. the compile script's version)
}

// NewKey is the key of compiling program for libtorch version libtorch on a CPU with the
// vector ISA flags isa, with DefaultOptions.
func NewKey(program, libtorch, isa string) (Key, error) {
	sum, err := model.SHA256(program)
	if err != nil {
		return Key{}, err
	}
	return Key{ProgramSHA256: sum, Libtorch: libtorch, ISA: isa, Options: DefaultOptions()}, nil
}

// Text is the key's canonical text, one "name value" line per component (options sorted):
// what key.txt holds and what ID hashes.
func (k Key) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "program_sha256 %s\nlibtorch %s\nisa %s\n", k.ProgramSHA256, k.Libtorch, k.ISA)
	names := make([]string, 0, len(k.Options))
	for n := range k.Options {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "option %s=%s\n", n, k.Options[n])
	}
	return b.String()
}

// ID is the key's folder name in the cache: 32 hex digits of the sha256 of Text.
func (k Key) ID() string {
	sum := sha256.Sum256([]byte(k.Text()))
	return hex.EncodeToString(sum[:16])
}

// ScriptVersion identifies the embedded compile script (a change compiles again).
func ScriptVersion() string {
	sum := sha256.Sum256(compileScript)
	return hex.EncodeToString(sum[:6])
}

// DefaultOptions are the options of a compile perflab runs: the script's version.
func DefaultOptions() map[string]string {
	return map[string]string{"script": ScriptVersion()}
}

// Result is a compiled package: where it is, and whether the cache had it.
type Result struct {
	Package *model.Package // Cache is "hit" or "miss"
	Dir     string         // the entry's folder
}

// packageName is the package's file name inside an entry.
const packageName = "model" + model.PackageExt

// Lookup returns the cached package for key in dir, or nil when there is none.
func Lookup(dir string, key Key) (*Result, error) {
	entry := filepath.Join(dir, key.ID())
	text, err := os.ReadFile(filepath.Join(entry, "key.txt"))
	if err != nil || string(text) != key.Text() {
		return nil, nil
	}
	pkg, err := model.PackageAt(filepath.Join(entry, packageName))
	if err != nil {
		return nil, fmt.Errorf("compiled package cache %s: %v", entry, err)
	}
	if pkg.Spec == nil {
		return nil, nil
	}
	if _, err := os.Stat(pkg.Path); err != nil {
		return nil, nil
	}
	pkg.Cache = "hit"
	return &Result{Package: pkg, Dir: entry}, nil
}

// Ensure returns the package compiled from program for key: the cached one, or one it
// compiles now (with the python3 of $PERFLAB_PYTHON, else python3) and caches. Errors are
// one line.
func Ensure(ctx context.Context, dir, program string, key Key) (*Result, error) {
	if r, err := Lookup(dir, key); r != nil || err != nil {
		return r, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("compiled package cache %s: %v (set %s to a writable folder)", dir, firstLine(err.Error()), EnvDir)
	}
	unlock, err := lock(filepath.Join(dir, key.ID()+".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another process may have compiled it while this one waited.
	if r, err := Lookup(dir, key); r != nil || err != nil {
		return r, err
	}
	stage, err := os.MkdirTemp(dir, ".compile-")
	if err != nil {
		return nil, fmt.Errorf("compiled package cache %s: %v", dir, firstLine(err.Error()))
	}
	defer os.RemoveAll(stage)
	if err := compile(ctx, program, stage, key.Libtorch); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(stage, "key.txt"), []byte(key.Text()), 0o644); err != nil {
		return nil, fmt.Errorf("compiled package cache %s: %v", dir, firstLine(err.Error()))
	}
	os.RemoveAll(filepath.Join(stage, "inductor")) // Inductor's own build folder
	entry := filepath.Join(dir, key.ID())
	os.RemoveAll(entry) // a stale or partial entry (key.txt missing or different)
	if err := os.Rename(stage, entry); err != nil {
		return nil, fmt.Errorf("compiled package cache %s: %v", dir, firstLine(err.Error()))
	}
	os.Chmod(entry, 0o755)
	r, err := Lookup(dir, key)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("compiled package cache %s: the compile wrote no package", entry)
	}
	r.Package.Cache = "miss"
	return r, nil
}

// Python returns the python3 that compiles: $PERFLAB_PYTHON, else python3 on PATH.
func Python() string {
	if p := os.Getenv(EnvPython); p != "" {
		return p
	}
	return "python3"
}

// compile runs the embedded script: program -> stage/model.pt2 and its spec.
func compile(ctx context.Context, program, stage, libtorch string) error {
	py := Python()
	if _, err := exec.LookPath(py); err != nil {
		return fmt.Errorf("compiling %s with AOTInductor needs python3 with torch %s (python3-torch, python3-setuptools, g++, libtorch-dev): %s not found (set %s)", filepath.Base(program), libtorch, py, EnvPython)
	}
	pkg := filepath.Join(stage, packageName)
	cmd := exec.CommandContext(ctx, py, "-", program, pkg, pkg+".json", libtorch)
	cmd.Stdin = bytes.NewReader(compileScript)
	cmd.Env = append(os.Environ(),
		"TORCHINDUCTOR_CACHE_DIR="+filepath.Join(stage, "inductor"), // no leftovers in /tmp/torchinductor_<user>
		"PYTHONDONTWRITEBYTECODE=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	start := time.Now()
	err := cmd.Run()
	if err == nil {
		return nil
	}
	why := lastLine(stderr.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) && (ee.ExitCode() == 3 || ee.ExitCode() == 4) && why != "" {
		return fmt.Errorf("compiling %s with AOTInductor: %s", filepath.Base(program), why)
	}
	if why == "" {
		why = err.Error()
	}
	return fmt.Errorf("compiling %s with AOTInductor failed after %.0f s: %s", filepath.Base(program), time.Since(start).Seconds(), why)
}

// lock takes an exclusive flock on path (waiting for another compile of the same key).
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("compiled package cache: %v", firstLine(err.Error()))
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("compiled package cache: lock %s: %v", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// lastLine is the last non-empty line of a child's output (Python's exception line).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}
