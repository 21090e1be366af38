package report

// Choosing: ordering configurations, the Pareto front, ties, the recommendation of one
// model and the effect of each knob. No rendering here (words.go words the reasons).

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/stats"
	"github.com/perflab/perflab/internal/textfmt"
)

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

// knobValue returns e's value of knob (booleans "0"/"1"; "" for a default string knob)
// and e's identity without it.
func knobValue(e *Entry, knob string) (val string, rest string) {
	b2s := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	parts := map[string]string{}
	for _, k := range effectKnobs {
		switch kn, _ := knobs.ByPreset(k); {
		case k == "compile" && e.Inductor:
			parts[k] = knobs.CompileInductor
		case k == "compile":
			parts[k] = b2s(e.CompileApplied) // as applied
		case kn.Kind == knobs.Bool:
			parts[k] = b2s(kn.Text(e.Knobs) == "true")
		default:
			parts[k] = kn.Text(e.Knobs)
		}
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

// effectKnobs are the knobs whose effect the report shows, by preset key (knobs.Axes), in
// the report's order: compile (as applied), the booleans, the numbers, the process knobs.
var effectKnobs = []string{"compile", "channels_last", "quantize", "threads", "interop_threads", "batch_size",
	"onednn_isa", "allocator", "omp_wait", "pin"}

// onOffKnob says whether a knob's effect reads off -> on (compile as applied, booleans).
func onOffKnob(knob string) bool {
	kn, ok := knobs.ByPreset(knob)
	return knob == "compile" || ok && kn.Kind == knobs.Bool
}

// unsetName names a knob's unset value ("") in effect summaries.
func unsetName(knob string) string {
	kn, _ := knobs.ByPreset(knob)
	return kn.UnsetName
}

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
				case knob == "compile":
					from, toS = compileWord(base), compileWord(to)
				case onOffKnob(knob):
					from, toS = onOff(base == "1"), onOff(to == "1")
				case from == "":
					from = unsetName(knob)
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
