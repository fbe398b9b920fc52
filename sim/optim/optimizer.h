// Optimizers over the registry's flat buffers, honouring each parameter's group settings
// (trainable, lr multiplier, weight-decay multiplier).
//
//   AdamW (Loshchilov & Hutter 2019, as torch.optim.AdamW):
//     p -= lr·wd·p;  m = β1 m + (1-β1) g;  v = β2 v + (1-β2) g²;
//     p -= (lr / (1-β1^t)) · m / (√v / √(1-β2^t) + eps)
//   SGD with momentum (as torch.optim.SGD, weight decay added to the gradient):
//     g += wd·p;  buf = μ buf + g;  p -= lr · buf
// Gradient clipping scales all trainable gradients by clip / (‖g‖ + 1e-6) when ‖g‖ > clip.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/params/param_registry.h"

namespace sim {

enum class OptimizerKind { kAdamW, kSgd };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::kAdamW;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double momentum = 0.9;
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, ParamRegistry& registry);

  // One update at learning rate lr (before per-group multipliers). Frozen parameters are untouched.
  void Step(double lr);
  int64_t steps() const { return t_; }

  // State for checkpoints: moments (total_size) and the step count.
  Vec& moment1() { return m_; }
  Vec& moment2() { return v_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  OptimizerConfig cfg_;
  ParamRegistry* registry_;
  Vec m_;  // (total_size) first moment, or the momentum buffer for SGD
  Vec v_;  // (total_size) second moment (AdamW)
  int64_t t_ = 0;
  // The update is element-wise: pieces of at most kChunk entries of one parameter each, updated in
  // parallel (the same bits with any thread count).
  struct Chunk {
    ParamId id;
    Index start;  // in the flat buffers
    Index size;
  };
  std::vector<Chunk> chunks_;
};

// Euclidean norm of the trainable parameters' gradients (accumulated in double, fixed order).
double GradNorm(const ParamRegistry& registry);
// Scales trainable gradients so their norm is at most max_norm; returns the norm before clipping.
double ClipGradNorm(ParamRegistry& registry, double max_norm);

}  // namespace sim
