#include "sim/kernels/fma_probe.h"

#include <immintrin.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

namespace sim {

namespace {

constexpr int kAccumulators = 16;  // enough independent chains to cover FMA latency x ports

#if defined(__AVX512F__)
constexpr int kLanes = 16;
using Packet = __m512;
inline Packet Set(float v) { return _mm512_set1_ps(v); }
inline Packet Fma(Packet a, Packet b, Packet c) { return _mm512_fmadd_ps(a, b, c); }
inline float Sum(Packet a) {
  alignas(64) float v[16];
  _mm512_store_ps(v, a);
  float total = 0.0f;
  for (float x : v) total += x;
  return total;
}
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kLanes = 8;
using Packet = __m256;
inline Packet Set(float v) { return _mm256_set1_ps(v); }
inline Packet Fma(Packet a, Packet b, Packet c) { return _mm256_fmadd_ps(a, b, c); }
inline float Sum(Packet a) {
  alignas(32) float v[8];
  _mm256_store_ps(v, a);
  return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}
#else
constexpr int kLanes = 1;
using Packet = float;
inline Packet Set(float v) { return v; }
inline Packet Fma(Packet a, Packet b, Packet c) { return std::fma(a, b, c); }
inline float Sum(Packet a) { return a; }
#endif

// Runs `iterations` rounds of kAccumulators FMAs; returns a value so nothing is optimized away.
// noipa: otherwise GCC infers the function is pure and may move the call out of the timed region.
__attribute__((noipa)) float FmaLoop(long iterations) {
  Packet acc[kAccumulators];
  for (int j = 0; j < kAccumulators; ++j) acc[j] = Set(1.0f + 1e-3f * j);
  const Packet mul = Set(0.999999f), add = Set(1e-6f);
  for (long i = 0; i < iterations; ++i)
    for (int j = 0; j < kAccumulators; ++j) acc[j] = Fma(acc[j], mul, add);
  float total = 0.0f;
  for (int j = 0; j < kAccumulators; ++j) total += Sum(acc[j]);
  return total;
}

}  // namespace

FmaProbeResult MeasureFmaPeak(int threads, double seconds) {
  using Clock = std::chrono::steady_clock;
  FmaProbeResult result;
  result.threads = threads;
  result.vector_lanes = kLanes;
  // Calibrate the iteration count on one thread, then time all threads together.
  long iterations = 1 << 16;
  for (;;) {
    const auto start = Clock::now();
    volatile float sink = FmaLoop(iterations);
    (void)sink;
    if (std::chrono::duration<double>(Clock::now() - start).count() > 0.02) break;
    iterations *= 2;
  }
  double best = 0.0;
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  do {
    // One thread per probe, all started together; the slowest sets the time.
    const auto start = Clock::now();
    std::vector<std::thread> others;
    for (int t = 1; t < threads; ++t)
      others.emplace_back([iterations] {
        volatile float sink = FmaLoop(iterations);
        (void)sink;
      });
    volatile float sink = FmaLoop(iterations);
    (void)sink;
    for (std::thread& t : others) t.join();
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double flops = 2.0 * kLanes * kAccumulators * static_cast<double>(iterations) * threads;
    best = std::max(best, flops / elapsed / 1e9);
  } while (Clock::now() < deadline);
  result.gflops = best;
  return result;
}

}  // namespace sim
