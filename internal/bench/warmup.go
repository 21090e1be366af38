package bench

import (
	"math"
	"slices"
)

// A sweep worker warms each configuration up only while its timings are still warming
// (docs/statistics.md, "Warm-up"): after MinCalls calls (TorchScript's profiling executor
// profiles the first call and optimizes the graph on the second), it compares the median
// of the last Window calls with the median of the Window calls before; once they are
// within Tol of each other the timings are steady and warm-up stops. It never runs more
// than MaxCalls calls nor (once MinCalls are done) more than MaxNs of calls in all: a
// configuration whose timings never settle (a busy machine) stops at the cap, and its
// record says so (warmup_stop).

// Warm-up stop reasons (record.Run.WarmupStop).
const (
	WarmupStable = "stable" // two consecutive windows agreed within the tolerance
	WarmupCalls  = "calls"  // the call cap (the preset's warmup) was reached first
	WarmupTime   = "time"   // the time cap (WarmupSeconds) was reached first
)

// Warm-up rule defaults.
const (
	WarmupMinCalls = 2    // the profiling executor's profiling and optimizing calls
	WarmupTol      = 0.05 // the last window's median within 5% of the previous one's
	WarmupWindowMs = 10.0 // a window is about this long (at least 1 call, at most 8)
	maxWindow      = 8
)

// WarmupRule is the warm-up stop rule. The zero values of MaxCalls and MaxNs mean no cap.
type WarmupRule struct {
	MinCalls int     // calls always run before stability is judged
	Tol      float64 // relative difference of the two windows' medians that counts as steady
	WindowMs float64 // target length of a window; its calls are sized from the last call
	MaxCalls int     // cap on calls (0 = none)
	MaxNs    int64   // cap on the summed time of the calls (0 = none)
}

// DefaultWarmupRule is the rule with the defaults and the given caps.
func DefaultWarmupRule(maxCalls int, maxSeconds float64) WarmupRule {
	return WarmupRule{MinCalls: WarmupMinCalls, Tol: WarmupTol, WindowMs: WarmupWindowMs, MaxCalls: maxCalls, MaxNs: int64(maxSeconds * 1e9)}
}

// Window is the number of calls in a window when a call takes lastNs: about WindowMs of
// calls, at least 1 and at most 8, and small enough that MinCalls plus two windows fit
// in MaxCalls.
func (w WarmupRule) Window(lastNs int64) int {
	k := 1
	if lastNs > 0 && w.WindowMs > 0 {
		k = int(math.Ceil(w.WindowMs * 1e6 / float64(lastNs)))
	}
	k = min(max(k, 1), maxWindow)
	if w.MaxCalls > 0 {
		k = min(k, max(1, (w.MaxCalls-w.MinCalls)/2))
	}
	return k
}

// Stop says whether warm-up may stop after the calls timed so far (ns, in order), and
// why: WarmupStable, WarmupCalls or WarmupTime; "" = go on. The window is sized from the
// MinCalls-th call (the first one after the executor's optimization) and fixed from there.
func (w WarmupRule) Stop(ns []int64) (bool, string) {
	n := len(ns)
	minCalls := max(w.MinCalls, 0) // 0: the module is warm already, every call is judged
	if n < minCalls {
		return false, ""
	}
	if n > minCalls {
		k := w.Window(ns[minCalls])
		if steady := ns[minCalls:]; len(steady) >= 2*k {
			last := median(steady[len(steady)-k:])
			prev := median(steady[len(steady)-2*k : len(steady)-k])
			if prev > 0 && math.Abs(last-prev) <= w.Tol*prev {
				return true, WarmupStable
			}
		}
	}
	if w.MaxCalls > 0 && n >= w.MaxCalls {
		return true, WarmupCalls
	}
	if w.MaxNs > 0 {
		var spent int64
		for _, v := range ns {
			spent += v
		}
		if spent >= w.MaxNs {
			return true, WarmupTime
		}
	}
	return false, ""
}

func median(ns []int64) float64 {
	s := slices.Clone(ns)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return float64(s[m])
	}
	return (float64(s[m-1]) + float64(s[m])) / 2
}
