#include "sim/layers/self_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "sim/core/check.h"
#include "sim/kernels/gemm.h"
#include "sim/kernels/sgemm_avx512.h"
#include "sim/kernels/small_gemm.h"
#include "sim/kernels/vector_math.h"

namespace sim {

namespace {

// Columns of scores handled together by the softmax and its backward: their dependency chains
// overlap, and each column's operations, and so its bits, are those of one column alone.
constexpr int kSoftmaxGroup = 4;

// Each column q of s (T_k, T_q) becomes softmax over rows [0, n_q) of the scaled scores, n_q = q+1
// if causal else T_k, and zero below:  p_k = exp(c (s_k - max s)) / Σ exp(c (s_j - max s)).
// kSoftmaxGroup columns at a time through SoftmaxInPlaceInterleaved.
void SoftmaxColumns(MatRef s, Scalar scale, bool causal) {
  constexpr int kGroup = kSoftmaxGroup;
  const Index t_k = s.rows(), t_q = s.cols();
  const auto visible = [&](Index q) { return causal ? std::min<Index>(q + 1, t_k) : t_k; };
  Index q = 0;
  for (; q + kGroup <= t_q; q += kGroup) {
    Scalar* cols[kGroup];
    Index n[kGroup];
    for (int g = 0; g < kGroup; ++g) {
      cols[g] = s.col(q + g).data();
      n[g] = visible(q + g);
    }
    SoftmaxInPlaceInterleaved<kGroup>(cols, n, scale);
  }
  for (; q < t_q; ++q) SoftmaxInPlace(s.col(q).data(), visible(q), scale);
  if (causal)
    for (q = 0; q < t_q; ++q)
      if (visible(q) < t_k) s.col(q).tail(t_k - visible(q)).setZero();
}

// Attention in float AVX-512 builds (causal and full) keeps each (example, head) block of scores
// transposed, Sᵀ (T_q, T_k): key k's scores for all queries are one contiguous column, and the softmax
// over keys runs across 16 queries at once, one query per lane, as plain vector operations down the
// keys. One column of S at a time, a short column (T = 35 in the depth study) spent most of its time
// in horizontal max and sum reductions and their latency. Every product keeps its FMA chains (the
// same operands in the same order, only A and B swapped; causal blocks skip the same masked ends), and
// per entry the softmax does the same operations (the same exp, the same 1 / sum); what differs is
// that each query's sum over keys runs in key order rather than the column path's lane-parallel
// order, so P differs in the last place. Double and non-AVX-512 builds keep the column layout.
#if defined(__AVX512F__)
constexpr bool kTransposedScores = std::is_same_v<Scalar, float>;
constexpr Index kLanes = 16;

// Each row q of st (T_q, T_k; column stride ld) becomes softmax over its visible entries of the
// scaled scores, p_k = exp(c (s_k - max s)) / Σ exp(c (s_j - max s)) with the sum in key order, and 0
// elsewhere. Visible: every key, or when causal keys k <= q (entries past them may hold anything).
void SoftmaxRowsAcross(float* st, Index t_q, Index t_k, Index ld, float scale, bool causal) {
  const __m512 pscale = _mm512_set1_ps(scale);
  for (Index q0 = 0; q0 < t_q; q0 += kLanes) {
    const Index w = std::min<Index>(kLanes, t_q - q0);
    const __mmask16 lanes = static_cast<__mmask16>((1u << w) - 1);  // lanes past the last query: never stored
    // Lanes (queries q0 + l) that see key k; keys from `end` on are seen by none of them.
    const auto seen_by = [&](Index k) -> __mmask16 {
      if (!causal || k <= q0) return lanes;
      return static_cast<__mmask16>(lanes & ~((1u << (k - q0)) - 1));
    };
    const Index end = causal ? std::min(t_k, q0 + w) : t_k;
    float* base = st + q0;
    __m512 max = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    for (Index k = 0; k < end; ++k) {
      const __mmask16 m = seen_by(k);
      max = _mm512_mask_max_ps(max, m, max, _mm512_maskz_loadu_ps(m, base + k * ld));
    }
    __m512 sum = _mm512_setzero_ps();
    for (Index k = 0; k < end; ++k) {  // unseen entries become +0: the sums are unchanged by them
      const __mmask16 m = seen_by(k);
      const __m512 e = _mm512_maskz_mov_ps(
          m, Eigen::internal::pexp(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, base + k * ld), max), pscale)));
      _mm512_mask_storeu_ps(base + k * ld, lanes, e);
      sum = _mm512_add_ps(sum, e);
    }
    const __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.f), sum);
    for (Index k = 0; k < end; ++k)
      _mm512_mask_storeu_ps(base + k * ld, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, base + k * ld), inv));
    for (Index k = end; k < t_k; ++k) _mm512_mask_storeu_ps(base + k * ld, lanes, _mm512_setzero_ps());
  }
}

// In place on dt (T_q, T_k), holding d_Pᵀ on entry, with pt = Pᵀ: row q of d_Sᵀ = scale p ⊙ (d_p - Σ_k p_k
// d_p,k), the sum in key order. Masked entries have p = 0 (and a finite d_p) and so get 0.
void SoftmaxRowsBackwardAcross(const float* pt, float* dt, Index t_q, Index t_k, Index ld, float scale) {
  const __m512 pscale = _mm512_set1_ps(scale);
  for (Index q0 = 0; q0 < t_q; q0 += kLanes) {
    const Index w = std::min<Index>(kLanes, t_q - q0);
    const __mmask16 lanes = static_cast<__mmask16>((1u << w) - 1);
    __m512 dot = _mm512_setzero_ps();
    for (Index k = 0; k < t_k; ++k)
      dot = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(lanes, pt + q0 + k * ld), _mm512_maskz_loadu_ps(lanes, dt + q0 + k * ld), dot);
    for (Index k = 0; k < t_k; ++k) {
      const __m512 p = _mm512_maskz_loadu_ps(lanes, pt + q0 + k * ld), d = _mm512_maskz_loadu_ps(lanes, dt + q0 + k * ld);
      _mm512_mask_storeu_ps(dt + q0 + k * ld, lanes, _mm512_mul_ps(_mm512_mul_ps(pscale, p), _mm512_sub_ps(d, dot)));
    }
  }
}
#else
constexpr bool kTransposedScores = false;
void SoftmaxRowsAcross(float*, Index, Index, Index, float, bool) {}
void SoftmaxRowsBackwardAcross(const float*, float*, Index, Index, Index, float) {}
#endif

// C = op(A) op(B) for one (example, head) block. Small blocks go through Eigen's product expression,
// which has less per-call overhead (its packing buffers then fit the stack: no heap allocation);
// larger ones through GemmSerial (per-thread packing buffers).
constexpr Index kStackFloats = 16384;  // 64 KiB of floats, well under EIGEN_STACK_ALLOCATION_LIMIT

// Every thread's packing buffers fit the per-head products of T x T scores and Dh x T blocks.
void ReserveBlockProducts(Index t, Index dh) {
  if (t * t <= kStackFloats && t * dh <= kStackFloats) return;  // all on Eigen's stack path
  ReservePacking(t, t, dh);
  ReservePacking(dh, t, t);
}

template <typename A, typename B, typename C>
void BlockProduct(const A& a, Op op_a, const B& b, Op op_b, C&& c) {
  const Index k = op_a == Op::kN ? a.cols() : a.rows();
  if (c.rows() * k <= kStackFloats && c.cols() * k <= kStackFloats) {
    if (op_a == Op::kN && op_b == Op::kN)
      c.noalias() = a * b;
    else if (op_a == Op::kT && op_b == Op::kN)
      c.noalias() = a.transpose() * b;
    else if (op_a == Op::kN && op_b == Op::kT)
      c.noalias() = a * b.transpose();
    else
      c.noalias() = a.transpose() * b.transpose();
  } else {
    GemmSerial(a, op_a, b, op_b, c, false);
  }
}

// In place on d (T_k, T_q), holding d_P on entry: d_S = P ⊙ (d_P - colsum(P ⊙ d_P)), times scale.
// Masked entries have P = 0 and so get d_S = 0.
// kSoftmaxGroup columns at a time: their dot products first, then their updates.
void SoftmaxColumnsBackward(const ConstMatRef& p, MatRef d, Scalar scale) {
  constexpr int kGroup = kSoftmaxGroup;
  const Index t_q = p.cols();
  const auto update = [&](Index q, Scalar dot) {
    d.col(q).array() = scale * p.col(q).array() * (d.col(q).array() - dot);
  };
  Index q = 0;
  for (; q + kGroup <= t_q; q += kGroup) {
    Scalar dot[kGroup];
    for (int g = 0; g < kGroup; ++g) dot[g] = p.col(q + g).dot(d.col(q + g));
    for (int g = 0; g < kGroup; ++g) update(q + g, dot[g]);
  }
  for (; q < t_q; ++q) update(q, p.col(q).dot(d.col(q)));
}

// The small-matrix kernel serves the per-head products when this build has it (float, AVX-512).
bool UseSmallKernel() {
  if constexpr (std::is_same_v<Scalar, float>) return HasSmallGemm();
  return false;
}

// c (ldc) = a (m x k, lda) op(b) (ldb), all column-major, op(b) = b (k x n) or bᵀ with b (n x k);
// float builds with AVX-512 only (the casts only let the double build compile).
inline void Small(bool trans_b, Index m, Index n, Index k, const Scalar* a, Index lda, const Scalar* b, Index ldb,
                  Scalar* c, Index ldc) {
  SmallGemm(trans_b, m, n, k, AsFloat(a), lda, AsFloat(b), ldb, AsFloat(c), ldc, false);
}

// Causal attention skips the products' masked part: query q sees keys 0..q, so query columns
// [j0, j0 + w) need key rows [0, j0 + w) only (scores, their gradient, and the depth of V P and
// K d_S), and key columns [j0, j0 + w) of d_V = d_O Pᵀ and d_K = Q d_Sᵀ need queries from j0 on. What
// is skipped are masked scores (never read) and products with P = 0 or d_S = 0 at the end or the start
// of an entry's FMA chain, which leave the chain's value as it is: the same bits as the full products.
constexpr Index kCausalBlock = 16;

// fn(j0, w, seen) for each query block [j0, j0 + w) of T queries; seen = j0 + w keys are visible to it.
template <typename Fn>
inline void ForEachQueryBlock(Index t, const Fn& fn, Index block = kCausalBlock) {
  for (Index j0 = 0; j0 < t; j0 += block) {
    const Index w = std::min<Index>(block, t - j0);
    fn(j0, w, j0 + w);
  }
}

// With transposed scores, the products whose rows are queries (Sᵀ = Qᵀ K and d_Pᵀ = d_Oᵀ V) take
// query blocks of this many rows: the small kernel's wider row tiles (2 or 4 packets instead of 1)
// more than pay for the extra masked scores a block computes (never read: the softmax masks them).
constexpr Index kQueryRowBlock = 32;

// dst (cols x rows, column stride cols: contiguous) = srcᵀ for a (rows x cols) block with column
// stride ld. On the small kernel's path (float, AVX-512) by 16 x 16 blocks through the registers
// (sim/kernels/sgemm_avx512.h); a copy either way, the same values.
inline void TransposeInto(const Scalar* src, Index ld, Index rows, Index cols, Scalar* dst) {
  if constexpr (std::is_same_v<Scalar, float>) {
    if (UseSmallKernel()) {
      TransposeAvx512(rows, cols, AsFloat(src), ld, AsFloat(dst), cols);
      return;
    }
  }
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) dst[j + i * cols] = src[i + j * ld];
}

}  // namespace

std::string SelfAttentionConfig::Problem() const {
  if (d_model <= 0 || n_heads <= 0 || d_model % n_heads != 0)
    return Concat(n_heads, " heads must divide model.d_model=", d_model,
                  " (head width d_model/heads must be a whole number)");
  return "";
}

void SelfAttentionConfig::Validate() const {
  const std::string problem = Problem();
  if (!problem.empty()) throw ConfigError("model.heads: " + problem);
}

SelfAttention::SelfAttention(const SelfAttentionConfig& config, ParamRegistry& registry,
                             const std::string& prefix)
    : cfg_((config.Validate(), config)),
      d_head_(config.d_model / config.n_heads),
      wq_({config.d_model, config.d_model, config.bias, config.init_std, true}, registry, prefix, "wq", "bq"),
      wk_({config.d_model, config.d_model, config.bias, config.init_std, true}, registry, prefix, "wk", "bk"),
      wv_({config.d_model, config.d_model, config.bias, config.init_std, true}, registry, prefix, "wv", "bv"),
      wo_({config.d_model, config.d_model, config.bias, config.init_std_out, true}, registry, prefix, "wo", "bo") {}

std::unique_ptr<MixerCache> SelfAttention::MakeCache(BatchShape shape) const {
  auto cache = std::make_unique<SelfAttentionCache>();
  const int d = cfg_.d_model, n = shape.tokens(), t = shape.length;
  cache->shape = shape;
  cache->q.resize(d, n);
  cache->k.resize(d, n);
  cache->v.resize(d, n);
  cache->probs.resize(t, static_cast<Index>(t) * shape.batch * cfg_.n_heads);
  cache->heads.resize(d, n);
  cache->gated.resize(d, n);
  cache->gate = Vec::Ones(cfg_.n_heads);
  cache->d_heads.resize(d, n);
  cache->d_q.resize(d, n);
  cache->d_k.resize(d, n);
  cache->d_v.resize(d, n);
  cache->d_scores.assign(std::max(1, NumThreads()), Mat(t, t));
  cache->transposed.assign(std::max(1, NumThreads()), Mat(t, d_head_));
  return cache;
}

size_t SelfAttentionCache::bytes() const {
  size_t n = q.size() + k.size() + v.size() + probs.size() + probs_view.size() + heads.size() + gated.size() + gate.size() +
             d_heads.size() + d_q.size() + d_k.size() + d_v.size();
  for (const Mat& m : d_scores) n += m.size();
  for (const Mat& m : transposed) n += m.size();
  return n * sizeof(Scalar);
}

const Mat* SelfAttention::AttentionProbs(const MixerCache& cache) const {
  const auto& c = static_cast<const SelfAttentionCache&>(cache);
  if (!c.probs_transposed) return &c.probs;
  // Blocks of Pᵀ (T_q, T_k) back to P (T_k, T_q), on demand (analysis only, never in a training step).
  const Index t = c.probs.rows();
  c.probs_view.resize(c.probs.rows(), c.probs.cols());
  for (Index block = 0; block < c.probs.cols() / t; ++block)
    c.probs_view.middleCols(block * t, t) = c.probs.middleCols(block * t, t).transpose();
  return &c.probs_view;
}

void SelfAttention::Forward(const ConstMatRef& x, BatchShape bt, const MixerHooks& hooks,
                            MixerCache& cache_base, MatRef y, bool accumulate) const {
  auto& c = static_cast<SelfAttentionCache&>(cache_base);
  const int d = cfg_.d_model, n_heads = cfg_.n_heads, dh = d_head_, t = bt.length;
  SIM_CHECK_SHAPE("SelfAttention::Forward", x, "D", d, "B*T", bt.tokens());
  SIM_CHECK_SHAPE("SelfAttention::Forward", y, "D", d, "B*T", bt.tokens());
  SIM_CHECK(c.shape.batch == bt.batch && c.shape.length == bt.length,
            "SelfAttention::Forward: cache is for (B=", c.shape.batch, ", T=", c.shape.length,
            "), batch is (B=", bt.batch, ", T=", bt.length, ")");
  wq_.Forward(x, c.q, false);
  wk_.Forward(x, c.k, false);
  wv_.Forward(x, c.v, false);
  c.use_gate = hooks.head_gate != nullptr;
  if (c.use_gate) c.gate = Eigen::Map<const Vec>(hooks.head_gate, n_heads);
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(dh));
  ReserveBlockProducts(t, dh);
  const bool small = UseSmallKernel();
  c.probs_transposed = small && kTransposedScores;
  ParallelFor(bt.batch * n_heads, [&](int i) {
    const int b = i / n_heads, h = i % n_heads;
    auto p = c.probs.middleCols(static_cast<Index>(i) * t, t);  // (T_k, T_q), or (T_q, T_k) when probs_transposed
    const Index offset = static_cast<Index>(b) * t * d + h * dh;  // block (h, b) of a (D, N) matrix
    if (small) {
      if (c.probs_transposed) {
        // Sᵀ = Qᵀ K as (Qᵀ, contiguous) K; softmax over each row; O = V P = V (Pᵀ)ᵀ.
        Scalar* qt = c.transposed[ThreadIndex()].data();  // (T_q, Dh)
        TransposeInto(c.q.data() + offset, d, dh, t, qt);
        if (!cfg_.causal) {
          Small(false, t, t, dh, qt, t, c.k.data() + offset, d, p.data(), t);
          SoftmaxRowsAcross(AsFloat(p.data()), t, t, t, static_cast<float>(scale), false);
          Small(true, dh, t, t, c.v.data() + offset, d, p.data(), t, c.heads.data() + offset, d);
          return;
        }
        ForEachQueryBlock(t, [&](Index j0, Index w, Index seen) {  // rows [j0, j0 + w) of Sᵀ, keys [0, seen)
          Small(false, w, seen, dh, qt + j0, t, c.k.data() + offset, d, p.data() + j0, t);
        }, kQueryRowBlock);
        SoftmaxRowsAcross(AsFloat(p.data()), t, t, t, static_cast<float>(scale), true);
        ForEachQueryBlock(t, [&](Index j0, Index w, Index seen) {  // O(:, q) = V(:, 0..seen) P(0..seen, q)
          Small(true, dh, w, seen, c.v.data() + offset, d, p.data() + j0, t, c.heads.data() + offset + j0 * d, d);
        });
        return;
      }
      // S = Kᵀ Q as (Kᵀ, contiguous) Q; O = V P.
      Scalar* kt = c.transposed[ThreadIndex()].data();  // (T_k, Dh)
      TransposeInto(c.k.data() + offset, d, dh, t, kt);
      if (!cfg_.causal) {
        Small(false, t, t, dh, kt, t, c.q.data() + offset, d, p.data(), t);
        SoftmaxColumns(p, scale, false);
        Small(false, dh, t, t, c.v.data() + offset, d, p.data(), t, c.heads.data() + offset, d);
        return;
      }
      ForEachQueryBlock(t, [&](Index j0, Index w, Index seen) {  // scores of keys [0, seen)
        Small(false, seen, w, dh, kt, t, c.q.data() + offset + j0 * d, d, p.data() + j0 * t, t);
      });
      SoftmaxColumns(p, scale, true);
      ForEachQueryBlock(t, [&](Index j0, Index w, Index seen) {  // O(:, q) = V(:, 0..seen) P(0..seen, q)
        Small(false, dh, w, seen, c.v.data() + offset, d, p.data() + j0 * t, t, c.heads.data() + offset + j0 * d, d);
      });
      return;
    }
    // S = Kᵀ Q / √Dh, then P = softmax over keys per query column.
    BlockProduct(c.k.block(h * dh, b * t, dh, t), Op::kT, c.q.block(h * dh, b * t, dh, t), Op::kN, p);
    SoftmaxColumns(p, scale, cfg_.causal);
    // O = V P
    BlockProduct(c.v.block(h * dh, b * t, dh, t), Op::kN, p, Op::kN, c.heads.block(h * dh, b * t, dh, t));
  });
  if (c.use_gate) {
    for (int h = 0; h < n_heads; ++h)
      c.gated.middleRows(h * dh, dh) = c.gate(h) * c.heads.middleRows(h * dh, dh);
  }
  wo_.Forward(c.use_gate ? c.gated : c.heads, y, accumulate);
}

void SelfAttention::Backward(const ConstMatRef& x, const ConstMatRef& d_y, BatchShape bt,
                             MixerCache& cache_base, MatRef d_x) const {
  auto& c = static_cast<SelfAttentionCache&>(cache_base);
  const int d = cfg_.d_model, n_heads = cfg_.n_heads, dh = d_head_, t = bt.length;
  SIM_CHECK_SHAPE("SelfAttention::Backward", d_y, "D", d, "B*T", bt.tokens());
  SIM_CHECK_SHAPE("SelfAttention::Backward", d_x, "D", d, "B*T", bt.tokens());
  SIM_CHECK(static_cast<int>(c.d_scores.size()) >= NumThreads(),
            "SelfAttention::Backward: cache made for ", c.d_scores.size(), " threads, running ",
            NumThreads(), "; make caches after setting the thread count");
  // y = Wo O + bo  =>  dWo += d_y Oᵀ, dbo += rowsum(d_y), d_O = Woᵀ d_y
  wo_.Backward(c.use_gate ? c.gated : c.heads, d_y, c.d_heads, /*accumulate_dx=*/false);
  // O = g ⊙ heads  =>  d_heads = g ⊙ d_O
  if (c.use_gate)
    for (int h = 0; h < n_heads; ++h) c.d_heads.middleRows(h * dh, dh) *= c.gate(h);
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(dh));
  ReserveBlockProducts(t, dh);
  const bool small = UseSmallKernel();
  ParallelFor(bt.batch * n_heads, [&](int i) {
    const int b = i / n_heads, h = i % n_heads;
    Mat& d_s = c.d_scores[ThreadIndex()];                       // (T_k, T_q)
    const auto p = c.probs.middleCols(static_cast<Index>(i) * t, t);   // (T_k, T_q)
    const auto d_o = c.d_heads.block(h * dh, b * t, dh, t);            // (Dh, T_q)
    if (small) {
      const Index offset = static_cast<Index>(b) * t * d + h * dh;
      if (c.probs_transposed) {  // p holds Pᵀ (T_q, T_k); d_s becomes d_Sᵀ
        // d_Pᵀ = d_Oᵀ V as (d_Oᵀ, contiguous) V; d_V = d_O Pᵀ, a plain product with the stored Pᵀ
        Scalar* d_ot = c.transposed[ThreadIndex()].data();  // d_Oᵀ (T_q, Dh)
        TransposeInto(c.d_heads.data() + offset, d, dh, t, d_ot);
        if (!cfg_.causal) {
          Small(false, t, t, dh, d_ot, t, c.v.data() + offset, d, d_s.data(), t);
          Small(false, dh, t, t, c.d_heads.data() + offset, d, p.data(), t, c.d_v.data() + offset, d);
          SoftmaxRowsBackwardAcross(AsFloat(p.data()), AsFloat(d_s.data()), t, t, t, static_cast<float>(scale));
          // d_Q = K d_S = K (d_Sᵀ)ᵀ, d_K = Q d_Sᵀ
          Small(true, dh, t, t, c.k.data() + offset, d, d_s.data(), t, c.d_q.data() + offset, d);
          Small(false, dh, t, t, c.q.data() + offset, d, d_s.data(), t, c.d_k.data() + offset, d);
          return;
        }
        ForEachQueryBlock(t, [&](Index j0, Index w, Index seen) {
          // d_Pᵀ(q, 0..seen) = d_O(:, q)ᵀ V; the keys past seen are masked (P = 0): zero, as the softmax
          // backward reads whole rows.
          Small(false, w, seen, dh, d_ot + j0, t, c.v.data() + offset, d, d_s.data() + j0, t);
          d_s.block(j0, seen, w, t - seen).setZero();
        }, kQueryRowBlock);
        ForEachQueryBlock(t, [&](Index j0, Index w, Index) {
          // d_V(:, k) = Σ_{q >= j0} d_O(:, q) P(k, q) for keys k in [j0, j0 + w): d_O (Pᵀ rows from j0)
          Small(false, dh, w, t - j0, c.d_heads.data() + offset + j0 * d, d, p.data() + j0 + j0 * t, t,
                c.d_v.data() + offset + j0 * d, d);
        });
        SoftmaxRowsBackwardAcross(AsFloat(p.data()), AsFloat(d_s.data()), t, t, t, static_cast<float>(scale));
        ForEachQueryBlock(t, [&](Index j0, Index w, Index seen) {
          // d_Q(:, q) = K(:, 0..seen) d_S(0..seen, q); d_K(:, k) = Σ_{q >= j0} Q(:, q) d_S(k, q)
          Small(true, dh, w, seen, c.k.data() + offset, d, d_s.data() + j0, t, c.d_q.data() + offset + j0 * d, d);
          Small(false, dh, w, t - j0, c.q.data() + offset + j0 * d, d, d_s.data() + j0 + j0 * t, t,
                c.d_k.data() + offset + j0 * d, d);
        });
        return;
      }
      Scalar* vt = c.transposed[ThreadIndex()].data();  // Vᵀ (T, Dh)
      // d_P = Vᵀ d_O, d_V = d_O Pᵀ
      TransposeInto(c.v.data() + offset, d, dh, t, vt);
      if (!cfg_.causal) {
        Small(false, t, t, dh, vt, t, c.d_heads.data() + offset, d, d_s.data(), t);
        Small(true, dh, t, t, c.d_heads.data() + offset, d, p.data(), t, c.d_v.data() + offset, d);
        SoftmaxColumnsBackward(p, d_s, scale);
        // d_Q = K d_S, d_K = Q d_Sᵀ
        Small(false, dh, t, t, c.k.data() + offset, d, d_s.data(), t, c.d_q.data() + offset, d);
        Small(true, dh, t, t, c.q.data() + offset, d, d_s.data(), t, c.d_k.data() + offset, d);
        return;
      }
      ForEachQueryBlock(t, [&](Index j0, Index w, Index seen) {
        // d_P(0..seen, q) = Vᵀ d_O(:, q); the rows below are masked (P = 0): zero, as the softmax
        // backward reads whole columns.
        Small(false, seen, w, dh, vt, t, c.d_heads.data() + offset + j0 * d, d, d_s.data() + j0 * t, t);
        d_s.block(seen, j0, t - seen, w).setZero();
        // d_V(:, k) = Σ_{q >= j0} d_O(:, q) P(k, q) for keys k in [j0, j0 + w)
        Small(true, dh, w, t - j0, c.d_heads.data() + offset + j0 * d, d, p.data() + j0 + j0 * t, t,
              c.d_v.data() + offset + j0 * d, d);
      });
      SoftmaxColumnsBackward(p, d_s, scale);
      ForEachQueryBlock(t, [&](Index j0, Index w, Index seen) {
        // d_Q(:, q) = K(:, 0..seen) d_S(0..seen, q); d_K(:, k) = Σ_{q >= j0} Q(:, q) d_S(k, q)
        Small(false, dh, w, seen, c.k.data() + offset, d, d_s.data() + j0 * t, t, c.d_q.data() + offset + j0 * d, d);
        Small(true, dh, w, t - j0, c.q.data() + offset + j0 * d, d, d_s.data() + j0 + j0 * t, t,
              c.d_k.data() + offset + j0 * d, d);
      });
      return;
    }
    // heads = V P  =>  d_V = d_O Pᵀ, d_P = Vᵀ d_O
    BlockProduct(d_o, Op::kN, p, Op::kT, c.d_v.block(h * dh, b * t, dh, t));
    BlockProduct(c.v.block(h * dh, b * t, dh, t), Op::kT, d_o, Op::kN, d_s);
    // P = softmax(S)  =>  d_S = P ⊙ (d_P - colsum(P ⊙ d_P)); S = Kᵀ Q / √Dh
    SoftmaxColumnsBackward(p, d_s, scale);
    // => d_Q = K d_S, d_K = Q d_Sᵀ
    BlockProduct(c.k.block(h * dh, b * t, dh, t), Op::kN, d_s, Op::kN, c.d_q.block(h * dh, b * t, dh, t));
    BlockProduct(c.q.block(h * dh, b * t, dh, t), Op::kN, d_s, Op::kT, c.d_k.block(h * dh, b * t, dh, t));
  });
  // Q = Wq x + bq etc.  =>  d_x += Wqᵀ d_Q + Wkᵀ d_K + Wvᵀ d_V
  wq_.Backward(x, c.d_q, d_x);
  wk_.Backward(x, c.d_k, d_x);
  wv_.Backward(x, c.d_v, d_x);
}

// ---- The registry's entry (sim/layers/mixer_registry.cc) ----------------------------------------

namespace {

SelfAttentionConfig AttentionConfig(const MixerArgs& args) {
  SelfAttentionConfig c;
  c.d_model = args.d_model;
  c.n_heads = args.n_heads;
  c.causal = args.causal;
  c.bias = args.bias;
  c.init_std = args.init_std;
  c.init_std_out = args.init_std_out;
  return c;
}

}  // namespace

MixerEntry AttentionMixerEntry() {
  MixerEntry e;
  e.name = "attention";
  e.param_name = "attn";
  e.summary = "multi-head softmax attention (Vaswani et al. 2017), causal per model.causal";
  e.has_heads = true;
  e.hooks = {MixerHook::kHeadGate, MixerHook::kAttentionProbs};
  e.problem = [](const MixerArgs& args) { return AttentionConfig(args).Problem(); };
  e.causal = [](const MixerArgs& args) { return args.causal; };
  // Wq, Wk, Wv, Wo: 4·D² multiply-adds per token, 6x for training; the two T x T products per
  // (example, head), S = Kᵀ Q and O = V P, 2·T·Dh multiply-adds each per token and head (2·T·D over
  // the heads), 2 FLOPs each, 3x for training: 12·T·D.
  e.flops_per_token = [](const MixerArgs& args, int length) {
    const double d = args.d_model;
    return 6.0 * 4.0 * d * d + 12.0 * length * d;
  };
  e.make = [](const MixerArgs& args, ParamRegistry& registry, const std::string& prefix) -> std::unique_ptr<Mixer> {
    return std::make_unique<SelfAttention>(AttentionConfig(args), registry, prefix);
  };
  return e;
}

}  // namespace sim
