// Small vectorized kernels on contiguous arrays, written with Eigen's packet primitives so they run
// at the build's vector width (AVX-512, AVX2, SSE) in float and double. Tails shorter than a packet
// go through a padded stack buffer, so every element takes the same (vectorized) path and results do
// not depend on alignment.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <limits>

#include "sim/core/types.h"

namespace sim {

// x[0..n) <- softmax(scale·x[0..n)) = exp(scale (x - max x)) / Σ exp(scale (x - max x)).
// n >= 1, scale > 0.
inline void SoftmaxInPlace(Scalar* x, Index n, Scalar scale = Scalar(1)) {
  namespace ei = Eigen::internal;
  using Packet = typename ei::packet_traits<Scalar>::type;
  constexpr Index kLanes = ei::packet_traits<Scalar>::size;
  Index i = 0;
  Packet pmax = ei::pset1<Packet>(-std::numeric_limits<Scalar>::infinity());
  for (; i + kLanes <= n; i += kLanes) pmax = ei::pmax(pmax, ei::ploadu<Packet>(x + i));
  Scalar max = ei::predux_max(pmax);
  for (; i < n; ++i) max = std::max(max, x[i]);
  const Packet pshift = ei::pset1<Packet>(max), pscale = ei::pset1<Packet>(scale);
  Packet psum = ei::pset1<Packet>(Scalar(0));
  for (i = 0; i + kLanes <= n; i += kLanes) {
    const Packet e = ei::pexp(ei::pmul(ei::psub(ei::ploadu<Packet>(x + i), pshift), pscale));
    ei::pstoreu(x + i, e);
    psum = ei::padd(psum, e);
  }
  Scalar sum = ei::predux(psum);
  if (i < n) {
    alignas(64) Scalar buf[kLanes] = {};
    const Index rest = n - i;
    for (Index j = 0; j < rest; ++j) buf[j] = x[i + j];
    ei::pstore(buf, ei::pexp(ei::pmul(ei::psub(ei::pload<Packet>(buf), pshift), pscale)));
    for (Index j = 0; j < rest; ++j) {
      x[i + j] = buf[j];
      sum += buf[j];
    }
  }
  const Scalar inv = Scalar(1) / sum;
  const Packet pinv = ei::pset1<Packet>(inv);
  for (i = 0; i + kLanes <= n; i += kLanes) ei::pstoreu(x + i, ei::pmul(ei::ploadu<Packet>(x + i), pinv));
  for (; i < n; ++i) x[i] *= inv;
}

// Returns Σ exp(x[i] - shift) over [0, n); when out is non-null also writes out[i] = exp(x[i] - shift).
inline Scalar ExpShiftSum(const Scalar* x, Index n, Scalar shift, Scalar* out) {
  namespace ei = Eigen::internal;
  using Packet = typename ei::packet_traits<Scalar>::type;
  constexpr Index kLanes = ei::packet_traits<Scalar>::size;
  const Packet pshift = ei::pset1<Packet>(shift);
  Packet psum = ei::pset1<Packet>(Scalar(0));
  Index i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const Packet e = ei::pexp(ei::psub(ei::ploadu<Packet>(x + i), pshift));
    if (out != nullptr) ei::pstoreu(out + i, e);
    psum = ei::padd(psum, e);
  }
  Scalar sum = ei::predux(psum);
  if (i < n) {
    alignas(64) Scalar buf[kLanes] = {};
    const Index rest = n - i;
    for (Index j = 0; j < rest; ++j) buf[j] = x[i + j];
    ei::pstore(buf, ei::pexp(ei::psub(ei::pload<Packet>(buf), pshift)));
    for (Index j = 0; j < rest; ++j) {
      if (out != nullptr) out[i + j] = buf[j];
      sum += buf[j];
    }
  }
  return sum;
}

}  // namespace sim
