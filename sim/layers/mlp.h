// Position-wise MLP: y = W2 act(W1 x + b1) + b2.
//
//   x (D, N)   W1 (F, D)   b1 (F)   h (F, N) pre-activation   a = act(h) (F, N)   W2 (D, F)   y (D, N)
//
// act is GELU (exact, erf form, as torch.nn.GELU()), GELU with the tanh approximation, or ReLU.
// Cache: h and a. Backward accumulates into d_x and the parameter gradients:
//   dW2 += d_y aᵀ, d_a = W2ᵀ d_y, d_h = d_a ⊙ act'(h), dW1 += d_h xᵀ, d_x += W1ᵀ d_h.
#pragma once

#include <string>

#include "sim/layers/linear.h"

namespace sim {

enum class Activation { kGelu, kGeluTanh, kRelu };

struct MlpConfig {
  int d_model = 0;
  int d_hidden = 0;  // F
  Activation act = Activation::kGelu;
  bool bias = true;
  double init_std_in = 0.0;   // W1
  double init_std_out = 0.0;  // W2
};

struct MlpCache {
  Mat h;    // (F, N) pre-activation
  Mat a;    // (F, N) activation
  Mat d_h;  // (F, N) backward scratch
  void Resize(int d_hidden, int n) {
    h.resize(d_hidden, n);
    a.resize(d_hidden, n);
    d_h.resize(d_hidden, n);
  }
};

class Mlp {
 public:
  Mlp(const MlpConfig& config, ParamRegistry& registry, const std::string& prefix);

  // y = MLP(x), or y += MLP(x) when accumulate.
  void Forward(const ConstMatRef& x, MlpCache& cache, MatRef y, bool accumulate) const;
  // Accumulates into d_x and the parameter gradients.
  void Backward(const ConstMatRef& x, const ConstMatRef& d_y, MlpCache& cache, MatRef d_x) const;

  const MlpConfig& config() const { return cfg_; }

 private:
  MlpConfig cfg_;
  Linear fc1_;
  Linear fc2_;
};

}  // namespace sim
