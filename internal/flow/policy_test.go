package flow

import (
	"errors"
	"slices"
	"testing"

	"github.com/perflab/perflab/internal/gate"
)

// TestPolicyCheck: "fail on inconclusive" and "fail on regression" are decided here, once.
func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		verdict            string
		onRegression, onIn bool
		fail, inconclusive bool
	}{
		{gate.Failed, true, false, true, false},
		{gate.Failed, false, false, false, false},
		{gate.Failed, false, true, false, false}, // a regression is not "inconclusive"
		{gate.Pass, true, true, false, false},
		{gate.NotConclusive, true, false, false, false},
		{gate.NotConclusive, true, true, true, true},
		{gate.NoBaseline, true, true, true, true}, // nothing compared is not a pass
		{gate.NoBaseline, true, false, false, false},
	}
	for _, tt := range tests {
		p := DefaultPolicy()
		p.FailOnRegression, p.FailOnInconclusive = tt.onRegression, tt.onIn
		err := p.Check(&gate.Report{Verdict: tt.verdict, Summary: "s", Regressions: 1})
		var ve *VerdictError
		if (err != nil) != tt.fail || err != nil && (!errors.As(err, &ve) || ve.Inconclusive != tt.inconclusive || ve.Verdict != tt.verdict) {
			t.Errorf("%s (fail on regression %v, on inconclusive %v): %v; want fail %v, inconclusive %v", tt.verdict, tt.onRegression, tt.onIn, err, tt.fail, tt.inconclusive)
		}
	}
}

func TestDefaultPolicyAndSelectors(t *testing.T) {
	p := DefaultPolicy()
	if p.Threshold != 0.05 || p.Alpha != 0.01 || !p.FailOnRegression || p.FailOnInconclusive || p.Rounds != 6 || p.MaxLooks != 6 ||
		p.Iters != 400 || p.Warmup != 20 || p.Budget != 0 || !slices.Equal(p.Metrics, gate.DefaultMetrics) ||
		DefaultAlphaText != "0.01" || DefaultGateConfigsText != "recommended,batch1" {
		t.Errorf("defaults: %+v", p)
	}
	if got := p.Selectors([]string{"all"}); !slices.Equal(got, []string{"all"}) {
		t.Errorf("the preset's gate_configs: %v", got)
	}
	p.GateConfigs, p.GateConfigsSet = []string{"batch1"}, true
	if got := p.Selectors([]string{"all"}); !slices.Equal(got, []string{"batch1"}) {
		t.Errorf("the user's gate configs: %v", got)
	}
	if s := p.Seq(nil); s.Now == nil || s.Rounds != 6 || s.Alpha != 0.01 {
		t.Errorf("Seq: %+v", s)
	}
}
