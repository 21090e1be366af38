package stats

import (
	"fmt"
	"math"
	"strings"
)

// PercentileName is a latency percentile as flags, presets, records and reports name it.
type PercentileName struct {
	Name string  // "p95"
	Q    float64 // 95
}

// Percentiles are the latency percentiles perflab measures and reports, in order.
var Percentiles = []PercentileName{{"p50", 50}, {"p90", 90}, {"p95", 95}, {"p99", 99}}

// PercentileNames are the names of Percentiles, in order.
var PercentileNames = func() []string {
	out := make([]string, len(Percentiles))
	for i, p := range Percentiles {
		out[i] = p.Name
	}
	return out
}()

// PercentileQ returns the q of a percentile name ("p95" -> 95); ok is false for any other
// name.
func PercentileQ(name string) (q float64, ok bool) {
	for _, p := range Percentiles {
		if p.Name == name {
			return p.Q, true
		}
	}
	return 0, false
}

// ParsePercentile is PercentileQ with an error for other names, "must be p50, p90, p95
// or p99, got "p42"", for the caller to prefix with its flag: "--latency-pct " + err.
func ParsePercentile(name string) (float64, error) {
	if q, ok := PercentileQ(name); ok {
		return q, nil
	}
	n := len(PercentileNames)
	return 0, fmt.Errorf("must be %s or %s, got %q", strings.Join(PercentileNames[:n-1], ", "), PercentileNames[n-1], name)
}

// Pct returns the summary's percentile of that name ("p95"); NaN for any other name.
func (s Summary) Pct(name string) float64 {
	if p := s.pct(name); p != nil {
		return *p
	}
	return math.NaN()
}

// pct points to the summary's field holding percentile name, nil for any other name.
func (s *Summary) pct(name string) *float64 {
	switch name {
	case "p50":
		return &s.P50
	case "p90":
		return &s.P90
	case "p95":
		return &s.P95
	case "p99":
		return &s.P99
	}
	return nil
}
