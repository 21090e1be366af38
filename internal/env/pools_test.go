package env

import (
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/record"
)

func TestTwoPoolsWarning(t *testing.T) {
	const (
		pthread = "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64"
		openmp  = "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY USE_OPENMP Zen MAX_THREADS=64"
		omp     = "at::get_num_threads() : 2; OpenMP 201511 (a.k.a. OpenMP 4.5); ATen parallel backend: OpenMP"
		native  = "at::get_num_threads() : 2; ATen parallel backend: native thread pool"
	)
	for _, c := range []struct {
		name     string
		blas     string
		parallel string
		threads  int
		warn     bool
	}{
		{"pthread OpenBLAS, OpenMP libtorch, 2 threads", pthread, omp, 2, true},
		{"pthread OpenBLAS, 4 threads", pthread, omp, 4, true},
		{"one thread: no OpenMP team", pthread, omp, 1, false},
		{"OpenBLAS's OpenMP build shares the pool", openmp, omp, 2, false},
		{"libtorch's native pool", pthread, native, 2, false},
		{"not OpenBLAS (MKL, reference)", "", omp, 2, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := TwoPoolsWarning(&record.Env{BLASConfig: c.blas, Parallel: c.parallel}, c.threads)
			if (got != "") != c.warn {
				t.Fatalf("warning %q, want one: %v", got, c.warn)
			}
			if c.warn && (!strings.Contains(got, "libopenblas0-openmp") || strings.Contains(got, "\n")) {
				t.Errorf("warning %q: want one line naming the fix", got)
			}
		})
	}
	if TwoPoolsWarning(nil, 2) != "" {
		t.Error("nil env warns")
	}
}
