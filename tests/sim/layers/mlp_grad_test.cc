#include "sim/layers/mlp.h"

#include <gtest/gtest.h>

#include "tests/testing/grad_check.h"

namespace sim {
namespace {

class MlpGradTest : public ::testing::TestWithParam<Activation> {};

TEST_P(MlpGradTest, BackwardMatchesFiniteDifferences) {
  SCOPED_TRACE(Concat("activation=", static_cast<int>(GetParam()), " seed=", testing::TestSeed()));
  ParamRegistry registry;
  Mlp mlp({4, 10, GetParam(), true, 0.0, 0.0}, registry, "mlp");
  registry.Finalize();
  testing::RandomizeParams(registry, testing::TestSeed());
  Mat x = testing::RandomMat(4, 6, testing::TestSeed() + 1);
  const Mat r = testing::RandomMat(4, 6, testing::TestSeed() + 2);
  MlpCache cache;
  cache.Resize(10, 6);
  Mat y(4, 6);
  auto loss = [&] {
    mlp.Forward(x, cache, y, false);
    return (r.array() * y.array()).sum();
  };
  registry.ZeroGrads();
  loss();
  Mat d_x = Mat::Zero(4, 6);
  mlp.Backward(x, r, cache, d_x);
  const Vec grads = registry.grads();
  testing::ExpectGradientMatches("x", x.data(), d_x.data(), x.size(), loss);
  testing::ExpectParamGradientsMatch(registry, grads, loss);
}

INSTANTIATE_TEST_SUITE_P(Activations, MlpGradTest,
                         ::testing::Values(Activation::kGelu, Activation::kGeluTanh, Activation::kRelu));

TEST(MlpTest, GeluMatchesClosedForm) {
  ParamRegistry registry;
  Mlp mlp({1, 1, Activation::kGelu, false, 0.0, 0.0}, registry, "mlp");
  registry.Finalize();
  registry.values().setOnes();  // w1 = w2 = 1: y = gelu(x)
  Mat x(1, 3);
  x << -1.0, 0.0, 2.0;
  MlpCache cache;
  cache.Resize(1, 3);
  Mat y(1, 3);
  mlp.Forward(x, cache, y, false);
  for (int j = 0; j < 3; ++j) {
    const double v = x(0, j);
    EXPECT_NEAR(y(0, j), 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-14);
  }
}

}  // namespace
}  // namespace sim
