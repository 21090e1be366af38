package sweep

import (
	"testing"

	"github.com/perflab/perflab/internal/knobs"
)

// The built-in vision and text presets sweep compile off, on and inductor; a runtime that
// cannot run inductor skips those configurations as unsupported (never runs them to fail).
func TestPresetsSweepInductor(t *testing.T) {
	for _, name := range []string{"cpu_vision", "cpu_text"} {
		for _, quick := range []bool{false, true} {
			p, err := Load(name, quick)
			if err != nil {
				t.Fatal(err)
			}
			count := func(opts PlanOptions) (modes map[string]int, skipped []Skipped) {
				cfgs, skipped, err := p.Expand(opts)
				if err != nil {
					t.Fatal(err)
				}
				modes = map[string]int{}
				for _, c := range cfgs {
					modes[c.Compile]++
					if c.Compile == knobs.CompileInductor && (c.ChannelsLast || c.Quantize) {
						t.Errorf("%s: inductor with channels_last/quantize: %s", name, c)
					}
				}
				return modes, skipped
			}
			all, _ := count(PlanOptions{})
			if all[knobs.CompileOff] == 0 || all[knobs.CompileOn] == 0 || all[knobs.CompileInductor] == 0 {
				t.Errorf("%s quick=%t: compile modes %v, want off, on and inductor", name, quick, all)
			}
			const why = "compile inductor: unsupported by this runtime"
			modes, skipped := count(PlanOptions{Unsupported: func(k knobs.Knobs) string {
				if k.Compile == knobs.CompileInductor {
					return why
				}
				return ""
			}})
			if modes[knobs.CompileInductor] != 0 || len(skipped) != all[knobs.CompileInductor] || modes[knobs.CompileOn] != all[knobs.CompileOn] {
				t.Errorf("%s quick=%t: unsupported inductor: planned %v, %d skipped (want %d)", name, quick, modes, len(skipped), all[knobs.CompileInductor])
			}
			for _, s := range skipped {
				if s.Reason != why {
					t.Errorf("skipped for %q", s.Reason)
				}
			}
		}
	}
}
