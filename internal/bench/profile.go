package bench

// Profiling: a separate pass after the timed loop (never inside it) under libtorch's
// operator profiler, summarised per (operator, shapes) by internal/profile.

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/perflab/perflab/internal/profile"
	"github.com/perflab/perflab/internal/torch"
)

// DefaultProfileForwards is how many forwards a --profile pass runs.
const DefaultProfileForwards = 30

// MaxProfileForwards bounds a profiled pass (every operator call is one event in memory).
const MaxProfileForwards = 10_000

// NoEventsNote is what a profile says when the runtime reports no operator events.
const NoEventsNote = "no per-operator events: this runtime runs the model's kernels without libtorch's operator dispatcher (AOTInductor's compiled C++), so the profiler sees only the whole forward"

// passOf converts the binding's profile into internal/profile's plain events.
func passOf(p *torch.Profile) profile.Pass {
	out := profile.Pass{Forwards: p.Forwards, ForwardNs: p.ForwardNs, Events: make([]profile.Event, len(p.Events))}
	kinds := make([]string, len(p.Instrumented))
	for i, k := range p.Instrumented {
		kinds[i] = fmt.Sprintf("%s x%d", k.Kind, k.Nodes)
	}
	out.Instrumented = strings.Join(kinds, ", ")
	for i, e := range p.Events {
		out.Events[i] = profile.Event{Name: e.Name, Shapes: e.Shapes, Thread: e.Thread, StartNs: e.StartNs, DurNs: e.DurNs, Scope: e.Scope}
	}
	return out
}

// profilePass runs one profiled pass of the runner's configuration.
func (r *runner) profilePass(forwards int) (profile.Pass, error) {
	p, err := r.module.Profile(r.inputs, forwards)
	if err != nil {
		return profile.Pass{}, fmt.Errorf("profiled forward failed: %s", torchMsg(err))
	}
	return passOf(p), nil
}

// profile runs the --profile pass after the timed loop: the table goes into the record,
// the events into the Chrome trace at c.ProfileTrace (when set).
func (r *runner) profile() error {
	c := r.c
	pass, err := r.profilePass(c.ProfileForwards)
	if err != nil {
		return err
	}
	t := profile.Summarize(pass)
	note := ""
	if len(t.Rows) == 0 {
		note = NoEventsNote
	}
	trace := ""
	if c.ProfileTrace != "" {
		if err := profile.WriteTraceFile(c.ProfileTrace, []string{r.m.Name}, []profile.Pass{pass}); err != nil {
			return fmt.Errorf("write the profile's trace: %w", err)
		}
		trace = c.ProfileTrace
	}
	r.rec.Profile = profile.Compact(t, trace, note)
	r.rec.Profile.Instrumented = pass.Instrumented
	return nil
}

// Attribution settings of an A/B: Rounds profiled passes per side, interleaved (base,
// head, head, base, ...), of Forwards forwards each.
type AttributionConfig struct {
	Rounds   int
	Forwards int
	// Traces: where to write the base's and the head's Chrome traces ("" = none).
	BaseTrace, HeadTrace string
}

// DefaultAttribution: 12 rounds of 5 forwards per side (the gate's 60 forwards in 12
// rounds: enough rounds that a row's trimmed comparison can set aside the two fastest and
// two slowest of each side, see profile.TrimFraction).
var DefaultAttribution = AttributionConfig{Rounds: 12, Forwards: 5}

// profilePair runs the attribution's interleaved profiled passes of a (base) and b (head)
// after their timed loop and diffs them; timedA/timedB are the timed comparison's figures.
func profilePair(ra, rb *runner, ac AttributionConfig, timedA, timedB float64) (profile.Attribution, error) {
	if ac.Rounds < 2 || ac.Forwards < 1 {
		return profile.Attribution{}, fmt.Errorf("attribution needs >= 2 rounds of >= 1 forward, got %d of %d", ac.Rounds, ac.Forwards)
	}
	var ta, tb []profile.Table
	var pa, pb []profile.Pass
	runtime.GC()
	for i := 0; i < ac.Rounds; i++ {
		first, second := ra, rb
		if i%2 == 1 {
			first, second = rb, ra
		}
		for _, r := range []*runner{first, second} {
			p, err := r.profilePass(ac.Forwards)
			if err != nil {
				return profile.Attribution{}, fmt.Errorf("%s: %w", r.m.Name, err)
			}
			if r == ra {
				ta, pa = append(ta, profile.Summarize(p)), append(pa, p)
			} else {
				tb, pb = append(tb, profile.Summarize(p)), append(pb, p)
			}
		}
	}
	a := profile.Diff(ta, tb, timedA, timedB)
	for _, t := range []struct {
		path  string
		label string
		p     []profile.Pass
	}{{ac.BaseTrace, "base " + filepath.Base(ra.m.Name), pa}, {ac.HeadTrace, "head " + filepath.Base(rb.m.Name), pb}} {
		if t.path == "" {
			continue
		}
		labels := make([]string, len(t.p))
		for i := range labels {
			labels[i] = fmt.Sprintf("%s, round %d", t.label, i+1)
		}
		if err := profile.WriteTraceFile(t.path, labels, t.p); err != nil {
			return a, fmt.Errorf("write the attribution's trace: %w", err)
		}
		a.Traces = append(a.Traces, t.path)
	}
	return a, nil
}
