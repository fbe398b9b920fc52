#include "sim/core/rng.h"

#include <cmath>

#include "sim/core/check.h"

namespace sim {

namespace {
constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ULL;
constexpr double kTwoPi = 6.283185307179586476925286766559;
}  // namespace

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Rng Rng::ForStream(uint64_t seed, std::string_view purpose) {
  // FNV-1a over the purpose, then mixed with the seed: unrelated keys for unrelated purposes.
  uint64_t h = 0xCBF29CE484222325ULL;
  for (char c : purpose) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ULL;
  }
  return Rng(Mix64(Mix64(seed ^ 0x5EED5EED5EED5EEDULL) ^ Mix64(h)), 0);
}

uint64_t Rng::NextU64() {
  ++position_;
  return Mix64(key_ + position_ * kGamma);
}

double Rng::Uniform() { return static_cast<double>(NextU64() >> 11) * 0x1.0p-53; }

uint64_t Rng::Below(uint64_t n) {
  SIM_CHECK(n > 0, "Rng::Below: n must be positive");
  // Lemire (2019): multiply-shift with rejection of the biased low range.
  unsigned __int128 m = static_cast<unsigned __int128>(NextU64()) * n;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(NextU64()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double Rng::Normal() {
  const double u1 = 1.0 - Uniform();  // (0, 1]: log is finite
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

void Rng::SampleWithoutReplacement(int n, int k, std::vector<int>& scratch, int* out) {
  SIM_CHECK(k >= 0 && k <= n, "SampleWithoutReplacement: k=", k, " must be in [0, n=", n, "]");
  scratch.resize(n);  // no allocation once capacity suffices
  for (int i = 0; i < n; ++i) scratch[i] = i;
  for (int i = 0; i < k; ++i) {
    const int j = i + static_cast<int>(Below(static_cast<uint64_t>(n - i)));
    std::swap(scratch[i], scratch[j]);
    out[i] = scratch[i];
  }
}

}  // namespace sim
