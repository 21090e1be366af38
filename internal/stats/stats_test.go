package stats

import (
	"math"
	"math/big"
	"slices"
	"testing"
)

// seq returns the ascending sample 1, 2, ..., n, so that the value at rank r is r.
func seq(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = float64(i + 1)
	}
	return s
}

func TestPercentile(t *testing.T) {
	tests := []struct {
		name   string
		sorted []float64
		q      float64
		want   float64
	}{
		{"1..100 p50", seq(100), 50, 50},
		{"1..100 p90", seq(100), 90, 90},
		{"1..100 p99", seq(100), 99, 99},
		{"1..100 p100", seq(100), 100, 100},
		{"1..100 p0.5", seq(100), 0.5, 1},
		{"1..100 p99.5", seq(100), 99.5, 100},
		{"n=1", []float64{7}, 50, 7},
		{"n=1 p99", []float64{7}, 99, 7},
		{"n=10 p95 -> rank 10", seq(10), 95, 10},
		{"n=10 p90 -> rank 9", seq(10), 90, 9},
		{"n=10 p91 -> rank 10", seq(10), 91, 10},
		{"n=3 p50 -> rank 2", seq(3), 50, 2},
		{"n=1000 p99.9", seq(1000), 99.9, 999},
		{"n=1000 p99.7", seq(1000), 99.7, 997},
		{"values not ranks", []float64{0.5, 1.5, 2.5, 10}, 75, 2.5},
	}
	for _, tt := range tests {
		if got := Percentile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("%s: Percentile(q=%v) = %v, want %v", tt.name, tt.q, got, tt.want)
		}
	}
	for _, bad := range []struct {
		sorted []float64
		q      float64
	}{{nil, 50}, {seq(10), 0}, {seq(10), -1}, {seq(10), 100.5}, {seq(10), math.NaN()}} {
		if got := Percentile(bad.sorted, bad.q); !math.IsNaN(got) {
			t.Errorf("Percentile(n=%d, q=%v) = %v, want NaN", len(bad.sorted), bad.q, got)
		}
	}
}

// TestPercentileRankExact checks the rank against integer arithmetic:
// for q = t/10 percent, rank = ceil(t*n/1000).
func TestPercentileRankExact(t *testing.T) {
	for n := 1; n <= 300; n++ {
		s := seq(n)
		for tenths := 1; tenths <= 1000; tenths++ {
			want := (tenths*n + 999) / 1000
			if got := Percentile(s, float64(tenths)/10); got != float64(want) {
				t.Fatalf("n=%d q=%v: rank %v, want %d", n, float64(tenths)/10, got, want)
			}
		}
	}
}

// binomRef holds exact Binomial(n, a/d) cumulative probabilities, scaled by d^n
// so that they are integers: cum[k] = d^n * P(K <= k).
type binomRef struct {
	n     int
	cum   []*big.Int
	total *big.Int // d^n
}

func newBinomRef(n int, a, d int64) binomRef {
	r := binomRef{n: n, total: new(big.Int).Exp(big.NewInt(d), big.NewInt(int64(n)), nil)}
	acc := new(big.Int)
	for k := 0; k <= n; k++ {
		term := new(big.Int).Binomial(int64(n), int64(k))
		term.Mul(term, new(big.Int).Exp(big.NewInt(a), big.NewInt(int64(k)), nil))
		term.Mul(term, new(big.Int).Exp(big.NewInt(d-a), big.NewInt(int64(n-k)), nil))
		acc.Add(acc, term)
		r.cum = append(r.cum, new(big.Int).Set(acc))
	}
	if acc.Cmp(r.total) != 0 {
		panic("binomial reference does not sum to 1")
	}
	return r
}

// cdf returns d^n * P(K <= k).
func (r binomRef) cdf(k int) *big.Int {
	switch {
	case k < 0:
		return new(big.Int)
	case k >= r.n:
		return r.total
	}
	return r.cum[k]
}

// leTail reports whether x/d^n <= (1-c/1000)/2, i.e. 2000*x <= (1000-c)*d^n.
func (r binomRef) leTail(x *big.Int, cPermille int64) bool {
	lhs := new(big.Int).Mul(x, big.NewInt(2000))
	rhs := new(big.Int).Mul(r.total, big.NewInt(1000-cPermille))
	return lhs.Cmp(rhs) <= 0
}

// ranks computes the equal-tail ranks by a linear scan over exact probabilities.
func (r binomRef) ranks(cPermille int64) (l, u int, ok bool) {
	for k := 1; k <= r.n && r.leTail(r.cdf(k-1), cPermille); k++ {
		l = k // P(K < k) <= tail
	}
	u = r.n + 1
	for k := r.n; k >= 1; k-- {
		upper := new(big.Int).Sub(r.total, r.cdf(k-1)) // P(K >= k)
		if !r.leTail(upper, cPermille) {
			break
		}
		u = k
	}
	return l, u, l >= 1 && u <= r.n
}

// coverage returns P(l <= K <= u-1) = P(X(l) <= quantile <= X(u)).
func (r binomRef) coverage(l, u int) float64 {
	num := new(big.Int).Sub(r.cdf(u-1), r.cdf(l-1))
	f, _ := new(big.Rat).SetFrac(num, r.total).Float64()
	return f
}

func TestQuantileCITextbook(t *testing.T) {
	// Distribution-free 95% intervals for the median (e.g. Conover,
	// Practical Nonparametric Statistics; Hollander & Wolfe).
	tests := []struct {
		n, l, u  int
		coverage float64
	}{
		{10, 2, 9, 1002.0 / 1024}, // 0.9785
		{20, 6, 15, 0.9586},
		{100, 40, 61, 0.9648},
	}
	for _, tt := range tests {
		ci, ok := QuantileCI(seq(tt.n), 50, 0.95)
		if !ok || ci.Lo != float64(tt.l) || ci.Hi != float64(tt.u) || ci.Confidence != 0.95 {
			t.Errorf("n=%d median: got %+v ok=%v, want X(%d)..X(%d)", tt.n, ci, ok, tt.l, tt.u)
		}
		cov := newBinomRef(tt.n, 1, 2).coverage(tt.l, tt.u)
		if math.Abs(cov-tt.coverage) > 5e-5 {
			t.Errorf("n=%d: reference coverage %.5f, textbook %.4f", tt.n, cov, tt.coverage)
		}
	}
}

func TestQuantileCIReference(t *testing.T) {
	ns := []int{1, 5, 6, 7, 10, 20, 35, 36, 50, 71, 72, 100, 250, 367, 368, 500, 1000}
	qTenths := []int64{10, 250, 500, 750, 900, 950, 990, 999}
	confs := []int64{800, 900, 950, 990}
	for _, n := range ns {
		s := seq(n)
		for _, qt := range qTenths {
			ref := newBinomRef(n, qt, 1000)
			for _, c := range confs {
				q, conf := float64(qt)/10, float64(c)/1000
				ci, ok := QuantileCI(s, q, conf)
				l, u, wantOK := ref.ranks(c)
				if ok != wantOK {
					t.Errorf("n=%d q=%v conf=%v: ok=%v, want %v (ref ranks %d,%d)", n, q, conf, ok, wantOK, l, u)
					continue
				}
				if !ok {
					if !math.IsNaN(ci.Lo) || !math.IsNaN(ci.Hi) {
						t.Errorf("n=%d q=%v conf=%v: not ok but %+v, want NaN", n, q, conf, ci)
					}
					continue
				}
				if ci.Lo != float64(l) || ci.Hi != float64(u) {
					t.Errorf("n=%d q=%v conf=%v: ranks %v..%v, want %d..%d", n, q, conf, ci.Lo, ci.Hi, l, u)
				}
				if cov := ref.coverage(int(ci.Lo), int(ci.Hi)); cov < conf {
					t.Errorf("n=%d q=%v conf=%v: coverage %v < confidence", n, q, conf, cov)
				}
			}
		}
	}
}

func TestQuantileCINotOK(t *testing.T) {
	tests := []struct {
		n          int
		q, conf    float64
		wantOK     bool
		whyComment string
	}{
		{100, 99, 0.95, false, "upper rank would exceed n"},
		{367, 99, 0.95, false, "0.99^367 > 0.025"},
		{368, 99, 0.95, true, "0.99^368 <= 0.025"},
		{5, 50, 0.95, false, "0.5^5 > 0.025"},
		{6, 50, 0.95, true, "0.5^6 <= 0.025"},
		{0, 50, 0.95, false, "empty"},
		{100, 50, 1, false, "confidence out of range"},
		{100, 50, 0, false, "confidence out of range"},
		{100, 100, 0.95, false, "q out of range"},
		{100, 0, 0.95, false, "q out of range"},
	}
	for _, tt := range tests {
		ci, ok := QuantileCI(seq(tt.n), tt.q, tt.conf)
		if ok != tt.wantOK {
			t.Errorf("n=%d q=%v conf=%v (%s): ok=%v, want %v", tt.n, tt.q, tt.conf, tt.whyComment, ok, tt.wantOK)
		}
		if !ok && (!math.IsNaN(ci.Lo) || !math.IsNaN(ci.Hi)) {
			t.Errorf("n=%d q=%v: not ok but %+v", tt.n, tt.q, ci)
		}
	}
}

func TestMinSamplesForQuantileCI(t *testing.T) {
	tests := []struct {
		q, conf float64
		want    int
	}{
		{50, 0.95, 6},
		{50, 0.99, 8},
		{90, 0.95, 36},
		{95, 0.95, 72},
		{99, 0.95, 368},
		{99, 0.99, 528},
		{10, 0.95, 36}, // symmetric to p90
		{50, 0, 0},
		{100, 0.95, 0},
	}
	for _, tt := range tests {
		if got := MinSamplesForQuantileCI(tt.q, tt.conf); got != tt.want {
			t.Errorf("MinSamplesForQuantileCI(%v, %v) = %d, want %d", tt.q, tt.conf, got, tt.want)
		}
	}
	// Definition: QuantileCI fails at n-1 and succeeds at n; and n grows
	// with confidence and with q above the median.
	for _, conf := range []float64{0.8, 0.9, 0.95, 0.99} {
		prev := 0
		for _, q := range []float64{50, 60, 75, 90, 95, 99, 99.9} {
			n := MinSamplesForQuantileCI(q, conf)
			if n < prev {
				t.Errorf("conf=%v: min n for q=%v is %d < %d for smaller q", conf, q, n, prev)
			}
			prev = n
			if _, ok := QuantileCI(seq(n), q, conf); !ok {
				t.Errorf("q=%v conf=%v: QuantileCI fails at n=%d", q, conf, n)
			}
			if _, ok := QuantileCI(seq(n-1), q, conf); ok {
				t.Errorf("q=%v conf=%v: QuantileCI succeeds at n-1=%d", q, conf, n-1)
			}
			if m := MinSamplesForQuantileCI(q, conf+0.005); m < n {
				t.Errorf("q=%v: min n %d at conf %v < %d at %v", q, m, conf+0.005, n, conf)
			}
		}
	}
}

func TestSummarize(t *testing.T) {
	input := []float64{9, 4, 2, 5, 4, 7, 5, 4} // sorted: 2 4 4 4 5 5 7 9
	orig := slices.Clone(input)
	s := Summarize(input, 0.95)
	if !slices.Equal(input, orig) {
		t.Errorf("Summarize modified its input: %v", input)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	checks := []struct {
		name      string
		got, want float64
	}{
		{"N", float64(s.N), 8},
		{"Min", s.Min, 2},
		{"Max", s.Max, 9},
		{"Mean", s.Mean, 5},
		{"Stddev", s.Stddev, math.Sqrt(32.0 / 7)}, // sum of squares 32, n-1 = 7
		{"P50", s.P50, 4},                         // rank 4
		{"P90", s.P90, 9},                         // rank ceil(7.2) = 8
		{"P95", s.P95, 9},
		{"P99", s.P99, 9},
		{"IQR", s.IQR, 1}, // P75 rank 6 = 5, P25 rank 2 = 4
		{"IQR/median", s.IQROverMedian(), 0.25},
	}
	for _, c := range checks {
		if !near(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if len(s.CI) != 1 {
		t.Errorf("n=8: CI keys %v, want only p50", s.CI)
	}
	if ci, ok := s.CI["p50"]; !ok || ci != (CI{Lo: 2, Hi: 9, Confidence: 0.95}) {
		t.Errorf("n=8: CI[p50] = %+v, want {2 9 0.95}", ci) // ranks 1..8
	}

	// 1..100 shuffled: p99 CI needs 368 samples, p95 needs 72.
	shuffled := seq(100)
	slices.Reverse(shuffled)
	s = Summarize(shuffled, 0.95)
	if s.P50 != 50 || s.P90 != 90 || s.P95 != 95 || s.P99 != 99 || s.IQR != 50 || s.IQROverMedian() != 1 {
		t.Errorf("1..100: got %+v", s)
	}
	if !near(s.Mean, 50.5) || !near(s.Stddev, math.Sqrt(100*101/12.0)) {
		t.Errorf("1..100: mean %v stddev %v", s.Mean, s.Stddev)
	}
	if ci := s.CI["p50"]; ci.Lo != 40 || ci.Hi != 61 {
		t.Errorf("1..100: CI[p50] = %+v, want 40..61", ci)
	}
	for key, want := range map[string]bool{"p50": true, "p90": true, "p95": true, "p99": false} {
		if _, ok := s.CI[key]; ok != want {
			t.Errorf("1..100: CI has %q = %v, want %v", key, ok, want)
		}
	}

	one := Summarize([]float64{3}, 0.95)
	if one.N != 1 || one.Mean != 3 || one.P99 != 3 || one.IQR != 0 || !math.IsNaN(one.Stddev) || len(one.CI) != 0 {
		t.Errorf("n=1: got %+v", one)
	}
	empty := Summarize(nil, 0.95)
	if empty.N != 0 || !math.IsNaN(empty.Mean) || !math.IsNaN(empty.P50) || empty.CI == nil || len(empty.CI) != 0 {
		t.Errorf("empty: got %+v", empty)
	}
}
