package profile

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/testutil"
)

func TestSelfNs(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   []int64
	}{
		{"flat", []Event{{StartNs: 0, DurNs: 10}, {StartNs: 10, DurNs: 5}}, []int64{10, 5}},
		{"nested", []Event{{StartNs: 0, DurNs: 100}, {StartNs: 10, DurNs: 50}, {StartNs: 20, DurNs: 30}, {StartNs: 70, DurNs: 20}},
			[]int64{30, 20, 30, 20}},
		{"same start: the longer one encloses", []Event{{StartNs: 5, DurNs: 10}, {StartNs: 5, DurNs: 40}}, []int64{10, 30}},
		{"threads apart", []Event{{Thread: 1, StartNs: 0, DurNs: 100}, {Thread: 2, StartNs: 10, DurNs: 50}}, []int64{100, 50}},
		// A 1 µs clock can round a child up past its parent: self time never goes below 0.
		{"clamped", []Event{{StartNs: 0, DurNs: 1000}, {StartNs: 0, DurNs: 1000}, {StartNs: 0, DurNs: 1000}}, []int64{0, 0, 1000}},
		{"empty", nil, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := SelfNs(tc.events)
			if len(got) != len(tc.want) {
				t.Fatalf("SelfNs = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("SelfNs = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// forwardEvents makes one forward at start: the forward scope, a TorchScript function
// scope, and the given operators one after the other (each nested op inside the first).
func forwardEvents(start int64, ops ...Event) []Event {
	var evs []Event
	at := start + 100
	for _, o := range ops {
		o.StartNs = at
		evs = append(evs, o)
		at += o.DurNs
	}
	evs = append(evs, Event{Name: ForwardScope, Scope: true, StartNs: start, DurNs: at - start + 100})
	return evs
}

func TestSummarize(t *testing.T) {
	conv := Event{Name: "aten::conv2d", Shapes: [][]int64{{1, 3, 8, 8}, {4, 3, 3, 3}, nil, nil}, DurNs: 3000}
	relu := Event{Name: "aten::relu", Shapes: [][]int64{{1, 4, 8, 8}}, DurNs: 1000}
	fn := Event{Name: "forward", Scope: true, DurNs: 500}
	var p Pass
	for i := int64(0); i < 2; i++ {
		start := i * 100_000
		evs := forwardEvents(start, conv, relu, fn)
		// a nested call inside conv: conv's self time loses it
		evs = append(evs, Event{Name: "aten::mkldnn_convolution", Shapes: conv.Shapes, StartNs: start + 100, DurNs: 2500})
		p.Events = append(p.Events, evs...)
		p.ForwardNs = append(p.ForwardNs, 4800)
	}
	p.Forwards = 2
	got := Summarize(p)
	want := Table{Forwards: 2, ForwardMs: 0.0048, OpsMs: 0.004, BetweenMs: 0.0007, Rows: []Row{
		{Op: "aten::mkldnn_convolution", Shapes: "[1,3,8,8] [4,3,3,3]", Calls: 1, SelfMs: 0.0025},
		{Op: "aten::relu", Shapes: "[1,4,8,8]", Calls: 1, SelfMs: 0.001},
		{Op: "aten::conv2d", Shapes: "[1,3,8,8] [4,3,3,3]", Calls: 1, SelfMs: 0.0005},
	}}
	if !near(got.ForwardMs, want.ForwardMs) || !near(got.OpsMs, want.OpsMs) || !near(got.BetweenMs, want.BetweenMs) || len(got.Rows) != len(want.Rows) {
		t.Fatalf("Summarize = %+v\nwant %+v", got, want)
	}
	for i := range want.Rows {
		g, w := got.Rows[i], want.Rows[i]
		if g.Op != w.Op || g.Shapes != w.Shapes || !near(g.Calls, w.Calls) || !near(g.SelfMs, w.SelfMs) {
			t.Errorf("row %d = %+v, want %+v", i, g, w)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestShapes(t *testing.T) {
	for _, tc := range []struct {
		in   [][]int64
		want string
	}{
		{nil, ""},
		{[][]int64{{1, 3}, {}, {2}}, "[1,3] [] [2]"},
		{[][]int64{{5}, nil, nil}, "[5]"},
		{[][]int64{{}}, ""},
	} {
		if got := Shapes(tc.in); got != tc.want {
			t.Errorf("Shapes(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// table makes a round's table: op name -> self ms per forward (calls 1), plus between.
func table(between float64, ops map[string]float64) Table {
	t := Table{Forwards: 8, BetweenMs: between}
	for _, op := range slices.Sorted(maps.Keys(ops)) { // a fixed order: sums round the same way every run
		t.Rows = append(t.Rows, Row{Op: op, Shapes: "[1,8]", Calls: 1, SelfMs: ops[op]})
		t.OpsMs += ops[op]
	}
	sortRows(t.Rows)
	return t
}

// rounds makes n rounds: each op's value plus a deterministic wobble of amplitude
// noise[op] (alternating sign), so that every row has its own run-to-run spread.
func rounds(n int, between float64, ops map[string]float64, noise map[string]float64) []Table {
	var out []Table
	for i := 0; i < n; i++ {
		sign := float64(1 - 2*(i%2))
		m := map[string]float64{}
		for op, v := range ops {
			m[op] = v + sign*noise[op]*float64(1+i%3)/2
		}
		out = append(out, table(between, m))
	}
	return out
}

func TestDiff(t *testing.T) {
	base := map[string]float64{"aten::conv2d": 5, "aten::relu": 1, "aten::addmm": 2, "aten::tiny": 0.01}
	tests := []struct {
		name           string
		head           map[string]float64
		noise          map[string]float64
		timedB, timedH float64
		wantRows       []string // op:kind in order
		wantDisagree   bool
	}{
		{name: "added operator", head: with(base, "aten::gelu", 3), timedB: 8, timedH: 11,
			wantRows: []string{"aten::gelu:new"}},
		{name: "vanished operator", head: without(base, "aten::addmm"), timedB: 8, timedH: 6,
			wantRows: []string{"aten::addmm:vanished"}},
		{name: "slower operator", head: with(base, "aten::conv2d", 7), timedB: 8, timedH: 10,
			wantRows: []string{"aten::conv2d:changed"}},
		// relu's mean moves by 0.3 ms, but its rounds wobble by +-0.5 ms: noise, not a cause.
		{name: "change within its own spread", head: with(base, "aten::relu", 1.3), noise: map[string]float64{"aten::relu": 0.5},
			timedB: 8, timedH: 8.3},
		// tiny's change is beyond its (zero) spread but under 0.5% of the forward.
		{name: "below the floor", head: with(base, "aten::tiny", 0.03), timedB: 8, timedH: 8},
		{name: "same model", head: base, timedB: 8, timedH: 8},
		{name: "timed change disagrees", head: with(base, "aten::gelu", 3), timedB: 8, timedH: 8.1,
			wantRows: []string{"aten::gelu:new"}, wantDisagree: true},
		{name: "timed change of the other sign", head: with(base, "aten::gelu", 3), timedB: 8, timedH: 7,
			wantRows: []string{"aten::gelu:new"}, wantDisagree: true},
		{name: "two causes, largest first", head: with(with(base, "aten::gelu", 1), "aten::conv2d", 8), timedB: 8, timedH: 12,
			wantRows: []string{"aten::conv2d:changed", "aten::gelu:new"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := rounds(6, 0.2, base, tc.noise)
			h := rounds(6, 0.2, tc.head, tc.noise)
			a := Diff(b, h, tc.timedB, tc.timedH)
			var got []string
			for _, r := range a.Rows {
				got = append(got, r.Op+":"+r.Kind)
			}
			if strings.Join(got, " ") != strings.Join(tc.wantRows, " ") {
				t.Errorf("rows %v, want %v", got, tc.wantRows)
			}
			if a.Disagrees != tc.wantDisagree {
				t.Errorf("Disagrees = %v, want %v (profiled %+.3f, timed %+.3f)", a.Disagrees, tc.wantDisagree, a.ChangeMs, tc.timedH-tc.timedB)
			}
			// The rows and "other" add up to the profiled change.
			sum := a.OtherMs
			for _, r := range a.Rows {
				sum += r.ChangeMs
			}
			if math.Abs(sum-a.ChangeMs) > 1e-9 {
				t.Errorf("rows + other = %g, profiled change %g", sum, a.ChangeMs)
			}
			if a.Rounds != 6 || a.Forwards != 8 || a.NoEvents {
				t.Errorf("Rounds %d, Forwards %d, NoEvents %v", a.Rounds, a.Forwards, a.NoEvents)
			}
		})
	}
}

// TestDiffOneBurstRound: other work on the machine during one round inflates every operator
// of that pass; the trimmed comparison sets that round aside, so a real change still shows
// and an unchanged operator does not (the plain means' test hid the first: make e2e's
// added convolution, 3 -> 4 calls, went unshown in a CI run).
func TestDiffOneBurstRound(t *testing.T) {
	base := map[string]float64{"aten::conv2d": 5, "aten::relu": 1, "aten::addmm": 2}
	tests := []struct {
		name       string
		head       map[string]float64
		burstSide  string // which side's round 4 ran 1.6x slower
		wantRows   []string
		wantHidden string // a row that must not be shown
	}{
		{name: "burst in a base round, conv 5 -> 6", head: with(base, "aten::conv2d", 6), burstSide: "base",
			wantRows: []string{"aten::conv2d:changed"}},
		{name: "burst in a head round, conv 5 -> 6", head: with(base, "aten::conv2d", 6), burstSide: "head",
			wantRows: []string{"aten::conv2d:changed"}},
		{name: "burst in a head round, nothing changed", head: base, burstSide: "head", wantHidden: "aten::conv2d"},
	}
	noise := map[string]float64{"aten::conv2d": 0.05, "aten::relu": 0.01, "aten::addmm": 0.02}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := rounds(6, 0.2, base, noise)
			h := rounds(6, 0.2, tc.head, noise)
			side := b
			if tc.burstSide == "head" {
				side = h
			}
			for i := range side[4].Rows {
				side[4].Rows[i].SelfMs *= 1.6
			}
			side[4].OpsMs *= 1.6
			a := Diff(b, h, 8, 9)
			var got []string
			for _, r := range a.Rows {
				if r.Op == Between {
					continue
				}
				got = append(got, r.Op+":"+r.Kind)
				if r.Op == tc.wantHidden {
					t.Errorf("%s shown (change %+.3f, trimmed %+.3f, spread %.3f)", r.Op, r.ChangeMs, r.TrimmedChangeMs, r.SpreadMs)
				}
			}
			if tc.wantRows != nil && strings.Join(got, " ") != strings.Join(tc.wantRows, " ") {
				t.Errorf("rows %v, want %v", got, tc.wantRows)
			}
		})
	}
}

func TestTrimmedMean(t *testing.T) {
	tests := []struct {
		xs        []float64
		mean, se2 float64
	}{
		{xs: []float64{1, 2, 3, 4}, mean: 2.5, se2: (5.0 / 3) / 4}, // under 5 values: mean, s^2/n
		{xs: []float64{5, 5, 5, 5, 5, 8}, mean: 5, se2: 0},         // the 8 set aside
		// sorted 1..6, trimmed 2..5 (mean 3.5), winsorized 2,2,3,4,5,5 (s_w^2 = 1.9): 5*1.9/(4*3)
		{xs: []float64{6, 1, 5, 2, 4, 3}, mean: 3.5, se2: 5 * 1.9 / 12},
		{xs: []float64{7}, mean: 7, se2: 0},
	}
	for _, tc := range tests {
		m, se2 := trimmedMean(tc.xs)
		if math.Abs(m-tc.mean) > 1e-12 || math.Abs(se2-tc.se2) > 1e-12 {
			t.Errorf("trimmedMean(%v) = %g, %g; want %g, %g", tc.xs, m, se2, tc.mean, tc.se2)
		}
	}
}

func TestDiffNoEvents(t *testing.T) {
	a := Diff([]Table{{Forwards: 4, BetweenMs: 2}, {Forwards: 4, BetweenMs: 2.1}}, []Table{{Forwards: 4, BetweenMs: 3}, {Forwards: 4, BetweenMs: 3.1}}, 2, 3)
	if !a.NoEvents || !strings.Contains(a.Summary(), "no per-operator events") {
		t.Errorf("NoEvents %v, summary %q", a.NoEvents, a.Summary())
	}
}

func with(m map[string]float64, op string, v float64) map[string]float64 {
	out := map[string]float64{}
	for k, x := range m {
		out[k] = x
	}
	out[op] = v
	return out
}

func without(m map[string]float64, op string) map[string]float64 {
	out := with(m, op, 0)
	delete(out, op)
	return out
}

// hostile is an attribution whose operator names and shapes a model controls (a
// record_function name in a scripted model): markdown, HTML, mentions, pipes, workflow
// commands and newlines must come out inert.
func hostile() Attribution {
	b := rounds(12, 0.2, map[string]float64{"aten::conv2d": 5, "aten::relu": 1}, nil)
	h := rounds(12, 0.25, map[string]float64{"aten::conv2d": 5, "aten::relu": 1, "aten::mkldnn_convolution": 2.5,
		"evil|`x`<img src=x>@admin\n::error::owned": 0.8, "aten::gelu": 0.3, "aten::a": 0.2, "aten::b": 0.2, "aten::c": 0.2,
		"aten::d": 0.2, "aten::e": 0.2, "aten::f": 0.2}, nil)
	return Diff(b, h, 6.1, 10.2)
}

func TestRenderGolden(t *testing.T) {
	a := hostile()
	a.Traces = []string{"perflab-results/profiles/1-head.pt.base.trace.json", "perflab-results/profiles/1-head.pt.head.trace.json"}
	var text bytes.Buffer
	if err := a.WriteText(&text, 0); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/attribution.txt.golden", text.Bytes())
	md := a.Markdown("in models/<b>x</b>@team.pt b1 t1", a.Traces)
	testutil.Golden(t, "testdata/attribution.md.golden", []byte(md))
	// Outside code spans the markdown holds no HTML and no mention; no line of either form
	// starts a workflow command.
	outside := regexp.MustCompile("`[^`]*`").ReplaceAllString(md, "")
	for _, bad := range []string{"<img", "@admin", "<b>", "@team"} {
		if strings.Contains(outside, bad) {
			t.Errorf("markdown holds %q outside code spans", bad)
		}
	}
	for _, out := range []string{md, text.String()} {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "::") {
				t.Errorf("a line starts a workflow command: %q", l)
			}
		}
	}
	if n := strings.Count(md, "\n| +"); n > MaxCommentRows+1 {
		t.Errorf("%d rows in the comment, want at most %d and other", n, MaxCommentRows)
	}

	var tb bytes.Buffer
	tab := table(0.3, map[string]float64{"aten::conv2d": 5, "aten::relu": 1, "aten::addmm": 2, "aten::add_": 0.125})
	tab.ForwardMs = 8.6
	tab.Rows[0].Shapes = "[1,3,224,224] [64,3,7,7] [64] [2] [3] [1] [1] [4] [5] [6] [7] [8] [9] [10] [11]"
	if err := WriteTable(&tb, tab, 3); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "testdata/table.txt.golden", tb.Bytes())
}

func TestTraceParses(t *testing.T) {
	p := Pass{Forwards: 1, ForwardNs: []int64{5000}, Events: forwardEvents(0,
		Event{Name: "aten::conv2d", Shapes: [][]int64{{1, 3, 8, 8}}, Thread: 7, DurNs: 3000},
		Event{Name: "na\"me\\with\nodd", Thread: 7, DurNs: 1000})}
	path := filepath.Join(t.TempDir(), "x.trace.json")
	if err := WriteTraceFile(path, []string{"base"}, []Pass{p, p}); err != nil {
		t.Fatal(err)
	}
	n, err := CheckTrace(path)
	if err != nil || n != 2*len(p.Events) {
		t.Fatalf("CheckTrace = %d, %v; want %d events", n, err, 2*len(p.Events))
	}
	b, _ := os.ReadFile(path)
	var tr struct {
		TraceEvents []map[string]any `json:"traceEvents"`
	}
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	first := tr.TraceEvents[0]
	if first["ph"] != "M" || first["args"].(map[string]any)["name"] != "base" {
		t.Errorf("first event %v, want the process name base", first)
	}
	conv := tr.TraceEvents[1]
	if conv["name"] != "aten::conv2d" || conv["dur"].(float64) != 3 || conv["ts"].(float64) != 0.1 {
		t.Errorf("conv event %v: want microseconds (dur 3, ts 0.1)", conv)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"traceEvents":[]}`), 0o644)
	if _, err := CheckTrace(bad); err == nil {
		t.Error("an empty trace passed")
	}
}

func TestTableSaysMostlyBetween(t *testing.T) {
	for _, tc := range []struct {
		between float64
		want    bool
	}{{0.3, false}, {6, true}} {
		tab := table(tc.between, map[string]float64{"aten::add_": 2})
		tab.ForwardMs = 2 + tc.between
		var b bytes.Buffer
		WriteTable(&b, tab, 0)
		if got := strings.Contains(b.String(), "outside operators the profiler names"); got != tc.want {
			t.Errorf("between %g of %g ms: note %v, want %v:\n%s", tc.between, tab.ForwardMs, got, tc.want, b.String())
		}
	}
}

// TestTrimmedRuleUnderBursts simulates the row test (12 rounds a side, 3% noise per round,
// seeded) with and without bursts of other work (+20..80% on a round, each round with
// probability 1/6): the trimmed comparison shows a real +20% or +33% change more often than
// plain means and an unchanged operator rarely (docs/profile.md quotes these figures; go
// test -v -run TrimmedRuleUnderBursts prints them).
func TestTrimmedRuleUnderBursts(t *testing.T) {
	const n, trials = 12, 4000
	shown := func(burstP, effect float64, trim bool) float64 {
		rng := rand.New(rand.NewSource(1))
		k := 0
		for range trials {
			b, h := make([]float64, n), make([]float64, n)
			for i := range n {
				for _, side := range [][]float64{b, h} {
					f := math.Exp(0.03 * rng.NormFloat64())
					if rng.Float64() < burstP {
						f *= 1.2 + 0.6*rng.Float64()
					}
					side[i] = f * (1 + 0.03*rng.NormFloat64())
				}
				h[i] *= 1 + effect
			}
			var d, se float64
			if trim {
				tb, eb := trimmedMean(b)
				th, eh := trimmedMean(h)
				d, se = th-tb, math.Sqrt(eb+eh)
			} else {
				mb, vb := meanVar(b)
				mh, vh := meanVar(h)
				d, se = mh-mb, math.Sqrt(vb/n+vh/n)
			}
			if math.Abs(d) > SpreadK*se {
				k++
			}
		}
		return float64(k) / trials
	}
	tests := []struct {
		name           string
		burstP, effect float64
		atLeast        float64 // trimmed rule's share shown, at least
		atMost         float64 // and at most
		betterBy       float64 // more than plain means by at least
	}{
		{"no bursts, unchanged", 0, 0, 0, 0.02, -1},
		{"no bursts, +10%", 0, 0.10, 0.95, 1, -1},
		{"bursts, unchanged", 1.0 / 6, 0, 0, 0.01, -1},
		{"bursts, +20%", 1.0 / 6, 0.20, 0.55, 1, 0.15},
		{"bursts, +33%", 1.0 / 6, 0.33, 0.75, 1, 0.03},
	}
	for _, tc := range tests {
		tr, pl := shown(tc.burstP, tc.effect, true), shown(tc.burstP, tc.effect, false)
		t.Logf("%-22s trimmed %5.1f%%  plain means %5.1f%%", tc.name, 100*tr, 100*pl)
		if tr < tc.atLeast || tr > tc.atMost || tr < pl+tc.betterBy {
			t.Errorf("%s: trimmed rule shows %.1f%% (plain means %.1f%%), want %.0f-%.0f%% and %.0f points over plain means",
				tc.name, 100*tr, 100*pl, 100*tc.atLeast, 100*tc.atMost, 100*tc.betterBy)
		}
	}
}
