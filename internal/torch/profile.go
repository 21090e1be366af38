package torch

/*
#include <stdlib.h>
#include "profile.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unsafe"
)

// OpEvent is one operator call seen by libtorch's profiler. Times are in nanoseconds on
// every libtorch (1.13 reports microseconds, 2.x nanoseconds: the binding converts).
type OpEvent struct {
	Name    string    // e.g. "aten::conv2d"; "perflab::forward" marks one whole forward call
	Shapes  [][]int64 // the sizes of each input (empty for a non-tensor or a 0-d tensor)
	Thread  uint64    // the OS thread's id as the profiler saw it
	StartNs int64     // from the first event of the pass
	DurNs   int64     // total duration (self + nested calls)
	// Scope: a TorchScript function call or a named scope (ForwardScope, a model's
	// record_function), not an operator.
	Scope bool
}

// ForwardScope is the name of the event that wraps each forward call of a profiled pass.
const ForwardScope = "perflab::forward"

// Profile is one profiled pass: Forwards forward calls under the profiler.
type Profile struct {
	Forwards     int
	ForwardNs    []int64   // wall time of each forward call, profiler overhead included
	Events       []OpEvent // in the profiler's order
	ResolutionNs int64     // the resolution the durations came in: 1000 on libtorch 1.x, 1 on 2.x
	// Instrumented: the TorchScript operators that run outside libtorch's dispatcher
	// (compile on's prepacked oneDNN kernels) and were timed through an instrumented copy
	// of forward's graph, with their number of nodes; empty when the module itself was
	// profiled.
	Instrumented []NodeCount
}

// NodeCount is a graph node kind and how many nodes of it the graph has.
type NodeCount struct {
	Kind  string
	Nodes int
}

// Profile runs forwards forward calls of m under libtorch's operator profiler (on the
// calling OS thread, with input shapes) in one cgo crossing. Profiling perturbs timing:
// never call it inside a timed loop.
func (m *Module) Profile(inputs []*Tensor, forwards int) (*Profile, error) {
	if forwards <= 0 {
		return nil, &Error{Op: "profile", Msg: fmt.Sprintf("profile needs at least one forward, got %d", forwards)}
	}
	p, err := m.ptr()
	if err != nil {
		return nil, err
	}
	in, free, err := inputPtrs(inputs)
	if err != nil {
		return nil, err
	}
	defer free()
	ns := make([]int64, forwards)
	var events *C.char
	var unit C.int
	var instr *C.char
	if err := check("profile", C.pl_profile(p, in, C.int(len(inputs)), C.int(forwards),
		(*C.int64_t)(unsafe.Pointer(&ns[0])), &events, &unit, &instr)); err != nil {
		takeString(instr)
		takeString(events)
		return nil, err
	}
	runtime.KeepAlive(m)
	runtime.KeepAlive(inputs)
	evs, err := parseEvents(takeString(events))
	if err != nil {
		return nil, &Error{Op: "profile", Msg: err.Error()}
	}
	nodes, err := parseNodeCounts(takeString(instr))
	if err != nil {
		return nil, &Error{Op: "profile", Msg: err.Error()}
	}
	return &Profile{Forwards: forwards, ForwardNs: ns, Events: evs, ResolutionNs: int64(unit), Instrumented: nodes}, nil
}

// parseNodeCounts reads pl_profile's "kind:count;kind:count".
func parseNodeCounts(s string) ([]NodeCount, error) {
	if s == "" {
		return nil, nil
	}
	var out []NodeCount
	for _, f := range strings.Split(s, ";") {
		i := strings.LastIndexByte(f, ':')
		n, err := strconv.Atoi(f[i+1:])
		if i <= 0 || err != nil {
			return nil, fmt.Errorf("instrumented node count %q", f)
		}
		out = append(out, NodeCount{Kind: f[:i], Nodes: n})
	}
	return out, nil
}

// parseEvents reads pl_profile's encoding (see native/profile.h) and makes start times relative
// to the earliest event.
func parseEvents(s string) ([]OpEvent, error) {
	if s == "" {
		return nil, nil
	}
	recs := strings.Split(s, "\x1e")
	out := make([]OpEvent, 0, len(recs))
	min := int64(-1)
	for i, r := range recs {
		f := strings.Split(r, "\x1f")
		if len(f) != 6 {
			return nil, fmt.Errorf("profiler event %d: %d fields, want 6", i, len(f))
		}
		e := OpEvent{Name: f[0], Scope: f[5] == "s"}
		if f[1] != "" {
			for _, in := range strings.Split(f[1], ";") {
				var shape []int64
				if in != "" {
					for _, d := range strings.Split(in, ",") {
						v, err := strconv.ParseInt(d, 10, 64)
						if err != nil {
							return nil, fmt.Errorf("profiler event %d: shape %q", i, in)
						}
						shape = append(shape, v)
					}
				}
				e.Shapes = append(e.Shapes, shape)
			}
		}
		var err error
		if e.Thread, err = strconv.ParseUint(f[2], 10, 64); err != nil {
			return nil, fmt.Errorf("profiler event %d: thread %q", i, f[2])
		}
		if e.StartNs, err = strconv.ParseInt(f[3], 10, 64); err != nil {
			return nil, fmt.Errorf("profiler event %d: start %q", i, f[3])
		}
		if e.DurNs, err = strconv.ParseInt(f[4], 10, 64); err != nil {
			return nil, fmt.Errorf("profiler event %d: duration %q", i, f[4])
		}
		if min < 0 || e.StartNs < min {
			min = e.StartNs
		}
		out = append(out, e)
	}
	for i := range out {
		out[i].StartNs -= min
	}
	return out, nil
}
