package gate

import (
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/profile"
	"github.com/perflab/perflab/internal/testutil"
)

// TestCommentAttribution: a regressed A/B comparison's attribution is a collapsed section
// right under the flagged comparisons, headed by its configuration; one that could not be
// profiled says why; a report without attributions has no such section.
func TestCommentAttribution(t *testing.T) {
	key := "models/head.pt|b1|compile=off|t1|i1|cl=false|q=false|cpu"
	rep := &Report{Verdict: Failed, Summary: "1 regression", Regressions: 1, Alpha: 0.01, Threshold: 0.05, Metrics: []string{"p95"},
		Comparisons: []Comparison{{Key: key, Metric: "p95", Verdict: Regression, Reason: "p95 +80%", Rounds: 6, Threshold: 0.05,
			Baseline: Estimate{Value: 1.2, Runs: 6}, Current: Estimate{Value: 2.2, Runs: 6}, Ratio: 1.8}}}
	without := rep.CommentMarkdown(CommentOptions{Heading: "perflab gate: " + rep.Verdict})
	if strings.Contains(without, "Where the time went") {
		t.Errorf("a report without attributions has the section:\n%s", without)
	}
	base := []profile.Table{
		{Forwards: 8, OpsMs: 1.0, BetweenMs: 0.2, Rows: []profile.Row{{Op: "aten::mkldnn_convolution", Shapes: "[1,32,64,64] [64,32,3,3] [64]", Calls: 1, SelfMs: 1.0}}},
		{Forwards: 8, OpsMs: 1.1, BetweenMs: 0.2, Rows: []profile.Row{{Op: "aten::mkldnn_convolution", Shapes: "[1,32,64,64] [64,32,3,3] [64]", Calls: 1, SelfMs: 1.1}}},
		{Forwards: 8, OpsMs: 1.0, BetweenMs: 0.21, Rows: []profile.Row{{Op: "aten::mkldnn_convolution", Shapes: "[1,32,64,64] [64,32,3,3] [64]", Calls: 1, SelfMs: 1.0}}},
	}
	var head []profile.Table
	for i, b := range base {
		h := b
		h.Rows = append([]profile.Row{{Op: "aten::mkldnn_convolution", Shapes: "[1,64,32,32] [64,64,3,3] [64]", Calls: 1, SelfMs: 0.9 + 0.01*float64(i)}, {Op: "aten::gelu", Shapes: "[1,64,32,32]", Calls: 1, SelfMs: 0.09}}, b.Rows...)
		h.OpsMs += 0.99
		head = append(head, h)
	}
	a := profile.Diff(base, head, 1.15, 2.18)
	rep.Attributions = []Attribution{
		{Key: key, Attribution: &a, Traces: []string{"perflab-results/profiles/1-head.pt.base.trace.json", "perflab-results/profiles/1-head.pt.head.trace.json"}},
		{Key: "models/other.pt|b1", Err: "profiling both sides failed: timed out after 10m0s"},
	}
	with := rep.CommentMarkdown(CommentOptions{Heading: "perflab gate: " + rep.Verdict})
	testutil.Golden(t, "testdata/comment-attribution.md.golden", []byte(with))
	if i, j := strings.Index(with, "Where the time went in head.pt b1 t1: aten::mkldnn_convolution"), strings.Index(with, "| ❌"); i < 0 || j < 0 || i < j {
		t.Errorf("the section is not under the flagged comparison:\n%s", with)
	}
}
