package profile

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/perflab/perflab/internal/numfmt"
	"github.com/perflab/perflab/internal/textfmt"
	"github.com/perflab/perflab/internal/untrusted"
)

// MostlyBetween: above this share of the forward outside named operators, a table says so.
const MostlyBetween = 0.5

// MaxShapes is how many characters of input shapes a rendered row shows (the record and
// the trace keep them whole).
const MaxShapes = 60

func shortShapes(s string) string {
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > MaxShapes {
		return string(r[:MaxShapes-1]) + "…"
	}
	return s
}

func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

func signedMs(v float64) string {
	if v > 0 {
		return "+" + numfmt.Ms(v) + " ms"
	}
	return numfmt.Ms(v) + " ms"
}

func sharePct(v float64) string { return fmt.Sprintf("%.0f%%", 100*v) }

// TableHeader is the sentence above a table: how it was profiled and how a forward's time
// splits between operators and the rest.
func TableHeader(t Table) string {
	return fmt.Sprintf("%s profiled after the timed loop: %s ms each under the profiler, %s ms in operators (self time), %s ms between them",
		textfmt.Count(t.Forwards, "forward"), numfmt.Ms(t.ForwardMs), numfmt.Ms(t.OpsMs), numfmt.Ms(t.BetweenMs))
}

// WriteTable writes the top rows of a table for a terminal (top <= 0: all of them).
func WriteTable(w io.Writer, t Table, top int) error {
	fmt.Fprintln(w, TableHeader(t))
	if t.ForwardMs > 0 && t.BetweenMs > MostlyBetween*t.ForwardMs {
		fmt.Fprintf(w, "  %.0f%% of the forward ran outside operators the profiler names: kernels the runtime runs itself (compile on: prepacked and fused oneDNN kernels; inductor: the package's compiled kernels) or the interpreter; --compile off names every operator\n",
			100*t.BetweenMs/t.ForwardMs)
	}
	if len(t.Rows) == 0 {
		_, err := fmt.Fprintln(w, "  no per-operator events")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   self ms\t% of forward\t calls\toperator\tinput shapes")
	rows := t.Rows
	if top > 0 && len(rows) > top {
		rows = rows[:top]
	}
	for _, r := range rows {
		share := 0.0
		if t.ForwardMs > 0 {
			share = r.SelfMs / t.ForwardMs
		}
		fmt.Fprintf(tw, "  %8s\t%12s\t%6s\t%s\t%s\n", numfmt.Ms(r.SelfMs), pct(share), calls(r.Calls),
			untrusted.Printable(r.Op), untrusted.Printable(shortShapes(r.Shapes)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n := len(t.Rows) - len(rows); n > 0 {
		var rest float64
		for _, r := range t.Rows[len(rows):] {
			rest += r.SelfMs
		}
		fmt.Fprintf(w, "  %s ms in %s more\n", numfmt.Ms(rest), textfmt.Count(n, "row"))
	}
	return nil
}

func calls(c float64) string {
	if c == math.Trunc(c) {
		return fmt.Sprintf("%.0f", c)
	}
	return fmt.Sprintf("%.2f", c)
}

// Summary is the attribution in one sentence (no markdown), e.g. "aten::conv2d [1,64,56,56]
// (new) +3.1 ms: 95% of the +3.3 ms profiled change".
func (a Attribution) Summary() string {
	switch {
	case a.NoEvents:
		return "no per-operator events: the runtime reports none for this model format"
	case len(a.Rows) == 0:
		return fmt.Sprintf("no operator changed beyond its run-to-run spread (profiled change %s)", signedMs(a.ChangeMs))
	}
	r := a.Rows[0]
	s := fmt.Sprintf("%s %s", r.Op, shortShapes(r.Shapes))
	if r.Kind != KindChanged {
		s += " (" + r.Kind + ")"
	}
	s += fmt.Sprintf(" %s: %s of the %s profiled change", signedMs(r.ChangeMs), sharePct(r.Share), signedMs(a.ChangeMs))
	if len(a.Rows) > 1 {
		s += fmt.Sprintf("; the top %d rows %s", len(a.Rows), sharePct(a.ShownShare()))
	}
	return s
}

// notes are the sentences under an attribution's rows.
func (a Attribution) notes() []string {
	var out []string
	trim := ""
	if g := Trimmed(a.Rounds); g > 0 {
		trim = fmt.Sprintf(" (each side's %d fastest and %d slowest set aside: other work during a round neither hides nor makes a row)", g, g)
	}
	out = append(out, fmt.Sprintf("Self time per forward, %d profiled rounds of %s per side, interleaved; a row is shown when its change is beyond %g standard errors of its own rounds%s and at least %s of the base's forward.",
		a.Rounds, textfmt.Count(a.Forwards, "forward"), SpreadK, trim, pct(MinShareOfForward)))
	line := fmt.Sprintf("Profiled forward: base %s ms, head %s ms (%s).", numfmt.Ms(a.BaseMs), numfmt.Ms(a.HeadMs), signedMs(a.ChangeMs))
	if t := a.TimedChangeMs(); t != 0 {
		line += fmt.Sprintf(" Timed: base %s ms, head %s ms (%s).", numfmt.Ms(a.TimedBaseMs), numfmt.Ms(a.TimedHeadMs), signedMs(t))
	}
	out = append(out, line)
	if a.Disagrees {
		out = append(out, "The profiled change disagrees with the timed one: the rows explain the profiled runs, not necessarily the timed change (the profiler's overhead, or a change outside operators).")
	}
	return out
}

// WriteText writes the attribution for a terminal, at most top rows (top <= 0: all).
func (a Attribution) WriteText(w io.Writer, top int) error {
	fmt.Fprintln(w, "Where the time went: "+untrusted.Printable(a.Summary()))
	if a.NoEvents {
		return nil
	}
	rows, rest := a.top(top)
	if len(rows) > 0 {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "      change\tshare\t base ms\t head ms\toperator\tinput shapes")
		for _, r := range rows {
			fmt.Fprintf(tw, "  %10s\t%5s\t%8s\t%8s\t%s\t%s\n", signedMs(r.ChangeMs), sharePct(r.Share), baseCell(r), headCell(r),
				untrusted.Printable(r.Op), untrusted.Printable(shortShapes(r.Shapes)))
		}
		fmt.Fprintf(tw, "  %10s\t%5s\t%8s\t%8s\t%s\t\n", signedMs(rest.ms), sharePct(rest.share(a.ChangeMs)), "", "", rest.label())
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range a.notes() {
		fmt.Fprintln(w, "  "+n)
	}
	if len(a.Traces) > 0 {
		fmt.Fprintln(w, "  traces: "+untrusted.Printable(strings.Join(a.Traces, ", ")))
	}
	return nil
}

// MaxCommentRows is how many rows the PR comment's section shows.
const MaxCommentRows = 8

// Markdown renders the attribution as a collapsed section for a PR comment (at most
// MaxCommentRows rows); what (plain text, e.g. "in model.pt b1 t1", may be "") says what
// was compared, traces the trace files in the artifact (repository-relative).
func (a Attribution) Markdown(what string, traces []string) string {
	var b strings.Builder
	title := "Where the time went"
	if what != "" {
		title += " " + what
	}
	b.WriteString("<details><summary>" + SummaryText(title+": "+a.Summary()) + "</summary>\n\n")
	if !a.NoEvents {
		rows, rest := a.top(MaxCommentRows)
		if len(rows) > 0 {
			b.WriteString("| change | share | base ms | head ms | operator | input shapes |\n|--:|--:|--:|--:|---|---|\n")
			for _, r := range rows {
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", signedMs(r.ChangeMs), sharePct(r.Share), baseCell(r), headCell(r),
					untrusted.CodeCell(r.Op), untrusted.CodeCell(shortShapes(r.Shapes)))
			}
			fmt.Fprintf(&b, "| %s | %s | | | %s | |\n", signedMs(rest.ms), sharePct(rest.share(a.ChangeMs)), rest.label())
			b.WriteString("\n")
		}
		for _, n := range a.notes() {
			b.WriteString(n + "\n")
		}
	}
	if len(traces) > 0 {
		var names []string
		for _, t := range traces {
			names = append(names, untrusted.Code(t))
		}
		b.WriteString("\nChrome traces of both sides (open them in Perfetto or chrome://tracing): " + strings.Join(names, ", ") + "\n")
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

// SummaryText is s for the inside of an HTML element such as <summary>, where GitHub
// renders no markdown (a backslash escape would show): HTML-escaped, one line, its
// @-mentions broken by a zero-width joiner.
func SummaryText(s string) string {
	return strings.ReplaceAll(html.EscapeString(untrusted.Printable(s)), "@", "@\u200d")
}

type restRows struct {
	ms   float64
	rows int
}

func (r restRows) share(total float64) float64 {
	if total == 0 {
		return 0
	}
	return r.ms / total
}

func (r restRows) label() string {
	return fmt.Sprintf("other (%s within their noise or small)", textfmt.Count(r.rows, "row"))
}

// top returns the first n rows and what the others add up to (other included).
func (a Attribution) top(n int) ([]DiffRow, restRows) {
	rows := a.Rows
	rest := restRows{ms: a.OtherMs, rows: a.OtherRows}
	if n > 0 && len(rows) > n {
		for _, r := range rows[n:] {
			rest.ms += r.ChangeMs
			rest.rows++
		}
		rows = rows[:n]
	}
	return rows, rest
}

func baseCell(r DiffRow) string {
	if r.Kind == KindNew {
		return "new"
	}
	return numfmt.Ms(r.BaseMs)
}

func headCell(r DiffRow) string {
	if r.Kind == KindVanished {
		return "gone"
	}
	return numfmt.Ms(r.HeadMs)
}
