// Package report turns perflab records into a report: configurations merged across
// repeats, one recommended configuration per model for a constraint, the effect of each
// knob, and the failed configurations. Computing (this file, no I/O) is separate from
// rendering (markdown.go, json.go, plot.go), so the same Report renders to a terminal, to
// markdown and to JSON.
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
	"github.com/perflab/perflab/internal/textfmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
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

// CompileLabel is "on" or "off", with the requested mode when it differs or was auto:
// "on (auto)".
func (e *Entry) CompileLabel() string {
	return e.Knobs.CompileLabel(e.CompileApplied)
}

// ThreadsLabel is "2" or "2/1" (intra-op/inter-op) when inter-op threads are known.
func (e *Entry) ThreadsLabel() string {
	if e.InteropThreads > 0 {
		return fmt.Sprintf("%d/%d", e.Threads, e.InteropThreads)
	}
	return strconv.Itoa(e.Threads)
}

// ShortLabel is a compact label for plots: "compile 2t +cl", "eager 1t +int8".
func (e *Entry) ShortLabel() string {
	s := "eager"
	if e.CompileApplied {
		s = "compile"
	}
	s += fmt.Sprintf(" %dt", e.Threads)
	if e.ChannelsLast {
		s += " +cl"
	}
	if e.Quantize {
		s += " +int8"
	}
	return s + e.ProcessLabel(" +", " +", " +wait=", " +pin=")
}

// ProcessLabel renders the per-process knobs that are set, each after its prefix
// (oneDNN ISA, allocator, OpenMP wait policy, pinning).
func (e *Entry) ProcessLabel(isa, alloc, wait, pin string) string {
	var s string
	for _, kv := range [][2]string{{isa, e.OneDNNISA}, {alloc, e.Allocator}, {wait, e.OMPWait}, {pin, e.Pin}} {
		if kv[1] != "" {
			s += kv[0] + kv[1]
		}
	}
	return s
}

// Label describes the configuration's knobs in words, e.g.
// "batch 4, compile on, 2 threads (1 inter-op), channels_last".
func (e *Entry) Label() string {
	var b strings.Builder
	fmt.Fprintf(&b, "batch %d, compile %s, %d %s", e.BatchSize, e.CompileLabel(), e.Threads, textfmt.Plural(e.Threads, "thread", "threads"))
	if e.InteropThreads > 0 {
		fmt.Fprintf(&b, " (%d inter-op)", e.InteropThreads)
	}
	if e.ChannelsLast {
		b.WriteString(", channels_last")
	}
	if e.Quantize {
		b.WriteString(", int8")
	}
	b.WriteString(e.ProcessLabel(", oneDNN ", ", ", ", OpenMP wait ", ", pinned "))
	if e.Device != "" && e.Device != "cpu" {
		b.WriteString(", " + e.Device)
	}
	return b.String()
}

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

// pairedRatios returns latency(a)/latency(b) at p for every worker process that
// measured both a and b.
func pairedRatios(a, b *Entry, p string) []float64 {
	var out []float64
	for _, ra := range a.Processes {
		for _, rb := range b.Processes {
			if ra.Worker == rb.Worker && ra.Pct(p) > 0 && rb.Pct(p) > 0 {
				out = append(out, ra.Pct(p)/rb.Pct(p))
			}
		}
	}
	return out
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
	return &Entry{Key: r.Key(), Knobs: r.Knobs, CompileApplied: r.CompileApplied, Latency: map[string]Pct{}}
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
		for _, p := range stats.PercentileNames {
			l := Pct{Value: s.Pct(p)}
			if ci, ok := s.CI[p]; ok {
				l.CI, l.HasCI = ci, true
			}
			e.Latency[p] = l
		}
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

// compareEntries orders configurations: model, batch, threads, inter-op threads, compile,
// channels_last, quantize, device, then key.
func compareEntries(a, b *Entry) int {
	return cmp.Or(
		cmp.Compare(a.Model, b.Model),
		cmp.Compare(a.BatchSize, b.BatchSize),
		cmp.Compare(a.Threads, b.Threads),
		cmp.Compare(a.InteropThreads, b.InteropThreads),
		cmpBool(a.CompileApplied, b.CompileApplied),
		cmp.Compare(a.Compile, b.Compile),
		cmpBool(a.ChannelsLast, b.ChannelsLast),
		cmpBool(a.Quantize, b.Quantize),
		cmp.Compare(a.Device, b.Device),
		cmp.Compare(a.Key, b.Key),
	)
}

func sortEntries(es []*Entry) { slices.SortStableFunc(es, compareEntries) }

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case !a:
		return -1
	}
	return 1
}

// markPareto marks, per model, the usable configurations that no other usable one
// dominates (lower or equal latency at p and higher or equal throughput, one strictly).
func markPareto(es []*Entry, p string) {
	for _, e := range es {
		if !e.Usable {
			continue
		}
		e.Pareto = true
		for _, o := range es {
			if o == e || !o.Usable || o.Model != e.Model {
				continue
			}
			le, lo := e.Lat(p), o.Lat(p)
			if lo <= le && o.ThroughputRPS >= e.ThroughputRPS && (lo < le || o.ThroughputRPS > e.ThroughputRPS) {
				e.Pareto = false
				break
			}
		}
	}
}

// ParetoFront returns the model's Pareto-optimal usable configurations by increasing
// latency at the report's percentile.
func (r *Report) ParetoFront(model string) []*Entry {
	var front []*Entry
	for _, e := range r.Entries {
		if e.Model == model && e.Pareto {
			front = append(front, e)
		}
	}
	p := r.Options.Percentile
	slices.SortStableFunc(front, func(a, b *Entry) int {
		return cmp.Or(cmp.Compare(a.Lat(p), b.Lat(p)), cmp.Compare(a.ThroughputRPS, b.ThroughputRPS))
	})
	return front
}

// Score is what the constraint maximises: throughput, or throughput / latency at p for
// balanced.
func Score(e *Entry, constraint, p string) float64 {
	if constraint == Balanced {
		return e.ThroughputRPS / e.Lat(p)
	}
	return e.ThroughputRPS
}

// Indistinguishable reports whether a and b are statistically indistinguishable at
// percentile p: both have a CI for p, the CIs overlap, and their throughputs are within
// ThroughputTieTolerance of each other.
func Indistinguishable(a, b *Entry, p string) bool {
	la, lb := a.Latency[p], b.Latency[p]
	if !la.HasCI && !la.HasBetween || !lb.HasCI && !lb.HasBetween {
		return false
	}
	ca, cb := la.CI, lb.CI
	if la.HasBetween && lb.HasBetween {
		ca, cb = la.Between, lb.Between
	} else if !la.HasCI || !lb.HasCI {
		return false
	}
	if ca.Hi < cb.Lo || cb.Hi < ca.Lo {
		return false
	}
	if a.HasThroughputBetween && b.HasThroughputBetween &&
		!(a.ThroughputBetween.Hi < b.ThroughputBetween.Lo || b.ThroughputBetween.Hi < a.ThroughputBetween.Lo) {
		return true
	}
	hi := max(a.ThroughputRPS, b.ThroughputRPS)
	return hi > 0 && math.Abs(a.ThroughputRPS-b.ThroughputRPS) <= ThroughputTieTolerance*hi
}

// betweenBoth reports whether a and b are compared on between-process intervals at p.
func betweenBoth(a, b *Entry, p string) bool {
	return a.Latency[p].HasBetween && b.Latency[p].HasBetween
}

// cheaper orders tied configurations: fewer threads, then fewer inter-op threads, then
// the smaller batch.
func cheaper(a, b *Entry) int {
	return cmp.Or(
		cmp.Compare(a.Threads, b.Threads),
		cmp.Compare(a.InteropThreads, b.InteropThreads),
		cmp.Compare(a.BatchSize, b.BatchSize),
	)
}

func recommend(model string, all []*Entry, failures []Failure, o Options) Recommendation {
	p := o.Percentile
	rec := Recommendation{Model: model, Constraint: o.Constraint, Percentile: p, BudgetMs: o.BudgetMs}
	var usable []*Entry
	for _, e := range all {
		if e.Model == model && e.Usable {
			usable = append(usable, e)
		}
	}
	for _, f := range failures {
		if f.Entry.Model == model {
			rec.Excluded++
		}
	}
	if len(usable) == 0 {
		rec.None = true
		rec.Reason = fmt.Sprintf("no usable configuration: all %d measured or attempted configurations failed or have outputs that differ from the plain model", rec.Excluded)
		return rec
	}
	useBudget := o.BudgetMs > 0 && o.Constraint != Throughput
	var cands []*Entry
	for _, e := range usable {
		if !useBudget || e.Lat(p) <= o.BudgetMs {
			cands = append(cands, e)
		}
	}
	rec.Candidates = len(cands)
	if len(cands) == 0 {
		closest := slices.MinFunc(usable, func(a, b *Entry) int {
			return cmp.Or(cmp.Compare(a.Lat(p), b.Lat(p)), -cmp.Compare(a.ThroughputRPS, b.ThroughputRPS), compareEntries(a, b))
		})
		rec.None, rec.Closest = true, closest
		over := closest.Lat(p) - o.BudgetMs
		rec.Reason = fmt.Sprintf("no usable configuration has %s <= %s ms (%d usable); closest: %s at %s %s ms, %s ms (%.0f%%) over the budget",
			p, fmtNum(o.BudgetMs), len(usable), closest.Label(), p, numfmt.Ms(closest.Lat(p)), numfmt.Ms(over), over/o.BudgetMs*100)
		return rec
	}

	// Best score first; equal scores: the cheaper, then the usual order.
	slices.SortStableFunc(cands, func(a, b *Entry) int {
		return cmp.Or(-cmp.Compare(Score(a, o.Constraint, p), Score(b, o.Constraint, p)), cheaper(a, b), compareEntries(a, b))
	})
	top := cands[0]
	tied := []*Entry{top}
	for _, e := range cands[1:] {
		if Indistinguishable(top, e, p) {
			tied = append(tied, e)
		}
	}
	chosen := slices.MinFunc(tied, func(a, b *Entry) int { return cheaper(a, b) }) // first minimum: best score among equally cheap
	rec.Chosen = chosen
	rec.Tie = len(tied) > 1
	for _, e := range cands {
		if e != chosen {
			rec.RunnerUp = e
			break
		}
	}

	var why strings.Builder
	pool := fmt.Sprintf("%d usable %s", len(usable), textfmt.Plural(len(usable), "configuration", "configurations"))
	if useBudget {
		pool = fmt.Sprintf("%d of %d usable %s within %s <= %s ms", len(cands), len(usable), textfmt.Plural(len(usable), "configuration", "configurations"), p, fmtNum(o.BudgetMs))
	}
	switch o.Constraint {
	case Balanced:
		fmt.Fprintf(&why, "best throughput/%s ratio (%s req/s per ms: %s req/s at %s %s ms) of %s",
			p, fmtRatio(Score(chosen, Balanced, p)), numfmt.RPS(chosen.ThroughputRPS), p, numfmt.Ms(chosen.Lat(p)), pool)
	default:
		fmt.Fprintf(&why, "highest throughput (%s req/s, %s %s ms) of %s",
			numfmt.RPS(chosen.ThroughputRPS), p, numfmt.Ms(chosen.Lat(p)), pool)
		if o.Constraint == Throughput && o.BudgetMs > 0 && chosen.Lat(p) > o.BudgetMs {
			fmt.Fprintf(&why, "; it exceeds the %s ms budget, which the throughput constraint ignores", fmtNum(o.BudgetMs))
		}
	}
	if rec.Tie {
		others := len(tied) - 1
		kind, tput := "CIs overlap", fmt.Sprintf("throughput within %.0f%%", ThroughputTieTolerance*100)
		if betweenBoth(chosen, top, p) {
			kind, tput = "between-process CIs overlap", "throughput within "+fmt.Sprintf("%.0f%%", ThroughputTieTolerance*100)+" or its between-process CIs overlap"
		}
		if chosen != top {
			fmt.Fprintf(&why, "; statistically indistinguishable from %s (%s %s, %s), so the cheaper one is preferred: %s",
				top.Label(), p, kind, tput, cheaperWhy(chosen, top))
		} else {
			fmt.Fprintf(&why, "; statistically indistinguishable from %d other %s (%s %s, %s), and it is already the cheapest of them",
				others, textfmt.Plural(others, "configuration", "configurations"), p, kind, tput)
		}
	} else if ru := rec.RunnerUp; ru != nil && (!hasInterval(chosen, p) || !hasInterval(ru, p)) && closeThroughput(chosen, ru) {
		fmt.Fprintf(&why, "; the runner-up's throughput is within %.0f%% but there is no CI for %s, so no tie can be established", ThroughputTieTolerance*100, p)
	}
	if rec.Excluded > 0 {
		fmt.Fprintf(&why, "; %d %s excluded (failed or outputs differ)", rec.Excluded, textfmt.Plural(rec.Excluded, "configuration was", "configurations were"))
	}
	rec.Reason = why.String()
	if ru := rec.RunnerUp; ru != nil {
		rec.RunnerUpReason = compareText(ru, chosen, p)
	} else if n := len(usable) - len(cands); n > 0 {
		rec.RunnerUpReason = fmt.Sprintf("none within the budget (%d other usable %s over it)", n, textfmt.Plural(n, "configuration is", "configurations are"))
	} else {
		rec.RunnerUpReason = "none (no other usable configuration)"
	}
	return rec
}

// hasInterval reports whether e has an interval at p (between-process or within-run).
func hasInterval(e *Entry, p string) bool { return e.Latency[p].HasCI || e.Latency[p].HasBetween }

func closeThroughput(a, b *Entry) bool {
	hi := max(a.ThroughputRPS, b.ThroughputRPS)
	return hi > 0 && math.Abs(a.ThroughputRPS-b.ThroughputRPS) <= ThroughputTieTolerance*hi
}

// cheaperWhy says why a is cheaper than b.
func cheaperWhy(a, b *Entry) string {
	switch {
	case a.Threads != b.Threads:
		return fmt.Sprintf("fewer threads (%d vs %d)", a.Threads, b.Threads)
	case a.InteropThreads != b.InteropThreads:
		return fmt.Sprintf("fewer inter-op threads (%d vs %d)", a.InteropThreads, b.InteropThreads)
	case a.BatchSize != b.BatchSize:
		return fmt.Sprintf("smaller batch (%d vs %d)", a.BatchSize, b.BatchSize)
	}
	return "equally cheap"
}

// compareText says how e compares with ref: throughput and latency at p.
func compareText(e, ref *Entry, p string) string {
	dt := (e.ThroughputRPS/ref.ThroughputRPS - 1) * 100
	dl := (e.Lat(p)/ref.Lat(p) - 1) * 100
	ci := ""
	if !hasInterval(e, p) || !hasInterval(ref, p) {
		ci = ", no CI"
	} else if Indistinguishable(e, ref, p) {
		ci = ", statistically indistinguishable"
	}
	return fmt.Sprintf("%s req/s (%s), %s %s ms (%s)%s", numfmt.RPS(e.ThroughputRPS), signedPct(dt), p, numfmt.Ms(e.Lat(p)), signedPct(dl), ci)
}

func signedPct(v float64) string {
	if math.Abs(v) < 0.05 {
		return "same"
	}
	return fmt.Sprintf("%+.1f%%", v)
}

// knobValue returns e's value of knob (booleans "0"/"1"; "" for a default string knob)
// and e's identity without it.
func knobValue(e *Entry, knob string) (val string, rest string) {
	b2s := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	parts := map[string]string{
		"batch_size":      strconv.Itoa(e.BatchSize),
		"compile":         b2s(e.CompileApplied),
		"threads":         strconv.Itoa(e.Threads),
		"interop_threads": strconv.Itoa(e.InteropThreads),
		"channels_last":   b2s(e.ChannelsLast),
		"quantize":        b2s(e.Quantize),
		"onednn_isa":      e.OneDNNISA,
		"allocator":       e.Allocator,
		"omp_wait":        e.OMPWait,
		"pin":             e.Pin,
	}
	val = parts[knob]
	delete(parts, knob)
	var sb strings.Builder
	sb.WriteString(e.Model + "|" + e.Device)
	for _, k := range effectKnobs {
		if v, ok := parts[k]; ok {
			fmt.Fprintf(&sb, "|%s=%s", k, v)
		}
	}
	return val, sb.String()
}

var effectKnobs = []string{"compile", "channels_last", "quantize", "threads", "interop_threads", "batch_size",
	"onednn_isa", "allocator", "omp_wait", "pin"}

var boolKnobs = map[string]bool{"compile": true, "channels_last": true, "quantize": true}

// defaultNames name the default ("") of the string knobs in effect summaries.
var defaultNames = map[string]string{"onednn_isa": "the library's choice", "allocator": "glibc", "omp_wait": "libgomp's default", "pin": "none"}

// compareKnobValues orders a knob's values: the default ("") first, numbers by value,
// other strings alphabetically.
func compareKnobValues(a, b string) int {
	if a == "" || b == "" {
		return strings.Compare(a, b)
	}
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x - y
	}
	return strings.Compare(a, b)
}

// effects compares, per model and knob, the usable configurations that differ only in
// that knob (compile as applied): booleans off -> on, numbers smallest value -> each
// other value, the process knobs (oneDNN ISA, allocator, OpenMP wait, pinning) their
// default -> each value set.
func effects(models []string, es []*Entry, p string) []Effect {
	var out []Effect
	for _, m := range models {
		for _, knob := range effectKnobs {
			groups := map[string]map[string][]*Entry{}
			values := map[string]bool{}
			for _, e := range es {
				if e.Model != m || !e.Usable {
					continue
				}
				v, rest := knobValue(e, knob)
				if groups[rest] == nil {
					groups[rest] = map[string][]*Entry{}
				}
				groups[rest][v] = append(groups[rest][v], e)
				values[v] = true
			}
			if len(values) < 2 {
				continue
			}
			vs := make([]string, 0, len(values))
			for v := range values {
				vs = append(vs, v)
			}
			slices.SortFunc(vs, compareKnobValues)
			base := vs[0]
			for _, to := range vs[1:] {
				var speed, tput, paired []float64
				for _, g := range groups {
					for _, a := range g[base] {
						for _, b := range g[to] {
							speed = append(speed, a.Lat(p)/b.Lat(p))
							tput = append(tput, b.ThroughputRPS/a.ThroughputRPS)
							paired = append(paired, pairedRatios(a, b, p)...)
						}
					}
				}
				if len(speed) == 0 {
					continue
				}
				from, toS := base, to
				switch {
				case boolKnobs[knob]:
					from, toS = onOff(base == "1"), onOff(to == "1")
				case from == "":
					from = defaultNames[knob]
				}
				f := Effect{
					Model: m, Knob: knob, From: from, To: toS, Percentile: p, Pairs: len(speed),
					Speedup: medianOf(speed), SpeedupMin: slices.Min(speed), SpeedupMax: slices.Max(speed),
					ThroughputRatio: medianOf(tput),
				}
				if s, ok := stats.SummarizeRuns(paired, Confidence); ok {
					f.Paired, f.PairedSpeedup, f.PairedCI = s.N, s.Center, s.Mean
				}
				out = append(out, f)
			}
		}
	}
	return out
}

// Summary says what the knob did in one line, e.g.
// "compile on: 5.5x faster p95 on mobilenet_v3_small (median over 4 pairs, speedup 3.1x to 6.0x)" or,
// for the batch size, "batch 4 vs 1: 2.3x throughput, p95 3.4x higher on resnet18 (...)".
//
// A paired effect reads "compile on: 1.3x faster p95 on resnet18 (paired in 12 worker
// processes over 4 pairs, 95% CI 1.2x to 1.4x; pairs 1.1x to 1.5x)".
func (f Effect) Summary() string {
	pairs := fmt.Sprintf("median over %d %s", f.Pairs, textfmt.Plural(f.Pairs, "pair", "pairs"))
	if f.Pairs > 1 && f.Knob != "batch_size" {
		pairs += fmt.Sprintf(", speedup %sx to %sx", fmtX(f.SpeedupMin), fmtX(f.SpeedupMax))
	}
	if f.Paired > 0 && f.Knob != "batch_size" {
		pairs = fmt.Sprintf("paired in %d worker %s over %d %s, 95%% CI %sx to %sx", f.Paired, textfmt.Plural(f.Paired, "process", "processes"),
			f.Pairs, textfmt.Plural(f.Pairs, "pair", "pairs"), fmtX(f.PairedCI.Lo), fmtX(f.PairedCI.Hi))
		if f.Pairs > 1 {
			pairs += fmt.Sprintf("; pairs %sx to %sx", fmtX(f.SpeedupMin), fmtX(f.SpeedupMax))
		}
		f.Speedup = f.PairedSpeedup
	}
	switch f.Knob {
	case "batch_size":
		return fmt.Sprintf("batch %s vs %s: %sx throughput, %s %s on %s (%s)",
			f.To, f.From, fmtX(f.ThroughputRatio), f.Percentile, latChange(f.Speedup), f.Model, pairs)
	case "threads", "interop_threads":
		name := "threads"
		if f.Knob == "interop_threads" {
			name = "inter-op threads"
		}
		return fmt.Sprintf("%s %s vs %s: %s on %s (%s)", name, f.To, f.From, speedText(f.Speedup, f.Percentile), f.Model, pairs)
	case "onednn_isa", "allocator", "omp_wait", "pin":
		name := map[string]string{"onednn_isa": "oneDNN ISA", "allocator": "allocator", "omp_wait": "OpenMP wait", "pin": "pinning"}[f.Knob]
		return fmt.Sprintf("%s %s vs %s: %s on %s (%s)", name, f.To, f.From, speedText(f.Speedup, f.Percentile), f.Model, pairs)
	}
	name := f.Knob
	if f.Knob == "quantize" {
		name = "quantize (int8)"
	}
	return fmt.Sprintf("%s %s: %s on %s (%s)", name, f.To, speedText(f.Speedup, f.Percentile), f.Model, pairs)
}

// speedText renders a speedup (latency before / after) as "5.5x faster p95" or
// "1.3x slower p95".
func speedText(s float64, p string) string {
	switch {
	case s >= 0.95 && s < 1.05:
		return fmt.Sprintf("no clear change in %s (%.2fx)", p, s)
	case s >= 1:
		return fmt.Sprintf("%sx faster %s", fmtX(s), p)
	}
	return fmt.Sprintf("%sx slower %s", fmtX(1/s), p)
}

// latChange renders a speedup as a latency change: "3.4x higher", "1.2x lower".
func latChange(s float64) string {
	switch {
	case s >= 0.95 && s < 1.05:
		return fmt.Sprintf("about unchanged (%.2fx)", 1/s)
	case s < 1:
		return fmtX(1/s) + "x higher"
	}
	return fmtX(s) + "x lower"
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
	}
	slices.SortStableFunc(gs, func(a, b EnvGroup) int {
		return cmp.Or(-cmp.Compare(a.Records, b.Records), cmp.Compare(a.Fingerprint, b.Fingerprint))
	})
	return gs
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func fmtRatio(v float64) string {
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtX(v float64) string {
	switch {
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// fmtNum formats a user-given number as short as it goes: 50, 12.5.
func fmtNum(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
