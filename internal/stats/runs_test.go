package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSummarizeRuns(t *testing.T) {
	e := math.E
	tests := []struct {
		name           string
		values         []float64
		ok             bool
		center, lo, hi float64 // Mean interval
		nlo, nhi       float64 // Next interval
	}{
		// logs 0, 1, 2: mean 1, sd 1, t(0.975, 2) = 4.302653.
		{"three runs", []float64{1, e, e * e}, true, e, math.Exp(1 - 4.302653/math.Sqrt(3)), math.Exp(1 + 4.302653/math.Sqrt(3)),
			math.Exp(1 - 4.302653*math.Sqrt(2.0/3)), math.Exp(1 + 4.302653*math.Sqrt(2.0/3))},
		{"identical runs", []float64{5, 5, 5}, true, 5, 5, 5, 5, 5},
		{"one run", []float64{5}, false, 0, 0, 0, 0, 0},
		{"non-positive ignored", []float64{0, -1, 5}, false, 0, 0, 0, 0, 0},
		{"none", nil, false, 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		r, ok := SummarizeRuns(tt.values, 0.95)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v", tt.name, ok)
			continue
		}
		if !ok {
			continue
		}
		for _, c := range []struct {
			what      string
			got, want float64
		}{{"center", r.Center, tt.center}, {"lo", r.Mean.Lo, tt.lo}, {"hi", r.Mean.Hi, tt.hi}, {"next lo", r.Next.Lo, tt.nlo}, {"next hi", r.Next.Hi, tt.nhi}} {
			if math.Abs(c.got-c.want) > 1e-5*math.Max(1, math.Abs(c.want)) {
				t.Errorf("%s: %s = %g, want %g", tt.name, c.what, c.got, c.want)
			}
		}
	}
}

// TestRunsCoverage checks the stated coverage by simulation: log-normal runs, 3 per
// measurement. Mean must cover the true median, and Next the center of an independent
// second measurement, about 95% of the time.
func TestRunsCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = 4 * math.Exp(0.08*rng.NormFloat64())
		}
		return v
	}
	const trials = 4000
	for _, n := range []int{3, 5} {
		mean, next := 0, 0
		for range trials {
			r, _ := SummarizeRuns(draw(n), 0.95)
			if r.Mean.Contains(4) {
				mean++
			}
			r2, _ := SummarizeRuns(draw(n), 0.95)
			if r.Next.Contains(r2.Center) {
				next++
			}
		}
		for _, c := range []struct {
			what string
			hits int
		}{{"Mean", mean}, {"Next", next}} {
			if f := float64(c.hits) / trials; f < 0.93 || f > 0.97 {
				t.Errorf("n=%d: %s covers %.3f, want about 0.95", n, c.what, f)
			}
		}
	}
}
