// Layer normalization over the features of each column (Ba et al. 2016), eps = 1e-5 as in PyTorch.
//
//   x (D, n)   gamma (D)   beta (D)   y (D, n), n = N for the stream or S for gathered positions
//   y = gamma ⊙ x̂ + beta,  x̂ = (x - mean(x)) * rstd,  rstd = 1 / sqrt(var(x) + eps)
//
// Cache: x̂ (D, n) and rstd (1, n), all backward needs. Backward accumulates into d_x and the
// parameter gradients:
//   dgamma += rowsum(d_y ⊙ x̂), dbeta += rowsum(d_y),
//   d_x += rstd ⊙ (g - mean(g) - x̂ ⊙ mean(g ⊙ x̂)),  g = gamma ⊙ d_y   (column-wise means).
#pragma once

#include <string>

#include "sim/params/param_registry.h"

namespace sim {

struct LayerNormCache {
  Mat xhat;     // (D, n_max)
  RowVec rstd;  // (1, n_max)
  void Resize(int d_model, int n_max) {
    xhat.resize(d_model, n_max);
    rstd.resize(n_max);
  }
};

class LayerNorm {
 public:
  static constexpr double kEps = 1e-5;

  LayerNorm(int d_model, ParamRegistry& registry, const std::string& prefix);

  // Overwrites y (D, n); fills cache columns [0, n).
  void Forward(const ConstMatRef& x, LayerNormCache& cache, MatRef y) const;
  // Accumulates into d_x (D, n) and dgamma, dbeta.
  void Backward(const ConstMatRef& d_y, const LayerNormCache& cache, MatRef d_x) const;

  ParamId gamma() const { return gamma_; }
  ParamId beta() const { return beta_; }

 private:
  int d_model_;
  ParamRegistry* registry_;
  ParamId gamma_;
  ParamId beta_;
};

}  // namespace sim
