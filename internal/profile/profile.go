// Package profile turns libtorch's operator events into what a user reads: a per-operator
// table of one model (perflab bench --profile), the base-vs-head difference that says
// where the time of a regression went (the gate's attribution), a compact form for the
// record, and a Chrome trace (Perfetto, chrome://tracing).
//
// It computes from plain events (Event, Pass): the binding (internal/torch) produces them,
// tests make them up. Times are nanoseconds in events, milliseconds per forward in tables.
package profile

import (
	"sort"
	"strconv"
	"strings"
)

// ForwardScope is the event that wraps one forward call of a profiled pass (the binding's
// torch.ForwardScope). Its self time, and that of every other scope (TorchScript function
// calls), is the time spent between operators: the TorchScript interpreter, the runtime's
// own work and the profiler's bookkeeping.
const ForwardScope = "perflab::forward"

// Between is the table's name for the forward scope's self time.
const Between = "(between operators)"

// Event is one operator call.
type Event struct {
	Name    string
	Shapes  [][]int64
	Thread  uint64
	StartNs int64
	DurNs   int64
	// Scope: not an operator but a TorchScript function call or a named scope (the
	// forward's, a model's record_function): its self time counts as Between.
	Scope bool
}

// Pass is one profiled pass: Forwards forward calls under the profiler.
type Pass struct {
	Forwards  int
	ForwardNs []int64 // wall time of each forward, profiler overhead included
	Events    []Event
	// Instrumented: the nodes timed through an instrumented copy of the graph because the
	// dispatcher does not see them ("prim::mkldnn_convolution x20, ..."; "" = none).
	Instrumented string
}

// Row is one (operator, input shapes) of a table: its calls and self time per forward.
type Row struct {
	Op     string  `json:"op"`
	Shapes string  `json:"shapes"`
	Calls  float64 `json:"calls"`   // per forward
	SelfMs float64 `json:"self_ms"` // per forward: time in the operator itself, not in the operators it called
}

// Key identifies a row across passes and sides.
func (r Row) Key() string { return r.Op + "\x00" + r.Shapes }

// Table is one pass summarised per (operator, shapes), rows sorted by self time.
type Table struct {
	Forwards  int     `json:"forwards"`
	ForwardMs float64 `json:"forward_ms"` // mean wall time of a profiled forward
	OpsMs     float64 `json:"ops_ms"`     // self time of all operators per forward (Between excluded)
	BetweenMs float64 `json:"between_ms"` // time in the forward outside any operator, per forward
	Rows      []Row   `json:"rows"`
}

// Shapes formats input shapes the way the tables show them: "[1,3,224,224] [64,3,7,7]";
// inputs without a shape (scalars, lists, None, 0-d tensors) are "[]", trailing ones left out.
func Shapes(shapes [][]int64) string {
	n := len(shapes)
	for n > 0 && len(shapes[n-1]) == 0 {
		n--
	}
	parts := make([]string, n)
	for i, s := range shapes[:n] {
		dims := make([]string, len(s))
		for j, d := range s {
			dims[j] = strconv.FormatInt(d, 10)
		}
		parts[i] = "[" + strings.Join(dims, ",") + "]"
	}
	return strings.Join(parts, " ")
}

// SelfNs returns each event's self time: its duration minus that of the events nested
// directly in it on the same thread (never below 0: a 1 µs clock rounds children up).
func SelfNs(events []Event) []int64 {
	self := make([]int64, len(events))
	idx := make([]int, len(events))
	for i := range events {
		idx[i] = i
		self[i] = events[i].DurNs
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ea, eb := events[idx[a]], events[idx[b]]
		if ea.Thread != eb.Thread {
			return ea.Thread < eb.Thread
		}
		if ea.StartNs != eb.StartNs {
			return ea.StartNs < eb.StartNs
		}
		return ea.DurNs > eb.DurNs // the enclosing one first
	})
	var stack []int
	var thread uint64
	for _, i := range idx {
		e := events[i]
		if len(stack) > 0 && e.Thread != thread {
			stack = stack[:0]
		}
		thread = e.Thread
		for len(stack) > 0 {
			top := events[stack[len(stack)-1]]
			if e.StartNs < top.StartNs+top.DurNs {
				break
			}
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 {
			p := stack[len(stack)-1]
			self[p] -= e.DurNs
		}
		stack = append(stack, i)
	}
	for i := range self {
		if self[i] < 0 {
			self[i] = 0
		}
	}
	return self
}

// Summarize makes the per-operator table of a pass.
func Summarize(p Pass) Table {
	t := Table{Forwards: p.Forwards}
	if p.Forwards <= 0 {
		return t
	}
	f := float64(p.Forwards)
	var wall int64
	for _, ns := range p.ForwardNs {
		wall += ns
	}
	if len(p.ForwardNs) > 0 {
		t.ForwardMs = float64(wall) / float64(len(p.ForwardNs)) / 1e6
	}
	self := SelfNs(p.Events)
	rows := map[string]*Row{}
	var order []string
	var ops, between int64
	for i, e := range p.Events {
		if e.Scope || e.Name == ForwardScope {
			between += self[i]
			continue
		}
		ops += self[i]
		r := Row{Op: e.Name, Shapes: Shapes(e.Shapes)}
		k := r.Key()
		if rows[k] == nil {
			rows[k] = &r
			order = append(order, k)
		}
		rows[k].Calls++
		rows[k].SelfMs += float64(self[i])
	}
	t.OpsMs = float64(ops) / f / 1e6
	t.BetweenMs = float64(between) / f / 1e6
	for _, k := range order {
		r := *rows[k]
		r.Calls /= f
		r.SelfMs = r.SelfMs / f / 1e6
		t.Rows = append(t.Rows, r)
	}
	sortRows(t.Rows)
	return t
}

// sortRows orders by self time, then by name and shapes (stable output for equal times).
func sortRows(rows []Row) {
	sort.SliceStable(rows, func(a, b int) bool {
		if rows[a].SelfMs != rows[b].SelfMs {
			return rows[a].SelfMs > rows[b].SelfMs
		}
		if rows[a].Op != rows[b].Op {
			return rows[a].Op < rows[b].Op
		}
		return rows[a].Shapes < rows[b].Shapes
	})
}

// Merge averages tables of several passes of the same model into one (rows absent from a
// pass count as 0 there).
func Merge(tables []Table) Table {
	if len(tables) == 1 {
		return tables[0]
	}
	var out Table
	if len(tables) == 0 {
		return out
	}
	n := float64(len(tables))
	rows := map[string]*Row{}
	var order []string
	for _, t := range tables {
		out.Forwards += t.Forwards
		out.ForwardMs += t.ForwardMs / n
		out.OpsMs += t.OpsMs / n
		out.BetweenMs += t.BetweenMs / n
		for _, r := range t.Rows {
			k := r.Key()
			if rows[k] == nil {
				rows[k] = &Row{Op: r.Op, Shapes: r.Shapes}
				order = append(order, k)
			}
			rows[k].Calls += r.Calls / n
			rows[k].SelfMs += r.SelfMs / n
		}
	}
	for _, k := range order {
		out.Rows = append(out.Rows, *rows[k])
	}
	sortRows(out.Rows)
	return out
}
