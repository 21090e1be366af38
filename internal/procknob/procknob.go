// Package procknob holds the per-process CPU serving knobs that the CPU tuning guides of
// the Intel PyTorch launcher, OpenVINO and ONNX Runtime sweep, and that must be in place
// before libtorch initialises: the memory allocator (LD_PRELOAD of jemalloc or tcmalloc),
// OpenMP's wait policy (OMP_WAIT_POLICY, GOMP_SPINCOUNT) and thread pinning
// (OMP_PROC_BIND / OMP_PLACES, and the process's CPU affinity).
//
// The dynamic loader reads LD_PRELOAD, and libgomp reads its variables, when the process
// starts, before Go's main runs: Apply therefore re-executes the process once with them
// set, and Effective reads back what the process actually has (/proc/self/maps for the
// allocator, the environment for OpenMP, the affinity mask for pinning).
package procknob

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Knobs are the settings asked for; "" leaves each one to the environment.
type Knobs struct {
	Allocator string // Allocators; "" = whatever the environment loads (glibc unless LD_PRELOAD says otherwise)
	OMPWait   string // OMPWaits; "" = libgomp's default (spin ~300k iterations, then sleep)
	Pin       string // "none", "cores" or a CPU list such as "0-1" (ParsePin); "" = none
}

// Allocators are the values of --allocator.
var Allocators = []string{"glibc", "jemalloc", "tcmalloc"}

// OMPWaits are the values of --omp-wait.
var OMPWaits = []string{"active", "passive"}

// allocatorLibs are the Debian sonames of the preloadable allocators (packages
// libjemalloc2 and libtcmalloc-minimal4).
var allocatorLibs = map[string]string{"jemalloc": "libjemalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4"}

// allocatorPackages name the Debian package of each library, for error messages.
var allocatorPackages = map[string]string{"jemalloc": "libjemalloc2", "tcmalloc": "libtcmalloc-minimal4"}

// ReexecMarker is set in the environment of the re-executed process, so that it never
// re-executes twice.
const ReexecMarker = "PERFLAB_KNOBS_REEXEC"

// CPUsBeforePin carries, into a process re-executed with --pin, the number of CPUs the
// process could use before it was pinned (env.CPUsAvailable reads it), so that the
// environment fingerprint stays the machine's.
const CPUsBeforePin = "PERFLAB_CPUS_BEFORE_PIN"

// ompVars are the OpenMP variables the knobs set; Effective reports them.
var ompVars = []string{"OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_PROC_BIND", "OMP_PLACES"}

// Normalize returns the knobs as records and keys name them: the defaults spelled out
// ("glibc", "none") become "".
func (k Knobs) Normalize() Knobs {
	if k.Allocator == "glibc" {
		k.Allocator = ""
	}
	if k.Pin == "none" {
		k.Pin = ""
	}
	if p, err := ParsePin(k.Pin); err == nil {
		k.Pin = p.String()
	}
	return k
}

// Validate checks the values, that an allocator's library is installed and that pinned
// CPUs are available to the process. Its errors name the flag and the fix.
func (k Knobs) Validate() error {
	if k.Allocator != "" && !slices.Contains(Allocators, k.Allocator) {
		return fmt.Errorf("--allocator: unknown allocator %q: use one of %s", k.Allocator, strings.Join(Allocators, ", "))
	}
	if lib := allocatorLibs[k.Allocator]; lib != "" {
		if _, err := LibraryPath(k.Allocator); err != nil {
			return err
		}
	}
	if k.OMPWait != "" && !slices.Contains(OMPWaits, k.OMPWait) {
		return fmt.Errorf("--omp-wait: unknown policy %q: use active or passive", k.OMPWait)
	}
	p, err := ParsePin(k.Pin)
	if err != nil {
		return err
	}
	// In the re-executed process libgomp has already bound this thread to the first place:
	// the parent checked the list against the CPUs it had.
	if len(p.CPUs) > 0 && os.Getenv(ReexecMarker) == "" {
		avail := availableCPUs()
		for _, c := range p.CPUs {
			if !slices.Contains(avail, c) {
				return fmt.Errorf("--pin %s: CPU %d is not available to this process (available: %s): pin to those", k.Pin, c, FormatCPUs(avail))
			}
		}
	}
	return nil
}

// LibraryPath finds the shared library of a preloadable allocator.
func LibraryPath(allocator string) (string, error) {
	lib := allocatorLibs[allocator]
	if lib == "" {
		return "", fmt.Errorf("--allocator %s: nothing to preload", allocator)
	}
	for _, dir := range libDirs() {
		p := filepath.Join(dir, lib)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("--allocator %s: %s is not installed (looked in %s): install the Debian package %s (`make setup` does)",
		allocator, lib, strings.Join(libDirs(), ", "), allocatorPackages[allocator])
}

func libDirs() []string {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	return []string{"/usr/lib/" + triplet, "/lib/" + triplet, "/usr/lib64", "/usr/lib"}
}

// Pin is a parsed --pin value.
type Pin struct {
	Cores bool  // one OpenMP thread per core (OMP_PROC_BIND=close, OMP_PLACES=cores)
	CPUs  []int // the process runs on these CPUs, one OpenMP thread on each in order
}

// ParsePin parses --pin: "" or "none" (no pinning), "cores", or a CPU list in the
// kernel's syntax ("0", "0-1", "0,2", "0-3,6").
func ParsePin(s string) (Pin, error) {
	switch s {
	case "", "none":
		return Pin{}, nil
	case "cores":
		return Pin{Cores: true}, nil
	}
	cpus, err := ParseCPUs(s)
	if err != nil {
		return Pin{}, fmt.Errorf("--pin %q: %v: use none, cores, or a CPU list such as 0, 0-1 or 0,2", s, err)
	}
	return Pin{CPUs: cpus}, nil
}

// String is the canonical text of p ("" for none).
func (p Pin) String() string {
	if p.Cores {
		return "cores"
	}
	return FormatCPUs(p.CPUs)
}

// ParseCPUs parses a CPU list ("0-2,5") into sorted, distinct CPU numbers.
func ParseCPUs(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q is not a CPU number", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a CPU range", part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// FormatCPUs writes CPU numbers as a list with ranges ("0-2,5").
func FormatCPUs(cpus []int) string {
	var parts []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", cpus[i], cpus[j]))
		} else {
			parts = append(parts, strconv.Itoa(cpus[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// availableCPUs lists the CPUs in the calling thread's affinity mask.
func availableCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for c := 0; c < 1024 && len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// Environ returns environ with the variables the knobs need set (and, for
// --allocator glibc, the preloaded allocators removed from LD_PRELOAD). Variables a knob
// does not ask for are left as they are.
func (k Knobs) Environ(environ []string) []string {
	vars := map[string]string{}
	var order []string
	for _, kv := range environ {
		name, v, _ := strings.Cut(kv, "=")
		if _, dup := vars[name]; !dup {
			order = append(order, name)
		}
		vars[name] = v
	}
	set := func(name, v string) {
		if _, ok := vars[name]; !ok {
			order = append(order, name)
		}
		vars[name] = v
	}
	if k.Allocator != "" {
		var keep []string
		for _, p := range strings.FieldsFunc(vars["LD_PRELOAD"], func(r rune) bool { return r == ':' || r == ' ' }) {
			if allocatorOf(p) == "" {
				keep = append(keep, p)
			}
		}
		if path, err := LibraryPath(k.Allocator); err == nil {
			keep = append([]string{path}, keep...)
		}
		if len(keep) > 0 || vars["LD_PRELOAD"] != "" {
			set("LD_PRELOAD", strings.Join(keep, ":"))
		}
	}
	switch k.OMPWait {
	case "active":
		set("OMP_WAIT_POLICY", "ACTIVE")
		set("GOMP_SPINCOUNT", "infinite")
	case "passive":
		set("OMP_WAIT_POLICY", "PASSIVE")
		set("GOMP_SPINCOUNT", "0")
	}
	p, _ := ParsePin(k.Pin)
	switch {
	case p.Cores:
		set("OMP_PROC_BIND", "close")
		set("OMP_PLACES", "cores")
	case len(p.CPUs) > 0:
		places := make([]string, len(p.CPUs))
		for i, c := range p.CPUs {
			places[i] = "{" + strconv.Itoa(c) + "}"
		}
		set("OMP_PROC_BIND", "close")
		set("OMP_PLACES", strings.Join(places, ","))
	}
	out := make([]string, 0, len(order))
	for _, name := range order {
		out = append(out, name+"="+vars[name])
	}
	return out
}

// allocatorOf names the allocator a library path is ("" for others).
func allocatorOf(path string) string {
	base := filepath.Base(path)
	switch {
	case strings.HasPrefix(base, "libjemalloc"):
		return "jemalloc"
	case strings.HasPrefix(base, "libtcmalloc"):
		return "tcmalloc"
	}
	return ""
}

// Effective is what this process actually has.
type Effective struct {
	Allocator string   // "glibc", "jemalloc" or "tcmalloc": the allocator mapped in the process
	OMP       []string // the OpenMP variables set in the environment ("OMP_WAIT_POLICY=PASSIVE", ...)
	OMPWait   string   // "active", "passive" or "" (libgomp's default), from OMP_WAIT_POLICY
	CPUs      []int    // the CPU affinity of the process's main thread (with pinning, libgomp binds it to the first place)
}

// Current reads what this process has.
func Current() Effective {
	e := Effective{Allocator: mappedAllocator(), OMPWait: strings.ToLower(os.Getenv("OMP_WAIT_POLICY")), CPUs: processCPUs()}
	for _, v := range ompVars {
		if s, ok := os.LookupEnv(v); ok {
			e.OMP = append(e.OMP, v+"="+s)
		}
	}
	if e.OMPWait != "active" && e.OMPWait != "passive" {
		e.OMPWait = ""
	}
	return e
}

// mappedAllocator finds a preloaded allocator among the files mapped into the process.
func mappedAllocator() string {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return "glibc"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 {
			if a := allocatorOf(fields[len(fields)-1]); a != "" {
				return a
			}
		}
	}
	return "glibc"
}

// processCPUs reads the process's (main thread's) allowed CPUs from /proc/self/status.
func processCPUs() []int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			cpus, _ := ParseCPUs(strings.TrimSpace(v))
			return cpus
		}
	}
	return nil
}

// Satisfied reports whether this process already has what k asks for, and if not, why.
func (k Knobs) Satisfied() (bool, string) {
	cur := Current()
	if k.Allocator != "" && cur.Allocator != k.Allocator {
		return false, fmt.Sprintf("--allocator %s: the process runs %s", k.Allocator, cur.Allocator)
	}
	env := k.Environ(nil)
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		if name == "LD_PRELOAD" {
			continue // the maps say what is loaded
		}
		if os.Getenv(name) != v {
			return false, fmt.Sprintf("%s is %q, not %q", name, os.Getenv(name), v)
		}
	}
	// Within the list (libgomp narrows the first thread to the first listed CPU).
	if p, _ := ParsePin(k.Pin); len(p.CPUs) > 0 && (len(cur.CPUs) == 0 || slices.ContainsFunc(cur.CPUs, func(c int) bool { return !slices.Contains(p.CPUs, c) })) {
		return false, fmt.Sprintf("--pin %s: the process runs on CPUs %s", p, FormatCPUs(cur.CPUs))
	}
	return true, ""
}

// ErrNotApplied is returned (wrapped) when a re-executed process still lacks the knobs.
var ErrNotApplied = errors.New("not applied")

// Apply makes sure the process runs with the knobs: if it does not, it re-executes the
// same binary with the same arguments once, with the environment (and, for a CPU list,
// the affinity) the knobs need; the new process then finds them in place. It returns only
// when nothing needs doing, or with an error. Call it before anything loads a model.
func Apply(k Knobs) error {
	if err := k.Validate(); err != nil {
		return err
	}
	ok, why := k.Satisfied()
	if ok {
		return nil
	}
	if os.Getenv(ReexecMarker) != "" {
		return fmt.Errorf("%s after re-executing with the knobs set: %w (is LD_PRELOAD blocked, e.g. a set-user-ID binary?)", why, ErrNotApplied)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot apply the CPU knobs (%s): cannot find this program to re-execute it: %v", why, err)
	}
	environ := append(k.Environ(os.Environ()), ReexecMarker+"=1")
	p, _ := ParsePin(k.Pin)
	runtime.LockOSThread() // the affinity below is the calling thread's, which execve keeps
	if len(p.CPUs) > 0 {
		if os.Getenv(CPUsBeforePin) == "" {
			environ = append(environ, CPUsBeforePin+"="+strconv.Itoa(len(availableCPUs())))
		}
		var set unix.CPUSet
		for _, c := range p.CPUs {
			set.Set(c)
		}
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			runtime.UnlockOSThread()
			return fmt.Errorf("--pin %s: cannot set the CPU affinity: %v", p, err)
		}
	} else if k.Pin == "cores" && os.Getenv(CPUsBeforePin) == "" {
		// libgomp binds the initial thread, and with it every thread Go starts, to the first place.
		environ = append(environ, CPUsBeforePin+"="+strconv.Itoa(len(availableCPUs())))
	}
	err = syscall.Exec(exe, os.Args, environ)
	runtime.UnlockOSThread()
	return fmt.Errorf("cannot apply the CPU knobs (%s): re-executing %s: %v", why, exe, err)
}

// Check returns an error when this process does not run with the knobs k asks for (a
// library caller that did not go through Apply): it names the knob and the fix.
func (k Knobs) Check() error {
	if err := k.Validate(); err != nil {
		return err
	}
	if ok, why := k.Satisfied(); !ok {
		return fmt.Errorf("%s: these knobs must be in place when the process starts: run through perflab bench or perflab load (they re-execute themselves), or set them in the environment", why)
	}
	return nil
}

// Inherited lists the settings this process runs with that k did not ask for: a
// preloaded allocator or OpenMP variables from the environment, e.g.
// "allocator=jemalloc OMP_WAIT_POLICY=PASSIVE"; "" when there are none. They change what
// is measured without being part of the configuration's key, so the environment
// fingerprint includes them.
func (k Knobs) Inherited() string {
	cur := Current()
	var parts []string
	if k.Allocator == "" && cur.Allocator != "glibc" {
		parts = append(parts, "allocator="+cur.Allocator)
	}
	for _, kv := range cur.OMP {
		name, _, _ := strings.Cut(kv, "=")
		wait := name == "OMP_WAIT_POLICY" || name == "GOMP_SPINCOUNT"
		if (wait && k.OMPWait == "") || (!wait && k.Normalize().Pin == "") {
			parts = append(parts, kv)
		}
	}
	return strings.Join(parts, " ")
}

// ErrPinInstances says why pinning and several model instances do not mix.
var ErrPinInstances = errors.New("--pin binds the thread that starts libgomp, and with it every thread perflab starts, to the first place: all instances would share one CPU; use --pin none with several --instances")

// Threads caps a default thread count at the number of CPUs pinned to, if any.
func (k Knobs) Threads(n int) int {
	if p, err := ParsePin(k.Pin); err == nil && len(p.CPUs) > 0 {
		return min(n, len(p.CPUs))
	}
	return n
}
