package torch

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// AOTInductor packages (.pt2 written by torch._inductor.aoti_compile_and_package) run on
// libtorch 2.6 or later through torch::inductor::AOTIModelPackageLoader; LoadAOTI returns
// them as a *Module that Forward, TimedForward and TimedForwardPair run like a TorchScript
// module (Schema, Clone, ToChannelsLast and Optimize refuse one).
//
// The package checks nothing about its inputs (a batch outside its range is accepted, a
// wrong spatial size crashes the process): callers check shapes and dtypes before the first
// forward (perflab: internal/model's package spec).
//
// The loader unpacks the package into a hard-coded /tmp/XXXXXX (TMPDIR is ignored) and
// loads a shared library from there: a noexec, read-only or full /tmp fails the load, and a
// failed load leaves the folder behind. LoadAOTI makes those one-line ErrTempDir errors and
// removes the folders a failed load left.

// AOTISupported reports whether this binding can run AOTInductor packages (libtorch >= 2.6).
func AOTISupported() bool { return C.pl_aoti_supported() != 0 }

// aotiTempRoot is where the loader unpacks packages (hard-coded in libtorch 2.6).
const aotiTempRoot = "/tmp"

// LoadAOTI loads an AOTInductor package. On libtorch before 2.6 it fails with
// ErrUnsupported; a truncated or foreign file is ErrNotArchive; a /tmp the loader cannot
// use is ErrTempDir.
func LoadAOTI(path string) (*Module, error) {
	op := "load " + path
	if !AOTISupported() {
		return nil, &Error{Kind: ErrUnsupported, Op: op, Msg: "AOTInductor packages need libtorch 2.6 or later (this is " + Version() + ")"}
	}
	if _, err := os.Stat(path); err != nil {
		return nil, &Error{Op: op, Msg: err.Error()}
	}
	before := tempDirs()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var p *C.pl_module
	if err := check(op, C.pl_aoti_load(cpath, &p)); err != nil {
		removeLeftovers(before)
		te := err.(*Error)
		te.Kind, te.Msg = classifyAOTI(te.Msg)
		if te.Kind == ErrOther {
			// A full /tmp shows as whatever file the loader could not read back (e.g. a JSON
			// parse error of an empty metadata file): say so when /tmp cannot hold the package.
			if free, ok := tempFree(); ok {
				if fi, err := os.Stat(path); err == nil && free < 2*uint64(fi.Size()) {
					te.Kind = ErrTempDir
					te.Msg = fmt.Sprintf("the AOTInductor loader cannot unpack into /tmp (full? %.1f MiB free, the package is %.1f MiB): %s",
						float64(free)/(1<<20), float64(fi.Size())/(1<<20), te.Msg)
				}
			}
		}
		return nil, te
	}
	return newModule(p), nil
}

// Version is the libtorch version this binding was built against, e.g. "2.6.0".
func Version() string { return C.GoString(C.pl_torch_version()) }

// AOTIMetadata returns an AOTInductor package's metadata (e.g. AOTI_DEVICE_KEY).
func (m *Module) AOTIMetadata() (map[string]string, error) {
	p, err := m.ptr()
	if err != nil {
		return nil, err
	}
	var out *C.char
	if err := check("metadata", C.pl_aoti_metadata(p, &out)); err != nil {
		return nil, err
	}
	md := map[string]string{}
	for _, e := range strings.Split(takeString(out), "\x1e") {
		if k, v, ok := strings.Cut(e, "\x1f"); ok {
			md[k] = v
		}
	}
	return md, nil
}

// classifyAOTI turns the loader's message into a kind and one line that says what to do.
func classifyAOTI(msg string) (ErrorKind, string) {
	first := firstLine(msg)
	low := strings.ToLower(first)
	switch {
	case strings.Contains(low, "failed to map segment"), strings.Contains(low, "operation not permitted") && strings.Contains(low, ".so"):
		return ErrTempDir, "the AOTInductor loader unpacks into /tmp and cannot load a library from it (is /tmp mounted noexec?): " + first
	case strings.Contains(low, "temporary directory"), strings.Contains(low, "read-only file system"):
		return ErrTempDir, "the AOTInductor loader cannot unpack into /tmp (read-only?): " + first
	case strings.Contains(low, "no space left"), strings.Contains(low, "failed to write"):
		return ErrTempDir, "the AOTInductor loader cannot unpack into /tmp (full?): " + first
	case strings.Contains(low, "zip archive"), strings.Contains(low, "central directory"), strings.Contains(low, "pytorchstreamreader"),
		strings.Contains(low, "failed to read zip"), strings.Contains(low, "zip"):
		return ErrNotArchive, "not an AOTInductor package (.pt2 zip archive), or truncated: " + first
	}
	return ErrOther, first
}

// tempFree returns the bytes available in /tmp.
func tempFree() (uint64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(aotiTempRoot, &st); err != nil {
		return 0, false
	}
	return st.Bavail * uint64(st.Bsize), true
}

// tempDirs lists the loader's candidate folders in /tmp: six-character names.
func tempDirs() map[string]bool {
	out := map[string]bool{}
	ents, err := os.ReadDir(aotiTempRoot)
	if err != nil {
		return out
	}
	for _, e := range ents {
		if e.IsDir() && len(e.Name()) == 6 {
			out[e.Name()] = true
		}
	}
	return out
}

// removeLeftovers removes the folders a failed load left in /tmp: six-character folders
// that were not there before, hold an unpacked package (data/aotinductor) or nothing, and
// are not another process's (InUseElsewhere: another perflab, or any libtorch program,
// loading a package at the same time unpacks into /tmp too).
func removeLeftovers(before map[string]bool) {
	for name := range tempDirs() {
		if before[name] {
			continue
		}
		dir := filepath.Join(aotiTempRoot, name)
		if InUseElsewhere(dir) {
			continue
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "aotinductor")); err == nil || len(ents) == 0 {
			os.RemoveAll(dir)
		}
	}
}

// InUseElsewhere says whether another process maps a file under dir (a loaded package's
// shared library) or holds one open (a loader still unpacking there), as far as /proc shows
// this process (another user's processes are not readable without root: then false).
func InUseElsewhere(dir string) bool {
	prefix := filepath.Clean(dir) + "/"
	self := strconv.Itoa(os.Getpid())
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if filepath.Base(p) == self {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(p, "maps")); err == nil && strings.Contains(string(b), prefix) {
			return true
		}
		fds, _ := os.ReadDir(filepath.Join(p, "fd"))
		for _, fd := range fds {
			if t, err := os.Readlink(filepath.Join(p, "fd", fd.Name())); err == nil && strings.HasPrefix(t, prefix) {
				return true
			}
		}
	}
	return false
}
