package env

import (
	"fmt"
	"strings"

	"github.com/perflab/perflab/internal/record"
)

// TwoPoolsPrefix starts TwoPoolsWarning's text.
const TwoPoolsPrefix = "two thread pools:"

// TwoPoolsWarning says when OpenBLAS's pthread build sits beside libtorch's OpenMP threads
// in a process that runs more than one intra-op thread: OpenBLAS then keeps its own worker
// threads, which spin after each BLAS call while OpenMP's workers spin between parallel
// regions, so the two pools compete for the same cores (on 2 vCPUs, 2 threads measured up to
// ~25x slower than with OpenBLAS's OpenMP build, which shares libtorch's pool; see
// docs/runtimes.md, "BLAS and OpenMP: one thread pool"). "" when that is not the case.
func TwoPoolsWarning(e *record.Env, threads int) string {
	if e == nil || threads < 2 {
		return ""
	}
	openmp := strings.Contains(e.Parallel, "parallel backend: OpenMP")
	pthreadBLAS := strings.HasPrefix(e.BLASConfig, "OpenBLAS") && !strings.Contains(e.BLASConfig, "USE_OPENMP")
	if !openmp || !pthreadBLAS {
		return ""
	}
	return fmt.Sprintf(TwoPoolsPrefix+" OpenBLAS's pthread build keeps its own workers beside libtorch's %d OpenMP threads and they compete for the cores (figures at more than 1 thread can be many times slower than the runtime can do); install libopenblas0-openmp and point libblas.so.3 and libopenblas.so.0 at it (docs/runtimes.md)", threads)
}
