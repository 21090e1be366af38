package cli

import (
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/model"
	"github.com/perflab/perflab/internal/testutil"
	"github.com/perflab/perflab/internal/torch"
)

// TestBenchCompileInductor: on libtorch 2.6 a built-in's AOTInductor package benches and
// the summary says so; before 2.6 the configuration is one line, unsupported, exit 2.
func TestBenchCompileInductor(t *testing.T) {
	r := runPerflab(t, []string{model.EnvModelsDir + "=" + testutil.ModelsDir(t)},
		"bench", "--model", "mobilenet_v3_small", "--compile", "inductor", "--batch-size", "2",
		"--iters", "5", "--warmup", "1", "--threads", "1", "--preprocess-iters", "0")
	if !torch.AOTISupported() {
		if r.code != ExitUsage || r.stdout != "" {
			t.Errorf("exit %d, stdout %q; want exit %d and nothing", r.code, r.stdout, ExitUsage)
		}
		checkErrorLine(t, r.stderr)
		if !strings.Contains(r.stderr, "--compile inductor: unsupported by this runtime: AOTInductor packages need libtorch 2.6 or later (this is "+torch.Version()+")") {
			t.Errorf("stderr %q", r.stderr)
		}
		return
	}
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	for _, w := range []string{"compile inductor (asked inductor)", "inductor    package ", "mobilenet_v3_small.pt2, ", " kernels, compiled in ", "outputs vs plain model: match"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("summary does not contain %q:\n%s", w, r.stdout)
		}
	}
}
