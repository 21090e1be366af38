package report

import (
	"slices"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
)

// TestEveryAxisHasAnEffect: each knob a preset sweeps (knobs.Axes) has its effect in the
// report, and a knob whose unset value is a word ("default" in presets) names it.
func TestEveryAxisHasAnEffect(t *testing.T) {
	for _, kn := range knobs.Axes {
		if !slices.Contains(effectKnobs, kn.Preset) {
			t.Errorf("knob %s is not in effectKnobs: the report would not say what it did", kn.Preset)
		}
		if kn.PresetDefault && unsetName(kn.Preset) == "" {
			t.Errorf("knob %s has no UnsetName for its effects (\"X vs <default>\")", kn.Preset)
		}
	}
	if len(effectKnobs) != len(knobs.Axes) {
		t.Errorf("effectKnobs %q has a knob that is not an axis", effectKnobs)
	}
}
