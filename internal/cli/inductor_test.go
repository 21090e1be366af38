package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/gate"
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

// TestGateABInductor: `perflab gate --ab` on two AOTInductor packages (a pull request that
// changes a .pt2 model) runs both sides as compile inductor in interleaved rounds and
// decides like any other A/B; before 2.6 it is one line, unsupported, exit 2.
func TestGateABInductor(t *testing.T) {
	src := testutil.ModelsDir(t)
	var sides []string
	for _, side := range []string{"base", "head"} {
		dir := filepath.Join(t.TempDir(), side)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// The package, its input spec and its TorchScript twin, as a repository holds them.
		for _, ext := range []string{".pt2", ".pt2.json", ".pt"} {
			b, err := os.ReadFile(filepath.Join(src, "mobilenet_v3_small"+ext))
			if err != nil && !torch.AOTISupported() {
				// Before 2.6 no package is exported: any file stands in, the runtime refuses first.
				if ext != ".pt2" {
					continue
				}
				b, err = os.ReadFile(filepath.Join(src, "mobilenet_v3_small.pt"))
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "net"+ext), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		sides = append(sides, filepath.Join(dir, "net.pt2"))
	}
	r := runPerflab(t, nil, "gate", "--ab", sides[0], "--ab", sides[1], "--compile", "inductor", "--input", "float32[B,3,224,224]",
		"--rounds", "3", "--iters", "20", "--warmup", "2", "--threshold", "50%", "--metrics", "p50", "--json")
	if !torch.AOTISupported() {
		if r.code != ExitUsage || r.stdout != "" || !strings.Contains(r.stderr, "unsupported by this runtime") {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit %d and one unsupported line", r.code, r.stdout, r.stderr, ExitUsage)
		}
		checkErrorLine(t, r.stderr)
		return
	}
	if r.code != ExitOK {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	var rep gate.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, r.stdout)
	}
	if rep.Verdict != gate.Pass || len(rep.Comparisons) != 1 {
		t.Fatalf("verdict %q, %d comparisons; want pass, 1:\n%s", rep.Verdict, len(rep.Comparisons), r.stdout)
	}
	c := rep.Comparisons[0]
	if !strings.Contains(c.Key, "compile=inductor") || c.Current.Runs < 3 || c.Current.Runs%3 != 0 || !(c.Ratio > 0) {
		t.Errorf("comparison %+v: want inductor on both sides, rounds of 3, a ratio", c)
	}
}
