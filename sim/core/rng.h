// Deterministic, counter-based random streams.
//
// Every source of randomness in a run (parameter init, each data split, analyses) gets its own
// stream, derived from the run's seed and a purpose string: Rng::ForStream(seed, "data/train").
// A stream's whole state is (key, position): the position is one integer, so checkpoints store and
// restore it exactly. Output i of a stream is SplitMix64's finalizer applied to key + (i+1)*gamma
// (Steele, Lea & Flood 2014), which makes draws independent of thread count and platform.
//
// No std:: distributions are used: their algorithms differ between standard libraries.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace sim {

class Rng {
 public:
  explicit Rng(uint64_t key = 0, uint64_t position = 0) : key_(key), position_(position) {}

  // A stream for `purpose` under `seed`; distinct purposes give unrelated streams.
  static Rng ForStream(uint64_t seed, std::string_view purpose);

  uint64_t NextU64();
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();
  // Uniform integer in [0, n), unbiased (Lemire's method). Requires n > 0.
  uint64_t Below(uint64_t n);
  // Standard normal by Box-Muller; consumes two draws.
  double Normal();

  // k distinct values from [0, n) in random order (partial Fisher-Yates). `scratch` avoids allocation
  // when reused; `out` receives the k values.
  void SampleWithoutReplacement(int n, int k, std::vector<int>& scratch, int* out);

  uint64_t key() const { return key_; }
  uint64_t position() const { return position_; }
  void set_position(uint64_t position) { position_ = position; }

 private:
  uint64_t key_;
  uint64_t position_;
};

// 64-bit finalizer (SplitMix64), also used to hash seeds and purposes.
uint64_t Mix64(uint64_t z);

}  // namespace sim
