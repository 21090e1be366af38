package gate

import (
	"bytes"
	"strings"
	"testing"
)

// TestSameIconsAndWords: the terminal table, the --out markdown and the PR comment (and
// job summary) say a verdict with the same icon and its lists with the same words.
func TestSameIconsAndWords(t *testing.T) {
	k := func(m string) string { return m + "|b1|compile=off|t1|i1|cl=false|q=false|cpu" }
	rep := &Report{Verdict: NotConclusive, Summary: "1 inconclusive", Alpha: 0.01, Threshold: 0.05, Metrics: []string{"p95"},
		Comparisons: []Comparison{{Key: k("a"), Metric: "p95", Verdict: Inconclusive, Reason: "too few samples",
			Baseline: Estimate{Value: 10, Runs: 1}, Current: Estimate{Value: 11, Runs: 1}}},
		FailedConfigs:  []FailedConfig{{Key: k("f"), Reason: "boom"}, {Key: k("g"), Reason: "crash", WasInBaseline: true}},
		OnlyInResults:  []string{k("n")},
		OnlyInBaseline: []string{k("o")},
		Baseline:       &BaselineInfo{Path: "b.json"},
	}
	var text, md bytes.Buffer
	rep.Text(&text)
	rep.Markdown(&md)
	comment := rep.CommentMarkdown(CommentOptions{Heading: "perflab gate: " + rep.Verdict})
	for name, out := range map[string]string{"text": text.String(), "markdown": md.String(), "comment": comment} {
		for _, want := range []string{"❔", "⚠️ failed, not compared", "❌ broken (measured in the baseline, fails now)",
			"new, no baseline entry", "in the baseline but not measured"} {
			if !strings.Contains(out, want) {
				t.Errorf("%s lacks %q:\n%s", name, want, out)
			}
		}
	}
	for v, want := range map[string]string{Regression: "❌", Pass: "✅", NoChange: "✅", Improvement: "🚀", NoBaseline: "⚠️", NotConclusive: "❔"} {
		if got := Icon(v); got != want {
			t.Errorf("Icon(%q) = %s, want %s", v, got, want)
		}
	}
	if !strings.HasPrefix(md.String(), "### ❔ perflab gate: inconclusive") || !strings.HasPrefix(comment, "### ❔ perflab gate: inconclusive") {
		t.Errorf("headings differ:\n%.60s\n%.60s", md.String(), comment)
	}
}
