// Package env describes the machine a measurement ran on: CPU, the CPUs the process may
// use (affinity and cgroup quota), libtorch and the BLAS library actually loaded, and a
// fingerprint of what makes two measurements comparable.
package env

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/procknob"
	"github.com/perflab/perflab/internal/record"
)

// Version is perflab's version, set at build time with -ldflags "-X ...env.Version=...".
var Version = "dev"

// Libtorch holds what only the torch binding knows; env takes it as plain data so that it
// needs no cgo.
type Libtorch struct {
	Version    string
	BLASConfig string
	Parallel   string
	OneDNNISA  string // the ISA oneDNN's kernels use (torch.OneDNNISA)
	OneDNN     string // the oneDNN version loaded ("" = none)
	TEFuser    bool   // TorchScript's TensorExpr fuser is on
	CXX11ABI   int    // _GLIBCXX_USE_CXX11_ABI of the build (-1 = unknown)
}

// Collect describes this machine and process.
func Collect(lt Libtorch) *record.Env {
	e := &record.Env{
		CPUModel:       cpuModel(),
		LogicalCPUs:    onlineCPUs(),
		CgroupCPUQuota: cgroupQuotaText(),
		CPUsAvailable:  CPUsAvailable(),
		CPUISA:         CPUISA(),
		OneDNNISA:      lt.OneDNNISA,
		Torch:          lt.Version,
		OneDNN:         lt.OneDNN,
		TEFuser:        onOff(lt.TEFuser),
		BLAS:           loadedBLAS(),
		BLASConfig:     lt.BLASConfig,
		Parallel:       firstLines(lt.Parallel),
		OS:             runtime.GOOS + "/" + runtime.GOARCH,
		Kernel:         kernel(),
		Perflab:        Version,
		Go:             runtime.Version(),
	}
	if lt.CXX11ABI == 0 || lt.CXX11ABI == 1 {
		e.CXX11ABI = strconv.Itoa(lt.CXX11ABI)
	}
	pk := procknob.Current()
	e.Allocator, e.OMP, e.ProcessCPUs = pk.Allocator, strings.Join(pk.OMP, " "), procknob.FormatCPUs(pk.CPUs)
	e.Hostname, _ = os.Hostname()
	e.Fingerprint = Fingerprint(e)
	return e
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// Runtime names the libtorch e was measured on with the build facts that change speed,
// e.g. "libtorch 2.6.0 (oneDNN 3.7.2, TE fuser off, CXX11 ABI 1)"; facts a record does not
// carry (older records) are left out; "" when not even the version is known.
func Runtime(e *record.Env) string {
	if e == nil || e.Torch == "" {
		return ""
	}
	var facts []string
	if e.OneDNN != "" {
		facts = append(facts, "oneDNN "+e.OneDNN)
	}
	if e.TEFuser != "" {
		facts = append(facts, "TE fuser "+e.TEFuser)
	}
	if e.CXX11ABI != "" {
		facts = append(facts, "CXX11 ABI "+e.CXX11ABI)
	}
	s := "libtorch " + e.Torch
	if len(facts) > 0 {
		s += " (" + strings.Join(facts, ", ") + ")"
	}
	return s
}

// RuntimeChange says how the runtime of now differs from that of was, as
// "runtime changed from libtorch 1.13.0 to libtorch 2.6.0" (naming only what differs:
// "runtime changed from libtorch 2.6.0 (TE fuser on) to libtorch 2.6.0 (TE fuser off)"), or
// "" when they are the same. A fact either side does not carry is not compared: an older
// record is taken to match in what it does not say.
func RuntimeChange(was, now *record.Env) string {
	if was == nil || now == nil || was.Torch == "" || now.Torch == "" {
		return ""
	}
	a, b := &record.Env{Torch: was.Torch}, &record.Env{Torch: now.Torch}
	differ := was.Torch != now.Torch
	for _, f := range []struct {
		x, y   string
		dx, dy *string
	}{
		{was.OneDNN, now.OneDNN, &a.OneDNN, &b.OneDNN},
		{was.TEFuser, now.TEFuser, &a.TEFuser, &b.TEFuser},
		{was.CXX11ABI, now.CXX11ABI, &a.CXX11ABI, &b.CXX11ABI},
	} {
		if f.x != "" && f.y != "" && f.x != f.y {
			*f.dx, *f.dy, differ = f.x, f.y, true
		}
	}
	if !differ {
		return ""
	}
	return "runtime changed from " + Runtime(a) + " to " + Runtime(b)
}

// Fingerprint hashes the fields that decide whether two measurements are comparable:
// CPU model, CPUs available, libtorch version, the BLAS loaded, and the CPU's vector ISA
// with the one oneDNN used (an AVX2 runner and an AVX-512 runner of the same CPU model
// name run different kernels), and the CPU serving settings inherited from the environment
// rather than asked for (the knobs asked for are in the configuration's key). Records
// without these fields keep their old hash.
func Fingerprint(e *record.Env) string {
	s := fmt.Sprintf("%s|%g|%s|%s", e.CPUModel, e.CPUsAvailable, e.Torch, e.BLAS)
	if e.CPUISA != "" || e.OneDNNISA != "" {
		s += "|" + e.CPUISA + "|" + e.OneDNNISA
	}
	if e.InheritedKnobs != "" {
		s += "|" + e.InheritedKnobs
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:6])
}

// oneDNNISANeeds lists, for each ISA cap, a CPU flag it needs beyond the cap below it.
var oneDNNISANeeds = map[string]string{
	"sse41": "sse4_2", "avx": "avx", "avx2": "avx2", "avx2_vnni": "avx_vnni", "avx512_core": "avx512f",
	"avx512_core_vnni": "avx512_vnni", "avx512_core_bf16": "avx512_bf16", "avx512_core_amx": "amx_tile",
}

// OneDNNISAIsDefault reports whether capping oneDNN at isa leaves this CPU the kernels it
// runs without a cap: no higher ISA's flag is present (cpuISA as CPUISA returns it).
func OneDNNISAIsDefault(isa, cpuISA string) bool {
	have := map[string]bool{}
	for _, f := range strings.Fields(cpuISA) {
		have[f] = true
	}
	i := slices.Index(knobs.OneDNNISAs, isa)
	if i < 0 {
		return false
	}
	for _, higher := range knobs.OneDNNISAs[i+1:] {
		if higher == "avx2_vnni" && isa != "avx2" {
			continue // avx2_vnni sits beside the AVX-512 line, above avx2 only
		}
		if have[oneDNNISANeeds[higher]] {
			return false
		}
	}
	return true
}

// isaFlags are the /proc/cpuinfo flags that decide which kernels oneDNN and OpenBLAS run.
var isaFlags = map[string]bool{
	"sse4_2": true, "avx": true, "avx2": true, "fma": true, "f16c": true,
	"avx512f": true, "avx512bw": true, "avx512vl": true, "avx512dq": true, "avx512_vnni": true,
	"avx512_bf16": true, "avx512_fp16": true, "avx_vnni": true, "amx_tile": true, "amx_bf16": true, "amx_int8": true,
	"asimd": true, "sve": true, "sve2": true, // arm64
}

// CPUISA lists the CPU's vector ISA flags that matter for kernels, sorted, e.g.
// "avx avx2 avx512_bf16 avx512_vnni avx512bw avx512dq avx512f avx512vl f16c fma sse4_2".
func CPUISA() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if k = strings.TrimSpace(k); !ok || (k != "flags" && k != "Features") {
			continue
		}
		var have []string
		for _, fl := range strings.Fields(v) {
			if isaFlags[fl] {
				have = append(have, fl)
			}
		}
		slices.Sort(have)
		return strings.Join(have, " ")
	}
	return ""
}

// CPUsAvailable is the number of CPUs this process can keep busy: the CPUs in its affinity
// mask, lowered to the cgroup CPU quota when one is set (quota/period, may be fractional).
//
// In a process re-executed with --pin (procknob), it is the count from before pinning, so
// that pinning, a knob of the configuration, does not change the machine's fingerprint.
func CPUsAvailable() float64 {
	n := float64(affinityCPUs())
	if v, err := strconv.Atoi(os.Getenv(procknob.CPUsBeforePin)); err == nil && v > 0 {
		n = float64(v)
	}
	if q, ok := cgroupQuota(); ok && q < n {
		return q
	}
	return n
}

// DefaultThreads is the intra-op thread count used when none is given: the CPUs available,
// rounded up, at least 1.
func DefaultThreads() int {
	return max(1, int(math.Ceil(CPUsAvailable())))
}

func affinityCPUs() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() > 0 {
		return set.Count()
	}
	return runtime.NumCPU()
}

func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n := 0
	for _, part := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		if !found {
			if err1 == nil {
				n++
			}
			continue
		}
		b, err2 := strconv.Atoi(hi)
		if err1 == nil && err2 == nil && b >= a {
			n += b - a + 1
		}
	}
	if n == 0 {
		return runtime.NumCPU()
	}
	return n
}

// cgroupQuota reads the cgroup v2 (cpu.max) or v1 (cfs_quota/period) CPU limit.
func cgroupQuota() (float64, bool) {
	if b, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
		f := strings.Fields(string(b))
		if len(f) == 2 && f[0] != "max" {
			q, err1 := strconv.ParseFloat(f[0], 64)
			p, err2 := strconv.ParseFloat(f[1], 64)
			if err1 == nil && err2 == nil && p > 0 {
				return q / p, true
			}
		}
		return 0, false
	}
	qb, err1 := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
	pb, err2 := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
	if err1 != nil || err2 != nil {
		return 0, false
	}
	q, err1 := strconv.ParseFloat(strings.TrimSpace(string(qb)), 64)
	p, err2 := strconv.ParseFloat(strings.TrimSpace(string(pb)), 64)
	if err1 != nil || err2 != nil || q <= 0 || p <= 0 {
		return 0, false
	}
	return q / p, true
}

func cgroupQuotaText() string {
	if q, ok := cgroupQuota(); ok {
		return strconv.FormatFloat(q, 'g', 4, 64) + " CPUs"
	}
	return "none"
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func kernel() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// loadedBLAS names the BLAS/LAPACK libraries mapped into this process (after following
// Debian's alternatives symlinks), e.g. "openblas-pthread/libblas.so.3".
func loadedBLAS() string {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return "unknown"
	}
	seen := map[string]bool{}
	var libs []string
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.IndexByte(line, '/')
		if i < 0 {
			continue
		}
		path := line[i:]
		base := filepath.Base(path)
		if !strings.Contains(base, "blas") && !strings.Contains(base, "mkl") {
			continue
		}
		if real, err := filepath.EvalSymlinks(path); err == nil {
			path = real
		}
		name := filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
		if !seen[name] {
			seen[name] = true
			libs = append(libs, name)
		}
	}
	if len(libs) == 0 {
		return "none loaded"
	}
	return strings.Join(libs, ", ")
}

func firstLines(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "ATen/Parallel") || l == "" || strings.HasPrefix(l, "Intel(R)") ||
			strings.HasPrefix(l, "MKL") || strings.HasPrefix(l, "Environment") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "; ")
}

// CPUTimes is a snapshot of the machine's busy CPU time and this process's own, for
// measuring how much of the machine other processes used meanwhile (OtherCPUs).
type CPUTimes struct {
	At         time.Time
	Busy, Self float64 // CPU-seconds: all CPUs busy (incl. steal), and this process (all threads)
	OK         bool
}

// userHZ is the kernel's clock tick for /proc times (USER_HZ, 100 on Linux).
const userHZ = 100

// SampleCPU reads /proc/stat and /proc/self/stat.
func SampleCPU() CPUTimes {
	t := CPUTimes{At: time.Now()}
	stat, err1 := os.ReadFile("/proc/stat")
	self, err2 := os.ReadFile("/proc/self/stat")
	if err1 != nil || err2 != nil {
		return t
	}
	line, _, _ := strings.Cut(string(stat), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return t
	}
	for _, i := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return t
		}
		t.Busy += v / userHZ
	}
	s := string(self)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	g := strings.Fields(s) // g[0] is field 3 (state): utime is field 14, stime 15
	if len(g) < 13 {
		return t
	}
	ut, err1 := strconv.ParseFloat(g[11], 64)
	st, err2 := strconv.ParseFloat(g[12], 64)
	if err1 != nil || err2 != nil {
		return t
	}
	t.Self, t.OK = (ut+st)/userHZ, true
	return t
}

// OtherCPUs is the mean number of CPUs that other processes (and the hypervisor, as
// steal) kept busy between two snapshots; false when it cannot be told (no /proc, or
// under a second of wall time: the clock tick is 10 ms).
func OtherCPUs(a, b CPUTimes) (float64, bool) {
	wall := b.At.Sub(a.At).Seconds()
	if !a.OK || !b.OK || wall < 1 {
		return 0, false
	}
	other := ((b.Busy - a.Busy) - (b.Self - a.Self)) / wall
	return math.Round(max(0, other)*100) / 100, true
}

// oneDNNISAFlags are the /proc/cpuinfo flags each oneDNN ISA cap (knobs.OneDNNISAs) needs:
// on a CPU without them oneDNN silently runs a lower ISA, and the record would be labelled
// with one that never ran.
var oneDNNISAFlags = map[string][]string{
	"sse41": {"sse4_1"}, "avx": {"avx"}, "avx2": {"avx2"}, "avx2_vnni": {"avx2", "avx_vnni"},
	"avx512_core":      {"avx512f", "avx512bw", "avx512vl", "avx512dq"},
	"avx512_core_vnni": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"},
	"avx512_core_bf16": {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"},
	"avx512_core_amx":  {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"},
}

// MissingISAFlags returns the flags that the oneDNN ISA cap isa needs and that the CPU's
// flags (a /proc/cpuinfo "flags" line's fields) lack; nil when it has them all, or when
// the ISA or the flags are unknown (not x86, no /proc/cpuinfo: nothing is claimed).
func MissingISAFlags(isa string, flags []string) []string {
	needs, ok := oneDNNISAFlags[isa]
	if !ok || len(flags) == 0 {
		return nil
	}
	have := map[string]bool{}
	for _, f := range flags {
		have[f] = true
	}
	var missing []string
	for _, n := range needs {
		if !have[n] {
			missing = append(missing, n)
		}
	}
	return missing
}

// CPUFlags returns the first "flags" line of /proc/cpuinfo, split (nil when unknown).
func CPUFlags() []string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "flags" {
			return strings.Fields(v)
		}
	}
	return nil
}
