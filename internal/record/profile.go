package record

import (
	"encoding/json"
	"fmt"
)

// Profile is perflab bench --profile's per-operator table, in a compact form: one array
// per (operator, input shapes), sorted by self time. Times are milliseconds per forward.
type Profile struct {
	Forwards  int     `json:"forwards"`        // profiled forwards (after the timed loop)
	ForwardMs float64 `json:"forward_ms"`      // mean profiled forward, profiler overhead included
	OpsMs     float64 `json:"ops_ms"`          // self time of all operators per forward
	BetweenMs float64 `json:"between_ms"`      // time outside any operator per forward
	Trace     string  `json:"trace,omitempty"` // the Chrome trace file written next to the results
	Note      string  `json:"note,omitempty"`  // e.g. why there are no operator events
	// Instrumented: the TorchScript nodes that run outside libtorch's dispatcher (compile
	// on's prepacked oneDNN kernels), timed through an instrumented copy of the graph and
	// named by node kind, e.g. "prim::mkldnn_convolution x20, prim::BroadcastMKLDNNTensors x8".
	Instrumented string      `json:"instrumented,omitempty"`
	Ops          []ProfileOp `json:"ops"`
}

// ProfileOp is one row, written as ["op", "shapes", calls per forward, self ms per forward].
type ProfileOp struct {
	Op     string
	Shapes string
	Calls  float64
	SelfMs float64
}

func (o ProfileOp) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{o.Op, o.Shapes, o.Calls, o.SelfMs})
}

func (o *ProfileOp) UnmarshalJSON(b []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("profile op: %w", err)
	}
	if len(a) != 4 {
		return fmt.Errorf("profile op: %d elements, want 4 (op, shapes, calls, self_ms)", len(a))
	}
	for i, dst := range []any{&o.Op, &o.Shapes, &o.Calls, &o.SelfMs} {
		if err := json.Unmarshal(a[i], dst); err != nil {
			return fmt.Errorf("profile op element %d: %w", i, err)
		}
	}
	if o.Calls < 0 || o.SelfMs < 0 {
		return fmt.Errorf("profile op %s: negative calls or time", o.Op)
	}
	return nil
}
