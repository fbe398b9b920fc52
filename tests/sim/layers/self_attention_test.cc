// Self-attention in the build's own precision (float here), against a direct double-precision
// computation from the same parameters: output, gradients (x, Wq, Wk, Wv) and P, with softmax and
// with linear attention (model.attention = linear: P = Kᵀ Q / √Dh / n_q). In AVX-512 float
// builds the layer runs the per-head kernels of sim/layers/self_attention_avx512.h, including
// causal attention's query blocks that skip the masked part; elsewhere (and in the double build's
// gradient checks) it runs the reference path in self_attention.cc. T = 17, 40 and 64 give one,
// several and partial blocks. The kernels are also checked alone: one head with strided blocks,
// against double.
#include "sim/layers/self_attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <type_traits>

#include "sim/core/error.h"
#include "sim/kernels/parallel.h"
#include "sim/layers/self_attention_avx512.h"
#include "tests/testing/random_matrix.h"

namespace sim {
namespace {

using MatD = Eigen::MatrixXd;

struct Reference {
  MatD y, d_x, d_wq, d_wk, d_wv;  // (D, B*T), (D, B*T), (D, D) x 3
  MatD probs;                     // (T, T*B*H), block b*H + h is P (T_k, T_q)
};

// The weights of one (example, head) from its scores s = Kᵀ Q / √Dh (T_k, T_q), written from the
// definitions: softmax over the keys each query sees, or linear: s / n_q over them; 0 elsewhere.
MatD Weights(const MatD& s, bool causal, bool linear) {
  const Eigen::Index t = s.rows();
  MatD pr = MatD::Zero(t, t);
  for (Eigen::Index c = 0; c < t; ++c) {
    const Eigen::Index n = causal ? c + 1 : t;
    if (linear) {
      pr.col(c).head(n) = s.col(c).head(n) / static_cast<double>(n);
      continue;
    }
    const double mx = s.col(c).head(n).maxCoeff();
    pr.col(c).head(n) = (s.col(c).head(n).array() - mx).exp().matrix();
    pr.col(c) /= pr.col(c).sum();
  }
  return pr;
}

// d_S for the weights' backward from d_P (T_k, T_q), in terms of s = Kᵀ Q / √Dh.
MatD WeightsBackward(const MatD& pr, const MatD& d_p, bool causal, bool linear) {
  const Eigen::Index t = pr.rows();
  MatD d_s = MatD::Zero(t, t);
  for (Eigen::Index c = 0; c < t; ++c) {
    const Eigen::Index n = causal ? c + 1 : t;
    if (linear)
      d_s.col(c).head(n) = d_p.col(c).head(n) / static_cast<double>(n);
    else
      d_s.col(c) = pr.col(c).array() * (d_p.col(c).array() - pr.col(c).dot(d_p.col(c)));
  }
  return d_s;
}

// y = Wo O + bo with O the heads' weighted V (softmax(Kᵀ Q / √Dh), or linear attention's Kᵀ Q / √Dh / n_q);
// its backward for d_y.
Reference Attention(const ParamRegistry& reg, const MatD& x, const MatD& d_y, int heads, int batch, int t, bool causal,
                    bool linear = false) {
  const auto p = [&](const char* name) { return MatD(reg.Value(reg.Find(name)).cast<double>()); };
  const MatD wq = p("attn.wq"), wk = p("attn.wk"), wv = p("attn.wv"), wo = p("attn.wo");
  const auto bias = [&](const char* name) { return Eigen::VectorXd(p(name).col(0)); };
  const MatD q = (wq * x).colwise() + bias("attn.bq"), k = (wk * x).colwise() + bias("attn.bk");
  const MatD v = (wv * x).colwise() + bias("attn.bv");
  const int d = static_cast<int>(x.rows()), dh = d / heads;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  MatD o(d, x.cols()), d_q(d, x.cols()), d_k(d, x.cols()), d_v(d, x.cols());
  MatD probs(t, static_cast<Eigen::Index>(t) * batch * heads);
  const MatD d_o = wo.transpose() * d_y;
  for (int b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h) {
      const auto blk = [&](const MatD& m) { return MatD(m.block(h * dh, b * t, dh, t)); };
      const MatD qh = blk(q), kh = blk(k), vh = blk(v), d_oh = blk(d_o);
      const MatD s = kh.transpose() * qh * scale;  // (T_k, T_q)
      const MatD pr = Weights(s, causal, linear);
      probs.middleCols(static_cast<Eigen::Index>(b * heads + h) * t, t) = pr;
      o.block(h * dh, b * t, dh, t) = vh * pr;
      const MatD d_p = vh.transpose() * d_oh;
      const MatD d_s = scale * WeightsBackward(pr, d_p, causal, linear);  // with respect to Kᵀ Q
      d_v.block(h * dh, b * t, dh, t) = d_oh * pr.transpose();
      d_q.block(h * dh, b * t, dh, t) = kh * d_s;
      d_k.block(h * dh, b * t, dh, t) = qh * d_s.transpose();
    }
  Reference ref;
  ref.y = (wo * o).colwise() + bias("attn.bo");
  ref.d_x = wq.transpose() * d_q + wk.transpose() * d_k + wv.transpose() * d_v;
  ref.d_wq = d_q * x.transpose();
  ref.d_wk = d_k * x.transpose();
  ref.d_wv = d_v * x.transpose();
  ref.probs = probs;
  return ref;
}

// Largest difference relative to the reference's largest entry.
double RelErr(const Mat& got, const MatD& want) {
  return (got.cast<double>() - want).cwiseAbs().maxCoeff() / want.cwiseAbs().maxCoeff();
}

struct FloatCase {
  int d_model, heads, batch, length;
  bool causal;
  int threads;
  bool linear = false;
};

std::string Name(const FloatCase& c) {
  return Concat(c.linear ? "linear_" : "", "D", c.d_model, "_H", c.heads, "_T", c.length,
                c.causal ? "_causal" : "_full", "_", c.threads, "threads");
}
void PrintTo(const FloatCase& c, std::ostream* os) { *os << Name(c); }

class SelfAttentionPrecisionTest : public ::testing::TestWithParam<FloatCase> {
 protected:
  void TearDown() override { SetNumThreads(1); }
};

TEST_P(SelfAttentionPrecisionTest, MatchesDirectDoubleComputation) {
  const FloatCase c = GetParam();
  SetNumThreads(c.threads);
  ParamRegistry registry;
  SelfAttention attn(
      {c.d_model, c.heads, c.causal, true, 0.0, 0.0, c.linear ? AttentionKind::kLinear : AttentionKind::kSoftmax},
      registry, "attn");
  registry.Finalize();
  registry.values() = testing::RandomMat(registry.total_size(), 1, 21, 0.3).col(0);
  const BatchShape bt{c.batch, c.length};
  const Mat x = testing::RandomMat(c.d_model, bt.tokens(), 22), d_y = testing::RandomMat(c.d_model, bt.tokens(), 23);
  auto cache = attn.MakeCache(bt);
  Mat y(c.d_model, bt.tokens()), d_x = Mat::Zero(c.d_model, bt.tokens());
  registry.ZeroGrads();
  attn.Forward(x, bt, {}, *cache, y, false);
  attn.Backward(x, d_y, bt, *cache, d_x);
  const Reference ref =
      Attention(registry, x.cast<double>(), d_y.cast<double>(), c.heads, c.batch, c.length, c.causal, c.linear);
  const double tol = std::is_same_v<Scalar, float> ? 2e-5 : 1e-12;
  EXPECT_LT(RelErr(y, ref.y), tol);
  EXPECT_LT(RelErr(d_x, ref.d_x), tol);
  EXPECT_LT(RelErr(registry.Grad(registry.Find("attn.wq")), ref.d_wq), tol);
  EXPECT_LT(RelErr(registry.Grad(registry.Find("attn.wk")), ref.d_wk), tol);
  EXPECT_LT(RelErr(registry.Grad(registry.Find("attn.wv")), ref.d_wv), tol);
  // The probabilities analysis reads, in their documented layout (full attention keeps them
  // transposed internally in float AVX-512 builds: AttentionProbs must undo that).
  const Mat* probs = attn.AttentionProbs(*cache);
  ASSERT_NE(probs, nullptr);
  ASSERT_EQ(probs->rows(), ref.probs.rows());
  ASSERT_EQ(probs->cols(), ref.probs.cols());
  EXPECT_LT(RelErr(*probs, ref.probs), tol);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SelfAttentionPrecisionTest,
                         ::testing::Values(FloatCase{32, 2, 3, 40, true, 1}, FloatCase{32, 2, 3, 40, false, 1},
                                           FloatCase{48, 4, 2, 64, true, 2}, FloatCase{16, 2, 2, 17, true, 1},
                                           FloatCase{64, 8, 2, 35, false, 2}, FloatCase{16, 1, 2, 16, true, 2},
                                           FloatCase{32, 2, 3, 40, true, 1, true},
                                           FloatCase{32, 2, 3, 40, false, 1, true},
                                           FloatCase{64, 8, 2, 33, true, 2, true},
                                           FloatCase{16, 1, 2, 17, false, 2, true}),
                         [](const ::testing::TestParamInfo<FloatCase>& info) { return Name(info.param); });

// One head through the AVX-512 kernels alone: (Dh, T) blocks inside wider (ld > Dh) matrices, T not a
// multiple of the query blocks, outputs and scratch starting as NaN. Checks Pᵀ, V P and the three
// gradients against double, that masked probabilities are exactly 0, and that nothing outside the
// head's rows is written.
struct HeadCase {
  long t, d_head;
  bool causal;
  bool linear = false;
};

class AttentionHeadAvx512Test : public ::testing::TestWithParam<HeadCase> {};

TEST_P(AttentionHeadAvx512Test, MatchesDirectDoubleComputation) {
  if (!HasAttentionAvx512()) GTEST_SKIP() << "this build has no AVX-512 attention kernels";
  const HeadCase c = GetParam();
  const long t = c.t, dh = c.d_head, ld = 3 * dh + 5, row0 = dh + 2;  // the head: rows [row0, row0 + dh)
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto random = [&](uint64_t seed) { return Eigen::MatrixXf(testing::RandomMat(ld, t, seed).cast<float>()); };
  const Eigen::MatrixXf q = random(31), k = random(32), v = random(33), d_o = random(34);
  Eigen::MatrixXf heads = Eigen::MatrixXf::Constant(ld, t, nan), d_q = heads, d_k = heads, d_v = heads;
  Eigen::MatrixXf probs_t = Eigen::MatrixXf::Constant(t, t, nan), d_scores_t = probs_t;
  Eigen::MatrixXf scratch = Eigen::MatrixXf::Constant(t, dh, nan);
  const AttentionHead head{t, dh, ld, static_cast<float>(1 / std::sqrt(static_cast<double>(dh))), c.causal, c.linear};
  AttendHeadAvx512(head, q.data() + row0, k.data() + row0, v.data() + row0, probs_t.data(), scratch.data(),
                   heads.data() + row0);
  AttendHeadBackwardAvx512(head, q.data() + row0, k.data() + row0, v.data() + row0, probs_t.data(), d_o.data() + row0,
                           d_scores_t.data(), scratch.data(), d_q.data() + row0, d_k.data() + row0, d_v.data() + row0);

  const auto blk = [&](const Eigen::MatrixXf& m) { return MatD(m.middleRows(row0, dh).cast<double>()); };
  const MatD qh = blk(q), kh = blk(k), vh = blk(v), d_oh = blk(d_o);
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  const MatD s = kh.transpose() * qh * scale;  // (T_k, T_q)
  const MatD p = Weights(s, c.causal, c.linear);
  const MatD d_p = vh.transpose() * d_oh;
  const MatD d_s = scale * WeightsBackward(p, d_p, c.causal, c.linear);
  const auto rel_err = [](const MatD& got, const MatD& want) {  // floor: T = 1 has d_S = 0
    return (got - want).cwiseAbs().maxCoeff() / std::max(want.cwiseAbs().maxCoeff(), 1e-3);
  };
  const double tol = 2e-5;
  EXPECT_LT(rel_err(MatD(probs_t.transpose().cast<double>()), p), tol);
  EXPECT_LT(rel_err(blk(heads), vh * p), tol);
  EXPECT_LT(rel_err(blk(d_v), d_oh * p.transpose()), tol);
  EXPECT_LT(rel_err(blk(d_q), kh * d_s), tol);
  EXPECT_LT(rel_err(blk(d_k), qh * d_s.transpose()), tol);
  if (c.causal)
    for (long query = 0; query < t; ++query)
      for (long key = query + 1; key < t; ++key) {
        ASSERT_EQ(probs_t(query, key), 0.f) << "query " << query << ", key " << key;
        ASSERT_EQ(d_scores_t(query, key), 0.f) << "query " << query << ", key " << key;
      }
  for (const Eigen::MatrixXf* m : {&heads, &d_q, &d_k, &d_v}) {
    EXPECT_TRUE(m->topRows(row0).array().isNaN().all());
    EXPECT_TRUE(m->bottomRows(ld - row0 - dh).array().isNaN().all());
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionHeadAvx512Test,
                         ::testing::Values(HeadCase{1, 8, true}, HeadCase{16, 8, true}, HeadCase{33, 12, true},
                                           HeadCase{70, 16, true}, HeadCase{33, 12, false}, HeadCase{70, 16, false},
                                           HeadCase{5, 4, false}, HeadCase{1, 8, true, true},
                                           HeadCase{33, 8, true, true}, HeadCase{70, 16, true, true},
                                           HeadCase{33, 12, false, true}),
                         [](const ::testing::TestParamInfo<HeadCase>& info) {
                           return Concat(info.param.linear ? "linear_" : "", "T", info.param.t, "_Dh",
                                         info.param.d_head, info.param.causal ? "_causal" : "_full");
                         });

}  // namespace
}  // namespace sim
