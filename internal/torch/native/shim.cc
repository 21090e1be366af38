// shim.cc: C ABI over libtorch's C++ API (see shim.h). Every entry point catches c10::Error,
// std::exception and anything else, and turns it into a heap error string.
#include "shim.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/script.h>

// Version switches: the only place perflab differs between libtorch releases (1.13 to 2.6+).
#if !defined(TORCH_VERSION_MAJOR) || !defined(TORCH_VERSION_MINOR)
#error "torch/version.h defines no TORCH_VERSION_MAJOR/MINOR: perflab needs libtorch 1.13 or later"
#endif
#define PL_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))
#if !PL_TORCH_AT_LEAST(1, 13)
#error "perflab needs libtorch 1.13 or later"
#endif
// 2.x: the TensorExpr fuser is switched off before any forward (see pl_init).
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>
// 2.6: AOTInductor packages (.pt2) run through AOTIModelPackageLoader.
#if PL_TORCH_AT_LEAST(2, 6)
#define PL_HAVE_AOTI 1
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#else
#define PL_HAVE_AOTI 0
#endif

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

// A TorchScript module, or (libtorch >= 2.6) an AOTInductor package: then aoti is set and
// m is unused. forward() below runs either.
struct pl_module {
  torch::jit::Module m;
  // The profiler's instrumented copy of forward's graph (see pl_profile), made on the first
  // profiled pass; nullptr when the graph has no operator outside the dispatcher.
  std::shared_ptr<torch::jit::Code> profiled;
  bool profiled_made = false;
  std::string instrumented;  // what was instrumented: "kind:count" separated by ';'
#if PL_HAVE_AOTI
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> aoti;
#endif
  bool is_aoti() const {
#if PL_HAVE_AOTI
    return aoti != nullptr;
#else
    return false;
#endif
  }
};
struct pl_tensor {
  at::Tensor t;
};
struct pl_value {
  c10::IValue v;
};

namespace {

char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) {
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = '\0';
  }
  return p;
}

// mask_numbers is a warning's text with its shapes and numbers masked, so that the same
// warning raised for different tensors counts once: a bracketed or parenthesized group
// holding a digit becomes "[#]" or "(#)", and every other run of digits "#".
std::string mask_numbers(const std::string& msg) {
  std::string out;
  out.reserve(msg.size());
  for (size_t i = 0; i < msg.size(); i++) {
    char c = msg[i];
    if (c == '[' || c == '(') {
      char close = c == '[' ? ']' : ')';
      size_t j = msg.find(close, i + 1);
      if (j != std::string::npos && j - i < 256) {
        bool digit = false;
        for (size_t k = i + 1; k < j; k++) digit = digit || (msg[k] >= '0' && msg[k] <= '9');
        if (digit) {
          out += c;
          out += '#';
          out += close;
          i = j;
          continue;
        }
      }
    }
    if (c >= '0' && c <= '9') {
      while (i + 1 < msg.size() && msg[i + 1] >= '0' && msg[i + 1] <= '9') i++;
      out += '#';
      continue;
    }
    out += c;
  }
  return out;
}

// Collects warnings instead of printing them inside the timed loop, once per text with
// its shapes and numbers masked, with how often it was raised and in how many variants.
class Collector : public c10::WarningHandler {
 public:
#if PL_TORCH_AT_LEAST(2, 0)
  void process(const c10::Warning& w) override { add(w.msg()); }
#else
  void process(const c10::SourceLocation&, const std::string& msg, const bool) override { add(msg); }
#endif
  void add(const std::string& msg) {
    std::string key = mask_numbers(msg);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = index_.find(key);
    if (it == index_.end()) {
      it = index_.emplace(key, pending_.size()).first;
      pending_.push_back(Entry{msg, 0, {}});
    }
    Entry& e = pending_[it->second];
    e.count++;
    if (e.variants.size() < kMaxVariants) e.variants.insert(msg);
  }
  // take returns "text\x1fcount\x1fvariants" entries separated by \x1e, and forgets them.
  std::string take() {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out;
    for (size_t i = 0; i < pending_.size(); i++) {
      if (i > 0) out += '\x1e';
      out += pending_[i].first + '\x1f' + std::to_string(pending_[i].count) + '\x1f' +
             std::to_string(pending_[i].variants.size());
    }
    pending_.clear();
    index_.clear();
    return out;
  }

 private:
  static constexpr size_t kMaxVariants = 1000;
  struct Entry {
    std::string first;               // the text as first raised
    long long count;                 // times raised
    std::set<std::string> variants;  // distinct texts (at most kMaxVariants)
  };
  std::mutex mu_;
  std::map<std::string, size_t> index_;  // masked text -> pending_ index
  std::vector<Entry> pending_;
};

Collector* collector() {
  static Collector* c = new Collector();  // lives for the process
  return c;
}

at::ScalarType scalar_type(int dtype) {
  switch (dtype) {
    case PL_FLOAT32: return at::kFloat;
    case PL_FLOAT64: return at::kDouble;
    case PL_FLOAT16: return at::kHalf;
    case PL_BFLOAT16: return at::kBFloat16;
    case PL_INT64: return at::kLong;
    case PL_INT32: return at::kInt;
    case PL_INT16: return at::kShort;
    case PL_INT8: return at::kChar;
    case PL_UINT8: return at::kByte;
    case PL_BOOL: return at::kBool;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(dtype));
}

std::string dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(t);
  }
}

void describe(const c10::IValue& v, std::ostringstream& os) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    os << dtype_name(t.scalar_type()) << "[";
    for (int64_t i = 0; i < t.dim(); i++) os << (i ? "," : "") << t.size(i);
    os << "]";
  } else if (v.isTuple() || v.isList()) {
    std::vector<c10::IValue> elems = v.isTuple() ? v.toTupleRef().elements().vec() : v.toListRef().vec();
    os << "(";
    for (size_t i = 0; i < elems.size(); i++) {
      if (i) os << ", ";
      describe(elems[i], os);
    }
    os << ")";
  } else if (v.isGenericDict()) {
    os << "{";
    bool first = true;
    for (const auto& kv : v.toGenericDict()) {
      if (!first) os << ", ";
      first = false;
      os << kv.key() << ": ";
      describe(kv.value(), os);
    }
    os << "}";
  } else {
    os << v.tagKind();
  }
}

void flatten(const c10::IValue& v, std::vector<at::Tensor>& out) {
  if (v.isTensor()) {
    out.push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) flatten(e, out);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) flatten(e, out);
  } else if (v.isGenericDict()) {
    for (const auto& kv : v.toGenericDict()) flatten(kv.value(), out);
  }
}

std::vector<c10::IValue> gather(pl_tensor** inputs, int n) {
  std::vector<c10::IValue> in;
  in.reserve(n);
  for (int i = 0; i < n; i++) in.emplace_back(inputs[i]->t);
  return in;
}

using clock_type = std::chrono::steady_clock;

// forward runs a TorchScript module or an AOTInductor package on inputs. A package returns
// its flattened outputs: one tensor is returned as a tensor, several as a tuple.
c10::IValue forward(pl_module* m, std::vector<c10::IValue>& in) {
#if PL_HAVE_AOTI
  if (m->aoti) {
    std::vector<at::Tensor> ts;
    ts.reserve(in.size());
    for (auto& v : in) ts.push_back(v.toTensor());
    std::vector<at::Tensor> out = m->aoti->run(ts);
    if (out.size() == 1) return c10::IValue(out[0]);
    std::vector<c10::IValue> elems(out.begin(), out.end());
    return c10::ivalue::Tuple::create(std::move(elems));
  }
#endif
  return m->m.forward(in);
}

void need_script(pl_module* m, const char* what) {
  if (m->is_aoti()) throw std::invalid_argument(std::string(what) + " needs a TorchScript module, not an AOTInductor package");
}

// dnnl_cpu_isa_t's values (oneapi/dnnl/dnnl_types.h) by the names ONEDNN_MAX_CPU_ISA takes
// (lower case). They differ between oneDNN 2.x (libtorch 1.13: oneDNN 2.6) and 3.x
// (libtorch 2.x: oneDNN 3.x): the table is chosen by the oneDNN actually loaded. Where two
// names share a value the first is the one reported.
struct isa_name {
  const char* name;
  int value;
};
const std::vector<isa_name> kISAs2 = {
    {"all", 0x0},          {"sse41", 0x1},           {"avx", 0x3},
    {"avx2", 0x7},         {"avx2_vnni", 0x407},     {"avx512_mic", 0xf},
    {"avx512_mic_4ops", 0x1f}, {"avx512_core", 0x27}, {"avx512_core_vnni", 0x67},
    {"avx512_core_bf16", 0xe7}, {"avx512_core_amx", 0x3e7},
};
const std::vector<isa_name> kISAs3 = {
    {"all", 0x0},
    {"sse41", 0x1},
    {"avx", 0x3},
    {"avx2", 0x7},
    {"avx2_vnni", 0xf},
    {"avx2_vnni_2", 0x1f},
    {"avx512_core", 0x27},
    {"avx512_core_vnni", 0x67},
    {"avx512_core_bf16", 0xe7},
    {"avx512_core_fp16", 0x1ef},
    {"avx10_1_512", 0x1ef},
    {"avx512_core_amx", 0xfef},
    {"avx10_1_512_amx", 0xfef},
    {"avx512_core_amx_fp16", 0x1fef},
    {"avx10_1_512_amx_fp16", 0x1fef},
};
void* dnnl_symbol(const char* name) {
  void* f = dlsym(RTLD_DEFAULT, name);
  if (!f) throw std::runtime_error(std::string("oneDNN is not loaded (no ") + name + ")");
  return f;
}
// dnnl_version_t (the same in oneDNN 2.x and 3.x).
struct dnnl_version_info {
  int major, minor, patch;
  const char* hash;
  unsigned cpu_runtime, gpu_runtime;
};
const dnnl_version_info* dnnl_version_of_loaded() {
  using getter = const dnnl_version_info* (*)(void);
  auto f = reinterpret_cast<getter>(dlsym(RTLD_DEFAULT, "dnnl_version"));
  return f ? f() : nullptr;
}
const std::vector<isa_name>& isa_table() {
  const dnnl_version_info* v = dnnl_version_of_loaded();
  return v != nullptr && v->major >= 3 ? kISAs3 : kISAs2;
}
std::string onednn_version() {
  const dnnl_version_info* v = dnnl_version_of_loaded();
  if (v == nullptr) return "";
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

}  // namespace

// libtorch's warning handler is thread-local (1.13 and 2.x): install the collector on
// whatever OS thread the call runs on (a pointer store) before anything can warn.
#if PL_TORCH_AT_LEAST(2, 0)
#define PL_SET_WARNING_HANDLER(h) c10::WarningUtils::set_warning_handler(h)
#else
#define PL_SET_WARNING_HANDLER(h) c10::Warning::set_warning_handler(h)
#endif
// Every entry point runs under c10::InferenceMode: on 2.x a frozen, optimized model run
// under NoGradGuard alone can hit an INTERNAL ASSERT (max_pool2d's kernels in a build with
// Vulkan), and forwards were always measured in inference mode.
#define PL_TRY                                \
  try {                                       \
    PL_SET_WARNING_HANDLER(collector());      \
    c10::InferenceMode pl_inference_mode_guard;
#define PL_CATCH                                          \
  }                                                       \
  catch (const c10::Error& e) {                           \
    return dup(e.what_without_backtrace());               \
  }                                                       \
  catch (const std::exception& e) {                       \
    return dup(e.what());                                 \
  }                                                       \
  catch (...) {                                           \
    return dup("unknown C++ exception");                  \
  }                                                       \
  return nullptr;

extern "C" {

void pl_free(void* p) { std::free(p); }

const char* pl_torch_version(void) { return TORCH_VERSION; }

void pl_init(void) {
  PL_SET_WARNING_HANDLER(collector());
#if PL_TORCH_AT_LEAST(2, 0)
  // libtorch 2.x built with LLVM (Debian's 2.6) fuses with the TensorExpr fuser, and a model
  // after freeze + optimize_for_inference then hangs on its second forward (upstream PR
  // 149058). perflab measures the plain TorchScript interpreter: off, before any forward.
  torch::jit::setTensorExprFuserEnabled(false);
#endif
}

char* pl_take_warnings(void) { return dup(collector()->take()); }

char* pl_set_threads(int intra, int interop) {
  PL_TRY
  if (interop > 0 && at::get_num_interop_threads() != interop) at::set_num_interop_threads(interop);
  if (intra > 0) {
    at::set_num_threads(intra);
    // OpenBLAS keeps its own thread pool; keep it within the same budget.
    using setter = void (*)(int);
    if (auto f = reinterpret_cast<setter>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(intra);
  }
  PL_CATCH
}

void pl_get_threads(int* intra, int* interop) {
  try {
    *intra = at::get_num_threads();
    *interop = at::get_num_interop_threads();
  } catch (...) {
    *intra = -1;
    *interop = -1;
  }
}

char* pl_build_info(char** torch_version, char** blas_config, char** parallel_info,
                    char** onednn, int* te_fuser, int* cxx11_abi) {
  PL_TRY
  *torch_version = dup(TORCH_VERSION);
  *onednn = dup(onednn_version());
  *te_fuser = torch::jit::tensorExprFuserEnabled() ? 1 : 0;
#if defined(_GLIBCXX_USE_CXX11_ABI)
  *cxx11_abi = _GLIBCXX_USE_CXX11_ABI;  // what this shim was built with: it must match libtorch to link
#else
  *cxx11_abi = -1;
#endif
  using getter = char* (*)();
  auto f = reinterpret_cast<getter>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
  *blas_config = dup(f ? std::string(f()) : std::string());
  *parallel_info = dup(at::get_parallel_info());
  PL_CATCH
}

char* pl_module_load(const char* path, pl_module** out) {
  PL_TRY
  auto m = std::make_unique<pl_module>();
  m->m = torch::jit::load(path, c10::Device(c10::kCPU));
  m->m.eval();
  *out = m.release();
  PL_CATCH
}

char* pl_module_schema(pl_module* m, char** schema, int* n_args) {
  PL_TRY
  need_script(m, "schema");
  auto method = m->m.get_method("forward");
  const auto& s = method.function().getSchema();
  std::ostringstream os;
  os << s;
  *schema = dup(os.str());
  int n = static_cast<int>(s.arguments().size());
  *n_args = n > 0 ? n - 1 : 0;  // minus self
  PL_CATCH
}

char* pl_module_clone(pl_module* m, pl_module** out) {
  PL_TRY
  need_script(m, "clone");
  auto c = std::make_unique<pl_module>();
  c->m = m->m.clone();
  c->m.eval();
  *out = c.release();
  PL_CATCH
}

char* pl_module_channels_last(pl_module* m) {
  PL_TRY
  need_script(m, "channels_last");
  for (auto p : m->m.parameters(/*recurse=*/true)) {
    if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
  }
  for (auto b : m->m.buffers(/*recurse=*/true)) {
    if (b.dim() == 4) b.set_data(b.contiguous(at::MemoryFormat::ChannelsLast));
  }
  PL_CATCH
}

char* pl_module_optimize(pl_module* m, pl_module** out) {
  PL_TRY
  need_script(m, "optimize_for_inference");
  auto c = std::make_unique<pl_module>();
  torch::jit::Module frozen = torch::jit::freeze(m->m);
  c->m = torch::jit::optimize_for_inference(frozen);
  *out = c.release();
  PL_CATCH
}

void pl_module_free(pl_module* m) { delete m; }

int pl_aoti_supported(void) { return PL_HAVE_AOTI; }

char* pl_aoti_load(const char* path, pl_module** out) {
  PL_TRY
#if PL_HAVE_AOTI
  auto m = std::make_unique<pl_module>();
  m->aoti = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path);
  *out = m.release();
#else
  (void)path;
  (void)out;
  throw std::runtime_error(std::string("AOTInductor packages need libtorch 2.6 or later (this is ") + TORCH_VERSION + ")");
#endif
  PL_CATCH
}

char* pl_aoti_metadata(pl_module* m, char** out) {
  PL_TRY
#if PL_HAVE_AOTI
  if (!m->aoti) throw std::invalid_argument("not an AOTInductor package");
  std::string s;
  for (const auto& kv : m->aoti->get_metadata()) {
    if (!s.empty()) s += '\x1e';
    s += kv.first + '\x1f' + kv.second;
  }
  *out = dup(s);
#else
  (void)m;
  *out = dup("");
#endif
  PL_CATCH
}

char* pl_tensor_random(int dtype, const int64_t* shape, int ndim, int has_range, double lo,
                       double hi, uint64_t seed, pl_tensor** out) {
  PL_TRY
  at::ScalarType st = scalar_type(dtype);
  std::vector<int64_t> size(shape, shape + ndim);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  at::Tensor t;
  bool is_float = at::isFloatingType(st);
  if (st == at::kBool) {
    t = at::randint(0, 2, size, gen, at::TensorOptions().dtype(at::kLong)).to(at::kBool);
  } else if (is_float && has_range) {
    t = at::empty(size, at::TensorOptions().dtype(at::kFloat)).uniform_(lo, hi, gen).to(st);
  } else if (is_float) {
    t = at::randn(size, gen, at::TensorOptions().dtype(at::kFloat)).to(st);
  } else {
    int64_t l = has_range ? static_cast<int64_t>(lo) : 0;
    int64_t h = has_range ? static_cast<int64_t>(hi) + 1 : 2;
    t = at::randint(l, h, size, gen, at::TensorOptions().dtype(at::kLong)).to(st);
  }
  *out = new pl_tensor{t.contiguous()};
  PL_CATCH
}

char* pl_tensor_from_float32(const float* data, const int64_t* shape, int ndim, pl_tensor** out) {
  PL_TRY
  std::vector<int64_t> size(shape, shape + ndim);
  at::Tensor t = at::empty(size, at::TensorOptions().dtype(at::kFloat));
  std::memcpy(t.data_ptr<float>(), data, t.numel() * sizeof(float));
  *out = new pl_tensor{t};
  PL_CATCH
}

char* pl_tensor_channels_last(pl_tensor* t, pl_tensor** out) {
  PL_TRY
  if (t->t.dim() != 4) throw std::invalid_argument("channels_last needs a 4-d tensor, got " + std::to_string(t->t.dim()) + "-d");
  *out = new pl_tensor{t->t.contiguous(at::MemoryFormat::ChannelsLast)};
  PL_CATCH
}

void pl_tensor_free(pl_tensor* t) { delete t; }

char* pl_forward(pl_module* m, pl_tensor** inputs, int n_inputs, pl_value** out) {
  PL_TRY
  std::vector<c10::IValue> in = gather(inputs, n_inputs);
  auto v = forward(m, in);
  *out = new pl_value{std::move(v)};
  PL_CATCH
}

char* pl_forward_timed(pl_module* m, pl_tensor** inputs, int n_inputs, int iters,
                       int64_t* ns_each, int64_t* wall_ns) {
  PL_TRY
  std::vector<c10::IValue> in = gather(inputs, n_inputs);
  auto start = clock_type::now();
  for (int i = 0; i < iters; i++) {
    auto t0 = clock_type::now();
    auto out = forward(m, in);
    auto t1 = clock_type::now();
    ns_each[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }
  *wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start).count();
  PL_CATCH
}

// The reference workload (pl_reference_timed): a fixed computation, the same in every
// perflab build of this version, whose per-call time measures the machine's speed.
// Inputs are deterministic functions of their index (nothing random, nothing loaded).
namespace {
struct reference_workload {
  at::Tensor x, w, a, b;
  reference_workload() {
    auto opts = at::TensorOptions().dtype(at::kFloat);
    x = at::sin(at::arange(1 * 64 * 28 * 28, opts) * 0.01).reshape({1, 64, 28, 28}).contiguous();
    w = (at::cos(at::arange(64 * 64 * 3 * 3, opts) * 0.1) * 0.02).reshape({64, 64, 3, 3}).contiguous();
    a = at::sin(at::arange(256 * 256, opts) * 0.001).reshape({256, 256}).contiguous();
    b = at::cos(at::arange(256 * 256, opts) * 0.002).reshape({256, 256}).contiguous();
  }
  at::Tensor run() const {
    const std::vector<int64_t> one{1, 1};
    auto y = at::relu(at::conv2d(x, w, at::Tensor(), one, one));
    auto m = at::matmul(a, b);
    return at::add(y.sum(), m.sum());
  }
};
}  // namespace

char* pl_reference_timed(int iters, int64_t* ns_each, double* checksum) {
  PL_TRY
  reference_workload rw;
  *checksum = rw.run().item<double>();  // untimed first call: allocations, lazy init
  for (int i = 0; i < iters; i++) {
    auto t0 = clock_type::now();
    auto out = rw.run();
    auto t1 = clock_type::now();
    ns_each[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }
  PL_CATCH
}

char* pl_forward_timed_pair(pl_module* a, pl_tensor** in_a, int n_a, pl_module* b, pl_tensor** in_b,
                            int n_b, int iters, int64_t* ns_a, int64_t* ns_b) {
  PL_TRY
  std::vector<c10::IValue> ia = gather(in_a, n_a), ib = gather(in_b, n_b);
  auto timed = [](pl_module* m, std::vector<c10::IValue>& in) {
    auto t0 = clock_type::now();
    auto out = forward(m, in);
    auto t1 = clock_type::now();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  };
  for (int i = 0; i < iters; i++) {
    if (i % 2 == 0) {  // ABBA: neither side always runs first
      ns_a[i] = timed(a, ia);
      ns_b[i] = timed(b, ib);
    } else {
      ns_b[i] = timed(b, ib);
      ns_a[i] = timed(a, ia);
    }
  }
  PL_CATCH
}

char* pl_value_describe(pl_value* v, char** out) {
  PL_TRY
  std::ostringstream os;
  describe(v->v, os);
  *out = dup(os.str());
  PL_CATCH
}

char* pl_value_compare(pl_value* a, pl_value* b, double rtol, double atol_scale, pl_compare* out) {
  PL_TRY
  std::vector<at::Tensor> ta, tb;
  flatten(a->v, ta);
  flatten(b->v, tb);
  if (ta.size() != tb.size()) {
    throw std::invalid_argument("outputs differ in structure: " + std::to_string(ta.size()) + " vs " +
                                std::to_string(tb.size()) + " tensors");
  }
  pl_compare r{};
  double sumsq = 0;
  int64_t finite_n = 0;
  int classifiers = 0;
  for (size_t i = 0; i < ta.size(); i++) {
    if (!ta[i].sizes().equals(tb[i].sizes())) {
      throw std::invalid_argument("output " + std::to_string(i) + " differs in shape");
    }
    if (ta[i].numel() == 0) continue;
    at::Tensor x = (ta[i].is_quantized() ? ta[i].dequantize() : ta[i]).to(at::kDouble).contiguous();
    at::Tensor y = (tb[i].is_quantized() ? tb[i].dequantize() : tb[i]).to(at::kDouble).contiguous();
    at::Tensor fx = at::isfinite(x), fy = at::isfinite(y);
    // A position matches in kind when both are finite, both NaN, or both the same Inf.
    at::Tensor same_kind = (fx & fy) | (at::isnan(x) & at::isnan(y)) |
                           (at::isinf(x) & at::isinf(y) & (at::signbit(x) == at::signbit(y)));
    r.elements += x.numel();
    r.ref_nonfinite += x.numel() - fx.sum().item<int64_t>();
    r.nonfinite_mismatch += x.numel() - same_kind.sum().item<int64_t>();
    at::Tensor both = fx & fy;
    at::Tensor xf = x.masked_select(fx);
    int64_t nf = xf.numel();
    double ss = nf ? (xf * xf).sum().item<double>() : 0;
    sumsq += ss;
    finite_n += nf;
    if (nf) r.ref_max_abs = std::max(r.ref_max_abs, xf.abs().max().item<double>());
    at::Tensor xb = x.masked_select(both), yb = y.masked_select(both);
    if (xb.numel()) {
      at::Tensor d = (xb - yb).abs();
      r.max_abs_diff = std::max(r.max_abs_diff, d.max().item<double>());
      double atol = atol_scale * (nf ? std::sqrt(ss / nf) : 0.0);
      at::Tensor bound = atol + rtol * xb.abs();
      // Where the bound is 0 (an all-zero reference tensor) any difference is infinitely over.
      at::Tensor ratio = at::where(bound > 0, d / bound, at::where(d > 0, at::full_like(d, INFINITY), at::zeros_like(d)));
      double w = ratio.max().item<double>();
      if (w > r.worst) {
        r.worst = w;
        r.worst_atol = atol;
      }
    }
    if (x.dim() == 2 && x.size(1) >= 2 && at::isFloatingType(ta[i].scalar_type())) classifiers++;
  }
  r.ref_rms = finite_n ? std::sqrt(sumsq / finite_n) : 0;
  if (classifiers == 1 && ta.size() == 1) {
    at::Tensor x = ta[0].to(at::kDouble), y = tb[0].to(at::kDouble);
    int64_t k = std::min<int64_t>(5, x.size(1));
    at::Tensor ax = x.argmax(1), ay = y.argmax(1);
    at::Tensor topy = std::get<1>(y.topk(k, 1));
    r.rows = x.size(0);
    r.top1_agree = (ax == ay).sum().item<int64_t>();
    r.top5_agree = (topy == ax.unsqueeze(1)).any(1).sum().item<int64_t>();
  }
  *out = r;
  PL_CATCH
}


char* pl_onednn_set_max_isa(const char* name) {
  PL_TRY
  int value = -1;
  for (const auto& i : isa_table())
    if (std::strcmp(i.name, name) == 0) value = i.value;
  if (value < 0) {
    throw std::invalid_argument(std::string("unknown oneDNN ISA ") + name + " for oneDNN " + onednn_version());
  }
  using setter = int (*)(int);
  int status = reinterpret_cast<setter>(dnnl_symbol("dnnl_set_max_cpu_isa"))(value);
  if (status != 0) {
    throw std::runtime_error(std::string("oneDNN refused ISA ") + name +
                             " (it must be set before any oneDNN kernel is generated, and once)");
  }
  PL_CATCH
}

char* pl_onednn_effective_isa(char** name) {
  PL_TRY
  using getter = int (*)(void);
  int v = reinterpret_cast<getter>(dnnl_symbol("dnnl_get_effective_cpu_isa"))();
  std::string s = "0x" + [v] { std::ostringstream o; o << std::hex << v; return o.str(); }();
  for (const auto& i : isa_table()) {
    if (i.value == v) {
      s = i.name;
      break;
    }
  }
  *name = dup(s);
  PL_CATCH
}

void pl_value_free(pl_value* v) { delete v; }

}  // extern "C"

// ---- Profiler (perflab bench --profile, the gate's attribution; declared in profile.h) ----
// libtorch's own profiler, driven from C++ without Kineto: enableProfiler/disableProfiler
// around the forwards (torch/csrc/autograd/profiler_kineto.h, the same calls on 1.13 and 2.x).
// Only the durations' unit differs: microseconds on 1.x, nanoseconds on 2.x.
#include <torch/csrc/autograd/profiler_kineto.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/runtime/custom_operator.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include "profile.h"

namespace {

// ---- Operators the dispatcher does not see ----
// A TorchScript graph after freeze + optimize_for_inference (compile on) runs prepacked and
// fused oneDNN kernels as JIT-registered operators (prim::mkldnn_convolution,
// prim::MKLDNNHardSwish_, ...): the interpreter calls them directly, not through libtorch's
// dispatcher, so no RecordFunction event names them and their time would be "between
// operators". For the profiled pass only, perflab runs a copy of forward's graph in which each
// such node is bracketed by perflab::op_enter / perflab::op_exit: two operators of its own
// that open and close a RecordFunction named by the node's kind, with the node's actual inputs
// (so their shapes). The module the timed loop runs is never touched.

// One open scope per op_enter, closed by its op_exit (or when the forward fails: the
// profiled pass clears the stack).
thread_local std::vector<std::unique_ptr<at::RecordFunction>> open_scopes;

void op_enter(torch::jit::Stack& stack) {
  // Vararg: the interpreter pushes the number of inputs last. Inputs: the name, then the
  // instrumented node's own inputs.
  int64_t n = torch::jit::pop(stack).toInt();
  auto args = torch::jit::last(stack, n);
  auto rf = std::make_unique<at::RecordFunction>(at::RecordScope::FUNCTION);
  if (rf->isActive()) {
    std::string name = args[0].toStringRef();
    if (rf->needsInputs()) {
      rf->before(name, c10::ArrayRef<const c10::IValue>(args.begin() + 1, args.end()));
    } else {
      rf->before(name);
    }
  }
  torch::jit::drop(stack, n);
  open_scopes.push_back(std::move(rf));
  torch::jit::push(stack, static_cast<int64_t>(open_scopes.size()));
}

void op_exit(torch::jit::Stack& stack) {
  auto depth = static_cast<size_t>(torch::jit::pop(stack).toInt());
  while (!open_scopes.empty() && open_scopes.size() >= depth) open_scopes.pop_back();  // ends it
}

// CONSERVATIVE: side effects, so that no pass drops or moves them.
torch::jit::RegisterOperators pl_scope_ops({
    torch::jit::Operator("perflab::op_enter(...) -> int", op_enter, c10::AliasAnalysisKind::CONSERVATIVE),
    torch::jit::Operator("perflab::op_exit(int depth) -> ()", op_exit, c10::AliasAnalysisKind::CONSERVATIVE),
});

// invisible: a node whose operator runs without the dispatcher and does tensor work. Left
// out: nodes without inputs (constants such as prim::ConstantMKLDNNTensor) and the
// interpreter's scalar bookkeeping (aten::size, aten::len, ...: no tensor output).
bool invisible(torch::jit::Node* n) {
  if (n->inputs().empty()) return false;
  auto op = n->maybeOperator();
  if (!op || op->isC10Op()) return false;
  for (auto* o : n->outputs())
    if (o->type()->cast<c10::TensorType>()) return true;
  return false;
}

void instrument(torch::jit::Block* b, std::map<std::string, int>& kinds) {
  static const auto enter = c10::Symbol::fromQualString("perflab::op_enter");
  static const auto exit = c10::Symbol::fromQualString("perflab::op_exit");
  for (auto it = b->nodes().begin(); it != b->nodes().end();) {
    torch::jit::Node* n = *it;
    ++it;
    for (auto* sub : n->blocks()) instrument(sub, kinds);
    if (!invisible(n)) continue;
    std::string kind = n->kind().toQualString();
    kinds[kind]++;
    torch::jit::Graph* g = n->owningGraph();
    torch::jit::WithInsertPoint at(n);
    torch::jit::Value* name = g->insertConstant(kind);
    torch::jit::Node* e = g->create(enter, 1);
    e->addInput(name);
    for (auto* in : n->inputs()) e->addInput(in);
    e->output()->setType(c10::IntType::get());
    e->insertBefore(n);
    torch::jit::Node* x = g->create(exit, 0);
    x->addInput(e->output());
    x->insertAfter(n);
  }
}

// profiled_code makes (once) m's instrumented copy of forward's graph; nullptr when forward
// has no invisible operator (then the module itself is profiled).
torch::jit::Code* profiled_code(pl_module* m) {
  if (!m->profiled_made) {
    m->profiled_made = true;
    auto g = m->m.get_method("forward").graph()->copy();
    std::map<std::string, int> kinds;
    instrument(g->block(), kinds);
    if (!kinds.empty()) {
      m->profiled = std::make_shared<torch::jit::Code>(g, "forward_profiled");
      for (const auto& [k, c] : kinds) {
        if (!m->instrumented.empty()) m->instrumented += ';';
        m->instrumented += k + ":" + std::to_string(c);
      }
    }
  }
  return m->profiled.get();
}

void profiled_forward(pl_module* m, torch::jit::Code* code, const std::vector<c10::IValue>& in) {
  if (code == nullptr) {
    std::vector<c10::IValue> args = in;
    forward(m, args);
    return;
  }
  torch::jit::Stack stack;
  stack.reserve(in.size() + 1);
  stack.emplace_back(m->m._ivalue());
  for (const auto& v : in) stack.push_back(v);
  torch::jit::InterpreterState st(*code);
  st.run(stack);
}

namespace prof = torch::autograd::profiler;
namespace prof_impl = torch::profiler::impl;

#if PL_TORCH_AT_LEAST(2, 0)
constexpr int kProfileUnitNs = 1;
int64_t event_start_ns(const prof::KinetoEvent& e) { return static_cast<int64_t>(e.startNs()); }
int64_t event_dur_ns(const prof::KinetoEvent& e) { return static_cast<int64_t>(e.durationNs()); }
#else
constexpr int kProfileUnitNs = 1000;
int64_t event_start_ns(const prof::KinetoEvent& e) { return static_cast<int64_t>(e.startUs()) * 1000; }
int64_t event_dur_ns(const prof::KinetoEvent& e) { return static_cast<int64_t>(e.durationUs()) * 1000; }
#endif

// ProfilerOn enables the profiler on this thread and disables it when it goes out of scope
// (on an exception too), unless result() already took its events.
class ProfilerOn {
 public:
  ProfilerOn() {
    prof_impl::ProfilerConfig cfg(prof_impl::ProfilerState::KINETO, /*report_input_shapes=*/true,
                                  /*profile_memory=*/false, /*with_stack=*/false, /*with_flops=*/false,
                                  /*with_modules=*/false);
    // A libtorch built with Kineto (Debian's 2.6) must have its trace prepared first
    // (what torch.profiler does): enabling alone dereferences an unset Kineto profiler.
    prof::prepareProfiler(cfg, {prof_impl::ActivityType::CPU});
    prof::enableProfiler(cfg, {prof_impl::ActivityType::CPU});
    on_ = true;
  }
  std::unique_ptr<prof::ProfilerResult> result() {
    on_ = false;
    return prof::disableProfiler();
  }
  ~ProfilerOn() {
    if (on_) {
      try {
        prof::disableProfiler();
      } catch (...) {
      }
    }
  }

 private:
  bool on_ = false;
};

// is_scope: the event is a TorchScript function call or a named scope (the forward's,
// or a model's record_function), not an operator.
bool is_scope(uint8_t scope) {
  switch (static_cast<at::RecordScope>(scope)) {
    case at::RecordScope::TORCHSCRIPT_FUNCTION:
    case at::RecordScope::USER_SCOPE:
    case at::RecordScope::LITE_INTERPRETER:
    case at::RecordScope::STATIC_RUNTIME_MODEL:
      return true;
    default:
      return false;
  }
}

// field keeps a name free of the separators the event encoding uses.
std::string field(std::string s) {
  for (char& c : s)
    if (c == '\x1e' || c == '\x1f') c = ' ';
  return s;
}

}  // namespace

extern "C" {

char* pl_profile(pl_module* m, pl_tensor** inputs, int n_inputs, int forwards, int64_t* ns_each,
                 char** events, int* unit_ns, char** instrumented) {
  PL_TRY
  if (forwards <= 0) throw std::invalid_argument("profile needs at least one forward");
  std::vector<c10::IValue> in = gather(inputs, n_inputs);
  torch::jit::Code* code = m->is_aoti() ? nullptr : profiled_code(m);
  *instrumented = dup(m->instrumented);
  open_scopes.clear();
  if (code != nullptr) profiled_forward(m, code, in);  // its first run, unprofiled
  std::unique_ptr<prof::ProfilerResult> res;
  {
    ProfilerOn on;
    struct ClearScopes {  // a failed forward's open scopes end before the profiler stops
      ~ClearScopes() { open_scopes.clear(); }
    } clear_scopes;
    for (int i = 0; i < forwards; i++) {
      auto t0 = clock_type::now();
      {
        RECORD_USER_SCOPE("perflab::forward");
        profiled_forward(m, code, in);
        open_scopes.clear();
      }
      ns_each[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - t0).count();
    }
    res = on.result();
  }
  std::string s;
  s.reserve(res->events().size() * 64);
  bool first = true;
  for (const auto& e : res->events()) {
    if (e.deviceType() != c10::DeviceType::CPU) continue;
    if (!first) s += '\x1e';
    first = false;
    s += field(e.name());
    s += '\x1f';
    if (e.hasShapes()) {
      bool first_in = true;
      for (const auto& shape : e.shapes()) {
        if (!first_in) s += ';';
        first_in = false;
        for (size_t k = 0; k < shape.size(); k++) {
          if (k) s += ',';
          s += std::to_string(shape[k]);
        }
      }
    }
    s += '\x1f';
    s += std::to_string(e.startThreadId());
    s += '\x1f';
    s += std::to_string(event_start_ns(e));
    s += '\x1f';
    s += std::to_string(event_dur_ns(e));
    s += '\x1f';
    s += is_scope(e.scope()) ? 's' : 'o';
  }
  *events = dup(s);
  *unit_ns = kProfileUnitNs;
  PL_CATCH
}

}  // extern "C"
