// Self-attention's per-(example, head) work for float AVX-512 builds: the forward and backward of
// one head, P = softmax_cols(Kᵀ Q · scale) (or linear attention's P(k, q) = (Kᵀ Q)(k, q) · scale /
// n_q over the visible keys) and O = V P (sim/layers/self_attention.h has the
// layer's equations; self_attention.cc has the plain reference these compute, and calls these
// instead when HasAttentionAvx512() and the build's Scalar is float).
//
// What differs from the reference, and why:
//   - Products run on the small-matrix kernel (sim/kernels/small_gemm.h), unpacked: at head
//     widths of 8-64 a packing GEMM's set-up costs as much as its arithmetic.
//   - Scores are kept transposed, Sᵀ (T_q, T_k): key k's scores for all queries are one
//     contiguous column, so the softmax over keys runs across 16 queries at once, one query per
//     lane, as plain vector operations down the keys. One column of S at a time, short columns
//     (T = 35 in the depth study) spent most of their time in horizontal max and sum reductions.
//     Per entry the softmax does the reference's operations (the same exp, the same 1 / sum);
//     each query's sum over keys runs in key order rather than lane-parallel, so P differs from
//     the reference in the last place. The stored probabilities are therefore Pᵀ blocks;
//     SelfAttention::AttentionProbs transposes them back for analyses. Linear attention's scaling
//     (and its backward, the same scaling) runs the same way, 16 queries per vector, with the
//     reference's operations per entry (one multiplication by scale / n_q, correctly rounded).
//   - Causal attention skips the products' masked part: query q sees keys 0..q, so query columns
//     [j0, j0 + w) need key rows [0, j0 + w) only, and key columns [j0, j0 + w) of d_V = d_O Pᵀ
//     and d_K = Q d_Sᵀ need queries from j0 on. What is skipped are masked scores (never read)
//     and products with P = 0 or d_S = 0 at the end or the start of an entry's FMA chain, which
//     leave the chain's value as it is: the same bits as the full products.
//
// Storage: Q, K, V, O and their gradients are (Dh, T) blocks of (D, B*T) matrices with column
// stride `ld` (= D); the probabilities and score gradients are contiguous (T_q, T_k) blocks.
#pragma once

namespace sim {

// True when this build has the kernels below (AVX-512); the functions are empty otherwise.
bool HasAttentionAvx512();

// One (example, head) block.
struct AttentionHead {
  long t = 0;       // T, queries = keys
  long d_head = 0;  // Dh
  long ld = 0;      // column stride of the (Dh, T) blocks: D
  float scale = 1;  // 1 / √Dh, applied to the scores inside the softmax
  bool causal = true;
  bool linear = false;  // linear attention: P(k, q) = scale · (Kᵀ Q)(k, q) / n_q, no softmax
  // When set, called on probs_t = Pᵀ (T_q, T_k) between the softmax and O = V P (an analysis's
  // edit of the probabilities, sim/layers/mixer.h AttentionEdit).
  void (*edit)(const void* context, float* probs_t) = nullptr;
  const void* edit_context = nullptr;
};

// Forward of one head: probs_t (T_q, T_k) = Pᵀ (masked entries 0; softmax or linear weights) and heads (Dh, T_q; stride
// ld) = V P, from q, k, v (Dh, T; stride ld). scratch: T·Dh floats (holds Qᵀ).
void AttendHeadAvx512(const AttentionHead& head, const float* q, const float* k, const float* v, float* probs_t,
                      float* scratch, float* heads);

// Backward of one head, from d_heads = d_O (Dh, T_q, stride ld) and the forward's probs_t = Pᵀ:
// overwrites d_q, d_k, d_v (Dh, T, stride ld) with K d_S, Q d_Sᵀ and d_O Pᵀ.
// d_scores_t: (T_q, T_k) scratch, ends holding d_Sᵀ. scratch: T·Dh floats (holds d_Oᵀ).
void AttendHeadBackwardAvx512(const AttentionHead& head, const float* q, const float* k, const float* v,
                              const float* probs_t, const float* d_heads, float* d_scores_t, float* scratch, float* d_q,
                              float* d_k, float* d_v);

}  // namespace sim
