package stats

import (
	"math"
	"slices"
	"testing"
)

func TestPercentileNames(t *testing.T) {
	if want := []string{"p50", "p90", "p95", "p99"}; !slices.Equal(PercentileNames, want) {
		t.Errorf("PercentileNames = %v, want %v", PercentileNames, want)
	}
	s := Summarize([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.95)
	for _, tt := range []struct {
		name  string
		q     float64
		field float64
	}{{"p50", 50, s.P50}, {"p90", 90, s.P90}, {"p95", 95, s.P95}, {"p99", 99, s.P99}} {
		q, ok := PercentileQ(tt.name)
		if !ok || q != tt.q {
			t.Errorf("PercentileQ(%q) = %g, %v; want %g", tt.name, q, ok, tt.q)
		}
		if q, err := ParsePercentile(tt.name); err != nil || q != tt.q {
			t.Errorf("ParsePercentile(%q) = %g, %v; want %g", tt.name, q, err, tt.q)
		}
		if got := s.Pct(tt.name); got != tt.field {
			t.Errorf("Pct(%q) = %g, want the field's %g", tt.name, got, tt.field)
		}
	}
	for _, name := range []string{"", "p42", "P95", "95", "p95 "} {
		if q, ok := PercentileQ(name); ok {
			t.Errorf("PercentileQ(%q) = %g, true; want not ok", name, q)
		}
		if !math.IsNaN(s.Pct(name)) {
			t.Errorf("Pct(%q) = %g, want NaN", name, s.Pct(name))
		}
	}
	_, err := ParsePercentile("p42")
	if want := `must be p50, p90, p95 or p99, got "p42"`; err == nil || err.Error() != want {
		t.Errorf("ParsePercentile(p42) error %v, want %q", err, want)
	}
}
