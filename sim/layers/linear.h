// Affine map applied to every column: y = W x + b.
//
//   x (in, N)   W (out, in)   b (out)   y (out, N)
//
// Backward: dW += d_y xᵀ, db += rowsum(d_y), d_x += Wᵀ d_y. It accumulates into d_x (the caller
// zeroes it, or passes the residual stream's gradient so the branch adds to it) and into the
// parameter gradients. No cache: backward reads the forward input x.
#pragma once

#include <string>

#include "sim/kernels/gemm.h"
#include "sim/params/param_registry.h"

namespace sim {

struct LinearConfig {
  int in = 0;
  int out = 0;
  bool bias = true;
  double init_std = 0.0;  // weights N(0, init_std^2); biases zero
  bool decay = true;      // weight decay applies to W
};

class Linear {
 public:
  Linear(const LinearConfig& config, ParamRegistry& registry, const std::string& prefix,
         const std::string& weight_name = "w", const std::string& bias_name = "b");

  // y = W x + b, or y += W x + b when accumulate. `then`, if given, runs on each tile of y once the
  // tile is complete (an element-wise pass fused into the product, see TilePass).
  void Forward(const ConstMatRef& x, MatRef y, bool accumulate, const TilePass& then = TilePass()) const;
  // Accumulates dW and db; accumulates into d_x (or overwrites it when accumulate_dx is false), then
  // runs `then` on each complete tile of d_x.
  void Backward(const ConstMatRef& x, const ConstMatRef& d_y, MatRef d_x, bool accumulate_dx = true,
                const TilePass& then = TilePass()) const;
  // Accumulates dW and db only (the input needs no gradient).
  void BackwardParams(const ConstMatRef& x, const ConstMatRef& d_y) const;

  ParamId weight() const { return w_; }
  ParamId bias() const { return b_; }
  const LinearConfig& config() const { return cfg_; }

 private:
  LinearConfig cfg_;
  ParamRegistry* registry_;
  ParamId w_ = -1;
  ParamId b_ = -1;
};

}  // namespace sim
