// SelfAttention (sim/layers/self_attention.h has the equations and shapes). This file is the
// reference computation, in the order of the equations: Q/K/V projections on the whole (D, B*T)
// block, then per (example, head) the scores, the column softmax (or linear attention's 1/n
// scaling) with its causal mask and P V, then the gate and the output projection; backward mirrors
// it. In float AVX-512 builds the per-head part runs on the kernels of
// sim/layers/self_attention_avx512.h instead: the same computation on other kernels (so not the same
// bits), with P kept transposed (AttentionProbs hands analyses P).
#include "sim/layers/self_attention.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "sim/core/check.h"
#include "sim/kernels/gemm.h"
#include "sim/kernels/parallel.h"
#include "sim/kernels/vector_math.h"
#include "sim/layers/self_attention_avx512.h"

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

// Linear attention (AttentionKind::kLinear): each column q of s (T_k, T_q), holding Kᵀ Q on entry,
// becomes the weights over rows [0, n_q), n_q = q+1 if causal else T_k, and zero below:
//   a_k = (scale / n_q) s_k.
// The weights are linear in Kᵀ Q, so the same map is their backward: on d (T_k, T_q) holding d_A,
// it leaves d_(KᵀQ) = (scale / n_q) d_A over the visible rows and 0 on the masked ones.
void LinearWeightsColumns(MatRef s, Scalar scale, bool causal) {
  const Index t_k = s.rows(), t_q = s.cols();
  for (Index q = 0; q < t_q; ++q) {
    const Index n = causal ? std::min<Index>(q + 1, t_k) : t_k;
    const Scalar factor = scale / static_cast<Scalar>(n);
    s.col(q).head(n) *= factor;
    s.col(q).tail(t_k - n).setZero();
  }
}

// C = op(A) op(B) for one (example, head) block. Small blocks go through Eigen's product
// expression, which has less per-call overhead (its packing buffers then fit the stack: no heap
// allocation); larger ones through GemmSerial (per-thread packing buffers).
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

// Whether the per-head work runs on the AVX-512 kernels: float builds that have them. The calls
// below pass Scalar pointers through AsFloat, which only lets the double build compile: there this
// is false and the kernels are never called.
// An AttentionEdit applied to one block of the AVX-512 path, which holds Pᵀ (T_q, T_k): the
// probability of key k for query q at q + k·T.
struct EditCall {
  const AttentionEdit* edit;
  int example, head;
  Index t;
  bool causal;
  static void OnTransposed(const void* context, float* probs_t) {
    const auto& call = *static_cast<const EditCall*>(context);
    if constexpr (std::is_same_v<Scalar, float>)
      call.edit->Apply(call.example, call.head, reinterpret_cast<Scalar*>(probs_t), call.t, 1, call.t, call.causal);
  }
};

bool UseAttentionAvx512() {
  if constexpr (std::is_same_v<Scalar, float>) return HasAttentionAvx512();
  return false;
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

SelfAttention::SelfAttention(const SelfAttentionConfig& config, ParamRegistry& registry, const std::string& prefix)
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
  size_t n = q.size() + k.size() + v.size() + probs.size() + probs_view.size() + heads.size() + gated.size() +
             gate.size() + d_heads.size() + d_q.size() + d_k.size() + d_v.size();
  for (const Mat& m : d_scores) n += m.size();
  for (const Mat& m : transposed) n += m.size();
  return n * sizeof(Scalar);
}

const Mat* SelfAttention::AttentionProbs(const MixerCache& cache) const {
  const auto& c = static_cast<const SelfAttentionCache&>(cache);
  if (!c.probs_transposed) return &c.probs;
  // The AVX-512 kernels store blocks of Pᵀ (T_q, T_k): back to P (T_k, T_q), on demand (analysis
  // only, never in a training step).
  const Index t = c.probs.rows();
  c.probs_view.resize(c.probs.rows(), c.probs.cols());
  for (Index block = 0; block < c.probs.cols() / t; ++block)
    c.probs_view.middleCols(block * t, t) = c.probs.middleCols(block * t, t).transpose();
  return &c.probs_view;
}

void SelfAttention::Forward(const ConstMatRef& x, BatchShape bt, const MixerHooks& hooks, MixerCache& cache_base,
                            MatRef y, bool accumulate) const {
  auto& c = static_cast<SelfAttentionCache&>(cache_base);
  const int d = cfg_.d_model, n_heads = cfg_.n_heads, dh = d_head_, t = bt.length;
  SIM_CHECK_SHAPE("SelfAttention::Forward", x, "D", d, "B*T", bt.tokens());
  SIM_CHECK_SHAPE("SelfAttention::Forward", y, "D", d, "B*T", bt.tokens());
  SIM_CHECK(c.shape.batch == bt.batch && c.shape.length == bt.length,
            "SelfAttention::Forward: cache is for (B=", c.shape.batch, ", T=", c.shape.length,
            "), batch is (B=", bt.batch, ", T=", bt.length, ")");
  // Q = Wq x + bq, K = Wk x + bk, V = Wv x + bv   (D, B*T) each
  wq_.Forward(x, c.q, false);
  wk_.Forward(x, c.k, false);
  wv_.Forward(x, c.v, false);
  c.use_gate = hooks.head_gate != nullptr;
  if (c.use_gate) c.gate = Eigen::Map<const Vec>(hooks.head_gate, n_heads);
  c.d_gate_out = hooks.d_head_gate;
  c.edited = hooks.edit != nullptr;
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(dh));
  const bool linear = cfg_.attention == AttentionKind::kLinear;
  const bool avx512 = UseAttentionAvx512();
  c.probs_transposed = avx512;
  if (!avx512) ReserveBlockProducts(t, dh);
  ParallelFor(bt.batch * n_heads, [&](int i) {  // (b, h) blocks: rows h*Dh.., columns b*T..
    const int b = i / n_heads, h = i % n_heads;
    // (T_k, T_q), or (T_q, T_k) when probs_transposed
    auto p = c.probs.middleCols(static_cast<Index>(i) * t, t);
    if (!avx512) {
      const auto q = c.q.block(h * dh, b * t, dh, t), k = c.k.block(h * dh, b * t, dh, t),
                 v = c.v.block(h * dh, b * t, dh, t);  // (Dh, T) each
      // S = Kᵀ Q (T_k, T_q), then P = softmax over keys per query column of S / √Dh, or linear
      // attention's weights S / (√Dh n_q)
      BlockProduct(k, Op::kT, q, Op::kN, p);
      if (linear)
        LinearWeightsColumns(p, scale, cfg_.causal);
      else
        SoftmaxColumns(p, scale, cfg_.causal);
      if (hooks.edit != nullptr && hooks.edit->Edits(h)) hooks.edit->Apply(b, h, p.data(), 1, t, t, cfg_.causal);
      // heads = V P   (Dh, T_q)
      BlockProduct(v, Op::kN, p, Op::kN, c.heads.block(h * dh, b * t, dh, t));
    } else {                                                        // the same on the AVX-512 kernels; p receives Pᵀ
      const Index offset = static_cast<Index>(b) * t * d + h * dh;  // block (h, b) of a (D, N)
      AttentionHead head{t, dh, d, static_cast<float>(scale), cfg_.causal, linear};
      const EditCall call{hooks.edit, b, h, t, cfg_.causal};
      if (hooks.edit != nullptr && hooks.edit->Edits(h)) {
        head.edit = &EditCall::OnTransposed;
        head.edit_context = &call;
      }
      AttendHeadAvx512(head, AsFloat(c.q.data() + offset), AsFloat(c.k.data() + offset), AsFloat(c.v.data() + offset),
                       AsFloat(p.data()), AsFloat(c.transposed[ThreadIndex()].data()),
                       AsFloat(c.heads.data() + offset));
    }
  });
  // O = g_h · heads per head
  if (c.use_gate) {
    for (int h = 0; h < n_heads; ++h) c.gated.middleRows(h * dh, dh) = c.gate(h) * c.heads.middleRows(h * dh, dh);
  }
  // y = Wo O + bo
  wo_.Forward(c.use_gate ? c.gated : c.heads, y, accumulate);
}

void SelfAttention::Backward(const ConstMatRef& x, const ConstMatRef& d_y, BatchShape bt, MixerCache& cache_base,
                             MatRef d_x) const {
  auto& c = static_cast<SelfAttentionCache&>(cache_base);
  const int d = cfg_.d_model, n_heads = cfg_.n_heads, dh = d_head_, t = bt.length;
  SIM_CHECK_SHAPE("SelfAttention::Backward", d_y, "D", d, "B*T", bt.tokens());
  SIM_CHECK_SHAPE("SelfAttention::Backward", d_x, "D", d, "B*T", bt.tokens());
  SIM_CHECK(static_cast<int>(c.d_scores.size()) >= NumThreads(), "SelfAttention::Backward: cache made for ",
            c.d_scores.size(), " threads, running ", NumThreads(), "; make caches after setting the thread count");
  SIM_CHECK(!c.edited, "SelfAttention::Backward: the forward's attention probabilities were edited ",
            "(MixerHooks::edit is for inference and analysis only)");
  // y = Wo O + bo  =>  dWo += d_y Oᵀ, dbo += rowsum(d_y), d_O = Woᵀ d_y
  wo_.Backward(c.use_gate ? c.gated : c.heads, d_y, c.d_heads, /*accumulate_dx=*/false);
  // O = g ⊙ heads  =>  dL/dg_h += <heads_h, d_O_h> (summed over the head's rows and every token)
  if (c.d_gate_out != nullptr)
    for (int h = 0; h < n_heads; ++h)
      c.d_gate_out[h] += (c.heads.middleRows(h * dh, dh).array() * c.d_heads.middleRows(h * dh, dh).array()).sum();
  // O = g ⊙ heads  =>  d_heads = g ⊙ d_O
  if (c.use_gate)
    for (int h = 0; h < n_heads; ++h) c.d_heads.middleRows(h * dh, dh) *= c.gate(h);
  const Scalar scale = Scalar(1) / std::sqrt(static_cast<Scalar>(dh));
  const bool linear = cfg_.attention == AttentionKind::kLinear;
  const bool avx512 = c.probs_transposed;  // the path the forward took
  if (!avx512) ReserveBlockProducts(t, dh);
  ParallelFor(bt.batch * n_heads, [&](int i) {
    const int b = i / n_heads, h = i % n_heads;
    Mat& d_s = c.d_scores[ThreadIndex()];                             // (T_k, T_q)
    const auto p = c.probs.middleCols(static_cast<Index>(i) * t, t);  // (T_k, T_q)
    if (!avx512) {
      const auto q = c.q.block(h * dh, b * t, dh, t), k = c.k.block(h * dh, b * t, dh, t),
                 v = c.v.block(h * dh, b * t, dh, t);          // (Dh, T) each
      const auto d_o = c.d_heads.block(h * dh, b * t, dh, t);  // (Dh, T_q)
      // heads = V P  =>  d_V = d_O Pᵀ, d_P = Vᵀ d_O
      BlockProduct(d_o, Op::kN, p, Op::kT, c.d_v.block(h * dh, b * t, dh, t));
      BlockProduct(v, Op::kT, d_o, Op::kN, d_s);
      // P = softmax(S / √Dh) per column  =>  d_S = P ⊙ (d_P - colsum(P ⊙ d_P)) / √Dh;
      // linear: P = S / (√Dh n_q) over the visible keys  =>  d_S = d_P / (√Dh n_q) there, 0 elsewhere
      if (linear)
        LinearWeightsColumns(d_s, scale, cfg_.causal);
      else
        SoftmaxColumnsBackward(p, d_s, scale);
      // S = Kᵀ Q  =>  d_Q = K d_S, d_K = Q d_Sᵀ
      BlockProduct(k, Op::kN, d_s, Op::kN, c.d_q.block(h * dh, b * t, dh, t));
      BlockProduct(q, Op::kN, d_s, Op::kT, c.d_k.block(h * dh, b * t, dh, t));
    } else {  // the same on the AVX-512 kernels; p holds Pᵀ and d_s becomes d_Sᵀ
      const Index offset = static_cast<Index>(b) * t * d + h * dh;
      AttendHeadBackwardAvx512({t, dh, d, static_cast<float>(scale), cfg_.causal, linear}, AsFloat(c.q.data() + offset),
                               AsFloat(c.k.data() + offset), AsFloat(c.v.data() + offset), AsFloat(p.data()),
                               AsFloat(c.d_heads.data() + offset), AsFloat(d_s.data()),
                               AsFloat(c.transposed[ThreadIndex()].data()), AsFloat(c.d_q.data() + offset),
                               AsFloat(c.d_k.data() + offset), AsFloat(c.d_v.data() + offset));
    }
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
  c.attention = args.attention;
  return c;
}

}  // namespace

MixerEntry AttentionMixerEntry() {
  MixerEntry e;
  e.name = "attention";
  e.param_name = "attn";
  e.summary = "multi-head attention, softmax or linear per model.attention, causal per model.causal";
  e.has_heads = true;
  e.reads_attention = true;
  e.hooks = {MixerHook::kHeadGate, MixerHook::kAttentionProbs, MixerHook::kAttentionEdit};
  e.problem = [](const MixerArgs& args) { return AttentionConfig(args).Problem(); };
  e.causal = [](const MixerArgs& args) { return args.causal; };
  // Wq, Wk, Wv, Wo: 4·D² multiply-adds per token, 6x for training; the two T x T products per
  // (example, head), S = Kᵀ Q and O = V P, 2·T·Dh multiply-adds each per token and head (2·T·D over
  // the heads), 2 FLOPs each, 3x for training: 12·T·D (softmax and linear alike).
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
