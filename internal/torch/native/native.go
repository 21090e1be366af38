// Package native holds the C and C++ side of package torch: shim.cc (the small C ABI that
// drives libtorch, declared in shim.h; profile.h its profiler part) and crash.c (the native
// crash handler, crash.h). It has no Go API: package torch includes these headers and calls
// the functions; importing this package links them in.
//
// Why a package of its own: go test builds a package again with its in-package test files,
// and a cgo package's C++ with it. shim.cc against libtorch's headers is the slowest file
// perflab compiles (~18 s of CPU on 1.13, more on 2.6); here it compiles once per build
// cache and is never part of a test variant (this package has no tests; package torch's
// tests exercise it).
package native

/*
#cgo CXXFLAGS: -std=c++17 -O2 -I/usr/include/torch/csrc/api/include -Wno-deprecated-declarations
#cgo LDFLAGS: -ltorch -ltorch_cpu -lc10 -ldl
*/
import "C"
