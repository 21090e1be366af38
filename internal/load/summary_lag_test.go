package load

import (
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/stats"
)

// TestLagWarning: the generator's lag is reported against the latency claimed, not
// against a guess about the machine.
func TestLagWarning(t *testing.T) {
	tests := []struct {
		name         string
		lag50, lag99 float64
		p95          float64
		saturated    bool
		want         string // substring; "" = no warning
	}{
		{"lag small next to the claim", 0.02, 0.15, 4, false, ""},
		{"lag at the share", 0.02, 0.2, 4, false, ""},
		{"lag over the share", 0.1, 0.9, 4, false, "lag p50 0.100 ms, p99 0.900 ms after their scheduled times, 22% of the p95 latency claimed (4.000 ms)"},
		{"a ~0 ms service", 0.01, 0.1, 0.3, false, "33% of the p95 latency claimed (0.300 ms)"},
		{"saturated runs say so instead", 0.5, 5, 4, true, ""},
		{"no lag measured (simulated)", 0, 0, 4, false, ""},
	}
	for _, tc := range tests {
		s := Summary{IssueLagP50Ms: tc.lag50, IssueLagP99Ms: tc.lag99, Saturated: tc.saturated, Latency: stats.Summary{P95: tc.p95}}
		got := s.LagWarning("p95")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: LagWarning = %q, want %q", tc.name, got, tc.want)
		}
		if strings.Contains(got, "busy") {
			t.Errorf("%s: %q guesses about the machine", tc.name, got)
		}
	}
}
