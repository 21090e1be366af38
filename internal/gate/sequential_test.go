package gate

import (
	"context"
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
		{"10% slower", 1.10, 0.2, 0.01, Regression, []int{6, 12}, "regression confirmed"},
		// Same speed, quiet rounds: conclusive at the first look.
		{"same speed", 1, 0.2, 0.005, Pass, []int{6}, "conclusive: no regression"},
		// 3% slower, rounds disagreeing by ~30%: never conclusive, never a regression.
		{"3% slower, noisy", 1.03, 0.2, 0.3, NotConclusive, []int{6, 12, 18}, "all looks used"},
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
			if len(got) != len(tt.looks) || calls != len(tt.looks) {
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
	if len(looks) != 2 || looks[1].Rounds != 7 || looks[0].Alpha != 0 || math.Abs(looks[1].Alpha-0.01) > 1e-15 || runs[0].Stopped != "time budget reached" {
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
