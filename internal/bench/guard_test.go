package bench

import (
	"math"
	"strings"
	"testing"

	"github.com/perflab/perflab/internal/record"
	"github.com/perflab/perflab/internal/torch"
)

// TestJudge: the guard's verdict from a comparison, for each rule it documents.
func TestJudge(t *testing.T) {
	ok := torch.Comparison{Elements: 10, MaxAbsDiff: 1e-6, RefMaxAbs: 2, RefRMS: 1, Worst: 0.01, WorstAtol: 1e-3}
	tests := []struct {
		name     string
		cmp      torch.Comparison
		verdict  string
		noteHas  string
		finiteOK bool // every number of the result is JSON-encodable
	}{
		{"within tolerance", ok, record.VerdictMatch, "", true},
		{"beyond tolerance", with(ok, func(c *torch.Comparison) { c.Worst, c.MaxAbsDiff = 3.5, 0.2 }), record.VerdictDiffer, "3.5x the tolerance", true},
		{"NaN on one side", with(ok, func(c *torch.Comparison) { c.NonFiniteMismatch = 2 }), record.VerdictDiffer, "2 of 10 output values are NaN or Inf on one side only", true},
		{"all NaN reference", with(ok, func(c *torch.Comparison) { c.RefNonFinite, c.RefMaxAbs, c.RefRMS, c.Worst = 10, 0, 0, 0 }), record.VerdictDegenerate, "all NaN or Inf", true},
		{"NaN mismatch beats degenerate", with(ok, func(c *torch.Comparison) { c.RefNonFinite, c.NonFiniteMismatch = 10, 1 }), record.VerdictDiffer, "on one side only", true},
		{"vanished activations", with(ok, func(c *torch.Comparison) { c.RefMaxAbs, c.RefRMS, c.MaxAbsDiff, c.Worst = 2e-9, 6e-10, 7e-10, 1.2 }), record.VerdictDegenerate, "near zero", true},
		{"top-1 lost from top-5", with(ok, func(c *torch.Comparison) { c.Rows, c.Top1Agree, c.Top5Agree = 4, 2, 3 }), record.VerdictDiffer, "outside the top-5 on 1 of 4 rows", true},
		{"top-1 flips inside top-5", with(ok, func(c *torch.Comparison) { c.Rows, c.Top1Agree, c.Top5Agree = 4, 3, 4 }), record.VerdictMatch, "", true},
		{"zero reference, nonzero output", with(ok, func(c *torch.Comparison) { c.Worst = math.Inf(1) }), record.VerdictDiffer, "the tolerance", true},
		{"NaN difference", with(ok, func(c *torch.Comparison) { c.MaxAbsDiff, c.Worst = math.NaN(), math.NaN() }), record.VerdictMatch, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := judge(tc.cmp, FloatTolerance)
			if c.Verdict != tc.verdict || c.OK != (tc.verdict != record.VerdictDiffer) {
				t.Errorf("verdict %q ok %v, want %q (%+v)", c.Verdict, c.OK, tc.verdict, *c)
			}
			if tc.noteHas != "" && !strings.Contains(c.Note, tc.noteHas) {
				t.Errorf("note %q does not contain %q", c.Note, tc.noteHas)
			}
			for _, f := range []float64{c.MaxAbsDiff, c.RelDiff, c.Worst, c.RefRMS, c.RefMaxAbs} {
				if tc.finiteOK && (math.IsNaN(f) || math.IsInf(f, 0)) {
					t.Errorf("non-finite number in %+v", *c)
				}
			}
			if s := c.Summary(); !strings.HasPrefix(s, c.Verdict+" (") {
				t.Errorf("summary %q does not start with the verdict", s)
			}
		})
	}
}

// with returns c changed by f.
func with(c torch.Comparison, f func(*torch.Comparison)) torch.Comparison {
	f(&c)
	return c
}

// TestCorrectnessSummaryOldRecords: records written before the verdict field still read.
func TestCorrectnessSummaryOldRecords(t *testing.T) {
	c := &record.Correctness{RelDiff: 0.36, Tolerance: 1e-3, OK: false}
	if got, want := c.Summary(), "differ (relative difference 0.36 > tolerance 0.001)"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}
