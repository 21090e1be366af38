package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/textfmt"
)

// Serving under load: the records of perflab load (mode "load") and of its simulation
// (mode "simulate"), which carry record.Load.
//
// A serving configuration is a model configuration plus instances, max batch, max delay
// and arrival process (record.LoadConfigKey); its points are its offered rates, the
// records of one rate merged like bench repeats (samples pooled). A point passes when the
// run kept up (not saturated) and its latency at the percentile is within the budget. The
// capacity of a configuration is its highest passing offered rate (what perflab load
// --find-capacity searches); the recommended serving configuration of a model is the one
// with the highest capacity, measured configurations before simulated ones, and among
// capacities within CapacityTieTolerance of the best, the cheapest: fewest CPUs (instances
// x threads), then the shortest max delay, then the smallest max batch.

// CapacityTieTolerance is the relative capacity difference under which two serving
// configurations count as equal (the capacity search's own resolution is 5%).
const CapacityTieTolerance = 0.05

// LoadReport is the serving part of a report.
type LoadReport struct {
	Percentile string  // the percentile of the budget (the report's, or the records' own)
	BudgetMs   float64 // 0 = unknown: no capacity, no recommendation
	BudgetFrom string  // where the budget came from, in words
	Records    int
	Models     []string
	Configs    []*ServingConfig // sorted by model, measured before simulated, then knobs
	Failures   []ServingFailure
	// Recommendations holds one per model (in Models order) when a budget is known.
	Recommendations []ServingRecommendation
}

// ServingConfig is one serving configuration and its latency-vs-load curve.
type ServingConfig struct {
	Key string
	// Knobs are the model configuration: BatchSize is the max batch, Compile as requested.
	knobs.Knobs
	CompileApplied bool // freeze + optimize_for_inference applied
	// Serving is how it was served; OfferedRPS is 0 (every point has its own).
	knobs.Serving
	Simulated bool

	Points   []*LoadPoint // by offered rate
	Capacity float64      // highest passing offered rate; 0 = none (or no budget)
	Search   *record.Capacity
	Usable   bool
	Notes    []string
}

// LoadPoint is one offered rate of a serving configuration.
type LoadPoint struct {
	OfferedRPS   float64
	AchievedRPS  float64
	Latency      map[string]Pct
	Requests     int
	Timeouts     int
	Dropped      int
	Runs         int
	Saturated    bool
	QueueWaitP95 float64 // NaN when unknown (capacity-search summaries)
	ComputeP95   float64
	MeanBatch    float64
	Pass         bool // kept up and within the budget (false without a budget)
	FromSearch   bool // a step of a capacity-search summary, without its own record
}

// ServingFailure is a load run that failed.
type ServingFailure struct {
	Config *ServingConfig
	Rate   float64
	Reason string
}

// ServingRecommendation is the serving configuration recommended for one model.
type ServingRecommendation struct {
	Model      string
	Percentile string
	BudgetMs   float64
	Chosen     *ServingConfig // nil when None
	RunnerUp   *ServingConfig
	None       bool
	Predicted  bool // chosen among simulated configurations (nothing measured passes)
	Tie        bool
	Reason     string
}

// Lat returns the point's latency at p, NaN when unknown.
func (pt *LoadPoint) Lat(p string) float64 {
	if l, ok := pt.Latency[p]; ok {
		return l.Value
	}
	return math.NaN()
}

// CPUs is what the configuration occupies: instances x threads.
func (c *ServingConfig) CPUs() int { return c.Instances * c.Threads }

// Label describes the serving configuration, e.g. "2 instances x 1 thread, max batch 8,
// max delay 5 ms, compile on".
func (c *ServingConfig) Label() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s x %d %s, max batch %d, max delay %s ms, compile %s",
		c.Instances, textfmt.Plural(c.Instances, "instance", "instances"), c.Threads, textfmt.Plural(c.Threads, "thread", "threads"),
		c.MaxBatch, fmtNum(c.MaxDelayMs), onOff(c.CompileApplied))
	if c.ChannelsLast {
		b.WriteString(", channels_last")
	}
	if c.Quantize {
		b.WriteString(", int8")
	}
	if c.Arrival != "" && c.Arrival != "poisson" {
		b.WriteString(", " + c.Arrival + " arrivals")
	}
	if c.Simulated {
		b.WriteString(" (simulated)")
	}
	return b.String()
}

// ShortLabel is a compact label for plots: "2x1t b8 d5ms", "... sim".
func (c *ServingConfig) ShortLabel() string {
	s := fmt.Sprintf("%dx%dt b%d d%sms", c.Instances, c.Threads, c.MaxBatch, fmtNum(c.MaxDelayMs))
	if !c.CompileApplied {
		s += " eager"
	}
	if c.ChannelsLast {
		s += " cl"
	}
	if c.Quantize {
		s += " int8"
	}
	if c.Simulated {
		s += " sim"
	}
	return s
}

// PointAt returns the configuration's point at the capacity (nil when none).
func (c *ServingConfig) PointAt(rate float64) *LoadPoint {
	for _, p := range c.Points {
		if p.OfferedRPS == rate {
			return p
		}
	}
	return nil
}

// computeLoad builds the serving report of the load records (nil when there are none).
func computeLoad(recs []*record.Record, o Options) *LoadReport {
	if len(recs) == 0 {
		return nil
	}
	lr := &LoadReport{Percentile: o.Percentile, BudgetMs: o.BudgetMs, Records: len(recs)}
	if o.BudgetMs > 0 {
		lr.BudgetFrom = "the report's --latency-budget-ms"
	} else {
		// The budget the load runs were made for, when they agree on one.
		type pb struct {
			p string
			b float64
		}
		seen := map[pb]bool{}
		for _, r := range recs {
			if r.Load.LatencyBudgetMs > 0 {
				seen[pb{r.Load.LatencyPct, r.Load.LatencyBudgetMs}] = true
			}
		}
		if len(seen) == 1 {
			for k := range seen {
				lr.Percentile, lr.BudgetMs = k.p, k.b
			}
			lr.BudgetFrom = "the load runs' own --latency-budget-ms"
		}
	}

	configs := map[string]*ServingConfig{}
	var order []string
	byRate := map[string]map[float64][]*record.Record{}
	get := func(r *record.Record) *ServingConfig {
		k := r.LoadConfigKey()
		if c, ok := configs[k]; ok {
			return c
		}
		c := &ServingConfig{Key: k, Knobs: r.Knobs, CompileApplied: r.CompileApplied, Serving: r.Load.Serving, Simulated: r.Mode == "simulate", Usable: true}
		c.OfferedRPS = 0
		if c.MaxBatch == 0 {
			c.MaxBatch = r.BatchSize
		}
		configs[k] = c
		order = append(order, k)
		byRate[k] = map[float64][]*record.Record{}
		return c
	}
	var searches []*record.Record
	for _, r := range recs {
		c := get(r)
		switch {
		case !r.OK():
			lr.Failures = append(lr.Failures, ServingFailure{Config: c, Rate: r.Load.OfferedRPS, Reason: strings.TrimSpace(r.Error)})
		case r.Load.Capacity != nil:
			searches = append(searches, r)
		default:
			byRate[c.Key][r.Load.OfferedRPS] = append(byRate[c.Key][r.Load.OfferedRPS], r)
		}
		if cr := r.Correctness; cr != nil && !cr.OK && c.Usable {
			c.Usable = false
			c.Notes = append(c.Notes, "outputs differ from the plain model ("+cr.Detail()+")")
		}
	}
	for _, k := range order {
		c := configs[k]
		for rate, rs := range byRate[k] {
			c.Points = append(c.Points, mergeLoad(rate, rs))
		}
	}
	for _, r := range searches {
		c := configs[r.LoadConfigKey()]
		if s := r.Load.Capacity; s.LatencyPct == lr.Percentile && s.BudgetMs == lr.BudgetMs || c.Search == nil {
			c.Search = s
		}
		for _, st := range r.Load.Capacity.Steps {
			if c.PointAt(st.OfferedRPS) != nil {
				continue
			}
			c.Points = append(c.Points, &LoadPoint{
				OfferedRPS: st.OfferedRPS, AchievedRPS: st.AchievedRPS, Requests: st.Requests, Timeouts: st.Timeouts,
				Dropped: st.Dropped, Runs: 1, Saturated: st.Saturated, FromSearch: true,
				QueueWaitP95: math.NaN(), ComputeP95: math.NaN(), MeanBatch: math.NaN(),
				Latency: map[string]Pct{"p50": {Value: st.P50}, "p90": {Value: st.P90}, "p95": {Value: st.P95}, "p99": {Value: st.P99}},
			})
		}
	}
	models := map[string]bool{}
	for _, k := range order {
		c := configs[k]
		slices.SortFunc(c.Points, func(a, b *LoadPoint) int { return cmp.Compare(a.OfferedRPS, b.OfferedRPS) })
		if lr.BudgetMs > 0 {
			var failedBelow []float64
			for _, p := range c.Points {
				p.Pass = !p.Saturated && p.Lat(lr.Percentile) <= lr.BudgetMs
				if p.Pass {
					c.Capacity = max(c.Capacity, p.OfferedRPS)
				}
			}
			for _, p := range c.Points {
				if !p.Pass && p.OfferedRPS < c.Capacity {
					failedBelow = append(failedBelow, p.OfferedRPS)
				}
			}
			if len(failedBelow) > 0 {
				c.Notes = append(c.Notes, fmt.Sprintf("not monotonic: fails at %s req/s, below its capacity (noise?)", joinNums(failedBelow)))
			}
		}
		if len(c.Points) > 0 {
			models[c.Model] = true
		}
		lr.Configs = append(lr.Configs, c)
	}
	for _, f := range lr.Failures {
		models[f.Config.Model] = true
	}
	for m := range models {
		lr.Models = append(lr.Models, m)
	}
	slices.Sort(lr.Models)
	lr.Configs = slices.DeleteFunc(lr.Configs, func(c *ServingConfig) bool { return len(c.Points) == 0 })
	slices.SortStableFunc(lr.Configs, compareServing)
	slices.SortStableFunc(lr.Failures, func(a, b ServingFailure) int {
		return cmp.Or(compareServing(a.Config, b.Config), cmp.Compare(a.Rate, b.Rate))
	})
	if lr.BudgetMs > 0 {
		for _, m := range lr.Models {
			lr.Recommendations = append(lr.Recommendations, recommendServing(m, lr))
		}
	}
	return lr
}

// mergeLoad merges the load records of one configuration at one offered rate: one record
// as it is; several pooled when all have samples, else the median of each figure.
func mergeLoad(rate float64, rs []*record.Record) *LoadPoint {
	p := &LoadPoint{OfferedRPS: rate, Runs: len(rs), Latency: map[string]Pct{}}
	var ach, qw, cm, mb []float64
	pooled := true
	var all []float64
	for _, r := range rs {
		l := r.Load
		ach = append(ach, l.AchievedRPS)
		p.Requests += l.Requests
		p.Timeouts += l.Timeouts
		p.Dropped += l.Dropped
		p.Saturated = p.Saturated || l.Saturated
		qw = append(qw, distP95(l.QueueWaitMs))
		cm = append(cm, distP95(l.ComputeMs))
		mb = append(mb, l.MeanBatch)
		if len(r.SamplesMs) == 0 {
			pooled = false
		}
		all = append(all, r.SamplesMs...)
	}
	p.AchievedRPS, p.QueueWaitP95, p.ComputeP95, p.MeanBatch = medianOf(ach), medianOf(qw), medianOf(cm), medianOf(mb)
	switch {
	case len(rs) == 1:
		for _, q := range stats.PercentileNames {
			l := Pct{Value: recordPct(rs[0], q)}
			if ci, ok := rs[0].LatencyCI[q]; ok && validCI(ci) {
				l.CI, l.HasCI = ci, true
			}
			p.Latency[q] = l
		}
	case pooled:
		setPooled(p.Latency, stats.Summarize(all, Confidence))
	default:
		for _, q := range stats.PercentileNames {
			p.Latency[q] = Pct{Value: median(rs, func(r *record.Record) float64 { return recordPct(r, q) })}
		}
	}
	return p
}

func distP95(d *record.Dist) float64 {
	if d == nil {
		return math.NaN()
	}
	return d.P95
}

func compareServing(a, b *ServingConfig) int {
	return cmp.Or(
		cmp.Compare(a.Model, b.Model),
		cmpBool(a.Simulated, b.Simulated),
		cmp.Compare(a.Instances, b.Instances),
		cmp.Compare(a.Threads, b.Threads),
		cmp.Compare(a.MaxBatch, b.MaxBatch),
		cmp.Compare(a.MaxDelayMs, b.MaxDelayMs),
		cmpBool(a.CompileApplied, b.CompileApplied),
		cmpBool(a.ChannelsLast, b.ChannelsLast),
		cmpBool(a.Quantize, b.Quantize),
		cmp.Compare(a.Arrival, b.Arrival),
		cmp.Compare(a.Key, b.Key),
	)
}

// cheaperServing orders serving configurations of equal capacity: fewer CPUs, shorter
// max delay, smaller max batch.
func cheaperServing(a, b *ServingConfig) int {
	return cmp.Or(cmp.Compare(a.CPUs(), b.CPUs()), cmp.Compare(a.MaxDelayMs, b.MaxDelayMs), cmp.Compare(a.MaxBatch, b.MaxBatch))
}

func recommendServing(model string, lr *LoadReport) ServingRecommendation {
	p, budget := lr.Percentile, lr.BudgetMs
	rec := ServingRecommendation{Model: model, Percentile: p, BudgetMs: budget}
	var measured, simulated []*ServingConfig
	for _, c := range lr.Configs {
		if c.Model != model || !c.Usable || c.Capacity <= 0 {
			continue
		}
		if c.Simulated {
			simulated = append(simulated, c)
		} else {
			measured = append(measured, c)
		}
	}
	cands := measured
	if len(cands) == 0 && len(simulated) > 0 {
		cands, rec.Predicted = simulated, true
	}
	n := 0
	for _, c := range lr.Configs {
		if c.Model == model {
			n++
		}
	}
	if len(cands) == 0 {
		rec.None = true
		rec.Reason = fmt.Sprintf("no serving configuration of %s sustained any offered rate with %s <= %s ms (%d %s)",
			model, p, fmtNum(budget), n, textfmt.Plural(n, "configuration", "configurations"))
		return rec
	}
	slices.SortStableFunc(cands, func(a, b *ServingConfig) int {
		return cmp.Or(-cmp.Compare(a.Capacity, b.Capacity), cheaperServing(a, b), compareServing(a, b))
	})
	top := cands[0]
	var tied []*ServingConfig
	for _, c := range cands {
		if top.Capacity-c.Capacity <= CapacityTieTolerance*top.Capacity {
			tied = append(tied, c)
		}
	}
	chosen := slices.MinFunc(tied, cheaperServing)
	rec.Chosen, rec.Tie = chosen, len(tied) > 1
	for _, c := range cands {
		if c != chosen {
			rec.RunnerUp = c
			break
		}
	}
	at := chosen.PointAt(chosen.Capacity)
	kind := "measured"
	if rec.Predicted {
		kind = "simulated (nothing measured reaches the budget)"
	}
	var why strings.Builder
	fmt.Fprintf(&why, "highest capacity within %s <= %s ms: %s req/s (%s %s ms there, achieved %s req/s) of %d %s %s %s",
		p, fmtNum(budget), numfmt.RPS(chosen.Capacity), p, numfmt.Ms(at.Lat(p)), numfmt.RPS(at.AchievedRPS),
		len(cands), kind, textfmt.Plural(len(cands), "configuration", "configurations"), "that reach the budget")
	if rec.Tie && chosen != top {
		fmt.Fprintf(&why, "; within %.0f%% of %s (%s req/s), so the cheaper one is preferred (%d CPUs vs %d, max delay %s vs %s ms, max batch %d vs %d)",
			CapacityTieTolerance*100, top.ShortLabel(), numfmt.RPS(top.Capacity), chosen.CPUs(), top.CPUs(), fmtNum(chosen.MaxDelayMs), fmtNum(top.MaxDelayMs), chosen.MaxBatch, top.MaxBatch)
	}
	rec.Reason = why.String()
	return rec
}

func joinNums(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmtNum(x)
	}
	return strings.Join(s, ", ")
}
