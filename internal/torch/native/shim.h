// shim.h: the small C ABI perflab uses to drive libtorch. Implemented in shim.cc.
//
// Conventions:
//   - Every function that can fail returns NULL on success or a malloc'ed, NUL-terminated
//     error message (no C++ backtrace) that the caller frees with pl_free. There is no
//     thread-local "last error": a goroutine may change OS threads between two cgo calls.
//   - Handles are owned by exactly one caller and freed with the matching *_free function.
//   - Input data is always copied into libtorch; no tensor ever aliases caller memory.
#ifndef PERFLAB_SHIM_H
#define PERFLAB_SHIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_module pl_module;
typedef struct pl_tensor pl_tensor;
typedef struct pl_value pl_value;

// Data types understood by pl_tensor_random (kept in sync with dtype.go).
enum {
  PL_FLOAT32 = 0,
  PL_FLOAT64 = 1,
  PL_FLOAT16 = 2,
  PL_BFLOAT16 = 3,
  PL_INT64 = 4,
  PL_INT32 = 5,
  PL_INT16 = 6,
  PL_INT8 = 7,
  PL_UINT8 = 8,
  PL_BOOL = 9,
};

void pl_free(void* p);

// Installs the warning collector on the calling thread (every entry point also does).
void pl_init(void);
// Sets intra-op and inter-op thread counts (0 = leave as is). Inter-op may be set only
// once per process and before any parallel work.
char* pl_set_threads(int intra, int interop);
void pl_get_threads(int* intra, int* interop);
// Describes the libtorch in use: its version, OpenBLAS's config (or ""), parallel info, the
// loaded oneDNN's version (or ""), whether the TensorExpr fuser is on (1/0), and the
// _GLIBCXX_USE_CXX11_ABI the binding was built with (-1: not libstdc++).
char* pl_build_info(char** torch_version, char** blas_config, char** parallel_info,
                    char** onednn, int* te_fuser, int* cxx11_abi);
// The libtorch version this binding was built against (TORCH_VERSION), static storage.
const char* pl_torch_version(void);
// Returns the unique warnings collected since the last call, joined by '\x1e'.
char* pl_take_warnings(void);

char* pl_module_load(const char* path, pl_module** out);
// Schema of forward, e.g. "forward(__torch__.Net self, Tensor x) -> Tensor", and its
// number of arguments excluding self.
char* pl_module_schema(pl_module* m, char** schema, int* n_args);
char* pl_module_clone(pl_module* m, pl_module** out);
// Converts every 4-d parameter and buffer to channels_last memory format, in place.
char* pl_module_channels_last(pl_module* m);
// torch::jit::freeze + torch::jit::optimize_for_inference on a copy of m.
char* pl_module_optimize(pl_module* m, pl_module** out);
void pl_module_free(pl_module* m);

// AOTInductor packages (.pt2 from torch._inductor.aoti_compile_and_package), libtorch >= 2.6:
// pl_aoti_supported says whether this binding was built with them (1/0); pl_aoti_load
// loads one into a pl_module that pl_forward* run (schema, clone, channels_last and
// optimize refuse it). The package checks nothing about its inputs: the caller must.
int pl_aoti_supported(void);
char* pl_aoti_load(const char* path, pl_module** out);
// The package's metadata as "key\x1fvalue" entries joined by '\x1e'.
char* pl_aoti_metadata(pl_module* m, char** out);

// A tensor of the given dtype and shape filled from a seeded generator: integers uniform in
// [lo, hi] (inclusive) when has_range, floats uniform in [lo, hi) when has_range, else
// standard normal floats and integers in [0, 2).
char* pl_tensor_random(int dtype, const int64_t* shape, int ndim, int has_range, double lo,
                       double hi, uint64_t seed, pl_tensor** out);
// A float32 tensor copied from data.
char* pl_tensor_from_float32(const float* data, const int64_t* shape, int ndim, pl_tensor** out);
char* pl_tensor_channels_last(pl_tensor* t, pl_tensor** out);
void pl_tensor_free(pl_tensor* t);

// Every call below runs under c10::InferenceMode.
// One forward call.
char* pl_forward(pl_module* m, pl_tensor** inputs, int n_inputs, pl_value** out);
// Runs iters forward calls under c10::InferenceMode, writing the wall time of each call in
// nanoseconds to ns_each[i] and the wall time of the whole loop to *wall_ns.
char* pl_forward_timed(pl_module* m, pl_tensor** inputs, int n_inputs, int iters,
                       int64_t* ns_each, int64_t* wall_ns);
// Runs iters calls of perflab's fixed reference workload (a 3x3 convolution of 64 channels
// on 28x28, a ReLU and a 256x256 matmul, float32, deterministic inputs) with the calling
// thread's libtorch thread settings, writing each call's wall time in nanoseconds; an
// untimed first call comes before and its result (a checksum of the workload) goes to
// *checksum.
char* pl_reference_timed(int iters, int64_t* ns_each, double* checksum);
// Alternates forward calls of two modules (A B, B A, A B, ...) for iters rounds, writing
// each call's wall time: both see the same machine conditions.
char* pl_forward_timed_pair(pl_module* a, pl_tensor** in_a, int n_a, pl_module* b, pl_tensor** in_b,
                            int n_b, int iters, int64_t* ns_a, int64_t* ns_b);
// Describes an output value, e.g. "float32[2,1000]" or "(float32[2,4], int64[2])".
char* pl_value_describe(pl_value* v, char** out);
// How an output b compares with a reference output a of the same structure (see
// pl_value_compare). Element-wise rule on finite positions:
//   |a-b| <= atol + rtol*|a|, with atol = atol_scale * rms(a) of that tensor.
typedef struct pl_compare {
  int64_t elements;       // elements compared, over all tensors
  int64_t ref_nonfinite;  // NaN or Inf elements of the reference
  int64_t nonfinite_mismatch;  // positions where a and b are not the same NaN/Inf/finite kind
  double max_abs_diff;    // largest |a-b| over positions finite in both
  double ref_max_abs;     // largest finite |a|
  double ref_rms;         // root mean square of the finite reference values, over all tensors
  double worst;           // largest |a-b| / (atol + rtol*|a|): <= 1 means within tolerance
  double worst_atol;      // the atol of the tensor that holds the worst element
  int64_t rows;           // classifier-shaped output (one 2-d float tensor [B,C], C >= 2): B; else 0
  int64_t top1_agree;     // rows whose arg-max agrees
  int64_t top5_agree;     // rows whose reference arg-max is among b's top min(5,C)
} pl_compare;
char* pl_value_compare(pl_value* a, pl_value* b, double rtol, double atol_scale, pl_compare* out);

// oneDNN's CPU instruction set: the cap (ONEDNN_MAX_CPU_ISA's values as oneDNN names them,
// e.g. "avx2", "avx512_core") must be set before oneDNN generates any kernel; the
// effective ISA is the cap meet the CPU's.
char* pl_onednn_set_max_isa(const char* name);
char* pl_onednn_effective_isa(char** name);
void pl_value_free(pl_value* v);

#ifdef __cplusplus
}
#endif

#endif
