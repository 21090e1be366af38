package torch

import (
	"strings"
	"testing"
)

// TestProfileEvents runs the smallest fixture under the profiler and checks that operator
// events exist with shapes, that each forward is wrapped once, and that durations are in
// nanoseconds on this libtorch whatever unit it reports in: the wrapped forward's duration
// agrees with the forward's wall time measured around it.
func TestProfileEvents(t *testing.T) {
	m := load(t, "conv.pt")
	x := random(t, Float32, []int64{2, 3, 16, 16}, false, 0, 0, 1)
	forward(t, m, x) // warm
	const n = 5
	p, err := m.Profile([]*Tensor{x}, n)
	if err != nil {
		t.Fatalf("Profile: %v", err)
	}
	if p.Forwards != n || len(p.ForwardNs) != n {
		t.Fatalf("Forwards %d, %d forward times, want %d", p.Forwards, len(p.ForwardNs), n)
	}
	if p.ResolutionNs != 1 && p.ResolutionNs != 1000 {
		t.Errorf("ResolutionNs = %d, want 1 or 1000", p.ResolutionNs)
	}
	var scopes []OpEvent
	convs := 0
	for _, e := range p.Events {
		if e.DurNs < 0 || e.StartNs < 0 {
			t.Errorf("event %s: start %d, duration %d", e.Name, e.StartNs, e.DurNs)
		}
		switch {
		case e.Name == ForwardScope:
			if !e.Scope {
				t.Errorf("%s is not marked as a scope", e.Name)
			}
			scopes = append(scopes, e)
		case e.Name == "aten::conv2d":
			if e.Scope {
				t.Errorf("aten::conv2d is marked as a scope")
			}
			convs++
			if len(e.Shapes) == 0 || len(e.Shapes[0]) != 4 || e.Shapes[0][0] != 2 || e.Shapes[0][1] != 3 {
				t.Errorf("aten::conv2d shapes %v, want the input [2,3,16,16] first", e.Shapes)
			}
		}
	}
	if convs != n {
		t.Errorf("%d aten::conv2d events, want one per forward (%d)", convs, n)
	}
	if len(scopes) != n {
		t.Fatalf("%d %s events, want %d", len(scopes), ForwardScope, n)
	}
	// Units: the scope's duration (profiler clock) and the forward's wall time (steady
	// clock, around the scope) must agree; a microsecond/nanosecond mix-up is off by 1000x.
	var scopeNs, wallNs int64
	for i, s := range scopes {
		scopeNs += s.DurNs
		wallNs += p.ForwardNs[i]
	}
	if scopeNs <= 0 || float64(scopeNs) > 1.05*float64(wallNs)+float64(n*2*p.ResolutionNs) || float64(scopeNs) < 0.5*float64(wallNs) {
		t.Errorf("forward scopes last %d ns in all, forward wall times %d ns: units disagree", scopeNs, wallNs)
	}
	// Operators nest inside their forward's scope.
	for _, e := range p.Events {
		if !strings.HasPrefix(e.Name, "aten::") {
			continue
		}
		inside := false
		for _, s := range scopes {
			if e.StartNs >= s.StartNs-p.ResolutionNs && e.StartNs+e.DurNs <= s.StartNs+s.DurNs+2*p.ResolutionNs {
				inside = true
			}
		}
		if !inside {
			t.Errorf("%s at %d+%d ns is inside no forward scope", e.Name, e.StartNs, e.DurNs)
			break
		}
	}
}

func TestProfileRefusesNoForwards(t *testing.T) {
	m := load(t, "conv.pt")
	_, err := m.Profile(nil, 0)
	torchError(t, err, "profile")
}

// TestProfileForwardFails checks that a failing forward under the profiler is an error and
// leaves the profiler off: the next profiled pass works.
func TestProfileForwardFails(t *testing.T) {
	m := load(t, "conv.pt")
	bad := random(t, Float32, []int64{2, 5, 16, 16}, false, 0, 0, 1)
	_, err := m.Profile([]*Tensor{bad}, 2)
	torchError(t, err, "profile")
	x := random(t, Float32, []int64{2, 3, 16, 16}, false, 0, 0, 1)
	if _, err := m.Profile([]*Tensor{x}, 2); err != nil {
		t.Fatalf("Profile after a failed one: %v", err)
	}
}

func TestParseEvents(t *testing.T) {
	evs, err := parseEvents("aten::add\x1f2,3;2,3;\x1f7\x1f5000\x1f1000\x1fo\x1eforward\x1f\x1f7\x1f3000\x1f10\x1fs")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].StartNs != 2000 || evs[1].StartNs != 0 || evs[0].Thread != 7 || evs[1].DurNs != 10 || evs[0].Scope || !evs[1].Scope {
		t.Fatalf("events %+v", evs)
	}
	if got := evs[0].Shapes; len(got) != 3 || len(got[0]) != 2 || got[1][1] != 3 || got[2] != nil {
		t.Errorf("shapes %v, want [[2 3] [2 3] []]", got)
	}
	if _, err := parseEvents("x\x1f\x1f1"); err == nil {
		t.Error("a short record parsed")
	}
}

// TestProfileInstruments checks that operators the dispatcher does not see are named: after
// freeze + optimize_for_inference (compile on) conv.pt's convolution is a prepacked oneDNN
// kernel (prim::mkldnn_convolution, on 1.13 and 2.6 alike) that no profiler event named
// before. The instrumented copy must name it once per forward, with its input's shape,
// nested in the forward's scope, take most of the forward's time, and leave the module's
// own outputs as they were; the plain module (compile off) is profiled as it is.
func TestProfileInstruments(t *testing.T) {
	plain := load(t, "conv.pt")
	m, err := plain.Optimize()
	if err != nil {
		t.Fatalf("Optimize: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	x := random(t, Float32, []int64{2, 3, 32, 32}, false, 0, 0, 1)
	before := forward(t, m, x)
	const n = 4
	tests := []struct {
		name     string
		m        *Module
		wantKind string // the instrumented node kind, "" = none
	}{
		{"compile off", plain, ""},
		{"compile on", m, "prim::mkldnn_convolution"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for round := 0; round < 2; round++ { // the instrumented copy is made once and reused
				p, err := tc.m.Profile([]*Tensor{x}, n)
				if err != nil {
					t.Fatalf("Profile: %v", err)
				}
				var kinds []string
				for _, k := range p.Instrumented {
					kinds = append(kinds, k.Kind)
				}
				if tc.wantKind == "" {
					if len(kinds) != 0 {
						t.Fatalf("instrumented %v, want nothing", p.Instrumented)
					}
					continue
				}
				if len(p.Instrumented) != 1 || p.Instrumented[0] != (NodeCount{tc.wantKind, 1}) {
					t.Fatalf("instrumented %v, want one %s node", p.Instrumented, tc.wantKind)
				}
				var convNs, fwdNs int64
				convs := 0
				for _, e := range p.Events {
					switch e.Name {
					case tc.wantKind:
						convs++
						convNs += e.DurNs
						if e.Scope {
							t.Errorf("%s is marked as a scope", e.Name)
						}
						if len(e.Shapes) == 0 || len(e.Shapes[0]) != 4 || e.Shapes[0][0] != 2 || e.Shapes[0][1] != 3 || e.Shapes[0][2] != 32 {
							t.Errorf("%s shapes %v, want the input [2,3,32,32] first", e.Name, e.Shapes)
						}
					case ForwardScope:
						fwdNs += e.DurNs
					}
				}
				if convs != n {
					t.Fatalf("%d %s events, want one per forward (%d); events: %d", convs, tc.wantKind, n, len(p.Events))
				}
				if convNs <= 0 || convNs > fwdNs {
					t.Errorf("%s took %d ns of the forwards' %d ns", tc.wantKind, convNs, fwdNs)
				}
			}
		})
	}
	after := forward(t, m, x)
	if d, _, err := before.MaxAbsDiff(after); err != nil || d != 0 {
		t.Errorf("the module's outputs changed after profiling: largest difference %g (%v)", d, err)
	}
}
