// crash.c: turns a native crash (SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT raised by
// libtorch or the C/C++ code it calls) into one line on stderr and a fixed exit code,
// instead of the Go runtime's goroutine dump. Faults whose program counter lies in the
// perflab executable itself (Go code, where a nil dereference is a Go panic) are passed on
// to the handler that was installed before (the Go runtime's).
#define _GNU_SOURCE
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "crash.h"

static const int pl_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define PL_NSIG (sizeof(pl_signals) / sizeof(pl_signals[0]))
static struct sigaction pl_old[PL_NSIG];
static int pl_exit_code = 3;
static char pl_context[1024];
static uintptr_t pl_exe_lo[16], pl_exe_hi[16];
static int pl_exe_n;

// The first object dl_iterate_phdr reports is the executable: keep its code segments.
static int pl_exe_segments(struct dl_phdr_info* info, size_t size, void* data) {
  (void)size;
  (void)data;
  for (int i = 0; i < info->dlpi_phnum && pl_exe_n < 16; i++) {
    const ElfW(Phdr)* ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
      pl_exe_lo[pl_exe_n] = info->dlpi_addr + ph->p_vaddr;
      pl_exe_hi[pl_exe_n] = pl_exe_lo[pl_exe_n] + ph->p_memsz;
      pl_exe_n++;
    }
  }
  return 1;
}

static int pl_in_exe(uintptr_t pc) {
  for (int i = 0; i < pl_exe_n; i++) {
    if (pc >= pl_exe_lo[i] && pc < pl_exe_hi[i]) return 1;
  }
  return 0;
}

static void pl_put(const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static const char* pl_signame(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV (invalid memory access)";
    case SIGBUS: return "SIGBUS (bus error)";
    case SIGFPE: return "SIGFPE (arithmetic fault, e.g. an integer division overflow)";
    case SIGILL: return "SIGILL (illegal instruction)";
    case SIGABRT: return "SIGABRT (abort)";
  }
  return "a fatal signal";
}

static void pl_chain(int i, int sig, siginfo_t* info, void* uc) {
  struct sigaction* old = &pl_old[i];
  if (old->sa_flags & SA_SIGINFO) {
    if (old->sa_sigaction != NULL) {
      old->sa_sigaction(sig, info, uc);
      return;
    }
  } else if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN && old->sa_handler != NULL) {
    old->sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static void pl_handler(int sig, siginfo_t* info, void* uc) {
  int i = 0;
  while (i < (int)PL_NSIG && pl_signals[i] != sig) i++;
  if (i == (int)PL_NSIG) return;
  int native = sig == SIGABRT;
  if (!native && uc != NULL) {
#if defined(__x86_64__)
    uintptr_t pc = (uintptr_t)((ucontext_t*)uc)->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    uintptr_t pc = (uintptr_t)((ucontext_t*)uc)->uc_mcontext.pc;
#else
    uintptr_t pc = 0;
#endif
    native = pc != 0 && !pl_in_exe(pc);
  }
  if (!native) {
    pl_chain(i, sig, info, uc);
    return;
  }
  pl_put("perflab: native crash: ");
  pl_put(pl_signame(sig));
  pl_put(" inside libtorch");
  if (pl_context[0] != '\0') {
    pl_put(" while running ");
    pl_put(pl_context);
  }
  pl_put(": the model crashed libtorch, so it cannot be measured; check it in Python with the same input\n");
  _exit(pl_exit_code);
}

void pl_crash_install(int exit_code) {
  static int installed;
  pl_exit_code = exit_code;
  if (installed) return;
  installed = 1;
  dl_iterate_phdr(pl_exe_segments, NULL);
  for (int i = 0; i < (int)PL_NSIG; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = pl_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigfillset(&sa.sa_mask);
    sigaction(pl_signals[i], &sa, &pl_old[i]);
  }
}

void pl_crash_context(const char* s) {
  size_t n = strlen(s);
  if (n >= sizeof pl_context) n = sizeof pl_context - 1;
  memcpy(pl_context, s, n);
  pl_context[n] = '\0';
}
