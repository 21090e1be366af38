package profile

import (
	"math"
	"sort"
)

// Row kinds of an attribution.
const (
	KindChanged  = "changed"  // on both sides
	KindNew      = "new"      // only in head
	KindVanished = "vanished" // only in base
)

// DiffRow is one (operator, shapes) whose self time per forward changed beyond its own
// run-to-run spread.
type DiffRow struct {
	Op       string  `json:"op"`
	Shapes   string  `json:"shapes"`
	Kind     string  `json:"kind"`
	BaseMs   float64 `json:"base_ms"`   // self time per forward, mean over the base's rounds
	HeadMs   float64 `json:"head_ms"`   // the same for head
	ChangeMs float64 `json:"change_ms"` // HeadMs - BaseMs
	// TrimmedChangeMs is the change of the rounds' trimmed means (TrimFraction of each
	// side's rounds dropped at each end), SpreadMs its standard error (Yuen's, from the
	// winsorized rounds): what decides whether the row is shown.
	TrimmedChangeMs float64 `json:"trimmed_change_ms"`
	SpreadMs        float64 `json:"spread_ms"`
	Share           float64 `json:"share"` // ChangeMs / the total profiled change
	BaseCalls       float64 `json:"base_calls"`
	HeadCalls       float64 `json:"head_calls"`
}

// Attribution says where the time of a change went, per (operator, shapes).
type Attribution struct {
	Rounds      int       `json:"rounds"`   // profiled passes per side
	Forwards    int       `json:"forwards"` // forwards per pass
	BaseMs      float64   `json:"base_ms"`  // profiled forward (operators + between), mean per forward
	HeadMs      float64   `json:"head_ms"`
	ChangeMs    float64   `json:"change_ms"`     // HeadMs - BaseMs: the total the rows share
	TimedBaseMs float64   `json:"timed_base_ms"` // the timed comparison's base and head (0: not given)
	TimedHeadMs float64   `json:"timed_head_ms"`
	Rows        []DiffRow `json:"rows"`       // beyond their spread, by |change|
	OtherMs     float64   `json:"other_ms"`   // the change of every other row, together
	OtherRows   int       `json:"other_rows"` // how many rows that is (only those that exist on a side)
	// Disagrees: the profiled change and the timed change differ too much (sign, or more
	// than DisagreeFraction of the larger) to read the rows as the timed change's cause.
	Disagrees bool `json:"disagrees,omitempty"`
	// Traces are the Chrome traces of the base's and the head's rounds (when written).
	Traces []string `json:"traces,omitempty"`
	// NoEvents: the runtime gave no per-operator events (e.g. an AOTInductor package).
	NoEvents bool `json:"no_events,omitempty"`
}

// Noise filter and agreement: a row is shown when its trimmed-mean change is beyond
// SpreadK standard errors of its own rounds (Yuen's trimmed-mean comparison: with the
// default 12 rounds a side, each side's 2 fastest and 2 slowest are set aside, so a round
// hit by other work on the machine neither hides a row nor makes one), its mean change has the same sign
// and is at least MinShareOfForward of the base's profiled forward; the
// profiled and timed changes agree when their difference is within DisagreeFraction of
// the larger of the two (and they have the same sign), or within AgreeFloor of the timed
// base's forward.
const (
	SpreadK           = 3.0
	TrimFraction      = 0.2
	MinShareOfForward = 0.005
	DisagreeFraction  = 0.5
	AgreeFloor        = 0.02
)

// Diff compares the rounds of base and head (each one Table per profiled pass, the same
// number of forwards), rows keyed by (operator, shapes); Between counts as a row.
// timedBase/timedHead are the timed comparison's figures (0: none), for the agreement note.
func Diff(base, head []Table, timedBase, timedHead float64) Attribution {
	a := Attribution{Rounds: min(len(base), len(head)), TimedBaseMs: timedBase, TimedHeadMs: timedHead}
	if len(base) == 0 || len(head) == 0 {
		return a
	}
	a.Forwards = base[0].Forwards
	type series struct {
		op, shapes   string
		base, head   []float64
		bCall, hCall float64
	}
	byKey := map[string]*series{}
	var order []string
	get := func(op, shapes string) *series {
		k := op + "\x00" + shapes
		s := byKey[k]
		if s == nil {
			s = &series{op: op, shapes: shapes, base: make([]float64, len(base)), head: make([]float64, len(head))}
			byKey[k] = s
			order = append(order, k)
		}
		return s
	}
	events := false
	for i, t := range base {
		a.BaseMs += (t.OpsMs + t.BetweenMs) / float64(len(base))
		get(Between, "").base[i] = t.BetweenMs
		for _, r := range t.Rows {
			s := get(r.Op, r.Shapes)
			s.base[i] += r.SelfMs
			s.bCall += r.Calls / float64(len(base))
			events = true
		}
	}
	for i, t := range head {
		a.HeadMs += (t.OpsMs + t.BetweenMs) / float64(len(head))
		get(Between, "").head[i] = t.BetweenMs
		for _, r := range t.Rows {
			s := get(r.Op, r.Shapes)
			s.head[i] += r.SelfMs
			s.hCall += r.Calls / float64(len(head))
			events = true
		}
	}
	a.NoEvents = !events
	a.ChangeMs = a.HeadMs - a.BaseMs
	floor := MinShareOfForward * a.BaseMs
	for _, k := range order {
		s := byKey[k]
		mb, _ := meanVar(s.base)
		mh, _ := meanVar(s.head)
		tb, eb := trimmedMean(s.base)
		th, eh := trimmedMean(s.head)
		r := DiffRow{Op: s.op, Shapes: s.shapes, BaseMs: mb, HeadMs: mh, ChangeMs: mh - mb,
			TrimmedChangeMs: th - tb, SpreadMs: math.Sqrt(eb + eh), BaseCalls: s.bCall, HeadCalls: s.hCall}
		switch {
		case s.op == Between:
			r.Kind = KindChanged
		case s.bCall == 0:
			r.Kind = KindNew
		case s.hCall == 0:
			r.Kind = KindVanished
		default:
			r.Kind = KindChanged
		}
		beyond := math.Abs(r.TrimmedChangeMs) > SpreadK*r.SpreadMs && (r.TrimmedChangeMs > 0) == (r.ChangeMs > 0)
		if beyond && math.Abs(r.ChangeMs) >= floor && r.ChangeMs != 0 {
			a.Rows = append(a.Rows, r)
		} else {
			a.OtherMs += r.ChangeMs
			a.OtherRows++
		}
	}
	for i := range a.Rows {
		if a.ChangeMs != 0 {
			a.Rows[i].Share = a.Rows[i].ChangeMs / a.ChangeMs
		}
	}
	sort.SliceStable(a.Rows, func(i, j int) bool {
		ci, cj := math.Abs(a.Rows[i].ChangeMs), math.Abs(a.Rows[j].ChangeMs)
		if ci != cj {
			return ci > cj
		}
		return a.Rows[i].Op+a.Rows[i].Shapes < a.Rows[j].Op+a.Rows[j].Shapes
	})
	if timedBase > 0 && timedHead > 0 {
		timed := timedHead - timedBase
		big := math.Max(math.Abs(timed), math.Abs(a.ChangeMs))
		// Changes within AgreeFloor of the base forward agree whatever their signs: both are noise.
		a.Disagrees = math.Abs(timed-a.ChangeMs) > AgreeFloor*timedBase &&
			((timed > 0) != (a.ChangeMs > 0) || math.Abs(timed-a.ChangeMs) > DisagreeFraction*big)
	}
	return a
}

// TimedChangeMs is the timed comparison's change (head - base), 0 when not given.
func (a Attribution) TimedChangeMs() float64 {
	if a.TimedBaseMs <= 0 || a.TimedHeadMs <= 0 {
		return 0
	}
	return a.TimedHeadMs - a.TimedBaseMs
}

// ShownShare is the share of the total profiled change the shown rows account for.
func (a Attribution) ShownShare() float64 {
	if a.ChangeMs == 0 {
		return 0
	}
	var s float64
	for _, r := range a.Rows {
		s += r.ChangeMs
	}
	return s / a.ChangeMs
}

// Trimmed is how many of n rounds a row's comparison sets aside at each end, per side.
func Trimmed(n int) int { return int(TrimFraction * float64(n)) }

// trimmedMean is the mean of xs without its TrimFraction smallest and largest values and
// the squared standard error of that mean, from the winsorized values (Yuen 1974; Wilcox,
// Introduction to Robust Estimation and Hypothesis Testing, 4.3): (n-1) s_w^2 / (h (h-1))
// with h the values kept. Fewer than 5 values: nothing trimmed, the plain mean and s^2/n.
func trimmedMean(xs []float64) (mean, se2 float64) {
	n := len(xs)
	if n == 0 {
		return 0, 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	g := Trimmed(n)
	h := n - 2*g
	mean, _ = meanVar(s[g : n-g])
	if h < 2 {
		return mean, 0
	}
	w := make([]float64, n)
	for i, x := range s {
		w[i] = min(max(x, s[g]), s[n-g-1])
	}
	_, sw2 := meanVar(w)
	return mean, float64(n-1) * sw2 / float64(h*(h-1))
}

func meanVar(xs []float64) (mean, variance float64) {
	if len(xs) == 0 {
		return 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}
