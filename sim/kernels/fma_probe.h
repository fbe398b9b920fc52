// The machine's arithmetic limit, measured rather than assumed: FP32 fused multiply-adds on
// independent register accumulators at the widest vector width the build targets (AVX-512, AVX2 or
// SSE), on `threads` threads at once. Benchmarks report achieved GFLOP/s as a fraction of this.
#pragma once

namespace sim {

struct FmaProbeResult {
  double gflops = 0.0;  // all threads together (2 FLOPs per FMA lane)
  int threads = 1;
  int vector_lanes = 1;  // float lanes per FMA instruction
};

FmaProbeResult MeasureFmaPeak(int threads, double seconds);

}  // namespace sim
