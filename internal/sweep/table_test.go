package sweep

import (
	"strconv"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
)

// twoValues are two valid preset values of every knob axis (knobs.Axes). A new axis fails
// TestEveryAxisInTheGrid until it has them here.
var twoValues = map[string]string{
	"batch_size": "[1, 2]", "threads": "[1, 2]", "interop_threads": "[1, 2]", "compile": "[on, off]", "channels_last": "[false, true]",
	"quantize": "[false, true]", "onednn_isa": "[default, avx2]", "allocator": "[default, jemalloc]", "omp_wait": "[default, active]", "pin": "[default, cores]",
}

// TestEveryAxisInTheGrid walks knobs.Axes: each preset key is read, multiplies the
// grid (bench and load), and counts in the grid-size guard (which missed four knobs
// before the table).
func TestEveryAxisInTheGrid(t *testing.T) {
	var big strings.Builder
	for i := 1; i <= MaxConfigs/2+1; i++ {
		if i > 1 {
			big.WriteString(", ")
		}
		big.WriteString(strconv.Itoa(i))
	}
	for _, kn := range knobs.Axes {
		t.Run(kn.Preset, func(t *testing.T) {
			vals, ok := twoValues[kn.Preset]
			if !ok {
				t.Fatalf("no two values of %s in twoValues: add them", kn.Preset)
			}
			for _, mode := range []string{"", "mode: load\n"} {
				if mode != "" && kn.Preset == "batch_size" {
					continue // max_batch in load presets
				}
				rates := ""
				if mode != "" {
					rates = "  rates: [100]\n"
				}
				p := mustParse(t, "name: t\n"+mode+"grid:\n  models: [m.pt]\n"+rates+"  "+kn.Preset+": "+vals+"\n")
				n := 1
				for _, a := range p.axes(p.Grids[0]) {
					n *= a.n
				}
				if n != 2 {
					t.Errorf("%sgrid of %s: %s: %d configurations, want 2", mode, kn.Preset, vals, n)
				}
				cfgs, _, err := p.Expand(PlanOptions{})
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, c := range cfgs {
					seen[kn.Text(c.Knobs)] = true
				}
				if kn.Preset != "channels_last" && kn.Preset != "quantize" && len(seen) != 2 { // those two do not apply to m.pt
					t.Errorf("%sgrid of %s: %s: planned values %v", mode, kn.Preset, vals, seen)
				}
			}
			other := "batch_size"
			if kn.Preset == other {
				other = "threads"
			}
			p := mustParse(t, "name: t\ngrid:\n  models: [m.pt]\n  "+other+": ["+big.String()+"]\n  "+kn.Preset+": "+vals+"\n")
			if _, _, err := p.Expand(PlanOptions{}); err == nil || !strings.Contains(err.Error(), "more than") {
				t.Errorf("%d x 2 configurations: %v, want the grid-size error", MaxConfigs/2+1, err)
			}
		})
	}
}
