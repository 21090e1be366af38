package gate

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/untrusted"
)

// Marker is the hidden HTML comment that identifies perflab's PR comment.
const Marker = "<!-- perflab-gate -->"

// Icon is a verdict at a glance, the same in the terminal, the --out markdown, the PR
// comment and the job summary: ❔ for a verdict that could not decide, ⚠️ for no baseline
// (nothing compared: the gate cannot fail).
func Icon(verdict string) string {
	switch verdict {
	case Regression:
		return "❌"
	case Pass, NoChange:
		return "✅"
	case Improvement:
		return "🚀"
	case NoBaseline:
		return "⚠️"
	}
	return "❔"
}

// The words of the verdict's lists, the same in every rendering.
const (
	wordBroken  = "broken (measured in the baseline, fails now)"
	wordFailed  = "failed, not compared"
	wordNew     = "new, no baseline entry"
	wordMissing = "in the baseline but not measured"
)

// failedWords names a failed configuration with its icon: broken when the baseline
// measured it, else failed.
func failedWords(broken bool) string {
	if broken {
		return "❌ " + wordBroken
	}
	return "⚠️ " + wordFailed
}

// FormatValue shows a metric's value with its unit.
func FormatValue(metric string, v float64) string {
	if metric == "throughput" {
		return numfmt.RPS(v) + " req/s"
	}
	return numfmt.Ms(v) + " ms"
}

func fmtEst(metric string, e Estimate) string {
	if e.Runs == 0 {
		return "-"
	}
	s := FormatValue(metric, e.Value)
	if e.Runs > 1 {
		s += fmt.Sprintf(" (%d runs)", e.Runs)
	}
	return s
}

func fmtRatio(c Comparison) (change, ci, p string) {
	if c.Ratio == 0 {
		return "-", "-", "-"
	}
	change = fmt.Sprintf("%+.1f%%", (c.Ratio-1)*100)
	ci = "-"
	if c.RatioCI != nil {
		ci = fmt.Sprintf("[%.3f, %.3f]", c.RatioCI.Lo, c.RatioCI.Hi)
	}
	return change, ci, fmt.Sprintf("%.2g", c.PAdj)
}

// Text writes the verdict as a terminal table.
func (r *Report) Text(w io.Writer) error {
	fmt.Fprintf(w, "perflab gate: %s — %s\n", strings.ToUpper(r.Verdict), r.Summary)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "baseline: %s%s, commits %s, %s .. %s, fingerprint(s) %s (%s)\n", b.Path, sourceText(b.Source),
			shortList(b.Commits), b.FirstDate, b.LastDate, strings.Join(b.Fingerprints, ", "), b.Env)
	}
	if r.MinDetectable > 0 {
		fmt.Fprintf(w, "sensitivity: smallest change that could be flagged ~%s (median over %s)\n", Pct(r.MinDetectable), r.mdeOver())
	}
	fmt.Fprintf(w, "rule: regression = Holm-corrected one-sided p < %g and slowdown beyond the band (%s); no change = 95%% CI of the ratio within the band%s\n\n",
		r.Alpha, r.bandsText(), r.abRule())
	if len(r.Comparisons) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "configuration\tmetric\tbaseline\tcurrent\tchange\t95% CI of ratio\tp (Holm)\tverdict")
		for _, c := range r.Comparisons {
			change, ci, p := fmtRatio(c)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Key, c.Metric, fmtEst(c.Metric, c.Baseline), fmtEst(c.Metric, c.Current), change, ci, p, c.Verdict)
		}
		tw.Flush()
	}
	if len(r.Informational) > 0 {
		fmt.Fprintf(w, "\ninformation only, not gated:\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range r.Informational {
			change, ci, p := fmtRatio(c)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Key, c.Metric, fmtEst(c.Metric, c.Baseline), fmtEst(c.Metric, c.Current), change, ci, p, c.Verdict)
		}
		tw.Flush()
	}
	r.textLists(w)
	return nil
}

func (r *Report) textLists(w io.Writer) {
	for _, c := range r.Comparisons {
		if c.Verdict == Regression || c.Verdict == Improvement || (c.Verdict == Inconclusive && c.Reason != "") {
			fmt.Fprintf(w, "%s %s %s: %s\n", Icon(c.Verdict), c.Key, c.Metric, c.Reason)
		}
	}
	for _, k := range sortedKeys(r.ConfigNotes) {
		fmt.Fprintf(w, "note: %s: %s\n", k, r.ConfigNotes[k])
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, f := range r.FailedConfigs {
		fmt.Fprintf(w, "%s: %s: %s\n", failedWords(f.WasInBaseline), f.Key, f.Reason)
	}
	for _, k := range r.OnlyInResults {
		fmt.Fprintf(w, "%s: %s\n", wordNew, k)
	}
	for _, k := range r.OnlyInBaseline {
		fmt.Fprintf(w, "%s: %s\n", wordMissing, k)
	}
}

// Markdown writes the verdict as the markdown block used in PR comments and --out.
func (r *Report) Markdown(w io.Writer) error {
	fmt.Fprintf(w, "### %s perflab gate: %s\n\n%s.\n\n", Icon(r.Verdict), r.Verdict, textfmt.Capitalize(r.Summary))
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "**Baseline:** `%s`%s — commits %s, runs from %s to %s, fingerprint(s) `%s` (%s). Current fingerprint `%s`.\n\n",
			b.Path, sourceText(b.Source), shortList(b.Commits), b.FirstDate, b.LastDate, strings.Join(b.Fingerprints, "`, `"), b.Env, r.Fingerprint)
	}
	fmt.Fprintf(w, "**Rule:** a regression is a change that is significant (Holm-corrected one-sided p < %g) *and* larger than its band (%s); no change means the 95%% CI of the ratio rules out a slowdown beyond it%s.\n\n",
		r.Alpha, r.bandsText(), r.abRule())
	if r.MinDetectable > 0 {
		fmt.Fprintf(w, "**Sensitivity:** with this noise the smallest change that could be flagged is about %s (median over %s).\n\n", Pct(r.MinDetectable), r.mdeOver())
	}
	var flagged, rest []Comparison
	for _, c := range r.Comparisons {
		if c.Verdict == Regression || c.Verdict == Improvement {
			flagged = append(flagged, c)
		} else {
			rest = append(rest, c)
		}
	}
	table := func(cs []Comparison) {
		fmt.Fprintln(w, "| configuration | metric | baseline | current | change | 95% CI of ratio | p (Holm) | verdict |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---|---:|---|")
		for _, c := range cs {
			change, ci, p := fmtRatio(c)
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s %s |\n", untrusted.CodeCell(c.Key), c.Metric, fmtEst(c.Metric, c.Baseline), fmtEst(c.Metric, c.Current), change, ci, p, Icon(c.Verdict), c.Verdict)
		}
		fmt.Fprintln(w)
	}
	if len(flagged) > 0 {
		table(flagged)
		for _, c := range flagged {
			fmt.Fprintf(w, "- %s %s %s\n", Icon(c.Verdict), untrusted.Code(c.Key), c.Reason)
		}
		fmt.Fprintln(w)
	}
	for _, a := range r.Attributions {
		fmt.Fprintln(w, a.Markdown())
	}
	if len(rest) > 0 {
		fmt.Fprintf(w, "<details><summary>All other comparisons (%d)</summary>\n\n", len(rest))
		table(rest)
		fmt.Fprint(w, "</details>\n\n")
	}
	if len(r.Informational) > 0 {
		fmt.Fprintf(w, "<details><summary>Information only, not gated (%d)</summary>\n\n", len(r.Informational))
		table(r.Informational)
		fmt.Fprint(w, "</details>\n\n")
	}
	var lines []string
	for _, k := range sortedKeys(r.ConfigNotes) {
		lines = append(lines, fmt.Sprintf("- %s: %s", untrusted.Code(k), r.ConfigNotes[k]))
	}
	for _, n := range r.Notes {
		lines = append(lines, "- "+n)
	}
	for _, f := range r.FailedConfigs {
		lines = append(lines, fmt.Sprintf("- %s: %s: %s", failedWords(f.WasInBaseline), untrusted.Code(f.Key), untrusted.Text(f.Reason)))
	}
	for _, k := range r.OnlyInResults {
		lines = append(lines, fmt.Sprintf("- %s: %s", wordNew, untrusted.Code(k)))
	}
	for _, k := range r.OnlyInBaseline {
		lines = append(lines, fmt.Sprintf("- %s: %s", wordMissing, untrusted.Code(k)))
	}
	if len(lines) > 0 {
		fmt.Fprint(w, "**Notes**\n\n")
		fmt.Fprintln(w, strings.Join(lines, "\n"))
		fmt.Fprintln(w)
	}
	return nil
}

// JSON writes the report as indented JSON.
func (r *Report) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func sourceText(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func shortList(commits []string) string {
	if len(commits) == 0 {
		return "(none recorded)"
	}
	var s []string
	for _, c := range commits {
		s = append(s, textfmt.ShortSHA(c))
	}
	return strings.Join(s, ", ")
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// mdeOver says which comparisons MinDetectable is the median of.
func (r *Report) mdeOver() string {
	if r.Inconclusive > 0 {
		return "the inconclusive comparisons"
	}
	return "comparisons"
}

// abRule describes the A/B confirmation when some comparison is an A/B one.
func (r *Report) abRule() string {
	for _, c := range r.Comparisons {
		if c.Rounds > 0 {
			return "; A/B: interleaved rounds, more rounds while a metric is undecided, a regression only when a second look confirms it (alpha spent over the looks)"
		}
	}
	return ""
}
