#include "sim/layers/layer_norm.h"

#include <gtest/gtest.h>

#include "tests/testing/grad_check.h"

namespace sim {
namespace {

TEST(LayerNormTest, BackwardMatchesFiniteDifferences) {
  SCOPED_TRACE(Concat("seed=", testing::TestSeed()));
  ParamRegistry registry;
  LayerNorm norm(6, registry, "ln");
  registry.Finalize();
  testing::RandomizeParams(registry, testing::TestSeed());
  Mat x = testing::RandomMat(6, 9, testing::TestSeed() + 1, 2.0);
  const Mat r = testing::RandomMat(6, 9, testing::TestSeed() + 2);
  LayerNormCache cache;
  cache.Resize(6, 9);
  Mat y(6, 9);
  auto loss = [&] {
    norm.Forward(x, cache, y);
    return (r.array() * y.array()).sum();
  };
  registry.ZeroGrads();
  loss();
  Mat d_x = Mat::Zero(6, 9);
  norm.Backward(r, cache, d_x);
  const Vec grads = registry.grads();
  testing::ExpectGradientMatches("x", x.data(), d_x.data(), x.size(), loss);
  testing::ExpectParamGradientsMatch(registry, grads, loss);
}

TEST(LayerNormTest, ForwardNormalizesEachColumn) {
  ParamRegistry registry;
  LayerNorm norm(2, registry, "ln");
  registry.Finalize();
  registry.Value(norm.gamma()).setOnes();
  registry.Value(norm.beta()).setZero();
  Mat x(2, 1);
  x << 1, 3;  // mean 2, variance 1
  LayerNormCache cache;
  cache.Resize(2, 1);
  Mat y(2, 1);
  norm.Forward(x, cache, y);
  const double s = 1.0 / std::sqrt(1.0 + LayerNorm::kEps);
  EXPECT_NEAR(y(0, 0), -s, 1e-12);
  EXPECT_NEAR(y(1, 0), s, 1e-12);
}

}  // namespace
}  // namespace sim
