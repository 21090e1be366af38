package report

import (
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/record"
)

// withRuns gives r one run per p95 value, in processes w1, w2, ... (tput scaled alike).
func withRuns(r *record.Record, p95s ...float64) *record.Record {
	for i, v := range p95s {
		r.Runs = append(r.Runs, record.Run{Worker: "w" + string(rune('1'+i)), Status: record.StatusOK,
			P50: v * 0.8, P90: v * 0.95, P95: v, P99: v * 1.2, ThroughputRPS: r.ThroughputRPS * r.LatencyP95 / v})
	}
	return r
}

// TestBetweenProcessTies: with runs, ties are decided on the between-process intervals,
// not on the (much narrower) within-run CIs.
func TestBetweenProcessTies(t *testing.T) {
	tests := []struct {
		name string
		a, b *record.Record
		tie  bool
	}{
		// Within-run CIs apart, but the processes scatter over each other: a tie.
		{"processes overlap", withRuns(cfg{threads: 1, p95: 10, lo: 9.9, hi: 10.1, tput: 100}.rec(), 9, 10, 11),
			withRuns(cfg{threads: 2, p95: 10.5, lo: 10.4, hi: 10.6, tput: 103}.rec(), 9.5, 10.5, 11.5), true},
		// Within-run CIs overlap, but the processes agree tightly on a difference: no tie.
		{"processes apart", withRuns(cfg{threads: 1, p95: 10, lo: 8, hi: 14, tput: 100}.rec(), 9.9, 10, 10.1),
			withRuns(cfg{threads: 2, p95: 12, lo: 9, hi: 15, tput: 103}.rec(), 11.9, 12, 12.1), false},
		// Old records (no runs): the within-run CIs, as before.
		{"no runs", cfg{threads: 1, p95: 10, lo: 9.9, hi: 10.1, tput: 100}.rec(), cfg{threads: 2, p95: 10.5, lo: 10.4, hi: 10.6, tput: 103}.rec(), false},
	}
	for _, tt := range tests {
		rep, err := Compute([]*record.Record{tt.a, tt.b}, Options{Constraint: Throughput, Percentile: "p95"})
		if err != nil {
			t.Fatal(err)
		}
		r := rep.Recommendations[0]
		if r.Tie != tt.tie {
			t.Errorf("%s: tie = %v, want %v (%s)", tt.name, r.Tie, tt.tie, r.Reason)
		}
		if tt.tie && (r.Chosen.Threads != 1 || !strings.Contains(r.Reason, "between-process CIs overlap")) {
			t.Errorf("%s: chose %s: %s", tt.name, r.Chosen.Label(), r.Reason)
		}
	}
}

// TestPairedEffects: compile on vs off measured in the same processes gives a paired
// effect with its interval; threads (other processes) stay unpaired.
func TestPairedEffects(t *testing.T) {
	rs := []*record.Record{
		withRuns(cfg{p95: 10, tput: 100}.rec(), 9, 10, 11),
		withRuns(cfg{compile: true, p95: 5, tput: 200}.rec(), 4.5, 5, 5.5), // 2x in every process
		withRuns(cfg{threads: 2, p95: 6, tput: 160}.rec(), 6, 6, 6),
	}
	rs[2].Runs[0].Worker, rs[2].Runs[1].Worker, rs[2].Runs[2].Worker = "x1", "x2", "x3"
	rep, err := Compute(rs, Options{Constraint: Throughput, Percentile: "p95"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Effect{}
	for _, e := range rep.Effects {
		got[e.Knob] = e
	}
	c := got["compile"]
	if c.Paired != 3 || c.PairedSpeedup < 1.999 || c.PairedSpeedup > 2.001 || c.PairedCI.Lo > 2 || c.PairedCI.Hi < 2 {
		t.Errorf("compile effect %+v, want paired 3 at 2x", c)
	}
	if !strings.Contains(c.Summary(), "2.0x faster p95 on m (paired in 3 worker processes over 1 pair, 95% CI 2.0x to 2.0x)") {
		t.Errorf("summary %q", c.Summary())
	}
	if th := got["threads"]; th.Paired != 0 || strings.Contains(th.Summary(), "paired") {
		t.Errorf("threads effect paired across processes: %+v", th)
	}
}
