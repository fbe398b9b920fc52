// LoRA adapters (Hu et al. 2021, arXiv 2106.09685) on any 2-D parameter chosen by name pattern.
//
// For each target weight W (out, in) — a parameter matched by lora.targets — two parameters are added
// to the registry, after the model's own:
//
//   lora.<target>.a   A (r, in)    A ~ N(0, lora.a_std²), default a_std = 1/√r (variance 1/r)
//   lora.<target>.b   B (out, r)   B = 0, so the adapted model starts as the base model
//
// and the model computes with the merged weight
//
//   W_eff = W0 + s·B·A,   s = α / r   (lora.alpha, default r: s = 1)
//
// where W0 is the base weight, kept here (captured after the random init and train.init_from). The
// registry's slot of W holds W_eff at all times: Merge() rewrites it after each optimizer step. So
// every layer, evaluation, analysis, snapshot and the saved /params see the merged weights with no
// change inside any layer, and the adapters are ordinary parameters for the optimizer, clipping,
// group rules and checkpoints.
//
// Backward: the layers leave dL/dW_eff in the slot's gradient (a frozen parameter's gradient is
// still computed), and AddAdapterGrads() turns it into the adapters' gradients:
//
//   dA += s·Bᵀ dW_eff   (r, in)        dB += s·dW_eff Aᵀ   (out, r)
//
// (dL/dW0 = dW_eff too, left in the slot; the base is frozen so nothing reads it.) Cost per step and
// target: three products of O(r·in·out), through Gemm (the same bits on any thread count).
//
// Groups: the targets' base weights are frozen (their training is the adapters'). When
// optim.trainable is not given, LoRA makes only the adapters and the readout head.* trainable
// (LoraDefaultTrainable); optim.trainable, when given, decides as without LoRA (list lora.* in it),
// and optim.freeze / lr_mult / decay_mult patterns apply to lora.* names as to any.
//
// Example:
//   [lora]
//   targets = blocks.*.attn.wq,blocks.*.attn.wv
//   rank = 4
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/params/param_registry.h"

namespace sim {

struct LoraConfig {
  std::vector<std::string> targets;  // glob patterns over parameter names; empty = LoRA off
  int rank = 4;                      // r
  double alpha = 4.0;                // α; s = α / r
  double a_std = 0.5;                // standard deviation of A's initial entries

  bool enabled() const { return !targets.empty(); }
  double scale() const { return alpha / rank; }
};

// lora.targets, lora.rank, lora.alpha, lora.a_std; all omitted from the resolved config at their
// defaults, so runs without LoRA keep their config text and hash.
void DeclareLoraOptions(OptionSet& set);
// Problems go to `options` (naming the key); alpha and a_std follow the rank when left at auto.
LoraConfig ReadLoraConfig(Options& options);

class LoraAdapters {
 public:
  // Registers the adapters of every 2-D parameter matched by config.targets (in registration order;
  // a parameter matched by several patterns once). Before registry.Finalize(). Throws ConfigError
  // naming lora.targets when a pattern matches no 2-D parameter (or an adapter), and lora.rank when
  // r > min(in, out) for a target.
  LoraAdapters(const LoraConfig& config, ParamRegistry& registry);

  // After the parameters hold their initial values (init, then train.init_from): copies each target's
  // weight as W0 and freezes it. The registry then holds W0 in the slot, which equals W_eff while
  // B = 0.
  void CaptureBase();

  // Every target's slot = W0 + s·B·A (the registry's current A, B).
  void Merge();

  // Adds dA = s·Bᵀ dW and dB = s·dW Aᵀ to the adapters' gradients in registry.grads(), dW being the
  // target slot's gradient there (after a backward pass; BatchGradients::Compute leaves it so).
  void AddAdapterGrads();

  struct Target {
    ParamId weight = -1;  // the adapted parameter: W (out, in)
    ParamId a = -1;       // A (r, in)
    ParamId b = -1;       // B (out, r)
    Mat base;             // (out, in) W0
    Mat scaled_a;         // (r, in) s·A, scratch
    Mat scaled_b;         // (out, r) s·B, scratch
  };
  const std::vector<Target>& targets() const { return targets_; }
  // W0 of target k (out, in): tests perturb it to check dL/dW0.
  Mat& base(int k) { return targets_[k].base; }
  const LoraConfig& config() const { return cfg_; }

 private:
  LoraConfig cfg_;
  ParamRegistry* registry_;
  std::vector<Target> targets_;
  bool captured_ = false;
};

// The optim.trainable patterns LoRA implies when none are given: the adapters and the readout.
std::vector<std::string> LoraDefaultTrainable(const ParamRegistry& registry);

// `patterns` of train.init_params (empty = every parameter) as the exact names of the matching
// parameters that are not adapters: adapters always start fresh, since a LoRA source run's /params
// hold weights with its adapters already merged in.
std::vector<std::string> ParamsWithoutAdapters(const ParamRegistry& registry, const std::vector<std::string>& patterns);

}  // namespace sim
