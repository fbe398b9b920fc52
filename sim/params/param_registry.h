// Named parameters over flat buffers.
//
// Every trainable tensor has a dotted name ("blocks.0.attn.wq") and a shape (rows, cols); vectors
// are (n, 1). Values, gradients and optimizer moments live in flat, contiguous buffers, so an
// optimizer step, a gradient norm or a checkpoint is one pass over memory, and freezing, learning-
// rate multipliers and weight decay are selected by glob patterns over names (never by special
// cases in layers).
//
// Life cycle: layers call Add() while the model is built; Finalize() allocates the buffers; then
// Value(id)/Grad(id) return Eigen maps into them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "sim/core/types.h"

namespace sim {

using ParamId = int;

// How a parameter is initialized (applied by the model, from its own random stream).
enum class InitKind {
  kZeros,
  kOnes,
  kNormal,  // N(0, std^2)
};

struct ParamSpec {
  std::string name;
  Index rows = 0;
  Index cols = 1;
  InitKind init = InitKind::kZeros;
  double init_std = 0.0;
  bool decay = false;  // weight decay applies by default (matrices, not biases or gains)
};

// Per-parameter optimization settings, resolved from group rules.
struct ParamGroupSettings {
  bool trainable = true;
  double lr_mult = 1.0;
  double decay_mult = 1.0;  // multiplies the optimizer's weight decay; 0 for biases and gains
};

class ParamRegistry;

// Where a thread's gradients go while a ParamRegistry::ScopedGradBuffer is alive.
struct GradRedirect {
  const ParamRegistry* registry = nullptr;
  Scalar* buffer = nullptr;  // (total_size)
};

class ParamRegistry {
 public:
  // While alive, Grad() on the thread that made it (and only there) points into `buffer`, a flat
  // (total_size) gradient buffer, instead of grads(): parts of a batch computed concurrently (see
  // sim/train/batch_gradients.h) each accumulate into their own buffer. Scopes do not nest.
  class ScopedGradBuffer {
   public:
    ScopedGradBuffer(const ParamRegistry& registry, Scalar* buffer);
    ~ScopedGradBuffer();
    ScopedGradBuffer(const ScopedGradBuffer&) = delete;
    ScopedGradBuffer& operator=(const ScopedGradBuffer&) = delete;
  };

  // Registers a parameter; names must be unique. Only before Finalize().
  ParamId Add(ParamSpec spec);
  // Allocates values (NaN-free zeros), gradients and returns.
  void Finalize();
  bool finalized() const { return finalized_; }

  int size() const { return static_cast<int>(specs_.size()); }
  const ParamSpec& spec(ParamId id) const { return specs_[id]; }
  const std::string& name(ParamId id) const { return specs_[id].name; }
  // -1 when absent.
  ParamId Find(std::string_view name) const;
  // Ids whose names match the glob pattern, in registration order.
  std::vector<ParamId> Match(std::string_view pattern) const;

  Index offset(ParamId id) const { return offsets_[id]; }
  Index numel(ParamId id) const { return specs_[id].rows * specs_[id].cols; }
  Index total_size() const { return total_; }

  MatMap Value(ParamId id) { return MatMap(values_.data() + offsets_[id], specs_[id].rows, specs_[id].cols); }
  Eigen::Map<const Mat> Value(ParamId id) const {
    return Eigen::Map<const Mat>(values_.data() + offsets_[id], specs_[id].rows, specs_[id].cols);
  }
  // The gradient that layers accumulate into: in grads(), or in the calling thread's buffer while a
  // ScopedGradBuffer of this registry is alive on it.
  MatMap Grad(ParamId id) {
    Scalar* base = grad_redirect.registry == this ? grad_redirect.buffer : grads_.data();
    return MatMap(base + offsets_[id], specs_[id].rows, specs_[id].cols);
  }

  // The flat buffers: (total_size, 1).
  Vec& values() { return values_; }
  const Vec& values() const { return values_; }
  Vec& grads() { return grads_; }
  const Vec& grads() const { return grads_; }

  // All gradients to zero (blocks of the flat buffer in parallel).
  void ZeroGrads();

  // Group settings per parameter (defaults: trainable, multipliers 1, decay by spec).
  ParamGroupSettings& group(ParamId id) { return groups_[id]; }
  const ParamGroupSettings& group(ParamId id) const { return groups_[id]; }
  Index trainable_size() const;

 private:
  std::vector<ParamSpec> specs_;
  std::vector<Index> offsets_;
  std::vector<ParamGroupSettings> groups_;
  Index total_ = 0;
  bool finalized_ = false;
  Vec values_;  // (total_size)
  Vec grads_;   // (total_size)

  // The calling thread's ScopedGradBuffer, if any.
  static inline thread_local GradRedirect grad_redirect;
};

// Rules that set group settings by name: "freeze", "trainable only", "lr multiplier", "decay mult".
// Applied in order, so later rules win. Each rule's pattern must match at least one parameter,
// otherwise ConfigError names the option and the pattern.
struct ParamGroupRules {
  std::vector<std::string> freeze;                         // optim.freeze
  std::vector<std::string> trainable;                      // optim.trainable (empty = all)
  std::vector<std::pair<std::string, double>> lr_mult;     // optim.lr_mult
  std::vector<std::pair<std::string, double>> decay_mult;  // optim.decay_mult
  // optim.lr_ratio = λ (Yao et al. 2025, ../specs/finetune.md §4.1): the value parameters' learning
  // rate is λ times the base (η_V = λ·η_QK), on top of lr_mult. With value_and_1d (the released
  // optimizer) every other 1-D parameter (biases, norm gains) except the query's and key's gets λ
  // too, with weight decay 0.
  double lr_ratio = 1.0;
  bool lr_ratio_value_and_1d = false;  // optim.lr_ratio_scope

  void Apply(ParamRegistry& registry) const;
};

// The attention projection a parameter belongs to: 'q', 'k', 'v' or 'o' for blocks.<l>.attn.w<x>
// and b<x> and for LoRA adapters on them (lora.blocks.<l>.attn.w<x>.a / .b), else 0.
char AttentionProjection(std::string_view name);
// Whether `name` is a value-projection parameter of attention (its weight, its bias, or a LoRA
// adapter on the weight): what optim.lr_ratio scales.
bool IsValueParam(std::string_view name);
// Whether `name` belongs to the query or key projection (weight, bias or adapter).
bool IsQueryOrKeyParam(std::string_view name);

}  // namespace sim
