package action

import (
	"fmt"
	"github.com/perflab/perflab/internal/textfmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/report"
)

// Table limits of the comment and the summary: the rows of the flagged table (regressions
// and improvements), and of the folded table of every other comparison.
const (
	maxFlaggedRows = 25
	maxOtherRows   = 60
)

// verdictIcon is the verdict at a glance.
func verdictIcon(v string) string {
	switch v {
	case gate.Regression:
		return "❌"
	case gate.Pass, gate.NoChange:
		return "✅"
	case gate.Improvement:
		return "🚀"
	case gate.NoBaseline:
		return "⚠️"
	}
	return "❔"
}

// verdictMarkdown renders the gate's verdict for a PR comment or a job summary. It is the
// gate's own markdown (perflab gate --out) made to fit a comment, which is ~828 px wide on
// github.com: six narrow columns with the verdict first, short configuration labels,
// values shown whenever they exist (inconclusive rows too), capped row counts, and the
// baseline and the rule in words. The full numbers are in perflab-results/verdict.json.
func verdictMarkdown(rep *gate.Report, heading, glance string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s %s\n\n%s.\n\n%s", verdictIcon(rep.Verdict), heading, textfmt.Capitalize(rep.Summary), glance)
	var flagged, improved, rest []gate.Comparison
	for _, c := range rep.Comparisons {
		switch c.Verdict {
		case gate.Regression:
			flagged = append(flagged, c)
		case gate.Improvement:
			improved = append(improved, c)
		default:
			rest = append(rest, c)
		}
	}
	flagged = append(flagged, improved...) // regressions first
	if len(flagged) > 0 {
		comparisonTable(&b, flagged, maxFlaggedRows)
	}
	if len(rest) > 0 {
		what := "comparisons"
		if len(flagged) > 0 {
			what = "other comparisons"
		}
		fmt.Fprintf(&b, "<details><summary>All %d %s</summary>\n\n", len(rest), what)
		comparisonTable(&b, rest, maxOtherRows)
		b.WriteString("</details>\n\n")
	}
	if bl := rep.Baseline; bl != nil {
		fmt.Fprintf(&b, "**Baseline:** `%s`", bl.Path)
		if bl.Source != "" {
			fmt.Fprintf(&b, " from the %s", strings.TrimPrefix(bl.Source, "the "))
		}
		fmt.Fprintf(&b, ": %s, measured %s", textfmt.Count(len(bl.Commits), "commit"), dateRange(bl.FirstDate, bl.LastDate))
		if len(bl.Fingerprints) > 0 {
			fmt.Fprintf(&b, " on `%s`", strings.Join(bl.Fingerprints, "`, `"))
		}
		if bl.Env != "" {
			fmt.Fprintf(&b, " (%s)", bl.Env)
		}
		if rep.Fingerprint != "" && !slices.Contains(bl.Fingerprints, rep.Fingerprint) {
			fmt.Fprintf(&b, "; this run's fingerprint `%s` differs", rep.Fingerprint)
		}
		b.WriteString(".\n\n")
	}
	fmt.Fprintf(&b, "**Rule:** a regression is a change that is significant (Holm-corrected p < %g) *and* larger than %s, on %s.", rep.Alpha, gate.Pct(rep.Threshold), strings.Join(rep.Metrics, ", "))
	if rep.MinDetectable > 0 {
		fmt.Fprintf(&b, " With this run's noise the smallest change that could be flagged is about %s.", gate.Pct(rep.MinDetectable))
	}
	b.WriteString("\n\n")
	var notes []string
	for _, k := range sortedKeys(rep.ConfigNotes) {
		notes = append(notes, fmt.Sprintf("- %s: %s", configLabel(k), rep.ConfigNotes[k]))
	}
	for _, n := range rep.Notes {
		notes = append(notes, "- "+n)
	}
	// Failed configurations, one line per reason (a sweep often fails many the same way).
	type group struct {
		broken bool
		reason string
		keys   []string
	}
	var groups []*group
	for _, f := range rep.FailedConfigs {
		var g *group
		for _, x := range groups {
			if x.broken == f.WasInBaseline && x.reason == f.Reason {
				g = x
			}
		}
		if g == nil {
			g = &group{broken: f.WasInBaseline, reason: f.Reason}
			groups = append(groups, g)
		}
		g.keys = append(g.keys, f.Key)
	}
	for _, g := range groups {
		what := "⚠️ not compared (failed)"
		if g.broken {
			what = "❌ broken (measured in the baseline, fails now)"
		}
		notes = append(notes, fmt.Sprintf("- %s, %s: %s: %s", what, textfmt.Count(len(g.keys), "configuration"), g.reason, labels(g.keys, 6)))
	}
	if n := len(rep.OnlyInResults); n > 0 && rep.Baseline != nil {
		notes = append(notes, fmt.Sprintf("- new, no baseline entry yet: %s", labels(rep.OnlyInResults, 8)))
	}
	if n := len(rep.OnlyInBaseline); n > 0 {
		notes = append(notes, fmt.Sprintf("- in the baseline but not measured: %s", labels(rep.OnlyInBaseline, 8)))
	}
	if len(notes) > 0 {
		b.WriteString(strings.Join(notes, "\n") + "\n\n")
	}
	return b.String()
}

// atAGlance is the recommended configuration of each model in one line, for the top of
// the comment (the table further down has the details); "" without a report.
func atAGlance(rep *report.Report) string {
	if rep == nil {
		return ""
	}
	p := rep.Options.Percentile
	var b strings.Builder
	for i, r := range rep.Recommendations {
		if i == maxChartModels {
			break
		}
		if r.None || r.Chosen == nil {
			fmt.Fprintf(&b, "**Recommended for `%s`:** none fits (%s).<br>\n", modelName(r.Model), rep.Options.ConstraintText())
			continue
		}
		c := r.Chosen
		fmt.Fprintf(&b, "**Recommended for `%s`:** %s — %s %s ms, %s req/s.<br>\n", modelName(r.Model), configWords(c), p, numfmt.Ms(c.Lat(p)), numfmt.RPS(c.ThroughputRPS))
	}
	if b.Len() == 0 {
		return ""
	}
	return strings.TrimSuffix(b.String(), "<br>\n") + "\n\n"
}

// comparisonTable writes at most limit rows, then says how many were left out.
func comparisonTable(b *strings.Builder, cs []gate.Comparison, limit int) {
	b.WriteString("| | configuration | metric | baseline | now | change |\n|:-:|---|---|---:|---:|---:|\n")
	for i, c := range cs {
		if i == limit {
			fmt.Fprintf(b, "\n*… and %d more: every comparison is in `%s/verdict.json`.*\n", len(cs)-limit, OutDir)
			break
		}
		change := fmtChange(c)
		if c.Verdict == gate.Regression || c.Verdict == gate.Improvement {
			change = "**" + change + "**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", verdictIcon(c.Verdict), configLabel(c.Key), c.Metric,
			fmtValue(c.Metric, c.Baseline), fmtValue(c.Metric, c.Current), change)
	}
	b.WriteString("\n")
}

// fmtValue shows an estimate whenever it has a value (an inconclusive comparison still has
// its numbers), with the number of runs behind it when more than one.
func fmtValue(metric string, e gate.Estimate) string {
	if e.Value <= 0 || math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
		return "–"
	}
	s := fmtEst(metric, e.Value)
	if e.Runs > 1 {
		s += fmt.Sprintf(" (×%d)", e.Runs)
	}
	return s
}

// fmtChange is the relative change now/baseline, from the gate's ratio or, when the gate
// did not compute one (too few samples to test), from the two values.
func fmtChange(c gate.Comparison) string {
	r := c.Ratio
	if r <= 0 && c.Baseline.Value > 0 && c.Current.Value > 0 {
		r = c.Current.Value / c.Baseline.Value
	}
	if r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	s := fmt.Sprintf("%+.1f%%", (r-1)*100)
	if c.PAdj > 0 || c.Ratio > 0 {
		s += " " + fmtP(c.PAdj)
	}
	return s
}

// fmtP prints a p-value as people read them: never "p=0".
func fmtP(p float64) string {
	switch {
	case p < 0.001:
		return "(p<0.001)"
	case p < 0.01:
		return fmt.Sprintf("(p=%.3f)", p)
	}
	return fmt.Sprintf("(p=%.2f)", p)
}

// configLabel shortens a configuration key (model|b1|compile=off|t1|i1|cl=false|q=false|cpu)
// to what differs from the defaults: `model` b1 t1 compile cl int8. Unknown key shapes stay
// as they are.
func configLabel(key string) string {
	parts := strings.Split(key, "|")
	if len(parts) < 7 {
		return "`" + strings.ReplaceAll(key, "|", `\|`) + "`"
	}
	out := []string{"`" + strings.ReplaceAll(modelName(parts[0]), "|", `\|`) + "`", parts[1], parts[3]}
	for _, p := range parts[2:] {
		switch p {
		case "compile=on":
			out = append(out, "compile")
		case "cl=true":
			out = append(out, "channels_last")
		case "q=true":
			out = append(out, "int8")
		case "i1", "compile=off", "cl=false", "q=false", "cpu", parts[1], parts[3]:
		default:
			out = append(out, strings.ReplaceAll(p, "|", `\|`))
		}
	}
	return strings.Join(out, " ")
}

func labels(keys []string, limit int) string {
	var ls []string
	for i, k := range keys {
		if i == limit {
			ls = append(ls, fmt.Sprintf("and %d more", len(keys)-limit))
			break
		}
		ls = append(ls, configLabel(k))
	}
	return strings.Join(ls, ", ")
}

func dateRange(first, last string) string {
	d := func(s string) string {
		if len(s) >= 10 {
			return s[:10]
		}
		return s
	}
	switch {
	case first == "" && last == "":
		return "(dates not recorded)"
	case d(first) == d(last):
		return "on " + d(first)
	}
	return "from " + d(first) + " to " + d(last)
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}
