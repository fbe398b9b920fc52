#include "sim/layers/losses.h"

#include <gtest/gtest.h>

#include "tests/testing/grad_check.h"

namespace sim {
namespace {

TEST(LossesTest, CrossEntropyGradientMatchesFiniteDifferences) {
  Mat logits = testing::RandomMat(5, 7, testing::TestSeed(), 2.0);
  const std::vector<int32_t> labels = {0, 4, 2, 2, 1, 3, 0};
  Mat grad(5, 9);  // wider than S: a buffer sized for a larger batch
  SoftmaxCrossEntropy(logits, labels.data(), &grad, nullptr);
  const Mat analytic = grad.leftCols(7);
  auto loss = [&] { return SoftmaxCrossEntropy(logits, labels.data(), nullptr, nullptr); };
  testing::ExpectGradientMatches("logits", logits.data(), analytic.data(), logits.size(), loss);
}

TEST(LossesTest, CrossEntropyValueAndAccuracy) {
  Mat logits(2, 2);
  logits << 2, 0, 0, 1;  // column 0 predicts class 0, column 1 class 1
  const std::vector<int32_t> labels = {0, 0};
  int correct = 0;
  const double loss = SoftmaxCrossEntropy(logits, labels.data(), nullptr, &correct);
  const double expected = 0.5 * (std::log(1 + std::exp(-2.0)) + std::log(1 + std::exp(1.0)));
  EXPECT_NEAR(loss, expected, 1e-14);
  EXPECT_EQ(correct, 1);
}

TEST(LossesTest, MeanSquaredErrorGradientMatchesFiniteDifferences) {
  Mat preds = testing::RandomMat(1, 6, testing::TestSeed());
  const std::vector<double> targets = {0.5, -1, 2, 0, 0.25, 3};
  Mat grad(1, 6);
  MeanSquaredError(preds, targets.data(), &grad);
  auto loss = [&] { return MeanSquaredError(preds, targets.data(), nullptr); };
  testing::ExpectGradientMatches("preds", preds.data(), grad.data(), preds.size(), loss);
}

}  // namespace
}  // namespace sim
