#include "sim/layers/linear.h"

#include <gtest/gtest.h>

#include "tests/testing/grad_check.h"

namespace sim {
namespace {

using testing::ExpectGradientMatches;
using testing::ExpectParamGradientsMatch;
using testing::RandomMat;

TEST(LinearTest, BackwardMatchesFiniteDifferences) {
  for (bool bias : {true, false}) {
    SCOPED_TRACE(Concat("bias=", bias, " seed=", testing::TestSeed()));
    ParamRegistry registry;
    Linear layer({5, 3, bias, 0.0, true}, registry, "lin");
    registry.Finalize();
    testing::RandomizeParams(registry, testing::TestSeed());
    Mat x = RandomMat(5, 7, testing::TestSeed() + 1);
    const Mat r = RandomMat(3, 7, testing::TestSeed() + 2);
    Mat y(3, 7);
    auto loss = [&] {
      layer.Forward(x, y, false);
      return (r.array() * y.array()).sum();
    };
    Mat d_x = Mat::Zero(5, 7);
    registry.ZeroGrads();
    loss();
    layer.Backward(x, r, d_x);
    const Vec grads = registry.grads();
    ExpectGradientMatches("x", x.data(), d_x.data(), x.size(), loss);
    ExpectParamGradientsMatch(registry, grads, loss);
  }
}

TEST(LinearTest, BackwardAccumulatesIntoDx) {
  ParamRegistry registry;
  Linear layer({4, 2, true, 0.0, true}, registry, "lin");
  registry.Finalize();
  testing::RandomizeParams(registry, testing::TestSeed());
  const Mat x = RandomMat(4, 3, 1), r = RandomMat(2, 3, 2);
  Mat d_x = Mat::Zero(4, 3);
  layer.Backward(x, r, d_x);
  Mat twice = d_x;
  layer.Backward(x, r, twice);
  EXPECT_TRUE(twice.isApprox(2 * d_x));
  layer.Backward(x, r, twice, /*accumulate_dx=*/false);
  EXPECT_TRUE(twice.isApprox(d_x));
}

TEST(LinearTest, ForwardComputesAffineMap) {
  ParamRegistry registry;
  Linear layer({2, 1, true, 0.0, true}, registry, "lin");
  registry.Finalize();
  registry.Value(layer.weight()) << 2, -1;
  registry.Value(layer.bias())(0, 0) = 0.5;
  Mat x(2, 2);
  x << 1, 3, 4, 5;
  Mat y(1, 2);
  layer.Forward(x, y, false);
  EXPECT_DOUBLE_EQ(y(0, 0), 2 * 1 - 4 + 0.5);
  EXPECT_DOUBLE_EQ(y(0, 1), 2 * 3 - 5 + 0.5);
}

TEST(LinearTest, WrongInputShapeNamesBothShapes) {
  ParamRegistry registry;
  Linear layer({4, 2, true, 0.0, true}, registry, "lin");
  registry.Finalize();
  Mat x(3, 5), y(2, 5);
  try {
    layer.Forward(x, y, false);
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("x is (3, 5), expected (in=4, n=5)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sim
