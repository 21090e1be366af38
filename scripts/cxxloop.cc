// cxxloop: the plain C++ libtorch loop perflab's overhead is measured against
// (scripts/bench-overhead.sh). Loads a TorchScript file, optionally applies
// freeze + optimize_for_inference, feeds float32[B,3,224,224] (or int64[B,128] with
// --tokens) and prints the nearest-rank p50 of per-forward wall time in ms.
//
// usage: cxxloop MODEL.pt BATCH ITERS WARMUP THREADS OPTIMIZE(0|1) [--tokens]
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/api/include/torch/version.h>
#include <torch/csrc/jit/passes/tensorexpr_fuser.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s MODEL.pt BATCH ITERS WARMUP THREADS OPTIMIZE [--tokens]\n", argv[0]);
    return 2;
  }
  int batch = std::atoi(argv[2]), iters = std::atoi(argv[3]), warmup = std::atoi(argv[4]);
  int threads = std::atoi(argv[5]);
  bool optimize = std::atoi(argv[6]) != 0;
  bool tokens = argc > 7 && std::strcmp(argv[7], "--tokens") == 0;
  at::set_num_threads(threads);
#if TORCH_VERSION_MAJOR >= 2
  torch::jit::setTensorExprFuserEnabled(false);  // as perflab: 2.x's fuser hangs optimized models
#endif
  c10::InferenceMode guard;  // as perflab: every call, the compile step too
  torch::jit::Module m = torch::jit::load(argv[1]);
  m.eval();
  if (optimize) {
    torch::jit::Module frozen = torch::jit::freeze(m);
    m = torch::jit::optimize_for_inference(frozen);
  }
  at::Tensor x = tokens ? torch::randint(0, 8192, {batch, 128}, torch::kLong)
                        : torch::randn({batch, 3, 224, 224});
  std::vector<c10::IValue> in{x};
  for (int i = 0; i < warmup; i++) m.forward(in);
  std::vector<double> ms(iters);
  for (int i = 0; i < iters; i++) {
    auto t0 = std::chrono::steady_clock::now();
    auto out = m.forward(in);
    auto t1 = std::chrono::steady_clock::now();
    ms[i] = std::chrono::duration<double, std::milli>(t1 - t0).count();
  }
  std::sort(ms.begin(), ms.end());
  size_t rank = static_cast<size_t>(std::ceil(0.5 * iters));
  std::printf("%.6f\n", ms[rank - 1]);
  return 0;
}
