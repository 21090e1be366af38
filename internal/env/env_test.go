package env

import (
	"math"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

var hex12 = regexp.MustCompile(`^[0-9a-f]{12}$`)

// parallelInfo is what libtorch 1.13's at::get_parallel_info() prints.
const parallelInfo = `ATen/Parallel:
	at::get_num_threads() : 2
	at::get_num_interop_threads() : 1
OpenMP 201511 (a.k.a. OpenMP 4.5)
	omp_get_max_threads() : 2
Intel(R) Math Kernel Library Version 2020.0.0
MKL_THREADING_LAYER : INTEL
std::thread::hardware_concurrency() : 2
Environment variables:
	OMP_NUM_THREADS : [not set]
ATen parallel backend: OpenMP
`

func TestCollect(t *testing.T) {
	e := Collect(Libtorch{Version: "1.13.0", BLASConfig: "OpenBLAS 0.3.21 DYNAMIC_ARCH", Parallel: parallelInfo,
		OneDNN: "2.6.3", TEFuser: false, CXX11ABI: 1})
	if e.OneDNN != "2.6.3" || e.TEFuser != "off" || e.CXX11ABI != "1" {
		t.Errorf("OneDNN, TEFuser, CXX11ABI = %q, %q, %q: want the Libtorch values", e.OneDNN, e.TEFuser, e.CXX11ABI)
	}
	if u := Collect(Libtorch{Version: "1.13.0", CXX11ABI: -1}); u.CXX11ABI != "" {
		t.Errorf("CXX11ABI = %q for an unknown ABI, want empty", u.CXX11ABI)
	}

	if strings.TrimSpace(e.CPUModel) == "" || e.CPUModel != strings.TrimSpace(e.CPUModel) {
		t.Errorf("CPUModel = %q, want a trimmed non-empty name", e.CPUModel)
	}
	if e.LogicalCPUs < 1 {
		t.Errorf("LogicalCPUs = %d, want >= 1", e.LogicalCPUs)
	}
	if e.CPUsAvailable <= 0 || e.CPUsAvailable > float64(e.LogicalCPUs) {
		t.Errorf("CPUsAvailable = %g, want in (0, LogicalCPUs=%d]", e.CPUsAvailable, e.LogicalCPUs)
	}
	if e.CPUsAvailable != CPUsAvailable() {
		t.Errorf("Collect's CPUsAvailable %g != CPUsAvailable() %g", e.CPUsAvailable, CPUsAvailable())
	}
	// CPUsAvailable is at most the affinity mask (the quota may lower it).
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	if e.CPUsAvailable > float64(set.Count()) {
		t.Errorf("CPUsAvailable = %g exceeds the affinity mask's %d CPUs", e.CPUsAvailable, set.Count())
	}
	if e.CgroupCPUQuota != "none" && !strings.HasSuffix(e.CgroupCPUQuota, " CPUs") {
		t.Errorf("CgroupCPUQuota = %q, want \"none\" or \"N CPUs\"", e.CgroupCPUQuota)
	}
	if e.Torch != "1.13.0" || e.BLASConfig != "OpenBLAS 0.3.21 DYNAMIC_ARCH" {
		t.Errorf("Torch, BLASConfig = %q, %q: want the Libtorch values", e.Torch, e.BLASConfig)
	}
	// This test binary does not link libtorch: no BLAS is mapped, and it must say so.
	if e.BLAS == "" {
		t.Error("BLAS is empty, want the loaded libraries or \"none loaded\"")
	}
	if want := runtime.GOOS + "/" + runtime.GOARCH; e.OS != want {
		t.Errorf("OS = %q, want %q", e.OS, want)
	}
	if e.Go != runtime.Version() || e.Perflab != Version {
		t.Errorf("Go, Perflab = %q, %q; want %q, %q", e.Go, e.Perflab, runtime.Version(), Version)
	}
	if host, _ := os.Hostname(); e.Hostname != host {
		t.Errorf("Hostname = %q, want %q", e.Hostname, host)
	}
	if runtime.GOOS == "linux" && e.Kernel == "" {
		t.Error("Kernel is empty on linux")
	}
	if !hex12.MatchString(e.Fingerprint) {
		t.Errorf("Fingerprint = %q, want 12 lowercase hex characters", e.Fingerprint)
	}
	if e.Fingerprint != Fingerprint(e) {
		t.Errorf("Fingerprint %q is not Fingerprint(env) %q", e.Fingerprint, Fingerprint(e))
	}
	if again := Collect(Libtorch{Version: "1.13.0"}); again.Fingerprint != e.Fingerprint {
		t.Errorf("two Collects in one process disagree: %s vs %s", again.Fingerprint, e.Fingerprint)
	}

	// Parallel: one line, the header lines dropped, the settings kept.
	if strings.Contains(e.Parallel, "\n") {
		t.Errorf("Parallel has several lines: %q", e.Parallel)
	}
	for _, want := range []string{"at::get_num_threads() : 2", "at::get_num_interop_threads() : 1", "ATen parallel backend: OpenMP"} {
		if !strings.Contains(e.Parallel, want) {
			t.Errorf("Parallel %q does not contain %q", e.Parallel, want)
		}
	}
	for _, drop := range []string{"ATen/Parallel:", "Intel(R)", "MKL_THREADING", "Environment variables"} {
		if strings.Contains(e.Parallel, drop) {
			t.Errorf("Parallel %q still contains %q", e.Parallel, drop)
		}
	}
}

func TestCollectRoundTripsThroughRecord(t *testing.T) {
	e := Collect(Libtorch{Version: "1.13.0"})
	line, err := record.Marshal(&record.Record{Knobs: knobs.Knobs{Model: "m", BatchSize: 1}, Env: e})
	if err != nil {
		t.Fatal(err)
	}
	r, err := record.Parse(line)
	if err != nil {
		t.Fatal(err)
	}
	if *r.Env != *e {
		t.Errorf("env changed through JSON:\n got %+v\nwant %+v", *r.Env, *e)
	}
	if Fingerprint(r.Env) != e.Fingerprint {
		t.Error("the fingerprint of a decoded env differs")
	}
}

func TestFingerprint(t *testing.T) {
	base := record.Env{
		CPUModel: "AMD EPYC 7B13", LogicalCPUs: 4, CPUsAvailable: 2, Torch: "1.13.0",
		BLAS: "openblas-pthread/libblas.so.3", BLASConfig: "OpenBLAS 0.3.21", Parallel: "OpenMP",
		OS: "linux/amd64", Kernel: "6.1.0", Hostname: "a", Perflab: "dev", Go: "go1.26.8",
		CgroupCPUQuota: "none",
	}
	fp := Fingerprint(&base)
	if !hex12.MatchString(fp) {
		t.Fatalf("Fingerprint = %q, want 12 hex characters", fp)
	}
	tests := []struct {
		name    string
		edit    func(e *record.Env)
		changes bool
	}{
		{"CPUModel", func(e *record.Env) { e.CPUModel = "Intel Xeon" }, true},
		{"Torch", func(e *record.Env) { e.Torch = "2.2.0" }, true},
		{"BLAS", func(e *record.Env) { e.BLAS = "mkl/libmkl_rt.so" }, true},
		{"CPUsAvailable", func(e *record.Env) { e.CPUsAvailable = 1.5 }, true},
		{"CPUsAvailable tiny change", func(e *record.Env) { e.CPUsAvailable = 2.001 }, true},
		{"Hostname", func(e *record.Env) { e.Hostname = "b" }, false},
		{"Kernel", func(e *record.Env) { e.Kernel = "6.12.0" }, false},
		{"Perflab", func(e *record.Env) { e.Perflab = "v1.2.3" }, false},
		{"Go", func(e *record.Env) { e.Go = "go1.27" }, false},
		{"LogicalCPUs", func(e *record.Env) { e.LogicalCPUs = 64 }, false},
		{"Fingerprint itself", func(e *record.Env) { e.Fingerprint = "ffffffffffff" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := base
			tt.edit(&e)
			got := Fingerprint(&e)
			if changed := got != fp; changed != tt.changes {
				t.Errorf("changing %s: fingerprint %s -> %s, want changed=%v", tt.name, fp, got, tt.changes)
			}
		})
	}
}

func TestDefaultThreads(t *testing.T) {
	n := DefaultThreads()
	if n < 1 {
		t.Fatalf("DefaultThreads() = %d, want >= 1", n)
	}
	if want := max(1, int(math.Ceil(CPUsAvailable()))); n != want {
		t.Errorf("DefaultThreads() = %d, want ceil(CPUsAvailable()=%g) = %d", n, CPUsAvailable(), want)
	}
	if n > runtime.NumCPU() {
		t.Errorf("DefaultThreads() = %d exceeds the %d CPUs this process may use", n, runtime.NumCPU())
	}
}

func TestFirstLines(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"ATen/Parallel:\n\n", ""},
		{"a\n  b  \nEnvironment variables:\nc", "a; b; c"},
		{"MKL_THREADING_LAYER : x\nATen parallel backend: native thread pool", "ATen parallel backend: native thread pool"},
	}
	for _, tt := range tests {
		if got := firstLines(tt.in); got != tt.want {
			t.Errorf("firstLines(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOneDNNISAIsDefault(t *testing.T) {
	zen4 := "avx avx2 avx512_bf16 avx512_vnni avx512bw avx512dq avx512f avx512vl f16c fma sse4_2"
	avx2only := "avx avx2 f16c fma sse4_2"
	tests := []struct {
		isa, cpu string
		want     bool
	}{
		{"avx2", zen4, false},
		{"avx512_core", zen4, false},
		{"avx512_core_bf16", zen4, true},
		{"avx512_core_amx", zen4, true},
		{"avx2", avx2only, true},
		{"avx", avx2only, false},
		{"avx512_core", avx2only, true},
		{"avx2", avx2only + " avx_vnni", false},
		{"bogus", zen4, false},
	}
	for _, tc := range tests {
		if got := OneDNNISAIsDefault(tc.isa, tc.cpu); got != tc.want {
			t.Errorf("OneDNNISAIsDefault(%s, %q) = %v, want %v", tc.isa, tc.cpu, got, tc.want)
		}
	}
}

// TestOtherCPUs: a busy child process counts as other work; the figure stays within the
// machine's CPUs. (Other processes on a shared machine add to it: only a lower bound on
// the child's share can be asserted.)
func TestOtherCPUs(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	a := SampleCPU()
	time.Sleep(1200 * time.Millisecond)
	b := SampleCPU()
	other, ok := OtherCPUs(a, b)
	if !ok {
		t.Fatalf("OtherCPUs not known: %+v %+v", a, b)
	}
	if other < 0.5 || other > float64(onlineCPUs())+0.05 {
		t.Errorf("other CPUs %.2f with a busy child, want in [0.5, %d]", other, onlineCPUs())
	}
	if _, ok := OtherCPUs(a, SampleCPU()); ok && time.Since(a.At) < time.Second {
		t.Errorf("a span under a second must not give a figure")
	}
}

// TestRuntimeChange: another libtorch, or another build of it, is named as a runtime change;
// facts an older record does not carry are not compared.
func TestRuntimeChange(t *testing.T) {
	v113 := &record.Env{Torch: "1.13.0", OneDNN: "2.6.3", TEFuser: "on", CXX11ABI: "1"}
	v26 := &record.Env{Torch: "2.6.0", OneDNN: "3.7.2", TEFuser: "off", CXX11ABI: "1"}
	tests := []struct {
		name     string
		was, now *record.Env
		want     string
	}{
		{"same", v26, &record.Env{Torch: "2.6.0", OneDNN: "3.7.2", TEFuser: "off", CXX11ABI: "1"}, ""},
		{"other version", v113, v26, "runtime changed from libtorch 1.13.0 (oneDNN 2.6.3, TE fuser on) to libtorch 2.6.0 (oneDNN 3.7.2, TE fuser off)"},
		{"older record: version only", &record.Env{Torch: "1.13.0"}, v26, "runtime changed from libtorch 1.13.0 to libtorch 2.6.0"},
		{"older record, same version", &record.Env{Torch: "2.6.0"}, v26, ""},
		{"fuser only", &record.Env{Torch: "2.6.0", OneDNN: "3.7.2", TEFuser: "on", CXX11ABI: "1"}, v26,
			"runtime changed from libtorch 2.6.0 (TE fuser on) to libtorch 2.6.0 (TE fuser off)"},
		{"ABI only", &record.Env{Torch: "2.6.0", CXX11ABI: "0"}, v26, "runtime changed from libtorch 2.6.0 (CXX11 ABI 0) to libtorch 2.6.0 (CXX11 ABI 1)"},
		{"unknown version", &record.Env{}, v26, ""},
		{"nil", nil, v26, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RuntimeChange(tt.was, tt.now); got != tt.want {
				t.Errorf("RuntimeChange = %q, want %q", got, tt.want)
			}
		})
	}
	if got, want := Runtime(v26), "libtorch 2.6.0 (oneDNN 3.7.2, TE fuser off, CXX11 ABI 1)"; got != want {
		t.Errorf("Runtime = %q, want %q", got, want)
	}
}

func TestMissingISAFlags(t *testing.T) {
	zen4 := strings.Fields("fpu sse4_1 sse4_2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16")
	sapphire := append(append([]string{}, zen4...), "amx_tile", "amx_bf16", "amx_int8", "avx_vnni")
	haswell := strings.Fields("fpu sse4_1 sse4_2 avx avx2 fma")
	for _, tc := range []struct {
		isa   string
		flags []string
		want  string
	}{
		{"avx512_core_amx", zen4, "amx_tile amx_bf16 amx_int8"},
		{"avx512_core_amx", sapphire, ""},
		{"avx512_core", haswell, "avx512f avx512bw avx512vl avx512dq"},
		{"avx2_vnni", zen4, "avx_vnni"},
		{"avx2", haswell, ""},
		{"sse41", haswell, ""},
		{"avx512_core_amx", nil, ""}, // unknown CPU: nothing claimed
		{"asimd", haswell, ""},       // not an ISA cap
	} {
		if got := strings.Join(MissingISAFlags(tc.isa, tc.flags), " "); got != tc.want {
			t.Errorf("MissingISAFlags(%s, %v) = %q, want %q", tc.isa, tc.flags, got, tc.want)
		}
	}
}
