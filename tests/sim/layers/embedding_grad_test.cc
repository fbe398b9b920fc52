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
