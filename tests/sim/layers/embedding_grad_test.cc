#include "sim/layers/embedding.h"

#include <gtest/gtest.h>

#include "tests/testing/grad_check.h"

namespace sim {
namespace {

TEST(EmbeddingTest, TokenAndLearnedPositionGradientsMatchFiniteDifferences) {
  SCOPED_TRACE(Concat("seed=", testing::TestSeed()));
  ParamRegistry registry;
  TokenEmbedding tok(5, 3, 1.0, registry, "embed");
  PositionalEncoding pos(PosKind::kLearned, 6, 3, 1.0, registry, "embed");
  registry.Finalize();
  testing::RandomizeParams(registry, testing::TestSeed());
  const BatchShape bt{2, 4};
  const std::vector<int32_t> tokens = {0, 3, 3, 1, 4, 0, 2, 3};  // repeats exercise the scatter-add
  const Mat r = testing::RandomMat(3, 8, testing::TestSeed() + 1);
  Mat y(3, 8);
  auto loss = [&] {
    tok.Forward(tokens, y);
    pos.Forward(bt, y);
    return (r.array() * y.array()).sum();
  };
  registry.ZeroGrads();
  loss();
  tok.Backward(tokens, r);
  pos.Backward(bt, r);
  const Vec grads = registry.grads();
  testing::ExpectParamGradientsMatch(registry, grads, loss);
}

TEST(EmbeddingTest, FactoredPositionGradientsMatchFiniteDifferences) {
  SCOPED_TRACE(Concat("seed=", testing::TestSeed()));
  ParamRegistry registry;
  PositionalEncoding pos(PosKind::kLearnedFactored, 7, 3, 1.0, registry, "embed", 3);  // segments 0-2, 3-5, 6
  registry.Finalize();
  EXPECT_EQ(registry.size(), 2);  // embed.pos_offset (3, 3) and embed.pos_segment (3, 3)
  testing::RandomizeParams(registry, testing::TestSeed());
  const BatchShape bt{2, 7};
  const Mat r = testing::RandomMat(3, 14, testing::TestSeed() + 1);
  Mat y(3, 14);
  auto loss = [&] {
    y.setZero();
    pos.Forward(bt, y);
    return (r.array() * y.array()).sum();
  };
  registry.ZeroGrads();
  loss();
  // The code of position t is offset[t mod 3] + segment[t div 3].
  const auto offsets = std::as_const(registry).Value(registry.Find("embed.pos_offset"));
  const auto segments = std::as_const(registry).Value(registry.Find("embed.pos_segment"));
  for (int t = 0; t < 7; ++t)
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(y(i, 7 + t), offsets(i, t % 3) + segments(i, t / 3), 1e-12);
  pos.Backward(bt, r);
  const Vec grads = registry.grads();
  testing::ExpectParamGradientsMatch(registry, grads, loss);
}

TEST(EmbeddingTest, SinusoidalTableFollowsVaswani) {
  ParamRegistry registry;
  PositionalEncoding pos(PosKind::kSinusoidal, 8, 4, 0.0, registry, "embed");
  registry.Finalize();
  EXPECT_EQ(registry.size(), 0);  // fixed table: no parameters
  Mat y = Mat::Zero(4, 8);
  pos.Forward({1, 8}, y);
  for (int t = 0; t < 8; ++t) {
    EXPECT_NEAR(y(0, t), std::sin(t), 1e-12);
    EXPECT_NEAR(y(1, t), std::cos(t), 1e-12);
    EXPECT_NEAR(y(2, t), std::sin(t / 100.0), 1e-12);  // 10000^(2/4) = 100
    EXPECT_NEAR(y(3, t), std::cos(t / 100.0), 1e-12);
  }
}

}  // namespace
}  // namespace sim
