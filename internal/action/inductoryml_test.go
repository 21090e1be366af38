package action

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/testutil"
)

// inductorActionYML derives inductor/action.yml, the Action whose image also compiles
// torch.export programs (`uses: perflab/perflab/inductor@vX.Y.Z`; docs/image.md,
// "Inductor"), from action.yml: the same inputs, outputs and args, declared once, with its
// own name, a sentence more of description and the image tagged -inductor (built from the
// Dockerfile's inductor stage and published by release.yml next to the lean one). Every
// replacement must apply exactly once, so a change of action.yml's shape fails here
// instead of drifting.
func inductorActionYML(t *testing.T, src string) string {
	t.Helper()
	replace := func(s, old, new string) string {
		if n := strings.Count(s, old); n != 1 {
			t.Fatalf("action.yml: %q occurs %d times, want once (update inductorActionYML)", old, n)
		}
		return strings.Replace(s, old, new, 1)
	}
	img := loadActionYML(t).Runs.Image
	out := src
	out = replace(out, "name: perflab\n", "name: perflab (inductor)\n")
	out = replace(out, "\n  request, fail the check on a regression, and refresh the baselines on the default branch.\n",
		"\n  request, fail the check on a regression, and refresh the baselines on the default branch.\n"+
			"  This image also compiles torch.export programs (.pt2) with AOTInductor (python3-torch,\n"+
			"  g++, libtorch's headers), cached in PERFLAB_AOTI_CACHE; the lean image (perflab/perflab)\n"+
			"  runs prebuilt AOTInductor packages only.\n")
	out = replace(out, "\n  image: "+img+"\n", "\n  image: "+img+"-inductor\n")
	// The comment above runs: says where the image comes from.
	i := strings.Index(out, "\n# The image is prebuilt")
	j := strings.Index(out, "\nruns:\n")
	if i < 0 || j < i {
		t.Fatal("action.yml: no comment block before runs: (update inductorActionYML)")
	}
	out = out[:i] + "\n# The image is action.yml's, built from the Dockerfile's inductor stage (the lean runtime\n" +
		"# plus what AOTInductor compilation opens: python3 with torch, g++, binutils, the headers)\n" +
		"# and published by .github/workflows/release.yml as the lean image's tag + -inductor." + out[j:]
	return "# Generated from ../action.yml by `go test ./internal/action -run TestInductorActionYML -update`:\n" +
		"# do not edit; edit action.yml and regenerate (the test fails when they drift).\n" + out
}

func TestInductorActionYML(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	got := inductorActionYML(t, string(src))
	testutil.Golden(t, filepath.Join(root, "inductor", "action.yml"), []byte(got))
	// It parses as an action with the same inputs and outputs and the -inductor image.
	a, b := loadActionYML(t), loadActionYMLFile(t, filepath.Join(root, "inductor", "action.yml"))
	if len(a.Inputs) != len(b.Inputs) || len(a.Outputs) != len(b.Outputs) {
		t.Errorf("inductor/action.yml: %d inputs, %d outputs; action.yml %d, %d", len(b.Inputs), len(b.Outputs), len(a.Inputs), len(a.Outputs))
	}
	if b.Runs.Image != a.Runs.Image+"-inductor" || b.Runs.Using != "docker" || strings.Join(b.Runs.Args, " ") != "action" {
		t.Errorf("inductor/action.yml runs: %+v; want action.yml's with the image %s-inductor", b.Runs, a.Runs.Image)
	}
}
