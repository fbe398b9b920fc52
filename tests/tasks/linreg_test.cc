#include "tasks/linreg.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>

namespace sim {
namespace {

// Targets are exactly w·x for one w per example (noise 0): solving the first d x positions for w
// (least squares) reproduces every target of the example.
TEST(LinregTest, TargetsAreALinearFunctionOfTheInputsPerExample) {
  const int d = 3, n = 7;
  LinregTask task(LinregConfig{d, n, 0.0, true});
  Rng rng = Rng::ForStream(1, "data/train");
  Batch batch;
  task.Sample(0, rng, 20, batch);
  batch.Validate(0);
  ASSERT_EQ(batch.n_scored(), 20 * n);
  ASSERT_EQ(batch.vectors.rows(), d + 1);
  for (int b = 0; b < 20; ++b) {
    Eigen::MatrixXd xs(n, d);
    Eigen::VectorXd ys(n);
    for (int i = 0; i < n; ++i) {
      const int col = b * 2 * n + 2 * i;
      EXPECT_EQ(batch.scored[b * n + i], col);
      EXPECT_EQ(batch.vectors(d, col), 0.0f) << "x positions carry no y";
      for (int j = 0; j < d; ++j) {
        xs(i, j) = batch.vectors(j, col);
        EXPECT_EQ(batch.vectors(j, col + 1), 0.0f) << "y positions carry no x";
      }
      ys(i) = batch.values[b * n + i];
      EXPECT_EQ(batch.vectors(d, col + 1), batch.values[b * n + i]) << "the y token holds the target";
    }
    const Eigen::VectorXd w = xs.colPivHouseholderQr().solve(ys);
    EXPECT_LT((xs * w - ys).norm(), 1e-4 * (1 + ys.norm()));
  }
}

TEST(LinregTest, ScoreLastScoresOnlyTheLastXPosition) {
  LinregTask task(LinregConfig{2, 5, 0.0, false});
  Rng rng = Rng::ForStream(2, "data/train");
  Batch batch;
  task.Sample(0, rng, 4, batch);
  ASSERT_EQ(batch.n_scored(), 4);
  for (int b = 0; b < 4; ++b) EXPECT_EQ(batch.scored[b], b * 10 + 8);
  EXPECT_TRUE(task.info().requires_causal);
}

TEST(LinregTest, NoiseHasTheRequestedScale) {
  // With w, x ~ N(0, I), Var(y) = d + noise².
  LinregTask task(LinregConfig{4, 10, 2.0, true});
  Rng rng = Rng::ForStream(3, "data/train");
  Batch batch;
  task.Sample(0, rng, 2000, batch);
  double sum2 = 0;
  for (float y : batch.values) sum2 += static_cast<double>(y) * y;
  EXPECT_NEAR(sum2 / batch.values.size(), 4.0 + 4.0, 0.4);
}

TEST(LinregTest, ZeroPredictorRatioIsOne) {
  LinregTask task(LinregConfig{3, 4, 0.0, true});
  Rng rng = Rng::ForStream(4, "eval/test");
  Batch batch;
  task.Sample(1, rng, 100, batch);
  const Mat zeros = Mat::Zero(1, batch.n_scored());
  MetricSums sums;
  task.Score(batch, zeros, sums);
  auto metrics = sums.Means();
  task.Finish(metrics);
  EXPECT_NEAR(metrics.at("mse_last_ratio"), 1.0, 1e-12);
}

}  // namespace
}  // namespace sim
