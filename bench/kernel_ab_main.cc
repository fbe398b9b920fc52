// bench/kernel_ab's timing program: two builds of one product kernel in one process, timed in
// alternation (see bench/kernel_ab, which generates variant_a.h / variant_b.h and compiles this file
// with both variants' sources, and KERNEL_AB_SGEMM=1 for the SGEMM or 0 for the small kernel).
//
// Why one process: on a shared machine the speed of a core drifts by ±20-30% from second to second
// (other tenants, another process's memory traffic). Two binaries run one after the other see
// different machines; two variants called alternately within milliseconds see the same one, so the
// ratio of their times is stable even when the absolute rates are not.
//
// Arguments: KERNEL (sgemm | small) M N K OPS ROUNDS INNER
//   sgemm: C (M x N) = op(A) op(B) through SgemmAvx512, OPS one of NN NT TN TT.
//   small: C (M x N) = bias + A op(B) through SmallGemm, OPS N or T (op(B)).
// Prints one line: the medians of each variant's GFLOP/s over the rounds, the median and quartiles
// of the per-round ratio (B's speed over A's), and whether both variants' results are bitwise equal.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "variant_a.h"
#include "variant_b.h"

namespace {

// 64-byte aligned floats, filled with a fixed pseudo-random pattern in [-0.5, 0.5).
struct Buffer {
  explicit Buffer(size_t n) : size(n), data(static_cast<float*>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64))) {
    uint32_t state = static_cast<uint32_t>(n) * 2654435761u + 1;
    for (size_t i = 0; i < n; ++i) {
      state = state * 1664525u + 1013904223u;
      data[i] = static_cast<float>(state >> 8) / static_cast<float>(1 << 24) - 0.5f;
    }
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  size_t size;
  float* data;
};

double Median(std::vector<double> v, double quantile = 0.5) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(quantile * static_cast<double>(v.size() - 1) + 0.5)];
}

int Usage(const char* why) {
  std::fprintf(stderr, "kernel_ab_main: %s\nusage: kernel_ab_main sgemm|small M N K OPS ROUNDS INNER\n", why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
#if !defined(__AVX512F__)
  std::fprintf(stderr, "kernel_ab_main: this machine has no AVX-512: both kernels are compiled out here\n");
  return 3;
#endif
  if (argc != 8) return Usage("expected 7 arguments");
  const std::string kernel = argv[1], ops = argv[5];
  const long m = std::atol(argv[2]), n = std::atol(argv[3]), k = std::atol(argv[4]);
  const int rounds = std::atoi(argv[6]), inner = std::atoi(argv[7]);
  if (m <= 0 || n <= 0 || k <= 0 || rounds < 2 || inner < 1) return Usage("M, N, K, INNER must be >= 1, ROUNDS >= 2");
  const bool sgemm = kernel == "sgemm";
  if (!sgemm && kernel != "small") return Usage("KERNEL must be sgemm or small");
  if (sgemm ? (ops.size() != 2 || ops.find_first_not_of("NT") != std::string::npos) : (ops != "N" && ops != "T"))
    return Usage("OPS must be NN, NT, TN or TT for sgemm, N or T for small");
  const bool trans_a = sgemm && ops[0] == 'T', trans_b = ops.back() == 'T';

  Buffer a(static_cast<size_t>(m * k)), b(static_cast<size_t>(k * n)), bias(static_cast<size_t>(m));
  Buffer c_a(static_cast<size_t>(m * n)), c_b(static_cast<size_t>(m * n));
  const long lda = trans_a ? k : m, ldb = trans_b ? n : k;
  std::function<void()> run_a, run_b;
  std::vector<Buffer*> packing;
  if (sgemm != (KERNEL_AB_SGEMM == 1)) return Usage("KERNEL is not the kernel this program was built for");
#if KERNEL_AB_SGEMM
  {
    const size_t pack_a = std::max(variant_a::kSgemmPackA, variant_b::kSgemmPackA);
    const size_t pack_b = std::max(variant_a::kSgemmPackB, variant_b::kSgemmPackB);
    packing = {new Buffer(pack_a), new Buffer(pack_b)};
    float* pa = packing[0]->data;
    float* pb = packing[1]->data;
    run_a = [&, pa, pb] {
      variant_a::SgemmAvx512(m, n, k, a.data, lda, trans_a, b.data, ldb, trans_b, c_a.data, m, false, pa, pb, nullptr);
    };
    run_b = [&, pa, pb] {
      variant_b::SgemmAvx512(m, n, k, a.data, lda, trans_a, b.data, ldb, trans_b, c_b.data, m, false, pa, pb, nullptr);
    };
  }
#else
  {
    run_a = [&] { variant_a::SmallGemm(trans_b, m, n, k, a.data, m, b.data, ldb, c_a.data, m, false, bias.data); };
    run_b = [&] { variant_b::SmallGemm(trans_b, m, n, k, a.data, m, b.data, ldb, c_b.data, m, false, bias.data); };
  }
#endif
  run_a();
  run_b();
  const bool same_bits = std::memcmp(c_a.data, c_b.data, c_a.size * sizeof(float)) == 0;

  std::vector<double> seconds_a, seconds_b, speed_ratio;
  for (int r = 0; r < rounds; ++r) {
    double t[2];
    for (int v = 0; v < 2; ++v) {
      const int which = r % 2 == 0 ? v : 1 - v;  // A first on even rounds, B first on odd ones
      const auto& run = which == 0 ? run_a : run_b;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < inner; ++i) run();
      t[which] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    seconds_a.push_back(t[0]);
    seconds_b.push_back(t[1]);
    speed_ratio.push_back(t[0] / t[1]);
  }
  for (Buffer* p : packing) delete p;
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k) * inner;
  std::printf("%s %ld x %ld x %ld %s: A %.1f GFLOP/s, B %.1f GFLOP/s, B/A %.3fx (quartiles %.3f-%.3f), %s\n",
              kernel.c_str(), m, n, k, ops.c_str(), flops / Median(seconds_a) * 1e-9, flops / Median(seconds_b) * 1e-9,
              Median(speed_ratio), Median(speed_ratio, 0.25), Median(speed_ratio, 0.75),
              same_bits ? "same bits" : "DIFFERENT bits");
  return 0;
}
