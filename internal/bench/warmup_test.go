package bench_test

import (
	"testing"

	"github.com/perflab/perflab/internal/bench"
)

// msSeq makes a sequence of call times in nanoseconds from milliseconds.
func msSeq(v ...float64) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x * 1e6)
	}
	return out
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestWarmupRule runs the stop rule over synthetic call sequences, as the worker does:
// one call at a time, stopping at the first call where Stop says so.
func TestWarmupRule(t *testing.T) {
	noisy := []float64{300, 200} // the profiling executor's two calls
	for i := 0; i < 60; i++ {    // 5, 9, 14 ms over and over: no two windows of 2 calls agree within 5%
		noisy = append(noisy, []float64{5, 9, 14}[i%3])
	}
	tests := []struct {
		name      string
		rule      bench.WarmupRule
		calls     []float64 // ms, the times the calls would take
		wantCalls int       // calls run before stopping
		wantWhy   string
	}{
		{
			// Two slow executor calls, then steady at 5 ms: windows of 2 calls (10 ms), two
			// of them after the first 2 calls.
			name: "stable after the executor's calls", rule: bench.DefaultWarmupRule(20, 1),
			calls: append([]float64{300, 200}, repeat(5, 30)...), wantCalls: 2 + 2*2, wantWhy: bench.WarmupStable,
		},
		{
			// Still warming: 20, 16, 12, 9, 7, 6, 5.5 ms, then steady; the window is sized
			// from the third call (20 ms: 1 call), so each call is compared with the one before.
			name: "warming then stable", rule: bench.DefaultWarmupRule(50, 10),
			calls:     append([]float64{300, 200, 20, 16, 12, 9, 7, 6, 5.5, 5.3}, repeat(5, 30)...),
			wantCalls: 10, wantWhy: bench.WarmupStable, // 5.3 vs 5.5: within 5%; 5.5 vs 6 was not
		},
		{
			name: "noisy, never stable: the call cap", rule: bench.DefaultWarmupRule(20, 10),
			calls: noisy, wantCalls: 20, wantWhy: bench.WarmupCalls,
		},
		{
			name: "noisy, never stable: the time cap", rule: bench.DefaultWarmupRule(1000, 0.6),
			calls: noisy, wantCalls: 14, wantWhy: bench.WarmupTime, // 500 + 5+9+14+... reaches 600 ms at call 14
		},
		{
			// Slow executor calls past the time cap: the 2 calls still run, then it stops.
			name: "the first two calls exceed the time cap", rule: bench.DefaultWarmupRule(20, 0.25),
			calls: append([]float64{300, 200}, repeat(100, 10)...), wantCalls: 2, wantWhy: bench.WarmupTime,
		},
		{
			name: "a cap below the minimum still runs the minimum", rule: bench.DefaultWarmupRule(1, 0),
			calls: append([]float64{300, 200}, repeat(5, 10)...), wantCalls: 2, wantWhy: bench.WarmupCalls,
		},
		{
			// A sweep worker's rule: preparation made the first call, so one more is never
			// judged; then windows of 2 calls at 5 ms.
			name: "one call already made in preparation", rule: bench.WarmupRule{MinCalls: 1, Tol: 0.05, WindowMs: 10, MaxCalls: 10, MaxNs: 250e6},
			calls: append([]float64{200}, repeat(5, 10)...), wantCalls: 1 + 2*2, wantWhy: bench.WarmupStable,
		},
		{
			// A module warm already (its executor's two calls made at another batch size,
			// this batch size's first call made by the guard): every call is judged; 61 and
			// 60 ms agree within 5%.
			name: "a warm module: judged from the first call", rule: bench.WarmupRule{MinCalls: 0, Tol: 0.05, WindowMs: 10, MaxCalls: 10, MaxNs: 250e6},
			calls: []float64{61, 60, 60, 60}, wantCalls: 2, wantWhy: bench.WarmupStable,
		},
		{
			// ...and still warming when its calls say so: the window is sized from the first
			// call (30 ms: 1 call), 5 vs 30 ms does not agree, 5 vs 5 does.
			name: "a warm module still warming: the windows decide", rule: bench.WarmupRule{MinCalls: 0, Tol: 0.05, WindowMs: 10, MaxCalls: 10, MaxNs: 250e6},
			calls: []float64{30, 5, 5, 5, 5}, wantCalls: 3, wantWhy: bench.WarmupStable,
		},
		{
			// A slow configuration (60 ms a call): windows of 1 call; steady from the 3rd.
			name: "slow calls: windows of one call", rule: bench.DefaultWarmupRule(20, 10),
			calls: append([]float64{900, 400}, 61, 60, 60, 60), wantCalls: 4, wantWhy: bench.WarmupStable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := msSeq(tt.calls...)
			for n := 1; n <= len(seq); n++ {
				stop, why := tt.rule.Stop(seq[:n])
				if !stop {
					continue
				}
				if n != tt.wantCalls || why != tt.wantWhy {
					t.Fatalf("stopped after %d calls (%s), want %d (%s)", n, why, tt.wantCalls, tt.wantWhy)
				}
				return
			}
			t.Fatalf("never stopped over %d calls, want %d (%s)", len(seq), tt.wantCalls, tt.wantWhy)
		})
	}
}

func TestWarmupWindow(t *testing.T) {
	r := bench.DefaultWarmupRule(100, 1)
	for _, tt := range []struct {
		lastMs float64
		want   int
	}{{0.5, 8}, {1, 8}, {2, 5}, {5, 2}, {10, 1}, {60, 1}} {
		if got := r.Window(int64(tt.lastMs * 1e6)); got != tt.want {
			t.Errorf("window at %g ms a call: %d calls, want %d", tt.lastMs, got, tt.want)
		}
	}
	if got := bench.DefaultWarmupRule(10, 1).Window(int64(0.5e6)); got != 4 {
		t.Errorf("window with a 10-call cap: %d, want 4 (2 + 2 windows fit in the cap)", got)
	}
}
