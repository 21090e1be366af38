package report

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
)

// cfg builds a successful record: p95 with its CI [lo, hi] (no CI when lo == hi == 0),
// the other percentiles derived from p95, and the throughput.
type cfg struct {
	model   string
	batch   int
	threads int
	compile bool
	cl      bool
	p95     float64
	lo, hi  float64
	tput    float64
}

func (c cfg) rec() *record.Record {
	if c.model == "" {
		c.model = "m"
	}
	if c.batch == 0 {
		c.batch = 1
	}
	if c.threads == 0 {
		c.threads = 1
	}
	compile := "off"
	if c.compile {
		compile = "on"
	}
	r := &record.Record{
		SchemaVersion: 1, Status: record.StatusOK, Knobs: knobs.Knobs{Model: c.model, Device: "cpu", BatchSize: c.batch, Compile: compile, Threads: c.threads, InteropThreads: 1, ChannelsLast: c.cl},
		CompileApplied: c.compile,
		Iters:          200, LatencyP50: c.p95 * 0.8, LatencyP90: c.p95 * 0.95, LatencyP95: c.p95, LatencyP99: c.p95 * 1.2,
		ThroughputRPS: c.tput, Env: &record.Env{Fingerprint: "fp1", CPUModel: "cpu"},
	}
	if c.lo != 0 || c.hi != 0 {
		r.LatencyCI = map[string]stats.CI{"p95": {Lo: c.lo, Hi: c.hi, Confidence: 0.95}}
	}
	return r
}

func recs(cs ...cfg) []*record.Record {
	var out []*record.Record
	for _, c := range cs {
		out = append(out, c.rec())
	}
	return out
}

func failed(c cfg, msg string) *record.Record {
	r := c.rec()
	r.Status, r.Error = record.StatusFailed, msg
	r.LatencyCI = nil
	r.LatencyP50, r.LatencyP90, r.LatencyP95, r.LatencyP99, r.ThroughputRPS = 0, 0, 0, 0, 0
	return r
}

func differs(c cfg) *record.Record {
	r := c.rec()
	r.Correctness = &record.Correctness{Reference: "plain", RelDiff: 0.5, Tolerance: 1e-3, OK: false}
	return r
}

func mustCompute(t *testing.T, rs []*record.Record, o Options) *Report {
	t.Helper()
	rep, err := Compute(rs, o)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	return rep
}

func TestRecommendConstraints(t *testing.T) {
	// Three configurations with disjoint CIs and throughputs far apart:
	//   fast:  p95 10 ms, 100 req/s  (ratio 10)
	//   mid:   p95 30 ms, 450 req/s  (ratio 15)
	//   big:   p95 80 ms, 900 req/s  (ratio 11.25)
	fast := cfg{batch: 1, p95: 10, lo: 9.5, hi: 10.5, tput: 100}
	mid := cfg{batch: 4, p95: 30, lo: 29, hi: 31, tput: 450}
	big := cfg{batch: 16, p95: 80, lo: 78, hi: 83, tput: 900}
	all := recs(fast, mid, big)

	tests := []struct {
		name       string
		opts       Options
		wantBatch  int // 0 = none
		wantRunner int
		reason     []string
	}{
		{"throughput", Options{Throughput, "p95", 0}, 16, 4, []string{"highest throughput (900.0 req/s", "of 3 usable configurations"}},
		{"throughput ignores the budget", Options{Throughput, "p95", 20}, 16, 4, []string{"exceeds the 20 ms budget"}},
		{"latency within 50", Options{Latency, "p95", 50}, 4, 1, []string{"2 of 3 usable configurations within p95 <= 50 ms"}},
		{"latency within 100", Options{Latency, "p95", 100}, 16, 4, nil},
		{"latency within 10 (inclusive)", Options{Latency, "p95", 10}, 1, 0, nil},
		{"balanced", Options{Balanced, "p95", 0}, 4, 16, []string{"best throughput/p95 ratio (15.0 req/s per ms"}},
		{"balanced within budget", Options{Balanced, "p95", 20}, 1, 0, []string{"1 of 3 usable configurations within p95 <= 20 ms"}},
		{"balanced at p50", Options{Balanced, "p50", 0}, 4, 16, []string{"throughput/p50"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := mustCompute(t, all, tt.opts)
			if len(rep.Recommendations) != 1 {
				t.Fatalf("got %d recommendations, want 1", len(rep.Recommendations))
			}
			r := rep.Recommendations[0]
			if r.None || r.Chosen == nil {
				t.Fatalf("no recommendation: %s", r.Reason)
			}
			if r.Chosen.BatchSize != tt.wantBatch {
				t.Errorf("chosen batch %d, want %d (reason %q)", r.Chosen.BatchSize, tt.wantBatch, r.Reason)
			}
			switch {
			case tt.wantRunner == 0 && r.RunnerUp != nil:
				t.Errorf("runner-up batch %d, want none", r.RunnerUp.BatchSize)
			case tt.wantRunner != 0 && (r.RunnerUp == nil || r.RunnerUp.BatchSize != tt.wantRunner):
				t.Errorf("runner-up %+v, want batch %d", r.RunnerUp, tt.wantRunner)
			}
			if r.Tie {
				t.Errorf("Tie set for clearly different configurations")
			}
			for _, s := range tt.reason {
				if !strings.Contains(r.Reason, s) {
					t.Errorf("reason %q does not contain %q", r.Reason, s)
				}
			}
		})
	}
}

func TestRecommendNothingFits(t *testing.T) {
	rs := recs(
		cfg{batch: 1, p95: 30, lo: 29, hi: 31, tput: 30},
		cfg{batch: 1, threads: 2, p95: 25, lo: 24, hi: 26, tput: 40},
		cfg{batch: 4, p95: 90, lo: 85, hi: 95, tput: 45},
	)
	// An unusable config below the budget must not count as the closest one either.
	rs = append(rs, differs(cfg{batch: 2, p95: 5, lo: 4.8, hi: 5.2, tput: 400}))
	for _, c := range []string{Latency, Balanced} {
		t.Run(c, func(t *testing.T) {
			rep := mustCompute(t, rs, Options{c, "p95", 20})
			r := rep.Recommendations[0]
			if !r.None || r.Chosen != nil {
				t.Fatalf("got a recommendation (%v), want none", r.Chosen)
			}
			if r.Closest == nil || r.Closest.Threads != 2 || r.Closest.Lat("p95") != 25 {
				t.Fatalf("closest = %+v, want the p95 25 ms config", r.Closest)
			}
			for _, s := range []string{"no usable configuration has p95 <= 20 ms", "closest: batch 1, compile off, 2 threads", "25.0 ms", "5.00 ms (25%) over the budget"} {
				if !strings.Contains(r.Reason, s) {
					t.Errorf("reason %q does not contain %q", r.Reason, s)
				}
			}
		})
	}
}

func TestRecommendNeverFailedOrDiffering(t *testing.T) {
	ok := cfg{batch: 1, p95: 20, lo: 19, hi: 21, tput: 50}
	rs := []*record.Record{
		ok.rec(),
		failed(cfg{batch: 8, p95: 1, tput: 1e6}, "out of memory"),
		differs(cfg{batch: 4, compile: true, p95: 2, lo: 1.9, hi: 2.1, tput: 2000}),
	}
	for _, c := range Constraints {
		t.Run(c, func(t *testing.T) {
			rep := mustCompute(t, rs, Options{c, "p95", 100})
			r := rep.Recommendations[0]
			if r.Chosen == nil || r.Chosen.BatchSize != 1 {
				t.Fatalf("chosen %+v, want batch 1: %s", r.Chosen, r.Reason)
			}
			if r.RunnerUp != nil {
				t.Errorf("runner-up %s, want none (the others are not usable)", r.RunnerUp.Label())
			}
			if !strings.Contains(r.Reason, "2 configurations were excluded") {
				t.Errorf("reason %q does not say 2 were excluded", r.Reason)
			}
		})
	}
	rep := mustCompute(t, rs, Options{Balanced, "p95", 0})
	if len(rep.Failures) != 2 {
		t.Fatalf("%d failures, want 2: %+v", len(rep.Failures), rep.Failures)
	}
	var sawFailed, sawDiffer bool
	for _, f := range rep.Failures {
		if f.Failed && f.Reason == "out of memory" {
			sawFailed = true
		}
		if !f.Failed && strings.Contains(f.Reason, "outputs differ") {
			sawDiffer = true
		}
	}
	if !sawFailed || !sawDiffer {
		t.Errorf("failures %+v: want the failed and the differing config", rep.Failures)
	}
}

func TestRecommendAllUnusable(t *testing.T) {
	rs := []*record.Record{failed(cfg{p95: 1, tput: 1}, "boom"), differs(cfg{batch: 2, p95: 3, lo: 2, hi: 4, tput: 10})}
	rep := mustCompute(t, rs, Options{Throughput, "p95", 0})
	r := rep.Recommendations[0]
	if !r.None || r.Chosen != nil || r.Closest != nil {
		t.Fatalf("got %+v, want none without closest", r)
	}
	if !strings.Contains(r.Reason, "no usable configuration") {
		t.Errorf("reason %q", r.Reason)
	}
}

func TestRecommendTies(t *testing.T) {
	tests := []struct {
		name        string
		cs          []cfg
		o           Options
		wantThreads int
		wantBatch   int
		tie         bool
		reason      []string
	}{
		{
			name: "overlapping CIs and throughput within 5%: fewer threads wins",
			cs: []cfg{
				{threads: 4, p95: 10.0, lo: 9.6, hi: 10.4, tput: 104},
				{threads: 2, p95: 10.1, lo: 9.7, hi: 10.5, tput: 101},
				{threads: 1, p95: 10.3, lo: 9.9, hi: 10.8, tput: 100},
			},
			o: Options{Throughput, "p95", 0}, wantThreads: 1, wantBatch: 1, tie: true,
			reason: []string{"statistically indistinguishable from batch 1, compile off, 4 threads", "fewer threads (1 vs 4)"},
		},
		{
			name: "the top one is already the cheapest",
			cs: []cfg{
				{threads: 1, p95: 10.0, lo: 9.6, hi: 10.4, tput: 104},
				{threads: 2, p95: 10.1, lo: 9.7, hi: 10.5, tput: 101},
			},
			o: Options{Throughput, "p95", 0}, wantThreads: 1, wantBatch: 1, tie: true,
			reason: []string{"indistinguishable from 1 other configuration", "already the cheapest of them"},
		},
		{
			name: "throughput within 5% but CIs disjoint: no tie",
			cs: []cfg{
				{threads: 2, p95: 10.0, lo: 9.8, hi: 10.2, tput: 104},
				{threads: 1, p95: 11.0, lo: 10.8, hi: 11.2, tput: 101},
			},
			o: Options{Throughput, "p95", 0}, wantThreads: 2, wantBatch: 1,
		},
		{
			name: "CIs overlap but throughput 10% apart: no tie",
			cs: []cfg{
				{threads: 2, p95: 10.0, lo: 9.6, hi: 10.4, tput: 110},
				{threads: 1, p95: 10.1, lo: 9.7, hi: 10.5, tput: 100},
			},
			o: Options{Throughput, "p95", 0}, wantThreads: 2, wantBatch: 1,
		},
		{
			name: "no CI: never a tie, and the reason says so",
			cs: []cfg{
				{threads: 2, p95: 10.0, tput: 104},
				{threads: 1, p95: 10.1, tput: 101},
			},
			o: Options{Throughput, "p95", 0}, wantThreads: 2, wantBatch: 1,
			reason: []string{"no CI for p95, so no tie can be established"},
		},
		{
			name: "equal threads: smaller batch wins",
			cs: []cfg{
				{batch: 2, threads: 1, p95: 10.0, lo: 9.6, hi: 10.4, tput: 104},
				{batch: 1, threads: 1, p95: 10.1, lo: 9.7, hi: 10.5, tput: 101},
			},
			o: Options{Latency, "p95", 50}, wantThreads: 1, wantBatch: 1, tie: true,
			reason: []string{"smaller batch (1 vs 2)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := mustCompute(t, recs(tt.cs...), tt.o)
			r := rep.Recommendations[0]
			if r.Chosen == nil {
				t.Fatalf("none: %s", r.Reason)
			}
			if r.Chosen.Threads != tt.wantThreads || r.Chosen.BatchSize != tt.wantBatch {
				t.Errorf("chosen %s, want %d threads batch %d (reason %q)", r.Chosen.Label(), tt.wantThreads, tt.wantBatch, r.Reason)
			}
			if r.Tie != tt.tie {
				t.Errorf("Tie = %v, want %v (reason %q)", r.Tie, tt.tie, r.Reason)
			}
			for _, s := range tt.reason {
				if !strings.Contains(r.Reason, s) {
					t.Errorf("reason %q does not contain %q", r.Reason, s)
				}
			}
		})
	}
}

func TestRecommendIndistinguishable(t *testing.T) {
	e := func(v, lo, hi, tput float64, ci bool) *Entry {
		return &Entry{Latency: map[string]Pct{"p95": {Value: v, CI: stats.CI{Lo: lo, Hi: hi}, HasCI: ci}}, ThroughputRPS: tput}
	}
	tests := []struct {
		a, b *Entry
		want bool
	}{
		{e(10, 9, 11, 100, true), e(10.5, 10, 12, 96, true), true},
		{e(10, 9, 11, 100, true), e(10.5, 11, 12, 100, true), true}, // touching CIs overlap
		{e(10, 9, 11, 100, true), e(12, 11.1, 13, 100, true), false},
		{e(10, 9, 11, 100, true), e(10, 9, 11, 94.9, true), false},
		{e(10, 9, 11, 100, true), e(10, 9, 11, 100, false), false},
		{e(10, 9, 11, 100, false), e(10, 9, 11, 100, false), false},
	}
	for i, tt := range tests {
		if got := Indistinguishable(tt.a, tt.b, "p95"); got != tt.want {
			t.Errorf("%d: Indistinguishable = %v, want %v", i, got, tt.want)
		}
		if got := Indistinguishable(tt.b, tt.a, "p95"); got != tt.want {
			t.Errorf("%d: not symmetric", i)
		}
	}
}

func TestRecommendOptionsValidate(t *testing.T) {
	tests := []struct {
		o    Options
		want string // "" = valid
	}{
		{Options{Balanced, "p95", 0}, ""},
		{Options{Throughput, "p99", 0}, ""},
		{Options{Latency, "p50", 5}, ""},
		{Options{Latency, "p95", 0}, "--constraint latency needs --latency-budget-ms"},
		{Options{"fast", "p95", 0}, `--constraint must be one of balanced, latency, throughput, got "fast"`},
		{Options{Balanced, "p97", 0}, `--latency-pct must be p50, p90, p95 or p99, got "p97"`},
		{Options{Balanced, "p95", -1}, "--latency-budget-ms must be a positive number"},
		{Options{Balanced, "p95", math.NaN()}, "--latency-budget-ms must be a positive number"},
	}
	for _, tt := range tests {
		err := tt.o.Validate()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.o, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: error %v, want %q", tt.o, err, tt.want)
		}
		if _, cerr := Compute(recs(cfg{p95: 1, tput: 1}), tt.o); (cerr == nil) != (tt.want == "") {
			t.Errorf("%+v: Compute error %v disagrees with Validate", tt.o, cerr)
		}
	}
}

func TestRecommendMergeRepeatsPooled(t *testing.T) {
	a, b := cfg{p95: 1, tput: 90}.rec(), cfg{p95: 1, tput: 110}.rec()
	a.Repeat, b.Repeat = 1, 2
	for i := range 60 {
		a.SamplesMs = append(a.SamplesMs, 10+float64(i%10)/10)
		b.SamplesMs = append(b.SamplesMs, 12+float64(i%7)/10)
	}
	a.Iters, b.Iters = 60, 60
	rep := mustCompute(t, []*record.Record{a, b}, Options{Balanced, "p95", 0})
	if len(rep.Entries) != 1 {
		t.Fatalf("%d entries, want 1 (same key)", len(rep.Entries))
	}
	e := rep.Entries[0]
	want := stats.Summarize(append(slices.Clone(a.SamplesMs), b.SamplesMs...), 0.95)
	if e.Runs != 2 || !e.Pooled || e.Iters != 120 {
		t.Errorf("Runs %d Pooled %v Iters %d, want 2 true 120", e.Runs, e.Pooled, e.Iters)
	}
	for _, p := range []struct {
		k string
		v float64
	}{{"p50", want.P50}, {"p90", want.P90}, {"p95", want.P95}, {"p99", want.P99}} {
		if got := e.Lat(p.k); got != p.v {
			t.Errorf("%s = %v, want %v (pooled)", p.k, got, p.v)
		}
	}
	if l := e.Latency["p95"]; !l.HasCI || l.CI != want.CI["p95"] {
		t.Errorf("p95 CI %+v, want %+v", l, want.CI["p95"])
	}
	if e.ThroughputRPS != 100 {
		t.Errorf("throughput %v, want the mean 100", e.ThroughputRPS)
	}
}

func TestRecommendMergeRepeatsWithoutSamples(t *testing.T) {
	rs := recs(cfg{p95: 10, lo: 9, hi: 11, tput: 100}, cfg{p95: 30, lo: 29, hi: 31, tput: 50}, cfg{p95: 12, lo: 11, hi: 13, tput: 80})
	rep := mustCompute(t, rs, Options{Balanced, "p95", 0})
	if len(rep.Entries) != 1 {
		t.Fatalf("%d entries, want 1", len(rep.Entries))
	}
	e := rep.Entries[0]
	if e.Lat("p95") != 12 || e.ThroughputRPS != 80 {
		t.Errorf("p95 %v throughput %v, want the medians 12 and 80", e.Lat("p95"), e.ThroughputRPS)
	}
	if e.Latency["p95"].HasCI {
		t.Errorf("a CI for a median of runs without samples: %+v", e.Latency["p95"])
	}
	if !slices.Contains(e.Notes, "median of 3 runs") {
		t.Errorf("notes %q", e.Notes)
	}
}

func TestRecommendFailedRunOfASuccessfulConfigIsDropped(t *testing.T) {
	c := cfg{p95: 10, lo: 9, hi: 11, tput: 100}
	rs := []*record.Record{failed(c, "killed"), c.rec()}
	rep := mustCompute(t, rs, Options{Throughput, "p95", 0})
	if len(rep.Failures) != 0 {
		t.Errorf("failures %+v, want none: the config succeeded in another run", rep.Failures)
	}
	if len(rep.Entries) != 1 || rep.Entries[0].Runs != 1 || !slices.Contains(rep.Entries[0].Notes, "1 of 2 runs failed") {
		t.Errorf("entries %+v", rep.Entries)
	}
	if rep.Recommendations[0].Chosen == nil {
		t.Errorf("no recommendation")
	}
}

func TestRecommendSeedRecords(t *testing.T) {
	rs, err := record.ReadFile("testdata/seed.jsonl", func(le *record.LineError) { t.Errorf("bad line: %v", le) })
	if err != nil {
		t.Fatal(err)
	}
	rep := mustCompute(t, rs, Options{Latency, "p95", 20})
	if got, want := rep.Models, []string{"mobilenet_v3_small", "resnet18", "tiny_transformer"}; !slices.Equal(got, want) {
		t.Fatalf("models %q, want %q", got, want)
	}
	byModel := map[string]Recommendation{}
	for _, r := range rep.Recommendations {
		byModel[r.Model] = r
	}
	if r := byModel["resnet18"]; r.Chosen == nil || r.Chosen.Lat("p95") != 16.8 || r.Chosen.Latency["p95"].HasCI {
		t.Errorf("resnet18: %+v", r)
	}
	if r := byModel["mobilenet_v3_small"]; !r.None || r.Closest == nil {
		t.Errorf("mobilenet_v3_small (p95 35.25 > 20): %+v", r)
	}
	if len(rep.Env) != 1 || rep.Env[0].Fingerprint != "" || rep.Env[0].Records != 3 {
		t.Errorf("env %+v", rep.Env)
	}
}

func TestRecommendEffects(t *testing.T) {
	rs := recs(
		// compile: 4x and 6x faster -> median 5x.
		cfg{model: "a", batch: 1, p95: 20, lo: 19, hi: 21, tput: 50},
		cfg{model: "a", batch: 1, compile: true, p95: 5, lo: 4.9, hi: 5.1, tput: 200},
		cfg{model: "a", batch: 4, p95: 60, lo: 59, hi: 61, tput: 66},
		cfg{model: "a", batch: 4, compile: true, p95: 10, lo: 9.9, hi: 10.1, tput: 400},
	)
	rs = append(rs, differs(cfg{model: "a", batch: 1, compile: true, cl: true, p95: 1, lo: 0.9, hi: 1.1, tput: 1000}))
	rep := mustCompute(t, rs, Options{Balanced, "p95", 0})
	var compile, batch *Effect
	for i, f := range rep.Effects {
		switch f.Knob {
		case "compile":
			compile = &rep.Effects[i]
		case "batch_size":
			batch = &rep.Effects[i]
		case "channels_last":
			t.Errorf("channels_last effect from an unusable config: %+v", f)
		}
	}
	if compile == nil || compile.Pairs != 2 || math.Abs(compile.Speedup-5) > 1e-9 || compile.SpeedupMin != 4 || compile.SpeedupMax != 6 {
		t.Fatalf("compile effect %+v, want 2 pairs, median 5x (4x..6x)", compile)
	}
	if got, want := compile.Summary(), "compile on: 5.0x faster p95 on a (median over 2 pairs, speedup 4.0x to 6.0x)"; got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
	if batch == nil || batch.Pairs != 2 {
		t.Fatalf("batch effect %+v", batch)
	}
	// throughput ratios 66/50 = 1.32 and 400/200 = 2 -> median 1.66; latency 3x and 2x higher -> speedup median 5/12 -> 2.4x higher.
	if got, want := batch.Summary(), "batch 4 vs 1: 1.7x throughput, p95 2.4x higher on a (median over 2 pairs)"; got != want {
		t.Errorf("summary\n got %q\nwant %q", got, want)
	}
}

// TestRecommendProcessKnobEffects: the process knobs (allocator, OpenMP wait, pinning)
// compare their default with each value set, within otherwise equal configurations.
func TestRecommendProcessKnobEffects(t *testing.T) {
	rs := recs(
		cfg{model: "a", batch: 1, p95: 10, lo: 9.9, hi: 10.1, tput: 100},
		cfg{model: "a", batch: 1, p95: 8, lo: 7.9, hi: 8.1, tput: 120},
		cfg{model: "a", batch: 1, p95: 12.5, lo: 12.4, hi: 12.6, tput: 80},
		cfg{model: "a", batch: 1, p95: 5, lo: 4.9, hi: 5.1, tput: 190},
	)
	rs[1].Allocator = "jemalloc"
	rs[2].OMPWait = "passive"
	rs[3].Pin = "cores"
	rep := mustCompute(t, rs, Options{Balanced, "p95", 0})
	got := map[string]string{}
	for _, f := range rep.Effects {
		got[f.Knob] = f.Summary()
	}
	want := map[string]string{
		"allocator": "allocator jemalloc vs glibc: 1.2x faster p95 on a (median over 1 pair)",
		"omp_wait":  "OpenMP wait passive vs libgomp's default: 1.2x slower p95 on a (median over 1 pair)",
		"pin":       "pinning cores vs none: 2.0x faster p95 on a (median over 1 pair)",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s effect\n got %q\nwant %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("effects %q, want only %v", got, want)
	}
	for _, e := range rep.Entries {
		if e.Pin == "cores" && !strings.Contains(e.Label(), "pinned cores") {
			t.Errorf("label %q does not name the pinning", e.Label())
		}
	}
	// The table has no column for them: each row's notes name the ones set, so that the
	// four rows (otherwise equal) can be told apart.
	var md bytes.Buffer
	if err := Markdown(&md, rep, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	rows := map[string]int{}
	for _, l := range strings.Split(md.String(), "\n") {
		if !strings.HasPrefix(l, "| a | 1 |") {
			continue
		}
		cells := strings.Split(l, "|")
		notes := cells[len(cells)-2]
		for _, k := range []string{"allocator jemalloc", "OpenMP wait passive", "pinned cores"} {
			if strings.Contains(notes, k) {
				rows[k]++
			}
		}
		if !strings.Contains(notes, "allocator") && !strings.Contains(notes, "OpenMP") && !strings.Contains(notes, "pinned") {
			rows["default"]++
		}
	}
	if rows["allocator jemalloc"] != 1 || rows["OpenMP wait passive"] != 1 || rows["pinned cores"] != 1 || rows["default"] != 1 {
		t.Errorf("table rows by the knobs their notes name: %v, want one each\n%s", rows, md.String())
	}
}

func TestRecommendParetoAndMixedEnv(t *testing.T) {
	rs := recs(
		cfg{batch: 1, p95: 10, tput: 100}, // front
		cfg{batch: 2, p95: 20, tput: 300}, // front
		cfg{batch: 4, p95: 25, tput: 250}, // dominated by batch 2
	)
	rs[2].Env = &record.Env{Fingerprint: "fp2"}
	rep := mustCompute(t, rs, Options{Balanced, "p95", 0})
	var front []int
	for _, e := range rep.ParetoFront("m") {
		front = append(front, e.BatchSize)
	}
	if !slices.Equal(front, []int{1, 2}) {
		t.Errorf("Pareto front batches %v, want [1 2]", front)
	}
	if !rep.MixedEnv() || len(rep.Env) != 2 || rep.Env[0].Fingerprint != "fp1" || rep.Env[0].Records != 2 {
		t.Errorf("env %+v", rep.Env)
	}
}
