// Scalar and matrix types shared by the whole engine, and the legend of shape symbols.
//
// The same sources are compiled twice (see CMakeLists.txt): with SIM_SCALAR=float for training and
// with SIM_SCALAR=double for finite-difference gradient checks.
//
// Shape symbols, used in every shape comment, rows x cols as in Eigen:
//   B batch, T sequence length, N = B*T tokens in a batch, D d_model, H heads, Dh = D/H,
//   F MLP width, V vocabulary, C readout classes, S scored positions in a batch, L layers,
//   Din input-vector width (vector tasks).
// Activations are (D, N), column b*T + t is token t of example b.
// Weights are (out, in): y = W x + b. Attention probabilities are (T_k, T_q) per (b, h).
#pragma once

#include <Eigen/Core>
#include <cstdint>

#ifndef SIM_SCALAR
#define SIM_SCALAR float
#endif

namespace sim {

using Scalar = SIM_SCALAR;
using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
using RowVec = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;
using MatRef = Eigen::Ref<Mat>;
using ConstMatRef = Eigen::Ref<const Mat>;
using VecRef = Eigen::Ref<Vec>;
using ConstVecRef = Eigen::Ref<const Vec>;
using MatMap = Eigen::Map<Mat>;
using VecMap = Eigen::Map<Vec>;
using Index = Eigen::Index;

// The float pointer of a Scalar buffer, for calling the float AVX-512 kernels. Only reached in float
// builds (callers test std::is_same_v<Scalar, float>); in the double build it lets that code compile.
inline float* AsFloat(Scalar* p) { return reinterpret_cast<float*>(p); }
inline const float* AsFloat(const Scalar* p) { return reinterpret_cast<const float*>(p); }

// The batch shape a forward/backward pass works on.
struct BatchShape {
  int batch = 0;                                 // B
  int length = 0;                                // T
  int tokens() const { return batch * length; }  // N = B*T
};

}  // namespace sim
