package procknob

import (
	"slices"
	"strings"
	"testing"
)

func TestParsePin(t *testing.T) {
	tests := []struct {
		in      string
		want    string // canonical; "" = none
		cpus    []int
		wantErr string
	}{
		{"", "", nil, ""},
		{"none", "", nil, ""},
		{"cores", "cores", nil, ""},
		{"0", "0", []int{0}, ""},
		{"0-1", "0-1", []int{0, 1}, ""},
		{"1,0", "0-1", []int{0, 1}, ""},
		{"0-3,6,8-9", "0-3,6,8-9", []int{0, 1, 2, 3, 6, 8, 9}, ""},
		{"2,2", "2", []int{2}, ""},
		{"x", "", nil, `"x" is not a CPU number`},
		{"3-1", "", nil, `"3-1" is not a CPU range`},
		{"-1", "", nil, "not a CPU number"},
		{"0,", "", nil, "not a CPU number"},
	}
	for _, tc := range tests {
		p, err := ParsePin(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "--pin") {
				t.Errorf("ParsePin(%q) error %v, want one naming --pin and %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || p.String() != tc.want || !slices.Equal(p.CPUs, tc.cpus) {
			t.Errorf("ParsePin(%q) = %q %v, %v; want %q %v", tc.in, p, p.CPUs, err, tc.want, tc.cpus)
		}
	}
}

func TestNormalize(t *testing.T) {
	got := Knobs{Allocator: "glibc", OMPWait: "passive", Pin: "none"}.Normalize()
	if got != (Knobs{OMPWait: "passive"}) {
		t.Errorf("Normalize = %+v: the defaults spelled out must become \"\"", got)
	}
	if got := (Knobs{Allocator: "jemalloc", Pin: "1,0"}).Normalize(); got != (Knobs{Allocator: "jemalloc", Pin: "0-1"}) {
		t.Errorf("Normalize = %+v", got)
	}
}

func TestEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "LD_PRELOAD=/x/libjemalloc.so.2:/y/libfoo.so", "OMP_WAIT_POLICY=ACTIVE"}
	tests := []struct {
		name string
		k    Knobs
		want map[string]string // variables that must have these values ("" = absent)
	}{
		{"nothing asked leaves all", Knobs{}, map[string]string{"LD_PRELOAD": "/x/libjemalloc.so.2:/y/libfoo.so", "OMP_WAIT_POLICY": "ACTIVE", "PATH": "/bin"}},
		{"glibc removes preloaded allocators only", Knobs{Allocator: "glibc"}, map[string]string{"LD_PRELOAD": "/y/libfoo.so"}},
		{"passive", Knobs{OMPWait: "passive"}, map[string]string{"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "0"}},
		{"active", Knobs{OMPWait: "active"}, map[string]string{"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "infinite"}},
		{"cores", Knobs{Pin: "cores"}, map[string]string{"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"}},
		{"cpu list", Knobs{Pin: "0-1"}, map[string]string{"OMP_PROC_BIND": "close", "OMP_PLACES": "{0},{1}"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]string{}
			for _, kv := range tc.k.Environ(base) {
				name, v, _ := strings.Cut(kv, "=")
				if _, dup := got[name]; dup {
					t.Errorf("%s set twice", name)
				}
				got[name] = v
			}
			for name, v := range tc.want {
				if got[name] != v {
					t.Errorf("%s = %q, want %q", name, got[name], v)
				}
			}
		})
	}
	// A preloaded allocator goes first, replacing the other one.
	if path, err := LibraryPath("tcmalloc"); err == nil {
		for _, kv := range (Knobs{Allocator: "tcmalloc"}).Environ(base) {
			if v, ok := strings.CutPrefix(kv, "LD_PRELOAD="); ok && v != path+":/y/libfoo.so" {
				t.Errorf("LD_PRELOAD = %q, want %q", v, path+":/y/libfoo.so")
			}
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		k    Knobs
		want string // "" = valid
	}{
		{Knobs{}, ""},
		{Knobs{Allocator: "glibc", OMPWait: "active", Pin: "cores"}, ""},
		{Knobs{Allocator: "mimalloc"}, "--allocator: unknown allocator \"mimalloc\": use one of glibc, jemalloc, tcmalloc"},
		{Knobs{OMPWait: "sleepy"}, "--omp-wait: unknown policy \"sleepy\": use active or passive"},
		{Knobs{Pin: "4095"}, "--pin 4095: CPU 4095 is not available to this process"},
		{Knobs{Pin: "all"}, `--pin "all"`},
	}
	for _, tc := range tests {
		err := tc.k.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.k, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.k, err, tc.want)
		}
	}
}

// TestLibraryPath: make setup installs both allocators; a missing one names its package.
func TestLibraryPath(t *testing.T) {
	for _, a := range []string{"jemalloc", "tcmalloc"} {
		if _, err := LibraryPath(a); err != nil {
			t.Errorf("%s: %v (make setup installs %s)", a, err, allocatorPackages[a])
		}
	}
	saved := allocatorLibs["jemalloc"]
	allocatorLibs["jemalloc"] = "libjemalloc.so.999"
	defer func() { allocatorLibs["jemalloc"] = saved }()
	err := (Knobs{Allocator: "jemalloc"}).Validate()
	if err == nil || !strings.Contains(err.Error(), "libjemalloc.so.999 is not installed") || !strings.Contains(err.Error(), "libjemalloc2") {
		t.Errorf("missing library: %v", err)
	}
}

// TestCurrent: this test process runs with glibc's allocator (unless the environment
// preloads another) and on the CPUs its affinity allows.
func TestCurrent(t *testing.T) {
	c := Current()
	if !slices.Contains(Allocators, c.Allocator) {
		t.Errorf("allocator %q", c.Allocator)
	}
	if len(c.CPUs) == 0 || !slices.Equal(c.CPUs, availableCPUs()) {
		t.Errorf("process CPUs %v, thread affinity %v", c.CPUs, availableCPUs())
	}
}
