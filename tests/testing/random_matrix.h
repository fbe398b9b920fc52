// Seeded random matrices for tests, in the build's Scalar (float or double).
#pragma once

#include <cstdint>

#include "sim/core/rng.h"
#include "sim/core/types.h"

namespace sim::testing {

// A (rows, cols) matrix of N(0, scale^2) entries from a seeded stream, filled in storage order.
inline Mat RandomMat(Index rows, Index cols, uint64_t seed, double scale = 1.0) {
  Rng rng(seed);
  Mat m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(scale * rng.Normal());
  return m;
}

}  // namespace sim::testing
