package gate

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/untrusted"
)

// CommentOptions shape the compact verdict of a PR comment or a job summary.
type CommentOptions struct {
	Heading    string // after the icon, e.g. "perflab gate: regression"
	Glance     string // markdown after the summary (the recommended configurations); may be ""
	MaxFlagged int    // rows of the table of regressions and improvements (0 = 25)
	MaxOther   int    // rows of the folded table of every other comparison (0 = 60)
	Everything string // where every comparison is, said when rows are left out
	// Compared says what was compared (base sha -> head sha, each model file by its
	// repository path, changed or not), right under the first line; may be "".
	Compared string
	// Extra is appended after the notes (a section another feature adds); may be "".
	Extra string
}

// CommentMarkdown renders the verdict for a PR comment or a job summary. It is Markdown
// (perflab gate --out) made to fit a comment, which is ~828 px wide on github.com: six
// narrow columns with the verdict first, short configuration labels, values shown whenever
// they exist (inconclusive rows too), capped row counts, and the baseline and the rule in
// words. Same icons and words as Text and Markdown.
func (rep *Report) CommentMarkdown(o CommentOptions) string {
	if o.MaxFlagged == 0 {
		o.MaxFlagged = 25
	}
	if o.MaxOther == 0 {
		o.MaxOther = 60
	}
	heading, glance := o.Heading, o.Glance
	number, about := rep.Headline()
	if number != "" {
		heading += " — " + number
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### %s %s\n\n", Icon(rep.Verdict), heading)
	if about != "" {
		b.WriteString(about + "\n\n")
	}
	if o.Compared != "" {
		b.WriteString(o.Compared + "\n\n")
	}
	fmt.Fprintf(&b, "%s.\n\n%s", textfmt.Capitalize(rep.Summary), glance)
	var flagged, improved, rest []Comparison
	for _, c := range rep.Comparisons {
		switch c.Verdict {
		case Regression:
			flagged = append(flagged, c)
		case Improvement:
			improved = append(improved, c)
		default:
			rest = append(rest, c)
		}
	}
	flagged = append(flagged, improved...) // regressions first
	if len(flagged) > 0 {
		comparisonTable(&b, flagged, o.MaxFlagged, o.Everything)
	}
	rep.writeAttributions(&b)
	if len(rest) > 0 {
		what := "comparisons"
		if len(flagged) > 0 {
			what = "other comparisons"
		}
		fmt.Fprintf(&b, "<details><summary>All %d %s</summary>\n\n", len(rest), what)
		comparisonTable(&b, rest, o.MaxOther, o.Everything)
		b.WriteString("</details>\n\n")
	}
	b.WriteString(rep.whyLines(12))
	if bl := rep.Baseline; bl != nil {
		fmt.Fprintf(&b, "**Baseline:** %s", untrusted.Code(bl.Path))
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
	fmt.Fprintf(&b, "**Rule:** a regression is a change that is significant (Holm-corrected one-sided p < %g) *and* larger than its band (%s); no change means the 95%% CI of the ratio lies inside the band.", rep.Alpha, rep.bandsText())
	if rep.MinDetectable > 0 {
		fmt.Fprintf(&b, " With this run's noise the smallest change that could be flagged is about %s.", Pct(rep.MinDetectable))
	}
	b.WriteString("\n\n")
	var notes []string
	for _, k := range sortedKeys(rep.ConfigNotes) {
		notes = append(notes, fmt.Sprintf("- %s: %s", ConfigLabel(k), rep.ConfigNotes[k]))
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
		what := failedWords(g.broken)
		notes = append(notes, fmt.Sprintf("- %s, %s: %s: %s", what, textfmt.Count(len(g.keys), "configuration"), untrusted.Text(g.reason), labels(g.keys, 6)))
	}
	if n := len(rep.OnlyInResults); n > 0 && rep.Baseline != nil {
		notes = append(notes, fmt.Sprintf("- %s: %s", wordNew, labels(rep.OnlyInResults, 8)))
	}
	if n := len(rep.OnlyInBaseline); n > 0 {
		notes = append(notes, fmt.Sprintf("- %s: %s", wordMissing, labels(rep.OnlyInBaseline, 8)))
	}
	if len(notes) > 0 {
		b.WriteString(strings.Join(notes, "\n") + "\n\n")
	}
	b.WriteString(o.Extra)
	return b.String()
}

// bandsText says each gated metric's band: "±5% on p95, throughput; ±10% on p99".
func (rep *Report) bandsText() string {
	o := Options{Threshold: rep.Threshold}
	byBand := map[float64][]string{}
	var order []float64
	for _, m := range rep.Metrics {
		band := o.Band(m)
		for _, c := range rep.Comparisons {
			if c.Metric == m && c.Threshold > 0 {
				band = c.Threshold
				break
			}
		}
		if byBand[band] == nil {
			order = append(order, band)
		}
		byBand[band] = append(byBand[band], m)
	}
	var parts []string
	for _, band := range order {
		parts = append(parts, fmt.Sprintf("±%s on %s", Pct(band), strings.Join(byBand[band], ", ")))
	}
	return strings.Join(parts, "; ")
}

// whyLines says, per compared metric, why it was or was not decided (at most limit lines).
func (rep *Report) whyLines(limit int) string {
	var lines []string
	for _, c := range rep.Comparisons {
		if c.Reason == "" {
			continue
		}
		if len(lines) == limit {
			lines = append(lines, fmt.Sprintf("- … and %d more: every reason is in the verdict's JSON.", len(rep.Comparisons)-limit))
			break
		}
		lines = append(lines, fmt.Sprintf("- %s %s %s: %s", Icon(c.Verdict), ConfigLabel(c.Key), c.Metric, untrusted.Text(c.Reason)))
	}
	if len(lines) == 0 {
		return ""
	}
	return "**Why, per metric**\n\n" + strings.Join(lines, "\n") + "\n\n"
}

// Headline is what decided the verdict, in two parts: the number (for the first line,
// which never quotes a name a pull request chose) and what it is about (the line under
// it): the regression (the largest), the undecided metric that kept the verdict from a
// pass, or for a pass the metric closest to its band. Both "" when nothing was compared.
func (rep *Report) Headline() (number, about string) {
	if rep.Deciding != "" {
		return rep.DecidingShort, rep.Deciding
	}
	ci := func(c Comparison) string {
		if c.RatioCI == nil {
			return ""
		}
		return fmt.Sprintf(", 95%% CI of the ratio [%.3f, %.3f]", c.RatioCI.Lo, c.RatioCI.Hi)
	}
	name := func(c Comparison) string { return ConfigLabel(c.Key) + " " + c.Metric }
	// How far toward its band's edge the slow side of a comparison reaches (1 = at the edge).
	reach := func(c Comparison) float64 {
		if c.RatioCI == nil || c.Threshold <= 0 {
			return math.Inf(1)
		}
		slow := math.Log(c.RatioCI.Hi) // the slow side: latency up, throughput down
		if c.Metric == "throughput" {
			slow = -math.Log(c.RatioCI.Lo)
		}
		return slow / math.Log1p(c.Threshold)
	}
	var best *Comparison
	switch rep.Verdict {
	case Regression:
		for i, c := range rep.Comparisons {
			if c.Verdict == Regression && (best == nil || math.Abs(math.Log(c.Ratio)) > math.Abs(math.Log(best.Ratio))) {
				best = &rep.Comparisons[i]
			}
		}
		if best == nil {
			return "", ""
		}
		return fmt.Sprintf("%s %s, beyond ±%s%s", best.Metric, best.ChangeText(), Pct(best.Threshold), ci(*best)),
			fmt.Sprintf("**Decided by:** %s: %s.", name(*best), untrusted.Text(best.Reason))
	case NotConclusive:
		for i, c := range rep.Comparisons {
			if c.Verdict == Inconclusive && (best == nil || reach(c) > reach(*best)) {
				best = &rep.Comparisons[i]
			}
		}
		if best == nil {
			return "", ""
		}
		about := fmt.Sprintf("**Undecided:** %s: %s.", name(*best), untrusted.Text(best.Reason))
		switch {
		case best.RatioCI == nil:
			return fmt.Sprintf("%s undecided", best.Metric), about
		case strings.Contains(best.Reason, "not confirmed"):
			return fmt.Sprintf("%s %s at the first look, not confirmed by a second", best.Metric, best.ChangeText()), about
		}
		s := fmt.Sprintf("%s %s undecided%s reaches beyond ±%s", best.Metric, best.ChangeText(), ci(*best), Pct(best.Threshold))
		if best.RoundsNeeded > best.Rounds {
			s += fmt.Sprintf("; about %d rounds would decide", best.RoundsNeeded)
		}
		return s, about
	case Pass:
		for i, c := range rep.Comparisons {
			if best == nil || reach(c) > reach(*best) {
				best = &rep.Comparisons[i]
			}
		}
		if best == nil {
			return "", ""
		}
		return fmt.Sprintf("every gated metric inside its band; the closest, %s %s%s, inside ±%s", best.Metric, best.ChangeText(), ci(*best), Pct(best.Threshold)),
			fmt.Sprintf("**Closest to its band:** %s.", name(*best))
	}
	return "", ""
}

// comparisonTable writes at most limit rows, then says how many were left out.
func comparisonTable(b *strings.Builder, cs []Comparison, limit int, everything string) {
	b.WriteString("| | configuration | metric | baseline | now | change |\n|:-:|---|---|---:|---:|---:|\n")
	for i, c := range cs {
		if i == limit {
			fmt.Fprintf(b, "\n*… and %d more: every comparison is in `%s`.*\n", len(cs)-limit, everything)
			break
		}
		change := c.ChangeText()
		if c.Verdict == Regression || c.Verdict == Improvement {
			change = "**" + change + "**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", Icon(c.Verdict), ConfigLabel(c.Key), c.Metric,
			shownValue(c.Metric, c.Baseline), shownValue(c.Metric, c.Current), change)
	}
	b.WriteString("\n")
}

// shownValue shows an estimate whenever it has a value (an inconclusive comparison still has
// its numbers), with the number of runs behind it when more than one.
func shownValue(metric string, e Estimate) string {
	if e.Value <= 0 || math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
		return "–"
	}
	s := FormatValue(metric, e.Value)
	if e.Runs > 1 {
		s += fmt.Sprintf(" (×%d)", e.Runs)
	}
	return s
}

// ChangeText is the relative change now/baseline with its p-value, from the gate's ratio
// or, when the gate did not compute one (too few samples to test), from the two values.
func (c Comparison) ChangeText() string {
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

// ConfigLabel shortens a configuration key (model|b1|compile=off|t1|i1|cl=false|q=false|cpu)
// to what differs from the defaults: `model` b1 t1 compile cl int8. Unknown key shapes stay
// as they are.
func ConfigLabel(key string) string {
	parts := strings.Split(key, "|")
	if len(parts) < 7 {
		return untrusted.CodeCell(key)
	}
	out := []string{untrusted.CodeCell(ModelName(parts[0])), untrusted.Text(parts[1]), untrusted.Text(parts[3])}
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
			out = append(out, untrusted.Text(p))
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
		ls = append(ls, ConfigLabel(k))
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

// ModelName shortens a model file path to its file name (built-in names stay as they are).
func ModelName(m string) string {
	if strings.ContainsAny(m, `/\`) {
		return filepath.Base(m)
	}
	return m
}
