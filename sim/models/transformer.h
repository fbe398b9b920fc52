// The transformer: input embedding (tokens) or projection (vectors) plus positions, L blocks
// [norm] -> mixer -> residual -> [norm] -> MLP -> residual, then, at the scored positions only,
// a final norm and a linear readout to C class logits or one scalar.
//
//   stream[0] = embed(input) + pos                                   (D, N)
//   mid_l     = stream[l] + mixer_l(norm1_l(stream[l]))              (D, N)
//   stream[l+1] = mid_l + mlp_l(norm2_l(mid_l))                      (D, N)   (= mid_l without MLP)
//   outputs   = W_head norm_f(stream[L][:, scored]) + b_head         (C, S)
//
// Parameters: embed.tok (D, V) | embed.in.w (D, Din), embed.in.b; embed.pos (D, T);
// blocks.<l>.norm1.{gamma,beta}, blocks.<l>.<mixer>.* (attention: blocks.<l>.attn.{wq,bq,wk,bk,wv,bv,wo,bo};
// sim/layers/mixer.h), blocks.<l>.norm2.*,
// blocks.<l>.mlp.{w1,b1,w2,b2}; norm_f.{gamma,beta}; head.w (C, D), head.b (C).
//
// A Workspace holds every activation and cache for one batch shape, allocated once; Forward and
// Backward allocate nothing. Backward starts from ws.d_outputs (written by the loss) and accumulates
// into the registry's gradients.
#pragma once

#include <memory>
#include <vector>

#include "sim/layers/embedding.h"
#include "sim/layers/layer_norm.h"
#include "sim/layers/linear.h"
#include "sim/layers/mixer.h"
#include "sim/layers/mlp.h"
#include "sim/models/model_config.h"
#include "sim/params/param_registry.h"

namespace sim {

// Hooks for analyses, passed into Forward. Absent (null) costs nothing.
// Each is per layer; an entry of size 0 (or a null edit) leaves that layer alone. They combine with
// model.head_mask: the gate a head sees is the hook's gate times the mask's.
struct ForwardHooks {
  const std::vector<Vec>* head_gates = nullptr;  // (H_l): 1 = on, 0 = ablated
  // (H_l): Backward adds dL/dg_h, the gradient of the loss with respect to each head's gate (at the
  // gates given, or at 1), times the mask's gate: 0 for masked heads. For head importance scores.
  std::vector<Vec>* head_gate_grads = nullptr;
  // Edits of the attention probabilities (inference only: Backward refuses an edited Forward).
  const std::vector<const AttentionEdit*>* edits = nullptr;
};

struct BlockCache {
  LayerNormCache ln1, ln2;
  Mat ln1_out;  // (D, N) mixer input (pre-LN only)
  Mat ln2_out;  // (D, N) MLP input (pre-LN only)
  Mat mid;      // (D, N) stream after the mixer (only with an MLP)
  std::unique_ptr<MixerCache> mixer;
  MlpCache mlp;
};

struct Workspace {
  BatchShape shape;
  int max_scored = 0;              // S_max
  int n_scored = 0;                // S of the last Forward
  std::vector<Mat> stream;         // L+1 of (D, N)
  std::vector<BlockCache> blocks;  // L
  Mat gathered;                    // (D, S_max) stream[L] at the scored positions
  LayerNormCache ln_f;
  Mat ln_f_out;                      // (D, S_max)
  Mat outputs;                       // (C, S_max) logits or (1, S_max) predictions
  Mat d_outputs;                     // (C, S_max) loss gradient, written by the loss
  Mat d_readout;                     // (D, S_max)
  Mat d_gathered;                    // (D, S_max)
  Mat d_stream;                      // (D, N)
  Mat d_branch;                      // (D, N) gradient at a normalized branch input
  std::vector<Vec> gates;            // L of (H_l): a hook's gate times the mask's, when both apply
  std::vector<Vec> gate_grads;       // L of (H_l): dL/dg before the mask's factor (with a mask)
  std::vector<Vec*> gate_grads_out;  // L: where Backward adds mask ⊙ gate_grads, or null

  // Memory held by every activation, cache and scratch buffer.
  size_t bytes() const;

  // The outputs of the last Forward: (C, S).
  Eigen::Block<const Mat, Eigen::Dynamic, Eigen::Dynamic, true> Outputs() const { return outputs.leftCols(n_scored); }
};

class Transformer {
 public:
  Transformer(const ModelConfig& config, ParamRegistry& registry);

  const ModelConfig& config() const { return cfg_; }
  // A workspace for batches of `shape` with at most `max_scored` scored positions. Make it after
  // setting the thread count.
  std::unique_ptr<Workspace> MakeWorkspace(BatchShape shape, int max_scored) const;

  void Forward(const Batch& batch, Workspace& ws, const ForwardHooks* hooks = nullptr) const;
  // Accumulates parameter gradients from ws.d_outputs (first n_scored columns).
  void Backward(const Batch& batch, Workspace& ws) const;

  // Attention probabilities of layer l from the last Forward: (T, T*B*H_l), block b*H + h is
  // (T_k, T_q); null when the layer's mixer has none.
  const Mat* AttentionProbs(const Workspace& ws, int layer) const;
  int n_layers() const { return cfg_.layers; }

 private:
  struct Block {
    std::unique_ptr<LayerNorm> norm1, norm2;
    std::unique_ptr<Mixer> mixer;
    const MixerEntry* mixer_entry = nullptr;  // its registry entry (hooks it supports), looked up once
    std::unique_ptr<Mlp> mlp;
  };

  // Layer l's mixer hooks: the hooks' gates combined with model.head_mask, gate gradients, edits.
  MixerHooks LayerHooks(int l, const ForwardHooks* hooks, Workspace& ws) const;

  ModelConfig cfg_;
  ParamRegistry* registry_;
  std::unique_ptr<TokenEmbedding> tok_;
  std::unique_ptr<Linear> in_proj_;
  std::unique_ptr<PositionalEncoding> pos_;
  std::vector<Block> blocks_;
  std::vector<Vec> mask_gates_;  // L of (H_l) from model.head_mask, (0) for a layer without a mask
  std::unique_ptr<LayerNorm> norm_f_;
  std::unique_ptr<Linear> head_;
};

// Model FLOPs of one training step (forward and backward), counted the standard way (Kaplan et al.
// 2020; docs/benchmarks.md): 6 x (multiply-adds of every weight matrix per token it is applied to)
// + each layer's mixer's count (MixerEntry::flops_per_token; attention adds its two T x T products
// per (example, head), 4·T²·Dh FLOPs forward and twice that backward). Embedding lookups, norms,
// softmax and the optimizer are not counted.
double TrainingFlopsPerStep(const ModelConfig& config, BatchShape shape, int n_scored);

// Draws every parameter's initial value from `rng`, in registration order.
void InitializeParams(ParamRegistry& registry, Rng& rng);

}  // namespace sim
