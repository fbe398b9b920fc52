// Small vectorized kernels on contiguous arrays, written with Eigen's packet primitives so they run
// at the build's vector width (AVX-512, AVX2, SSE) in float and double. Tails shorter than a packet
// are loaded as a zero-padded packet (vector_math_detail::LoadTail), so every element takes the same
// (vectorized) path and results do not depend on alignment.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <limits>

#include "sim/core/types.h"

namespace sim {

namespace vector_math_detail {

// The tail of an array, rest < packet size entries from x, as one packet with zeros past the end, and
// back: through a padded stack buffer in general, by masked loads and stores where the build has
// AVX-512 (float). Both give the same lanes; the masked form avoids the scalar stores into the buffer
// that a whole-packet load then waits on (store forwarding fails), which made the tails of short rows
// (causal softmax columns) cost more than their full packets.
template <typename Packet, typename T>
inline Packet LoadTail(const T* x, Index rest) {
  constexpr Index kLanes = Eigen::internal::unpacket_traits<Packet>::size;
  alignas(64) T buf[kLanes] = {};
  for (Index j = 0; j < rest; ++j) buf[j] = x[j];
  return Eigen::internal::pload<Packet>(buf);
}
template <typename Packet, typename T>
inline void StoreTail(T* x, Index rest, const Packet& v) {
  constexpr Index kLanes = Eigen::internal::unpacket_traits<Packet>::size;
  alignas(64) T buf[kLanes];
  Eigen::internal::pstore(buf, v);
  for (Index j = 0; j < rest; ++j) x[j] = buf[j];
}
#if defined(EIGEN_VECTORIZE_AVX512)
template <>
inline Eigen::internal::Packet16f LoadTail<Eigen::internal::Packet16f, float>(const float* x, Index rest) {
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << rest) - 1), x);
}
template <>
inline void StoreTail<Eigen::internal::Packet16f, float>(float* x, Index rest, const Eigen::internal::Packet16f& v) {
  _mm512_mask_storeu_ps(x, static_cast<__mmask16>((1u << rest) - 1), v);
}
#endif

// Lane-wise maximum of m and the tail's entries (lanes past the tail keep m).
template <typename Packet, typename T>
inline Packet MaxWithTail(const Packet& m, const T* x, Index rest) {
  constexpr Index kLanes = Eigen::internal::unpacket_traits<Packet>::size;
  alignas(64) T buf[kLanes];
  Eigen::internal::pstore(buf, m);
  for (Index j = 0; j < rest; ++j) buf[j] = std::max(buf[j], x[j]);
  return Eigen::internal::pload<Packet>(buf);
}
#if defined(EIGEN_VECTORIZE_AVX512)
template <>
inline Eigen::internal::Packet16f MaxWithTail<Eigen::internal::Packet16f, float>(const Eigen::internal::Packet16f& m,
                                                                                 const float* x, Index rest) {
  const __mmask16 mask = static_cast<__mmask16>((1u << rest) - 1);
  return _mm512_mask_max_ps(m, mask, m, _mm512_maskz_loadu_ps(mask, x));
}
#endif

// Σ of the first rest lanes of v, added to sum one by one in lane order.
template <typename Packet, typename T>
inline T AddLanesInOrder(T sum, const Packet& v, Index rest) {
  constexpr Index kLanes = Eigen::internal::unpacket_traits<Packet>::size;
  alignas(64) T buf[kLanes];
  Eigen::internal::pstore(buf, v);
  for (Index j = 0; j < rest; ++j) sum += buf[j];
  return sum;
}

}  // namespace vector_math_detail

// x[g][0..n[g]) <- softmax(scale·x[g][0..n[g])) for g < G: exp(scale (x - max x)) / Σ exp(scale (x - max x))
// on each array, with the same operations as one array alone (the same bits), interleaved: the
// arrays' dependency chains (the reductions, exp, the division) overlap instead of running one after
// another, which made short rows latency-bound. n[g] >= 1, scale > 0.
template <int G>
inline void SoftmaxInPlaceInterleaved(Scalar* const x[G], const Index n[G], Scalar scale) {
  namespace ei = Eigen::internal;
  namespace vm = vector_math_detail;
  using Packet = typename ei::packet_traits<Scalar>::type;
  constexpr Index kLanes = ei::packet_traits<Scalar>::size;
  Index full[G], rest[G];  // whole packets, then a tail of rest entries
  Packet pshift[G];
  for (int g = 0; g < G; ++g) {
    full[g] = n[g] / kLanes * kLanes;
    rest[g] = n[g] - full[g];
    Packet pmax = ei::pset1<Packet>(-std::numeric_limits<Scalar>::infinity());
    for (Index i = 0; i < full[g]; i += kLanes) pmax = ei::pmax(pmax, ei::ploadu<Packet>(x[g] + i));
    if (rest[g] > 0) pmax = vm::MaxWithTail(pmax, x[g] + full[g], rest[g]);  // exact: any order, same value
    pshift[g] = ei::pset1<Packet>(ei::predux_max(pmax));
  }
  const Packet pscale = ei::pset1<Packet>(scale);
  Scalar sum[G];
  for (int g = 0; g < G; ++g) {
    Packet psum = ei::pset1<Packet>(Scalar(0));
    for (Index i = 0; i < full[g]; i += kLanes) {
      const Packet e = ei::pexp(ei::pmul(ei::psub(ei::ploadu<Packet>(x[g] + i), pshift[g]), pscale));
      ei::pstoreu(x[g] + i, e);
      psum = ei::padd(psum, e);
    }
    sum[g] = ei::predux(psum);
    if (rest[g] > 0) {
      const Packet e = ei::pexp(ei::pmul(ei::psub(vm::LoadTail<Packet>(x[g] + full[g], rest[g]), pshift[g]), pscale));
      vm::StoreTail(x[g] + full[g], rest[g], e);
      sum[g] = vm::AddLanesInOrder(sum[g], e, rest[g]);
    }
  }
  for (int g = 0; g < G; ++g) {
    const Packet pinv = ei::pset1<Packet>(Scalar(1) / sum[g]);
    for (Index i = 0; i < full[g]; i += kLanes) ei::pstoreu(x[g] + i, ei::pmul(ei::ploadu<Packet>(x[g] + i), pinv));
    if (rest[g] > 0)
      vm::StoreTail(x[g] + full[g], rest[g], ei::pmul(vm::LoadTail<Packet>(x[g] + full[g], rest[g]), pinv));
  }
}

// x[0..n) <- softmax(scale·x[0..n)) = exp(scale (x - max x)) / Σ exp(scale (x - max x)).
// n >= 1, scale > 0.
inline void SoftmaxInPlace(Scalar* x, Index n, Scalar scale = Scalar(1)) {
  Scalar* const xs[1] = {x};
  const Index ns[1] = {n};
  SoftmaxInPlaceInterleaved<1>(xs, ns, scale);
}

// Returns Σ exp(x[i] - shift) over [0, n); when out is non-null also writes out[i] = exp(x[i] - shift).
inline Scalar ExpShiftSum(const Scalar* x, Index n, Scalar shift, Scalar* out) {
  namespace ei = Eigen::internal;
  using Packet = typename ei::packet_traits<Scalar>::type;
  constexpr Index kLanes = ei::packet_traits<Scalar>::size;
  const Packet pshift = ei::pset1<Packet>(shift);
  Packet psum = ei::pset1<Packet>(Scalar(0));
  namespace vm = vector_math_detail;
  const Index full = n / kLanes * kLanes, rest = n - full;
  for (Index i = 0; i < full; i += kLanes) {
    const Packet e = ei::pexp(ei::psub(ei::ploadu<Packet>(x + i), pshift));
    if (out != nullptr) ei::pstoreu(out + i, e);
    psum = ei::padd(psum, e);
  }
  Scalar sum = ei::predux(psum);
  if (rest > 0) {
    const Packet e = ei::pexp(ei::psub(vm::LoadTail<Packet>(x + full, rest), pshift));
    if (out != nullptr) vm::StoreTail(out + full, rest, e);
    sum = vm::AddLanesInOrder(sum, e, rest);
  }
  return sum;
}

}  // namespace sim
