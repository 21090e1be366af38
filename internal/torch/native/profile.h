// profile.h: libtorch's operator profiler through the C ABI (see shim.h for the
// conventions). Implemented in the profiler block at the end of shim.cc.
#ifndef PERFLAB_PROFILE_H
#define PERFLAB_PROFILE_H

#include <stdint.h>

#include "shim.h"

#ifdef __cplusplus
extern "C" {
#endif

// Runs forwards forward calls of m under libtorch's profiler (CPU operators, with input
// shapes; no Kineto needed), each inside a "perflab::forward" user scope, and writes the
// wall time of each call in nanoseconds to ns_each. *events receives the events, one per
// operator call, separated by '\x1e', each "name\x1fshapes\x1fthread\x1fstart_ns\x1fdur_ns\x1fkind"
// (kind 'o' an operator, 's' a TorchScript function or a named scope) with shapes as comma-separated sizes per input, inputs separated by ';'. Times are in
// nanoseconds whatever the libtorch (1.13 reports microseconds, 2.x nanoseconds); *unit_ns
// says the resolution they came in (1000 or 1). The profiler is off again on return, also
// on failure.
// A TorchScript forward whose graph has operators that run outside libtorch's dispatcher
// (compile on: prim::mkldnn_convolution, ...) is profiled through an instrumented copy of
// its graph in which each of them is an event named by its node kind, with its inputs'
// shapes; *instrumented then lists them, "kind:count" separated by ';' (else "").
char* pl_profile(pl_module* m, pl_tensor** inputs, int n_inputs, int forwards, int64_t* ns_each,
                 char** events, int* unit_ns, char** instrumented);

#ifdef __cplusplus
}
#endif

#endif
