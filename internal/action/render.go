package action

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/perflab/perflab/internal/gate"
	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/report"
	"github.com/perflab/perflab/internal/untrusted"
)

// Size limits. GitHub refuses a comment over 65,536 characters and a step summary over
// 1 MiB; the bodies are kept under both with a margin, counting bytes (never fewer than
// characters).
const (
	MaxCommentBytes = 65536 - 1024
	MaxSummaryBytes = 1<<20 - 4096
)

// Chart limits: a Mermaid xychart stays readable with a few dozen bars.
const (
	maxChartModels  = 3
	maxChartConfigs = 16
)

// section is one part of a comment or summary. An optional section that does not fit is
// replaced by its fallback line; required sections are truncated at a line boundary.
type section struct {
	text     string
	optional bool
	fallback string
}

// assemble joins sections within limit bytes: required sections first (the largest one
// truncated when even they do not fit), then the optional ones, in order, while they fit.
func assemble(limit int, secs []section) string {
	texts := make([]string, len(secs))
	req := 0
	for i, s := range secs {
		if !s.optional {
			texts[i] = s.text
			req += len(s.text)
		}
	}
	for req > limit {
		big := -1
		for i, s := range secs {
			if !s.optional && (big < 0 || len(texts[i]) > len(texts[big])) {
				big = i
			}
		}
		before := len(texts[big])
		texts[big] = truncateMarkdown(texts[big], before-(req-limit))
		if len(texts[big]) >= before {
			break
		}
		req -= before - len(texts[big])
	}
	room := limit - req
	for i, s := range secs {
		if !s.optional {
			continue
		}
		switch {
		case len(s.text) <= room:
			texts[i] = s.text
			room -= len(s.text)
		case s.fallback != "" && len(s.fallback) <= room:
			texts[i] = s.fallback
			room -= len(s.fallback)
		}
	}
	return strings.Join(texts, "")
}

const truncatedNote = "\n\n*… truncated to fit GitHub's size limit: the full text is in the job summary and in the perflab-results artifact.*\n\n"

// truncateMarkdown cuts s at a line boundary to at most n bytes, closing an open code
// fence and any open <details>, and says that it did.
func truncateMarkdown(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len(truncatedNote) + 32 // room for closing tags
	if n <= 0 {
		return ""
	}
	cut := strings.LastIndexByte(s[:n], '\n')
	if cut < 0 {
		cut = 0
	}
	s = s[:cut]
	var b strings.Builder
	b.WriteString(s)
	if strings.Count(s, "```")%2 == 1 {
		b.WriteString("\n```")
	}
	for open := strings.Count(s, "<details>") - strings.Count(s, "</details>"); open > 0; open-- {
		b.WriteString("\n</details>")
	}
	b.WriteString(truncatedNote)
	return b.String()
}

var (
	imageLine   = regexp.MustCompile(`(?m)^!\[[^\]]*\]\([^)]*\)[ \t]*\n?`)
	plotSection = regexp.MustCompile(`(?s)\n## Plots\n.*?(\n## |$)`)
)

// stripImages removes the report's plot images: local PNG files do not render in a comment
// or a summary. The plots section says where the files are instead.
func stripImages(md string) string {
	md = imageLine.ReplaceAllString(md, "")
	return plotSection.ReplaceAllStringFunc(md, func(m string) string {
		next := ""
		if strings.HasSuffix(m, "\n## ") {
			next = "\n## "
		}
		return "\n## Plots\n\nThe PNG plots are in `" + "perflab-results" + "/` (upload the folder as an artifact to keep them).\n" + next
	})
}

// escapeTablePipes escapes the "|" inside code spans of markdown table rows: GitHub splits
// table cells at every unescaped pipe, even inside backticks (configuration keys such as
// `m|b1|compile=off|...` are full of them). Pipes already escaped stay as they are.
func escapeTablePipes(md string) string {
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "|") || !strings.Contains(l, "`") {
			continue
		}
		var b strings.Builder
		inCode := false
		for j := 0; j < len(l); j++ {
			c := l[j]
			switch {
			case c == '`':
				inCode = !inCode
			case c == '|' && inCode && (j == 0 || l[j-1] != '\\'):
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		lines[i] = b.String()
	}
	return strings.Join(lines, "\n")
}

// recommendations renders the recommended configuration of each model as a table narrow
// enough for a comment (four columns: the configuration in words, the latency with its
// interval, the throughput), the answer first.
func recommendations(rep *report.Report) string {
	var b strings.Builder
	p := rep.Options.Percentile
	fmt.Fprintf(&b, "#### Recommended configuration\n\nConstraint: %s.\n\n", rep.Options.ConstraintText())
	if len(rep.Recommendations) == 0 {
		b.WriteString("No model was measured.\n\n")
		return b.String()
	}
	fmt.Fprintf(&b, "| model | configuration | %s | throughput |\n|---|---|---:|---:|\n", p)
	var notes []string
	for _, r := range rep.Recommendations {
		name := untrusted.Code(gate.ModelName(r.Model))
		cellName := untrusted.CodeCell(gate.ModelName(r.Model))
		if r.None || r.Chosen == nil {
			fmt.Fprintf(&b, "| %s | **none fits** | – | – |\n", cellName)
			notes = append(notes, fmt.Sprintf("- %s: no recommendation: %s", name, r.Reason))
			continue
		}
		c := r.Chosen
		lat := "**" + numfmt.Ms(c.Lat(p)) + " ms**"
		if l, ok := c.Latency[p]; ok && l.HasCI {
			lat += fmt.Sprintf("<br><sub>[%s, %s]</sub>", numfmt.Ms(l.CI.Lo), numfmt.Ms(l.CI.Hi))
		}
		fmt.Fprintf(&b, "| %s | **%s** | %s | %s req/s |\n", cellName, configWords(c), lat, numfmt.RPS(c.ThroughputRPS))
		notes = append(notes, fmt.Sprintf("- %s: %s", name, r.Reason))
	}
	b.WriteString("\n" + strings.Join(notes, "\n") + "\n\n")
	return b.String()
}

// configWords says a configuration as one would set it: "batch 4, 2 threads (1 inter-op),
// compile, channels_last, oneDNN avx2" (every knob that is set: a recommendation without
// its ISA cap or allocator is another configuration).
func configWords(e *report.Entry) string {
	threads := fmt.Sprintf("%d thread", e.Threads)
	if e.Threads != 1 {
		threads += "s"
	}
	if e.InteropThreads > 1 {
		threads += fmt.Sprintf(" (%d inter-op)", e.InteropThreads)
	}
	parts := []string{fmt.Sprintf("batch %d", e.BatchSize), threads}
	if e.CompileApplied {
		parts = append(parts, "compile")
	} else {
		parts = append(parts, "eager")
	}
	if e.ChannelsLast {
		parts = append(parts, "channels_last")
	}
	if e.Quantize {
		parts = append(parts, "int8")
	}
	return strings.Join(parts, ", ") + e.ProcessLabel(", oneDNN ", ", ", ", OpenMP wait ", ", pinned ")
}

// chart renders a Mermaid xychart per model (at most maxChartModels): the chosen latency
// percentile of its fastest configurations as horizontal bars (their labels then stack
// down the side and cannot overlap), the budget as a line, the recommended configuration
// starred. Mermaid's xychart has a linear axis only: one slow outlier (a 2.4 s
// configuration among 11-55 ms ones) would flatten every other bar and the budget line to
// nothing. So the axis ends at axisTop, bars beyond it are cut there and their labels say
// their real value.
func chart(rep *report.Report) string {
	p := rep.Options.Percentile
	var b strings.Builder
	shown, clippedAny := 0, false
	for _, m := range rep.Models {
		var es []*report.Entry
		for _, e := range rep.Entries {
			if e.Model == m && e.Usable && !math.IsNaN(e.Lat(p)) {
				es = append(es, e)
			}
		}
		if len(es) == 0 {
			continue
		}
		if shown == maxChartModels {
			fmt.Fprintf(&b, "*Charts are shown for the first %d models; the report lists every model.*\n\n", maxChartModels)
			break
		}
		shown++
		var chosen *report.Entry
		for _, r := range rep.Recommendations {
			if r.Model == m {
				chosen = r.Chosen
			}
		}
		slices.SortStableFunc(es, func(a, b *report.Entry) int { return cmpFloat(a.Lat(p), b.Lat(p)) })
		total := len(es)
		if len(es) > maxChartConfigs {
			es = es[:maxChartConfigs]
		}
		vals := make([]float64, len(es))
		for i, e := range es {
			vals[i] = e.Lat(p)
		}
		top := axisTop(vals, rep.Options.BudgetMs)
		var labels, values, budget []string
		for i, e := range es {
			l := fmt.Sprintf("b%d %s", e.BatchSize, e.ShortLabel())
			if e == chosen {
				l = "★ " + l
			}
			v := vals[i]
			if v > top {
				l += " ▶ " + numfmt.Ms(v) + " ms"
				v, clippedAny = top, true
			}
			labels = append(labels, strconv.Quote(mermaidText(l)))
			values = append(values, fmtNum(v))
			if rep.Options.BudgetMs > 0 {
				budget = append(budget, fmtNum(rep.Options.BudgetMs))
			}
		}
		title := fmt.Sprintf("%s: %s latency (ms) per configuration", gate.ModelName(m), p)
		if total > len(es) {
			title += fmt.Sprintf(", fastest %d of %d", len(es), total)
		}
		fmt.Fprintf(&b, "```mermaid\nxychart-beta horizontal\n    title %s\n    x-axis [%s]\n    y-axis \"%s latency (ms)\" 0 --> %s\n    bar [%s]\n",
			strconv.Quote(mermaidText(title)), strings.Join(labels, ", "), p, fmtNum(top), strings.Join(values, ", "))
		if len(budget) > 0 {
			fmt.Fprintf(&b, "    line [%s]\n", strings.Join(budget, ", "))
		}
		b.WriteString("```\n\n")
	}
	if shown == 0 {
		return ""
	}
	legend := "★ = recommended."
	if rep.Options.BudgetMs > 0 {
		legend += fmt.Sprintf(" The line is the %s ms budget.", fmtNum(rep.Options.BudgetMs))
	}
	if clippedAny {
		legend += " ▶ = a bar cut at the end of the axis (its value is in its label), so that one slow configuration does not flatten the others."
	}
	return "#### " + p + " latency by configuration\n\n" + b.String() + legend + "\n\n"
}

// axisTop is the end of a chart's value axis: a round number above every value and the
// budget, unless a few outliers would squeeze the rest: then it is set by the bulk of the
// values (3x their median, and never below 1.2x the budget) and the outliers are cut.
func axisTop(vals []float64, budget float64) float64 {
	s := slices.Clone(vals)
	slices.Sort(s)
	hi := s[len(s)-1]
	bulk := s[(len(s)-1)/2] * 3
	if budget > 0 {
		bulk = max(bulk, budget*1.2)
	}
	if hi <= bulk {
		return niceCeil(max(hi, budget) * 1.1)
	}
	return niceCeil(bulk)
}

// RecommendedJSON is the recommended-config output: perflab report --json's object, on one line.
func RecommendedJSON(rep *report.Report) (string, error) {
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, rep); err != nil {
		return "", err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, buf.Bytes()); err != nil {
		return "", err
	}
	return compact.String(), nil
}

// annotations returns the messages of the ::error (or ::warning) annotations for the gate's
// regressions: at most limit, the last one saying how many more there are.
func annotations(rep *gate.Report, limit int) []string {
	var msgs []string
	var regs []gate.Comparison
	for _, c := range rep.Comparisons {
		if c.Verdict == gate.Regression {
			regs = append(regs, c)
		}
	}
	for i, c := range regs {
		if i == limit-1 && len(regs) > limit {
			msgs = append(msgs, fmt.Sprintf("… and %d more regressions: see the job summary", len(regs)-i))
			break
		}
		msgs = append(msgs, fmt.Sprintf("%s %s %s, significant and beyond the threshold (baseline %s, now %s)", strings.ReplaceAll(gate.ConfigLabel(c.Key), "`", ""),
			c.Metric, c.ChangeText(), gate.FormatValue(c.Metric, c.Baseline.Value), gate.FormatValue(c.Metric, c.Current.Value)))
	}
	return msgs
}

func mermaidText(s string) string { return strings.NewReplacer(`"`, "'", "\n", " ").Replace(s) }

// fmtNum prints v with at most 4 significant digits and no exponent (Mermaid wants plain
// numbers).
func fmtNum(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	scale := math.Pow(10, 3-math.Floor(math.Log10(math.Abs(v))))
	return strconv.FormatFloat(math.Round(v*scale)/scale, 'f', -1, 64)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*e {
			return m * e
		}
	}
	return 10 * e
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
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
			fmt.Fprintf(&b, "**Recommended for %s:** none fits (%s).<br>\n", untrusted.Code(gate.ModelName(r.Model)), rep.Options.ConstraintText())
			continue
		}
		c := r.Chosen
		fmt.Fprintf(&b, "**Recommended for %s:** %s — %s %s ms, %s req/s.<br>\n", untrusted.Code(gate.ModelName(r.Model)), configWords(c), p, numfmt.Ms(c.Lat(p)), numfmt.RPS(c.ThroughputRPS))
	}
	if b.Len() == 0 {
		return ""
	}
	return strings.TrimSuffix(b.String(), "<br>\n") + "\n\n"
}
