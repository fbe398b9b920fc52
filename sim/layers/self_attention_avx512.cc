#include "sim/layers/self_attention_avx512.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include <Eigen/Core>
#include <algorithm>
#include <limits>

#include "sim/kernels/sgemm_avx512.h"
#include "sim/kernels/small_gemm.h"
#endif

namespace sim {

#if defined(__AVX512F__)

namespace {

constexpr long kLanes = 16;

// Each row q of st (T_q, T_k; column stride ld) becomes softmax over its visible entries of the
// scaled scores, p_k = exp(c (s_k - max s)) / Σ exp(c (s_j - max s)) with the sum in key order,
// and 0 elsewhere. Visible: every key, or when causal keys k <= q (entries past them may hold
// anything on entry).
void SoftmaxRowsAcross(float* st, long t_q, long t_k, long ld, float scale, bool causal) {
  const __m512 pscale = _mm512_set1_ps(scale);
  for (long q0 = 0; q0 < t_q; q0 += kLanes) {
    const long w = std::min<long>(kLanes, t_q - q0);
    // Lanes past the last query are never stored.
    const __mmask16 lanes = static_cast<__mmask16>((1u << w) - 1);
    // Lanes (queries q0 + l) that see key k; keys from `end` on are seen by none of them.
    const auto seen_by = [&](long k) -> __mmask16 {
      if (!causal || k <= q0) return lanes;
      return static_cast<__mmask16>(lanes & ~((1u << (k - q0)) - 1));
    };
    const long end = causal ? std::min(t_k, q0 + w) : t_k;
    float* base = st + q0;
    __m512 max = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (long k = 0; k < end; ++k) {
      const __mmask16 m = seen_by(k);
      max = _mm512_mask_max_ps(max, m, max, _mm512_maskz_loadu_ps(m, base + k * ld));
    }
    __m512 sum = _mm512_setzero_ps();
    for (long k = 0; k < end; ++k) {  // unseen entries become +0: the sums are unchanged by them
      const __mmask16 m = seen_by(k);
      const __m512 e = _mm512_maskz_mov_ps(
          m, Eigen::internal::pexp(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, base + k * ld), max), pscale)));
      _mm512_mask_storeu_ps(base + k * ld, lanes, e);
      sum = _mm512_add_ps(sum, e);
    }
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.f), sum);
    for (long k = 0; k < end; ++k)
      _mm512_mask_storeu_ps(base + k * ld, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, base + k * ld), inv));
    for (long k = end; k < t_k; ++k) _mm512_mask_storeu_ps(base + k * ld, lanes, _mm512_setzero_ps());
  }
}

// In place on dt (T_q, T_k), holding d_Pᵀ on entry, with pt = Pᵀ: row q of d_Sᵀ =
// scale p ⊙ (d_p - Σ_k p_k d_p,k), the sum in key order. Masked entries have p = 0 (and a finite
// d_p) and so get 0.
void SoftmaxRowsBackwardAcross(const float* pt, float* dt, long t_q, long t_k, long ld, float scale) {
  const __m512 pscale = _mm512_set1_ps(scale);
  for (long q0 = 0; q0 < t_q; q0 += kLanes) {
    const long w = std::min<long>(kLanes, t_q - q0);
    const __mmask16 lanes = static_cast<__mmask16>((1u << w) - 1);
    __m512 dot = _mm512_setzero_ps();
    for (long k = 0; k < t_k; ++k)
      dot = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(lanes, pt + q0 + k * ld),
                            _mm512_maskz_loadu_ps(lanes, dt + q0 + k * ld), dot);
    for (long k = 0; k < t_k; ++k) {
      const __m512 p = _mm512_maskz_loadu_ps(lanes, pt + q0 + k * ld),
                   d = _mm512_maskz_loadu_ps(lanes, dt + q0 + k * ld);
      _mm512_mask_storeu_ps(dt + q0 + k * ld, lanes, _mm512_mul_ps(_mm512_mul_ps(pscale, p), _mm512_sub_ps(d, dot)));
    }
  }
}

// Linear attention: each row q of st (T_q, T_k; column stride ld) becomes c_q times its visible
// entries, c_q = scale / n_q with n_q = q + 1 if causal else T_k, and 0 elsewhere (entries past the
// visible ones may hold anything on entry). The forward's weights from Kᵀ Q, and, being linear, the
// backward's d_(KᵀQ) from d_P: the same map. Per entry the reference's operations (c_q computed by
// one correctly rounded division, one multiplication): from the same scores, the reference's values.
void LinearRowsAcross(float* st, long t_q, long t_k, long ld, float scale, bool causal) {
  const __m512 pscale = _mm512_set1_ps(scale);
  const __m512 lane_index = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (long q0 = 0; q0 < t_q; q0 += kLanes) {
    const long w = std::min<long>(kLanes, t_q - q0);
    const __mmask16 lanes = static_cast<__mmask16>((1u << w) - 1);
    const auto seen_by = [&](long k) -> __mmask16 {
      if (!causal || k <= q0) return lanes;
      return static_cast<__mmask16>(lanes & ~((1u << (k - q0)) - 1));
    };
    // n_q per lane: q0 + l + 1 (causal, never more than T_k) or T_k
    const __m512 n = causal ? _mm512_min_ps(_mm512_add_ps(_mm512_set1_ps(static_cast<float>(q0 + 1)), lane_index),
                                            _mm512_set1_ps(static_cast<float>(t_k)))
                            : _mm512_set1_ps(static_cast<float>(t_k));
    const __m512 factor = _mm512_div_ps(pscale, n);
    const long end = causal ? std::min(t_k, q0 + w) : t_k;
    float* base = st + q0;
    for (long k = 0; k < end; ++k)  // unseen entries become +0
      _mm512_mask_storeu_ps(base + k * ld, lanes,
                            _mm512_mul_ps(_mm512_maskz_loadu_ps(seen_by(k), base + k * ld), factor));
    for (long k = end; k < t_k; ++k) _mm512_mask_storeu_ps(base + k * ld, lanes, _mm512_setzero_ps());
  }
}

// c (ldc) = a (m x k, lda) op(b) (ldb), all column-major, op(b) = b (k x n) or bᵀ with b (n x k).
inline void Small(bool trans_b, long m, long n, long k, const float* a, long lda, const float* b, long ldb, float* c,
                  long ldc) {
  SmallGemm(trans_b, m, n, k, a, lda, b, ldb, c, ldc, false);
}

// Causal attention's query blocks (see the header): products whose columns are queries take blocks
// of this many queries.
constexpr long kCausalBlock = 16;

// Products whose rows are queries (Sᵀ = Qᵀ K and d_Pᵀ = d_Oᵀ V) take query blocks of this many
// rows: the small kernel's wider row tiles (2 or 4 packets instead of 1) more than pay for the
// extra masked scores a block computes (never read: the softmax masks them).
constexpr long kQueryRowBlock = 32;

// fn(j0, w, seen) for each query block [j0, j0 + w) of T queries; the block sees keys [0, seen),
// seen = j0 + w.
template <typename Fn>
inline void ForEachQueryBlock(long t, const Fn& fn, long block = kCausalBlock) {
  for (long j0 = 0; j0 < t; j0 += block) {
    const long w = std::min<long>(block, t - j0);
    fn(j0, w, j0 + w);
  }
}

}  // namespace

bool HasAttentionAvx512() { return true; }

void AttendHeadAvx512(const AttentionHead& head, const float* q, const float* k, const float* v, float* probs_t,
                      float* scratch, float* heads) {
  const long t = head.t, dh = head.d_head, ld = head.ld;
  // Sᵀ = Qᵀ K as (Qᵀ, contiguous) K; softmax over each row; O = V P = V (Pᵀ)ᵀ.
  float* qt = scratch;  // Qᵀ (T_q, Dh)
  TransposeAvx512(dh, t, q, ld, qt, t);
  if (!head.causal) {
    Small(false, t, t, dh, qt, t, k, ld, probs_t, t);
    if (head.linear)
      LinearRowsAcross(probs_t, t, t, t, head.scale, false);
    else
      SoftmaxRowsAcross(probs_t, t, t, t, head.scale, false);
    if (head.edit != nullptr) head.edit(head.edit_context, probs_t);
    Small(true, dh, t, t, v, ld, probs_t, t, heads, ld);
    return;
  }
  ForEachQueryBlock(
      t,
      [&](long j0, long w, long seen) {  // rows [j0, j0 + w) of Sᵀ, keys [0, seen)
        Small(false, w, seen, dh, qt + j0, t, k, ld, probs_t + j0, t);
      },
      kQueryRowBlock);
  if (head.linear)
    LinearRowsAcross(probs_t, t, t, t, head.scale, true);
  else
    SoftmaxRowsAcross(probs_t, t, t, t, head.scale, true);
  if (head.edit != nullptr) head.edit(head.edit_context, probs_t);
  ForEachQueryBlock(t, [&](long j0, long w, long seen) {  // O(:, q) = V(:, 0..seen) P(0..seen, q)
    Small(true, dh, w, seen, v, ld, probs_t + j0, t, heads + j0 * ld, ld);
  });
}

void AttendHeadBackwardAvx512(const AttentionHead& head, const float* q, const float* k, const float* v,
                              const float* probs_t, const float* d_heads, float* d_scores_t, float* scratch, float* d_q,
                              float* d_k, float* d_v) {
  const long t = head.t, dh = head.d_head, ld = head.ld;
  const float* p = probs_t;  // Pᵀ (T_q, T_k)
  float* d_s = d_scores_t;   // d_Pᵀ, then d_Sᵀ (T_q, T_k)
  // d_Pᵀ = d_Oᵀ V as (d_Oᵀ, contiguous) V; d_V = d_O Pᵀ, a plain product with the stored Pᵀ
  float* d_ot = scratch;  // d_Oᵀ (T_q, Dh)
  TransposeAvx512(dh, t, d_heads, ld, d_ot, t);
  if (!head.causal) {
    Small(false, t, t, dh, d_ot, t, v, ld, d_s, t);
    Small(false, dh, t, t, d_heads, ld, p, t, d_v, ld);
    if (head.linear)
      LinearRowsAcross(d_s, t, t, t, head.scale, false);
    else
      SoftmaxRowsBackwardAcross(p, d_s, t, t, t, head.scale);
    // d_Q = K d_S = K (d_Sᵀ)ᵀ, d_K = Q d_Sᵀ
    Small(true, dh, t, t, k, ld, d_s, t, d_q, ld);
    Small(false, dh, t, t, q, ld, d_s, t, d_k, ld);
    return;
  }
  ForEachQueryBlock(
      t,
      [&](long j0, long w, long seen) {
        // d_Pᵀ(q, 0..seen) = d_O(:, q)ᵀ V; the keys past seen are masked (P = 0): zero, as the
        // softmax backward reads whole rows (linear attention's scaling zeroes masked entries itself).
        Small(false, w, seen, dh, d_ot + j0, t, v, ld, d_s + j0, t);
        for (long key = seen; key < t; ++key) std::fill_n(d_s + j0 + key * t, w, 0.f);
      },
      kQueryRowBlock);
  ForEachQueryBlock(t, [&](long j0, long w, long) {
    // d_V(:, k) = Σ_{q >= j0} d_O(:, q) P(k, q) for keys k in [j0, j0 + w): d_O (Pᵀ rows from j0)
    Small(false, dh, w, t - j0, d_heads + j0 * ld, ld, p + j0 + j0 * t, t, d_v + j0 * ld, ld);
  });
  if (head.linear)
    LinearRowsAcross(d_s, t, t, t, head.scale, true);
  else
    SoftmaxRowsBackwardAcross(p, d_s, t, t, t, head.scale);
  ForEachQueryBlock(t, [&](long j0, long w, long seen) {
    // d_Q(:, q) = K(:, 0..seen) d_S(0..seen, q); d_K(:, k) = Σ_{q >= j0} Q(:, q) d_S(k, q)
    Small(true, dh, w, seen, k, ld, d_s + j0, t, d_q + j0 * ld, ld);
    Small(false, dh, w, t - j0, q + j0 * ld, ld, d_s + j0 + j0 * t, t, d_k + j0 * ld, ld);
  });
}

#else  // no AVX-512 in this build: SelfAttention takes its reference path

bool HasAttentionAvx512() { return false; }

void AttendHeadAvx512(const AttentionHead&, const float*, const float*, const float*, float*, float*, float*) {}

void AttendHeadBackwardAvx512(const AttentionHead&, const float*, const float*, const float*, const float*,
                              const float*, float*, float*, float*, float*, float*) {}

#endif

}  // namespace sim
