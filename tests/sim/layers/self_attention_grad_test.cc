#include "sim/layers/self_attention.h"

#include <gtest/gtest.h>

#include "sim/kernels/parallel.h"
#include "tests/testing/grad_check.h"

namespace sim {
namespace {

struct AttentionCase {
  int d_model, heads, batch, length;
  bool causal, bias;
  std::vector<double> gate;  // empty = no gate hook
};

std::string Describe(const AttentionCase& c) {
  return Concat("D=", c.d_model, " H=", c.heads, " B=", c.batch, " T=", c.length, " causal=", c.causal,
                " bias=", c.bias, " gated=", !c.gate.empty(), " seed=", testing::TestSeed());
}

class SelfAttentionGradTest : public ::testing::TestWithParam<AttentionCase> {};

TEST_P(SelfAttentionGradTest, BackwardMatchesFiniteDifferences) {
  const AttentionCase c = GetParam();
  SCOPED_TRACE(Describe(c));
  ParamRegistry registry;
  SelfAttention attn({c.d_model, c.heads, c.causal, c.bias, 0.0, 0.0}, registry, "attn");
  registry.Finalize();
  testing::RandomizeParams(registry, testing::TestSeed());
  const BatchShape bt{c.batch, c.length};
  Mat x = testing::RandomMat(c.d_model, bt.tokens(), testing::TestSeed() + 1);
  const Mat r = testing::RandomMat(c.d_model, bt.tokens(), testing::TestSeed() + 2);
  Vec gate = Eigen::Map<const Eigen::VectorXd>(c.gate.data(), c.gate.size());
  MixerHooks hooks;
  if (!c.gate.empty()) hooks.head_gate = gate.data();
  auto cache = attn.MakeCache(bt);
  Mat y(c.d_model, bt.tokens());
  auto loss = [&] {
    attn.Forward(x, bt, hooks, *cache, y, false);
    return (r.array() * y.array()).sum();
  };
  registry.ZeroGrads();
  loss();
  Mat d_x = Mat::Zero(c.d_model, bt.tokens());
  attn.Backward(x, r, bt, *cache, d_x);
  const Vec grads = registry.grads();
  testing::ExpectGradientMatches("x", x.data(), d_x.data(), x.size(), loss);
  testing::ExpectParamGradientsMatch(registry, grads, loss);
}

INSTANTIATE_TEST_SUITE_P(Cases, SelfAttentionGradTest,
                         ::testing::Values(AttentionCase{8, 2, 2, 5, true, true, {}},
                                           AttentionCase{8, 2, 2, 5, false, true, {}},
                                           AttentionCase{6, 3, 3, 4, true, false, {}},
                                           AttentionCase{8, 1, 1, 6, false, false, {}},
                                           AttentionCase{8, 4, 2, 3, true, true, {1.0, 0.0, 0.5, 1.0}},
                                           AttentionCase{8, 2, 2, 4, false, true, {0.0, 1.0}}));

// Same forward for every thread count, bit for bit, and the same gradients.
TEST(SelfAttentionTest, ThreadCountDoesNotChangeResults) {
  ParamRegistry registry;
  SelfAttention attn({8, 2, true, true, 0.0, 0.0}, registry, "attn");
  registry.Finalize();
  testing::RandomizeParams(registry, 3);
  const BatchShape bt{4, 6};
  const Mat x = testing::RandomMat(8, 24, 4), r = testing::RandomMat(8, 24, 5);
  Mat y1(8, 24), y2(8, 24), dx1 = Mat::Zero(8, 24), dx2 = Mat::Zero(8, 24);
  SetNumThreads(1);
  auto c1 = attn.MakeCache(bt);
  attn.Forward(x, bt, {}, *c1, y1, false);
  attn.Backward(x, r, bt, *c1, dx1);
  SetNumThreads(2);
  auto c2 = attn.MakeCache(bt);
  attn.Forward(x, bt, {}, *c2, y2, false);
  attn.Backward(x, r, bt, *c2, dx2);
  SetNumThreads(1);
  EXPECT_TRUE((y1.array() == y2.array()).all());
  EXPECT_TRUE((dx1.array() == dx2.array()).all());
}

TEST(SelfAttentionTest, ProbabilityColumnsSumToOneAndRespectCausality) {
  for (bool causal : {true, false}) {
    ParamRegistry registry;
    SelfAttention attn({8, 2, causal, true, 0.0, 0.0}, registry, "attn");
    registry.Finalize();
    testing::RandomizeParams(registry, 7, 1.0);
    const BatchShape bt{2, 5};
    const Mat x = testing::RandomMat(8, 10, 8);
    auto cache = attn.MakeCache(bt);
    Mat y(8, 10);
    attn.Forward(x, bt, {}, *cache, y, false);
    const Mat& p = *attn.AttentionProbs(*cache);
    ASSERT_EQ(p.rows(), 5);
    ASSERT_EQ(p.cols(), 5 * 2 * 2);
    for (Index j = 0; j < p.cols(); ++j) {
      EXPECT_NEAR(p.col(j).sum(), 1.0, 1e-12);
      const Index q = j % 5;
      for (Index k = 0; k < 5; ++k) {
        EXPECT_GE(p(k, j), 0.0);
        if (causal && k > q) {
          EXPECT_EQ(p(k, j), 0.0) << "key " << k << " after query " << q;
        }
        if (!causal) {
          EXPECT_GT(p(k, j), 0.0);
        }
      }
    }
  }
}

// Causal output at position t is invariant to inputs after t.
TEST(SelfAttentionTest, CausalOutputIgnoresTheFuture) {
  ParamRegistry registry;
  SelfAttention attn({8, 2, true, true, 0.0, 0.0}, registry, "attn");
  registry.Finalize();
  testing::RandomizeParams(registry, 9, 1.0);
  const BatchShape bt{1, 6};
  Mat x = testing::RandomMat(8, 6, 10);
  auto cache = attn.MakeCache(bt);
  Mat y1(8, 6), y2(8, 6);
  attn.Forward(x, bt, {}, *cache, y1, false);
  x.col(4) += testing::RandomMat(8, 1, 11);
  attn.Forward(x, bt, {}, *cache, y2, false);
  EXPECT_TRUE(y1.leftCols(4).isApprox(y2.leftCols(4), 1e-14));
  EXPECT_FALSE(y1.col(4).isApprox(y2.col(4), 1e-6));
}

TEST(SelfAttentionTest, AllOnesGateEqualsNoGate) {
  ParamRegistry registry;
  SelfAttention attn({8, 4, false, true, 0.0, 0.0}, registry, "attn");
  registry.Finalize();
  testing::RandomizeParams(registry, 12);
  const BatchShape bt{2, 3};
  const Mat x = testing::RandomMat(8, 6, 13);
  auto cache = attn.MakeCache(bt);
  Mat y1(8, 6), y2(8, 6);
  attn.Forward(x, bt, {}, *cache, y1, false);
  const Vec ones = Vec::Ones(4);
  MixerHooks hooks;
  hooks.head_gate = ones.data();
  attn.Forward(x, bt, hooks, *cache, y2, false);
  EXPECT_TRUE(y1.isApprox(y2, 1e-15));
}

// A zero gate removes exactly that head's contribution: y = bo + Σ_h g_h Wo[:, h] O_h.
TEST(SelfAttentionTest, ZeroGateRemovesOneHead) {
  ParamRegistry registry;
  SelfAttention attn({4, 2, true, false, 0.0, 0.0}, registry, "attn");
  registry.Finalize();
  testing::RandomizeParams(registry, 14);
  const BatchShape bt{1, 3};
  const Mat x = testing::RandomMat(4, 3, 15);
  auto cache = attn.MakeCache(bt);
  Mat full(4, 3), head0(4, 3), head1(4, 3);
  attn.Forward(x, bt, {}, *cache, full, false);
  const Vec g0 = (Vec(2) << 1, 0).finished(), g1 = (Vec(2) << 0, 1).finished();
  MixerHooks h0, h1;
  h0.head_gate = g0.data();
  h1.head_gate = g1.data();
  attn.Forward(x, bt, h0, *cache, head0, false);
  attn.Forward(x, bt, h1, *cache, head1, false);
  EXPECT_TRUE(full.isApprox(head0 + head1, 1e-14));
}

// T = 2, one head, identity projections: hand-computed softmax attention.
TEST(SelfAttentionTest, HandComputedTwoTokenCase) {
  ParamRegistry registry;
  SelfAttention attn({2, 1, false, false, 0.0, 0.0}, registry, "attn");
  registry.Finalize();
  for (ParamId id = 0; id < registry.size(); ++id) registry.Value(id) = Mat::Identity(2, 2);
  const BatchShape bt{1, 2};
  Mat x(2, 2);
  x << 1, 0, 0, 1;  // token 0 = e1, token 1 = e2
  auto cache = attn.MakeCache(bt);
  Mat y(2, 2);
  attn.Forward(x, bt, {}, *cache, y, false);
  // Scores q·k / √2: self 1/√2, other 0. p_self = e^{a} / (e^{a} + 1), a = 1/√2.
  const double a = 1.0 / std::sqrt(2.0), p_self = std::exp(a) / (std::exp(a) + 1.0);
  EXPECT_NEAR(y(0, 0), p_self, 1e-14);
  EXPECT_NEAR(y(1, 0), 1 - p_self, 1e-14);
  EXPECT_NEAR(y(0, 1), 1 - p_self, 1e-14);
  EXPECT_NEAR(y(1, 1), p_self, 1e-14);
}

TEST(SelfAttentionTest, HeadsMustDivideWidth) {
  ParamRegistry registry;
  try {
    SelfAttention attn({10, 4, true, true, 0.0, 0.0}, registry, "attn");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("4 heads must divide model.d_model=10"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sim
