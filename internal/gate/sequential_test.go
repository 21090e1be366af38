package gate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// synthetic returns a Measure drawing rounds from lognormal runs: each round drifts by
// drift (log sd) and B is slower than A by factor, with a per-round jitter of jitter.
func synthetic(seed uint64, factor, drift, jitter float64, calls *int, clock *time.Time, perRound time.Duration) Measure {
	rng := rand.New(rand.NewPCG(seed, 7))
	return func(_ context.Context, cfg ABConfig, first, n int) (a, b []Run, err error) {
		*calls++
		for r := 0; r < n; r++ {
			d := math.Exp(drift * rng.NormFloat64())
			a = append(a, lognormalRun(rng, 400, 10*d, 0.02))
			b = append(b, lognormalRun(rng, 400, 10*d*factor*math.Exp(jitter*rng.NormFloat64()), 0.02))
			if clock != nil {
				*clock = clock.Add(perRound)
			}
		}
		return a, b, nil
	}
}

func TestSpendAlpha(t *testing.T) {
	for _, tc := range []struct{ t, want float64 }{{0, 0}, {1, 0.01}, {0.5, 0.01 * math.Log(1+(math.E-1)*0.5)}, {2, 0.01}} {
		if got := SpendAlpha(0.01, tc.t); math.Abs(got-tc.want) > 1e-15 {
			t.Errorf("SpendAlpha(0.01, %g) = %g, want %g", tc.t, got, tc.want)
		}
	}
}

func TestSequential(t *testing.T) {
	opts := SeqOptions{Options: Options{Alpha: 0.01, Threshold: 0.05}, Rounds: 6, MaxLooks: 3}
	metrics := []string{"p95", "throughput"}
	cfg := []ABConfig{{Key: "m|b1", Old: "old.pt", New: "new.pt"}}
	tests := []struct {
		name                  string
		factor, drift, jitter float64
		verdict               string
		looks                 []int // rounds at each look
		stopped               string
	}{
		// A real 10%: the first look's regression is only a reason to look again; the
		// second, with alpha spent on it, confirms it.
		{"10% slower", 1.10, 0.2, 0.01, Regression, []int{6, 12}, StopConfirmed},
		// Same speed, quiet rounds: conclusive at the first look.
		{"same speed", 1, 0.2, 0.005, Pass, []int{6}, StopDecided},
		// 3% slower, rounds disagreeing by ~30%: never conclusive, never a regression.
		{"3% slower, noisy", 1.03, 0.2, 0.3, NotConclusive, []int{6, 12, 18}, StopLooks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			rep, runs, err := Sequential(context.Background(), cfg, metrics, opts, synthetic(3, tt.factor, tt.drift, tt.jitter, &calls, nil, 0))
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != tt.verdict || len(runs) != 1 || runs[0].Stopped != tt.stopped {
				t.Fatalf("verdict %q (%s), runs %+v; want %q, stopped %q", rep.Verdict, rep.Summary, runs, tt.verdict, tt.stopped)
			}
			var got []int
			for _, l := range runs[0].Looks {
				got = append(got, l.Rounds)
			}
			// Rounds are measured one at a time (the budget is checked before each).
			if len(got) != len(tt.looks) || calls != tt.looks[len(tt.looks)-1] {
				t.Fatalf("looks at %v rounds (%d measure calls), want %v", got, calls, tt.looks)
			}
			for i := range got {
				if got[i] != tt.looks[i] {
					t.Fatalf("looks at %v rounds, want %v", got, tt.looks)
				}
			}
			// Alpha spent: nothing at a first look that is not final, and never more than alpha.
			spent := 0.0
			for i, l := range runs[0].Looks {
				if i == 0 && len(runs[0].Looks) > 1 && l.Alpha != 0 {
					t.Errorf("first look spent %g, want 0", l.Alpha)
				}
				spent += l.Alpha
			}
			if spent > 0.01+1e-15 {
				t.Errorf("alpha spent %g > 0.01", spent)
			}
			for _, c := range rep.Comparisons {
				if c.Rounds != got[len(got)-1] {
					t.Errorf("%s: %d rounds, want the last look's %d", c.Metric, c.Rounds, got[len(got)-1])
				}
				if c.Verdict == Inconclusive && c.RoundsNeeded <= c.Rounds {
					t.Errorf("%s: inconclusive, rounds needed %d (of %d)", c.Metric, c.RoundsNeeded, c.Rounds)
				}
			}
			if note := rep.ConfigNotes["m|b1"]; !strings.HasPrefix(note, "A/B old.pt -> new.pt, interleaved: 6 rounds: ") || !strings.Contains(note, tt.stopped) {
				t.Errorf("config note %q", note)
			}
		})
	}
}

func TestSequentialBudget(t *testing.T) {
	// 10 s per round and a 70 s budget: the first look (6 rounds, 60 s) leaves room for one
	// more round, so the test ends at 7 rounds with all of alpha spent there.
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := 0
	opts := SeqOptions{Options: Options{Alpha: 0.01, Threshold: 0.05}, Rounds: 6, MaxLooks: 3, Budget: 70 * time.Second,
		Now: func() time.Time { return clock }}
	_, runs, err := Sequential(context.Background(), []ABConfig{{Key: "k"}}, []string{"p95"}, opts, synthetic(5, 1, 0.2, 0.15, &calls, &clock, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	looks := runs[0].Looks
	if len(looks) != 2 || looks[1].Rounds != 7 || looks[0].Alpha != 0 || math.Abs(looks[1].Alpha-0.01) > 1e-15 || runs[0].Stopped != StopBudget {
		t.Errorf("looks %+v, stopped %q; want 6 then 7 rounds, alpha 0 then 0.01, time budget reached", looks, runs[0].Stopped)
	}
}

func TestMergeAB(t *testing.T) {
	rep := &Report{Comparisons: []Comparison{
		{Key: "a", Metric: "p95", Verdict: Inconclusive, MinDetectable: 0.3},
		{Key: "b", Metric: "p95", Verdict: NoChange},
	}, OnlyInResults: []string{"c"}}
	rep.finish()
	if rep.Verdict != NotConclusive {
		t.Fatalf("before: %q", rep.Verdict)
	}
	rep.MergeAB(&Report{Comparisons: []Comparison{{Key: "a", Metric: "p95", Verdict: NoChange, Rounds: 6}, {Key: "c", Metric: "p95", Verdict: NoChange, Rounds: 6}},
		ConfigNotes: map[string]string{"a": "A/B"}})
	if rep.Verdict != Pass || len(rep.Comparisons) != 3 || rep.Comparisons[0].Rounds != 6 || len(rep.OnlyInResults) != 0 || rep.ConfigNotes["a"] != "A/B" {
		t.Errorf("after: %q (%s), %+v, only %v", rep.Verdict, rep.Summary, rep.Comparisons, rep.OnlyInResults)
	}
	// Nothing compared is never a pass.
	empty := &Report{OnlyInResults: []string{"x"}}
	empty.finish()
	if empty.Verdict != NotConclusive || empty.Summary != "nothing compared: none of the 1 configurations measured is in the baseline" {
		t.Errorf("empty: %q: %q", empty.Verdict, empty.Summary)
	}
}

// TestSequentialDecisions: the decision rule end to end on synthetic rounds (lognormal
// samples, rounds drifting together by 20%): same speed passes, +10% fails (confirmed at
// a second look), a budget that ends the test early leaves it inconclusive with the
// smallest detectable change, never a pass, and a configuration with no budget left is
// not run and says so.
func TestSequentialDecisions(t *testing.T) {
	metrics := []string{"p95", "throughput"}
	base := SeqOptions{Options: Options{Alpha: 0.01, Threshold: 0.05}, Rounds: 6, MaxLooks: 6}
	tests := []struct {
		name          string
		factor        float64
		jitter        float64
		cfgs          int
		budget        time.Duration // 10 s per round
		verdicts      []string      // per configuration, the overall verdict of its comparisons
		stopped       []string
		reason        string // in every inconclusive comparison's reason
		minDetectable bool   // inconclusive comparisons say their smallest detectable change
	}{
		{name: "equivalent", factor: 1, jitter: 0.01, cfgs: 1, verdicts: []string{Pass}, stopped: []string{StopDecided}},
		{name: "+10%", factor: 1.10, jitter: 0.01, cfgs: 1, verdicts: []string{Failed}, stopped: []string{StopConfirmed}},
		{name: "+30%", factor: 1.30, jitter: 0.01, cfgs: 1, verdicts: []string{Failed}, stopped: []string{StopConfirmed}},
		// Noisy rounds: undecided after 6 looks, so more rounds are taken, up to 36.
		{name: "noisy, too few rounds", factor: 1.02, jitter: 0.6, cfgs: 1, verdicts: []string{NotConclusive}, stopped: []string{StopLooks},
			reason: "cannot tell", minDetectable: true},
		// +30% but a budget of 65 s: 6 rounds fit, no second look: seen, not confirmed.
		{name: "budget: one look only", factor: 1.30, jitter: 0.01, cfgs: 1, budget: 65 * time.Second, verdicts: []string{NotConclusive},
			stopped: []string{StopBudget}, reason: "not confirmed: a regression needs a second look"},
		// Two configurations, 100 s: the first gets 50 s (4 rounds), the second what is
		// left (50 s, 4 rounds): neither decides, both say so.
		{name: "budget shared", factor: 1.02, jitter: 0.6, cfgs: 2, budget: 100 * time.Second, verdicts: []string{NotConclusive, NotConclusive},
			stopped: []string{StopBudget, StopBudget}, reason: "cannot tell", minDetectable: true},
		// 15 s: the first configuration gets 1 round, the second nothing.
		{name: "budget exhausted", factor: 1, jitter: 0.01, cfgs: 2, budget: 15 * time.Second, verdicts: []string{NotConclusive, NotConclusive},
			stopped: []string{StopBudget, StopNotRun}, reason: "budget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			opts := base
			opts.Budget = tt.budget
			opts.Now = func() time.Time { return clock }
			var cfgs []ABConfig
			for i := range tt.cfgs {
				cfgs = append(cfgs, ABConfig{Key: fmt.Sprintf("m%d|b1", i), Old: "/runner/base/m.pt", New: "/runner/ws/m.pt", Name: "models/m.pt"})
			}
			calls := 0
			rep, runs, err := Sequential(context.Background(), cfgs, metrics, opts, synthetic(11, tt.factor, 0.2, tt.jitter, &calls, &clock, 10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if tt.budget > 0 && clock.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) > tt.budget {
				t.Errorf("the test took %s of a %s budget", clock.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), tt.budget)
			}
			for i, cfg := range cfgs {
				var cs []Comparison
				for _, c := range rep.Comparisons {
					if c.Key == cfg.Key {
						cs = append(cs, c)
					}
				}
				sub := &Report{Comparisons: cs}
				sub.finish()
				if sub.Verdict != tt.verdicts[i] || runs[i].Stopped != tt.stopped[i] {
					t.Errorf("%s: verdict %q, stopped %q; want %q, %q (%+v)", cfg.Key, sub.Verdict, runs[i].Stopped, tt.verdicts[i], tt.stopped[i], cs)
				}
				for _, c := range cs {
					if c.Verdict == Inconclusive && (!strings.Contains(c.Reason, tt.reason) || tt.minDetectable && c.MinDetectable <= 0) {
						t.Errorf("%s %s: reason %q (smallest detectable %g); want %q", cfg.Key, c.Metric, c.Reason, c.MinDetectable, tt.reason)
					}
				}
				note := rep.ConfigNotes[cfg.Key]
				if !strings.HasPrefix(note, "A/B models/m.pt (base vs this change)") || strings.Contains(note, "/runner/") {
					t.Errorf("note %q: want the repository path, never the runner's", note)
				}
			}
			if rep.Verdict == Pass && tt.verdicts[0] != Pass {
				t.Errorf("overall pass")
			}
		})
	}
}

func TestSeqOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    SeqOptions
		want string
	}{
		{SeqOptions{Rounds: 2, MaxLooks: 3}, "A/B rounds must be >= 3"},
		{SeqOptions{Rounds: 6000, MaxLooks: 3}, "A/B rounds must be <= 200 per look"},
		{SeqOptions{Rounds: 6, MaxLooks: 1000}, "A/B looks must be between 1 and 20"},
		{SeqOptions{Rounds: 6, MaxLooks: 3, Budget: -time.Second}, "A/B budget must be >= 0"},
		{SeqOptions{Rounds: 6, MaxLooks: 3}, ""},
	} {
		err := tc.o.Validate()
		if (err == nil) != (tc.want == "") || err != nil && (!strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")) {
			t.Errorf("%+v: %v, want %q", tc.o, err, tc.want)
		}
		if tc.want != "" {
			calls := 0
			if _, _, err := Sequential(context.Background(), []ABConfig{{Key: "k"}}, []string{"p95"}, tc.o, synthetic(1, 1, 0, 0, &calls, nil, 0)); err == nil || calls != 0 {
				t.Errorf("%+v: Sequential ran %d rounds (err %v): want a refusal before anything runs", tc.o, calls, err)
			}
		}
	}
}
