// Package report turns perflab records into a report: configurations merged across
// repeats, one recommended configuration per model for a constraint, the effect of each
// knob, and the failed configurations. Computing (recommend.go: merging records into
// entries; choose.go: the choice and the effects; no I/O) is separate from rendering
// (words.go: labels and sentences; markdown.go, json.go, plot.go), so the same Report
// renders to a terminal, to markdown and to JSON.
//
// # Constraints
//
//   - latency: the highest throughput among configurations whose chosen latency percentile
//     is within the budget (a budget is required).
//   - throughput: the highest throughput; the budget, if any, is ignored.
//   - balanced: the best throughput / latency-percentile ratio, among the configurations
//     within the budget when one is given.
//
// Only usable configurations are ever recommended: status ok, and outputs equal to the
// plain model's within tolerance (or not checked). When no usable configuration fits the
// budget the recommendation is "none" and names the closest configuration (the usable
// one with the lowest chosen-percentile latency).
//
// # Ties
//
// Two configurations are statistically indistinguishable when the confidence intervals of
// their chosen percentile overlap AND their throughputs are within 5% of each other (or
// their between-process throughput intervals overlap). The intervals are the
// between-process ones (record latency_runs_ci: over the worker processes' own
// percentiles) when both configurations have them, else the within-run order-statistic
// CIs, which ignore process-to-process variation (about 20x narrower here). A
// configuration without a CI for the chosen percentile (seed records, too few iterations)
// is never indistinguishable from another. Among the configurations indistinguishable from
// the top-scoring one, the cheapest is recommended: fewest threads, then fewest inter-op
// threads, then the smaller batch; the reason says so.
package report

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/perflab/perflab/internal/env"
	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/textfmt"
)

// Constraints.
const (
	Balanced   = "balanced"
	Latency    = "latency"
	Throughput = "throughput"
)

// Constraints lists the constraint names, in the order help texts give them.
var Constraints = []string{Balanced, Latency, Throughput}

// ThroughputTieTolerance is the relative throughput difference under which two
// configurations whose latency CIs overlap are statistically indistinguishable.
const ThroughputTieTolerance = 0.05

// NoisyThreshold is the IQR/median above which a configuration is flagged noisy
// (torch.utils.benchmark's "system fluctuation" threshold).
const NoisyThreshold = 0.10

// Confidence is the confidence level of the intervals recomputed from pooled samples.
const Confidence = 0.95

// Options say what to recommend.
type Options struct {
	Constraint string  // balanced, latency or throughput
	Percentile string  // p50, p90, p95 or p99
	BudgetMs   float64 // latency budget at Percentile; 0 = none
}

// Validate checks the options: known constraint and percentile, a non-negative budget,
// and a budget for the latency constraint.
func (o Options) Validate() error {
	if !slices.Contains(Constraints, o.Constraint) {
		return fmt.Errorf("--constraint must be one of %s, got %q", strings.Join(Constraints, ", "), o.Constraint)
	}
	if _, err := stats.ParsePercentile(o.Percentile); err != nil {
		return fmt.Errorf("--latency-pct %w", err)
	}
	if o.BudgetMs < 0 || math.IsNaN(o.BudgetMs) || math.IsInf(o.BudgetMs, 0) {
		return fmt.Errorf("--latency-budget-ms must be a positive number of milliseconds, got %g", o.BudgetMs)
	}
	if o.Constraint == Latency && o.BudgetMs == 0 {
		return errors.New("--constraint latency needs --latency-budget-ms (the highest throughput within which budget?)")
	}
	return nil
}

// Pct is one latency percentile of a configuration, in milliseconds.
type Pct struct {
	Value float64
	CI    stats.CI
	HasCI bool // false when unknown: seed records, too few samples, or repeats without samples
	// Between is the between-process interval (stats.Runs.Mean over the worker
	// processes' own percentiles); HasBetween is false for records without runs.
	Between    stats.CI
	HasBetween bool
}

// Interval returns the interval ties use: the between-process one when there is one,
// else the within-run CI; ok is false when there is neither.
func (l Pct) Interval() (ci stats.CI, between, ok bool) {
	if l.HasBetween {
		return l.Between, true, true
	}
	return l.CI, false, l.HasCI
}

// Entry is one configuration: the records with the same record.Key merged.
type Entry struct {
	Key string
	knobs.Knobs
	CompileApplied bool // freeze + optimize_for_inference applied
	// Inductor: an AOTInductor package ran (compile inductor); its compile cost (seconds,
	// once per package: perflab caches what it compiles), kernel ISA and whether perflab's
	// compile cache had it ("hit", "miss"; "" for a package given as such).
	Inductor       bool
	CompileSeconds float64
	CompileISA     string
	CompileCache   string

	Latency       map[string]Pct // "p50".."p99"
	ThroughputRPS float64
	Iters         int     // timed iterations, summed over runs (0 when unknown)
	Runs          int     // records merged
	Pooled        bool    // several runs whose samples were pooled
	IQROverMedian float64 // 0 when unknown
	// Processes are the successful worker processes of the runs merged (record.Run):
	// paired knob effects match them by Worker. ThroughputBetween is their throughput
	// interval (HasThroughputBetween false without runs).
	Processes            []record.Run
	ThroughputBetween    stats.CI
	HasThroughputBetween bool

	Usable    bool
	NotUsable string // why it may not be recommended ("" when Usable)
	Pareto    bool   // on its model's Pareto front (latency at the chosen percentile vs throughput)
	Notes     []string
}

// Lat returns the entry's latency at percentile p ("p95"), NaN when unknown.
func (e *Entry) Lat(p string) float64 {
	if l, ok := e.Latency[p]; ok {
		return l.Value
	}
	return math.NaN()
}

// Noisy reports whether the entry's IQR/median exceeds NoisyThreshold.
func (e *Entry) Noisy() bool { return e.IQROverMedian > NoisyThreshold }

// Failure is a configuration that could not be measured (status failed) in any run, or
// was measured but may not be recommended (outputs differ from the plain model).
type Failure struct {
	Entry  *Entry // knobs; its measurements are meaningless for status-failed configurations
	Failed bool   // status failed (true), or measured but not usable (false)
	Reason string
	Runs   int
}

// Recommendation is the configuration recommended for one model.
type Recommendation struct {
	Model      string
	Constraint string
	Percentile string
	BudgetMs   float64

	Chosen   *Entry // nil when None
	RunnerUp *Entry // the best-scoring other candidate; nil when there is none
	None     bool   // nothing usable fits
	Closest  *Entry // with None: the usable configuration with the lowest latency at Percentile
	Tie      bool   // Chosen was picked among statistically indistinguishable configurations
	Reason   string // why Chosen (or why none)

	RunnerUpReason string // how the runner-up compares with Chosen, or why there is none
	Candidates     int    // usable configurations that fit the budget
	Excluded       int    // configurations of the model that may not be recommended
}

// Effect is what changing one knob did on one model, from pairs of configurations that
// differ only in that knob (all usable).
type Effect struct {
	Model      string
	Knob       string // compile, channels_last, quantize, threads, interop_threads, batch_size, onednn_isa, allocator, omp_wait, pin
	From, To   string // knob values: "off" -> "on", "1" -> "2", "glibc" -> "jemalloc"
	Percentile string
	Pairs      int
	// Speedup is the median over pairs of latency(From) / latency(To) at Percentile:
	// above 1 the knob made it faster. SpeedupMin and SpeedupMax bound it.
	Speedup, SpeedupMin, SpeedupMax float64
	// ThroughputRatio is the median over pairs of throughput(To) / throughput(From).
	ThroughputRatio float64
	// Paired effects, when both configurations of a pair were measured side by side in
	// the same worker processes (same rounds, same process): Paired counts the
	// per-process ratios latency(From) / latency(To) over all pairs, PairedSpeedup is
	// their geometric mean and PairedCI its 95% interval (stats.Runs.Mean: it covers
	// process-to-process variation and, over several pairs, how the effect varies across
	// the grid). Paired is 0 otherwise (different processes, e.g. threads, or old records).
	Paired        int
	PairedSpeedup float64
	PairedCI      stats.CI
}

// EnvGroup is the environment of records sharing one fingerprint.
type EnvGroup struct {
	Fingerprint   string // "" for records without one (seed records)
	CPUModel      string
	LogicalCPUs   int
	CPUsAvailable float64
	Torch         string
	BLAS          string
	OS            string
	Perflab       string
	Records       int
	// TwoPools: a record of this environment ran 2+ intra-op threads with OpenBLAS's pthread
	// build beside libtorch's OpenMP threads (env.TwoPoolsWarning, judged from the record).
	TwoPools bool
}

// Report is everything the renderers need.
type Report struct {
	Options         Options
	Inputs          []string // the input files, as given (filled by the caller)
	Records         int      // valid records read
	Models          []string
	Entries         []*Entry // every measured configuration, sorted (see sortEntries)
	Failures        []Failure
	Recommendations []Recommendation // one per model, in Models order
	Effects         []Effect
	Env             []EnvGroup  // by number of records, then fingerprint
	Load            *LoadReport // perflab load and simulate records; nil when there are none
}

// MixedEnv reports whether the records come from several environments.
func (r *Report) MixedEnv() bool { return len(r.Env) > 1 }

// Compute builds the report of recs. It does no I/O.
func Compute(recs []*record.Record, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rep := &Report{Options: opts, Records: len(recs)}
	rep.Env = envGroups(recs)

	var loadRecs []*record.Record
	byKey := map[string][]*record.Record{}
	var keys []string
	for _, r := range recs {
		if r.Load != nil {
			loadRecs = append(loadRecs, r) // serving under load: see load.go
			continue
		}
		k := r.Key()
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
	}
	models := map[string]bool{}
	for _, k := range keys {
		group := byKey[k]
		models[group[0].Model] = true
		var ok, failed []*record.Record
		for _, r := range group {
			if r.OK() {
				ok = append(ok, r)
			} else {
				failed = append(failed, r)
			}
		}
		if len(ok) == 0 {
			rep.Failures = append(rep.Failures, Failure{Entry: entryOf(failed[0]), Failed: true, Reason: failureReason(failed), Runs: len(failed)})
			continue
		}
		e := merge(ok)
		if len(failed) > 0 {
			e.Notes = append(e.Notes, fmt.Sprintf("%d of %d runs failed", len(failed), len(group)))
		}
		rep.Entries = append(rep.Entries, e)
		if !e.Usable {
			rep.Failures = append(rep.Failures, Failure{Entry: e, Reason: e.NotUsable, Runs: e.Runs})
		}
	}
	for m := range models {
		rep.Models = append(rep.Models, m)
	}
	slices.Sort(rep.Models)
	sortEntries(rep.Entries)
	slices.SortStableFunc(rep.Failures, func(a, b Failure) int { return compareEntries(a.Entry, b.Entry) })

	markPareto(rep.Entries, opts.Percentile)
	for _, m := range rep.Models {
		rep.Recommendations = append(rep.Recommendations, recommend(m, rep.Entries, rep.Failures, opts))
	}
	rep.Effects = effects(rep.Models, rep.Entries, opts.Percentile)
	rep.Load = computeLoad(loadRecs, opts)
	return rep, nil
}

// entryOf returns an Entry holding only r's configuration.
func entryOf(r *record.Record) *Entry {
	return &Entry{Key: r.Key(), Knobs: r.Knobs, CompileApplied: r.CompileApplied, Inductor: r.InductorPackage != "",
		CompileSeconds: r.CompileSeconds, CompileISA: r.CompileISA, CompileCache: r.CompileCache, Latency: map[string]Pct{}}
}

func failureReason(failed []*record.Record) string {
	var reasons []string
	for _, r := range failed {
		msg := strings.TrimSpace(r.Error)
		if msg == "" {
			msg = "failed (no error recorded)"
		}
		if !slices.Contains(reasons, msg) {
			reasons = append(reasons, msg)
		}
	}
	return strings.Join(reasons, "; ")
}

// merge merges the successful records of one configuration. One record is taken as it
// is. Several are pooled when all have samples (percentiles and CIs recomputed from the
// pooled sample, throughput the mean of the runs'); otherwise each figure is the median
// of the runs' and the CIs are unknown.
func merge(rs []*record.Record) *Entry {
	e := entryOf(rs[0])
	e.Runs = len(rs)
	for _, r := range rs {
		e.Iters += r.Iters
		if r.Iters == 0 {
			e.Iters += len(r.SamplesMs)
		}
	}
	pooled := len(rs) > 1
	for _, r := range rs {
		if len(r.SamplesMs) == 0 {
			pooled = false
		}
	}
	switch {
	case len(rs) == 1:
		r := rs[0]
		for _, p := range stats.PercentileNames {
			l := Pct{Value: recordPct(r, p)}
			if ci, ok := r.LatencyCI[p]; ok && validCI(ci) {
				l.CI, l.HasCI = ci, true
			}
			e.Latency[p] = l
		}
		e.ThroughputRPS = r.ThroughputRPS
		e.IQROverMedian = r.IQROverMedian
	case pooled:
		var all []float64
		var tput float64
		for _, r := range rs {
			all = append(all, r.SamplesMs...)
			tput += r.ThroughputRPS
		}
		s := stats.Summarize(all, Confidence)
		setPooled(e.Latency, s)
		e.ThroughputRPS = tput / float64(len(rs))
		e.IQROverMedian = s.IQROverMedian()
		e.Iters = s.N
		e.Pooled = true
		e.Notes = append(e.Notes, fmt.Sprintf("%d runs pooled", len(rs)))
	default:
		for _, p := range stats.PercentileNames {
			e.Latency[p] = Pct{Value: median(rs, func(r *record.Record) float64 { return recordPct(r, p) })}
		}
		e.ThroughputRPS = median(rs, func(r *record.Record) float64 { return r.ThroughputRPS })
		e.IQROverMedian = median(rs, func(r *record.Record) float64 { return r.IQROverMedian })
		e.Notes = append(e.Notes, fmt.Sprintf("median of %d runs", len(rs)))
	}
	if math.IsNaN(e.IQROverMedian) || math.IsInf(e.IQROverMedian, 0) {
		e.IQROverMedian = 0
	}
	betweenProcesses(e, rs)
	e.Usable = true
	for _, r := range rs {
		if c := r.Correctness; c != nil && !c.OK {
			e.Usable = false
			e.NotUsable = "outputs differ from the plain model (" + c.Detail() + ")"
			break
		}
	}
	if e.Usable {
		for _, p := range stats.PercentileNames {
			if v := e.Lat(p); !(v > 0) || math.IsInf(v, 0) {
				e.Usable, e.NotUsable = false, "no latency measured ("+p+" missing)"
				break
			}
		}
	}
	if e.Usable && !(e.ThroughputRPS > 0) {
		e.Usable, e.NotUsable = false, "no throughput measured"
	}
	if e.Noisy() {
		e.Notes = append(e.Notes, fmt.Sprintf("noisy (IQR/median %.0f%%)", e.IQROverMedian*100))
	}
	return e
}

// betweenProcesses fills e's between-process intervals from the worker processes of its
// records (all records' runs together: repeats and several sweeps add processes).
func betweenProcesses(e *Entry, rs []*record.Record) {
	for _, r := range rs {
		for _, run := range r.Runs {
			if run.OK() {
				e.Processes = append(e.Processes, run)
			}
		}
	}
	if len(e.Processes) == 0 {
		return
	}
	for _, p := range stats.PercentileNames {
		v := make([]float64, 0, len(e.Processes))
		for _, run := range e.Processes {
			v = append(v, run.Pct(p))
		}
		if s, ok := stats.SummarizeRuns(v, Confidence); ok {
			l := e.Latency[p]
			l.Between, l.HasBetween = s.Mean, true
			e.Latency[p] = l
		}
	}
	v := make([]float64, 0, len(e.Processes))
	for _, run := range e.Processes {
		v = append(v, run.ThroughputRPS)
	}
	if s, ok := stats.SummarizeRuns(v, Confidence); ok {
		e.ThroughputBetween, e.HasThroughputBetween = s.Mean, true
	}
	e.Notes = append(e.Notes, fmt.Sprintf("%d worker %s", len(e.Processes), textfmt.Plural(len(e.Processes), "process", "processes")))
}

// setPooled sets every percentile of dst from the pooled samples' summary s, with its CI
// when s has one.
func setPooled(dst map[string]Pct, s stats.Summary) {
	for _, p := range stats.PercentileNames {
		l := Pct{Value: s.Pct(p)}
		if ci, ok := s.CI[p]; ok {
			l.CI, l.HasCI = ci, true
		}
		dst[p] = l
	}
}

func validCI(ci stats.CI) bool {
	return !math.IsNaN(ci.Lo) && !math.IsNaN(ci.Hi) && ci.Lo <= ci.Hi
}

func recordPct(r *record.Record, p string) float64 {
	switch p {
	case "p50":
		return r.LatencyP50
	case "p90":
		return r.LatencyP90
	case "p95":
		return r.LatencyP95
	case "p99":
		return r.LatencyP99
	}
	return math.NaN()
}

func median(rs []*record.Record, f func(*record.Record) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	return medianOf(v)
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func envGroups(recs []*record.Record) []EnvGroup {
	idx := map[string]int{}
	var gs []EnvGroup
	for _, r := range recs {
		fp := ""
		if r.Env != nil {
			fp = r.Env.Fingerprint
		}
		i, ok := idx[fp]
		if !ok {
			g := EnvGroup{Fingerprint: fp}
			if r.Env != nil {
				g.CPUModel, g.LogicalCPUs, g.CPUsAvailable = r.Env.CPUModel, r.Env.LogicalCPUs, r.Env.CPUsAvailable
				g.Torch, g.BLAS, g.OS, g.Perflab = r.Env.Torch, r.Env.BLAS, r.Env.OS, r.Env.Perflab
			}
			i = len(gs)
			idx[fp] = i
			gs = append(gs, g)
		}
		gs[i].Records++
		if !gs[i].TwoPools && env.TwoPoolsWarning(r.Env, r.Threads) != "" {
			gs[i].TwoPools = true
		}
	}
	slices.SortStableFunc(gs, func(a, b EnvGroup) int {
		return cmp.Or(-cmp.Compare(a.Records, b.Records), cmp.Compare(a.Fingerprint, b.Fingerprint))
	})
	return gs
}
