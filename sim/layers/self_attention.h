// Multi-head self-attention, causal or bidirectional, with softmax (Vaswani et al. 2017) or linear
// weights (model.attention; AttentionKind in sim/layers/mixer.h).
//
// For each example b and head h, with column blocks of the batch and row blocks of the heads:
//   Q = Wq x + bq, K = Wk x + bk, V = Wv x + bv                        (D, N) each
//   S_bh = Kᵀ_bh Q_bh / √Dh                 (T_k, T_q) scores
//   P_bh = softmax:  softmax_cols(S_bh), a distribution over the keys each query column sees;
//          linear:   S_bh(k, q) / n_q over the keys query q sees (n_q = q + 1 causal, T
//                    bidirectional): weights, not probabilities (von Oswald et al. 2023);
//          causal: P(k, q) = 0 for k > q
//   O_bh = g_h · V_bh P_bh                  (Dh, T_q), g_h the head gate (1 unless a hook sets it)
//   y = Wo O + bo                           (D, N)
// Weights Wq, Wk, Wv, Wo are (D, D), named <prefix>.wq ... <prefix>.wo; biases <prefix>.bq ...
//
// Cache: Q, K, V, P, the ungated head outputs and the gate, which is all backward reads; P is what
// analyses read (attention maps, sinks). Backward accumulates into d_x and the parameter gradients:
//   d_O = Wo^T d_y (gated), d_V_bh = d_O_bh P_bhᵀ, d_P = V_bhᵀ d_O_bh,
//   softmax: d_S = P ⊙ (d_P - 1 colsum(P ⊙ d_P)),   linear: d_S(k, q) = d_P(k, q) / n_q (visible k),
//   d_(KᵀQ) = d_S / √Dh, d_Q_bh = K_bh d_(KᵀQ), d_K_bh = Q_bh d_(KᵀQ)ᵀ,
//   d_x += Wqᵀ d_Q + Wkᵀ d_K + Wvᵀ d_V.
// (b, h) blocks are independent, so they run in parallel with the same bits for any thread count.
#pragma once

#include <string>
#include <vector>

#include "sim/layers/linear.h"
#include "sim/layers/mixer.h"

namespace sim {

struct SelfAttentionConfig {
  int d_model = 0;
  int n_heads = 1;
  bool causal = true;
  bool bias = true;
  double init_std = 0.0;                              // Wq, Wk, Wv
  double init_std_out = 0.0;                          // Wo
  AttentionKind attention = AttentionKind::kSoftmax;  // softmax or linear weights (model.attention)
  // What is wrong ("" when nothing is): d_model must be a positive multiple of n_heads.
  std::string Problem() const;
  // Throws ConfigError("model.heads: " + Problem()) when something is.
  void Validate() const;
};

struct SelfAttentionCache : MixerCache {
  BatchShape shape;
  Mat q, k, v;                    // (D, N)
  Mat probs;                      // (T, T*B*H), block b*H + h is P (T_k, T_q), or Pᵀ (T_q, T_k) when probs_transposed
  bool probs_transposed = false;  // float AVX-512 builds (see self_attention.cc)
  mutable Mat probs_view;         // (T, T*B*H) blocks (T_k, T_q): AttentionProbs of transposed probs
  Mat heads;                      // (D, N) head outputs before the gate, head h in rows h*Dh..
  Mat gated;                      // (D, N) gated head outputs, the input of Wo (only with a gate)
  Vec gate;                       // (H) gate of the last forward
  Scalar* d_gate_out = nullptr;   // (H) where Backward adds dL/dg (MixerHooks::d_head_gate), or null
  bool edited = false;            // the last forward's probabilities were edited (no Backward then)
  bool use_gate = false;
  Mat d_heads;                  // (D, N) backward scratch
  Mat d_q, d_k, d_v;            // (D, N) backward scratch
  std::vector<Mat> d_scores;    // (T, T) per thread, backward scratch
  std::vector<Mat> transposed;  // (T, Dh) per thread: Kᵀ or Vᵀ of one head for the small kernel
  size_t bytes() const override;
};

class SelfAttention : public Mixer {
 public:
  SelfAttention(const SelfAttentionConfig& config, ParamRegistry& registry, const std::string& prefix);

  std::unique_ptr<MixerCache> MakeCache(BatchShape shape) const override;
  void Forward(const ConstMatRef& x, BatchShape bt, const MixerHooks& hooks, MixerCache& cache, MatRef y,
               bool accumulate) const override;
  void Backward(const ConstMatRef& x, const ConstMatRef& d_y, BatchShape bt, MixerCache& cache,
                MatRef d_x) const override;

  int n_heads() const override { return cfg_.n_heads; }
  const Mat* AttentionProbs(const MixerCache& cache) const override;
  const SelfAttentionConfig& config() const { return cfg_; }

 private:
  SelfAttentionConfig cfg_;
  int d_head_;
  Linear wq_, wk_, wv_, wo_;
};

// The mixer registry's entry for attention (name "attention", parameters blocks.<l>.attn.*; reads
// model.attention).
MixerEntry AttentionMixerEntry();

}  // namespace sim
