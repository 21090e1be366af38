package torch

/*
#include <stdlib.h>
#include "crash.h"
*/
import "C"

import (
	"strings"
	"unsafe"
)

// OnNativeCrash makes a native crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT raised
// inside libtorch, e.g. by a model that reads out of bounds) print one line on stderr —
// "perflab: native crash: SIGSEGV (...) inside libtorch while running <context>: ..." —
// and exit the process with exitCode, instead of the Go runtime's goroutine dump. Faults
// in Go code still reach the Go runtime (a nil dereference stays a Go panic).
func OnNativeCrash(exitCode int) { C.pl_crash_install(C.int(exitCode)) }

// SetCrashContext says what is running, for the native crash line: e.g. "model m.pt
// (batch 4, compile on, threads 2)". Newlines are replaced by spaces.
func SetCrashContext(s string) {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
	cs := C.CString(s)
	defer C.free(unsafe.Pointer(cs))
	C.pl_crash_context(cs)
}
