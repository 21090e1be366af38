// crash.h: native crash reporting (crash.c).
#ifndef PERFLAB_CRASH_H
#define PERFLAB_CRASH_H
#ifdef __cplusplus
extern "C" {
#endif
// Installs the handler of SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT: a crash outside the
// executable's own code prints one line and exits with exit_code.
void pl_crash_install(int exit_code);
// Sets what the line says was running (copied; at most 1023 bytes).
void pl_crash_context(const char* s);
#ifdef __cplusplus
}
#endif
#endif
