package profile

import "github.com/perflab/perflab/internal/record"

// Compact is a table in the record's compact form.
func Compact(t Table, trace, note string) *record.Profile {
	p := &record.Profile{Forwards: t.Forwards, ForwardMs: t.ForwardMs, OpsMs: t.OpsMs, BetweenMs: t.BetweenMs, Trace: trace, Note: note,
		Ops: make([]record.ProfileOp, 0, len(t.Rows))}
	for _, r := range t.Rows {
		p.Ops = append(p.Ops, record.ProfileOp{Op: r.Op, Shapes: r.Shapes, Calls: r.Calls, SelfMs: r.SelfMs})
	}
	return p
}

// FromRecord is the table a record's compact profile holds.
func FromRecord(p *record.Profile) Table {
	t := Table{Forwards: p.Forwards, ForwardMs: p.ForwardMs, OpsMs: p.OpsMs, BetweenMs: p.BetweenMs}
	for _, o := range p.Ops {
		t.Rows = append(t.Rows, Row{Op: o.Op, Shapes: o.Shapes, Calls: o.Calls, SelfMs: o.SelfMs})
	}
	return t
}
