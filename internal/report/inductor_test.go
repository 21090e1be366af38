package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/knobs"
	"github.com/perflab/perflab/internal/record"
)

// inductorRec is an inductor configuration's record: a package compiled in secs.
func inductorRec(c cfg, secs float64) *record.Record {
	r := c.rec()
	r.Compile, r.CompileApplied = knobs.CompileInductor, false
	r.InductorPackage, r.CompileSeconds, r.CompileISA, r.CompileCache = "/cache/model.pt2", secs, "scalar", "hit"
	return r
}

// The report recommends among off, on and inductor: an inductor configuration is its own
// compile mode (never "off"), its effect is off -> inductor, and its compile cost is shown
// next to its latency and, when recommended, under the recommendation.
func TestReportInductor(t *testing.T) {
	rs := recs(
		cfg{model: "a", batch: 1, p95: 20, lo: 19, hi: 21, tput: 50},
		cfg{model: "a", batch: 1, compile: true, p95: 10, lo: 9.9, hi: 10.1, tput: 100},
	)
	rs = append(rs, inductorRec(cfg{model: "a", batch: 1, p95: 4, lo: 3.9, hi: 4.1, tput: 250}, 33.6))
	rep := mustCompute(t, rs, Options{Balanced, "p95", 0})
	if len(rep.Entries) != 3 {
		t.Fatalf("%d entries, want 3 (off, on, inductor distinct)", len(rep.Entries))
	}
	c := rep.Recommendations[0].Chosen
	if c == nil || !c.Inductor || c.CompileLabel() != "inductor" || c.CompileCost() != "compiled in 33.6 s, scalar kernels" {
		t.Fatalf("chosen %+v", c)
	}
	var sums []string
	for _, f := range rep.Effects {
		if f.Knob == "compile" {
			sums = append(sums, f.Summary())
		}
	}
	want := []string{"compile on: 2.0x faster p95 on a (median over 1 pair)", "compile inductor: 5.0x faster p95 on a (median over 1 pair)"}
	if strings.Join(sums, "\n") != strings.Join(want, "\n") {
		t.Errorf("compile effects\n got %q\nwant %q", sums, want)
	}
	var md bytes.Buffer
	if err := Markdown(&md, rep, RenderOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"| a | 1 | inductor (compiled in 33.6 s, scalar kernels) |",
		"Compile cost: compiled in 33.6 s, scalar kernels, paid once per package",
	} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("markdown lacks %q:\n%s", s, md.String())
		}
	}
}
