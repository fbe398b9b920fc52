// LayerNorm in float against the formulas evaluated in double: y, x̂, rstd, the accumulated d_x,
// dgamma and dbeta, for several widths, inputs that are views with a larger column stride, and
// columns with large means (where a one-pass variance would lose the digits). In float builds with
// AVX-512 this is the vector path (sim/kernels/layer_norm_avx512.h), tails of 8 (D = 40) included.
#include "sim/layers/layer_norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "tests/testing/random_matrix.h"

namespace sim {
namespace {

using testing::RandomMat;

TEST(LayerNormFloatTest, MatchesDoubleFormulas) {
  for (int d : {16, 40, 48, 64, 128, 256, 272}) {
    const Index n = 300;
    ParamRegistry registry;
    LayerNorm norm(d, registry, "ln");
    registry.Finalize();
    registry.Value(norm.gamma()) = RandomMat(d, 1, 11) + Mat::Constant(d, 1, 1.0f);
    registry.Value(norm.beta()) = RandomMat(d, 1, 12);
    Mat x_storage = RandomMat(d + 5, n, 13, 2.0);  // a view: column stride d + 5
    for (Index j = 0; j < n; ++j) x_storage.col(j).head(d).array() += static_cast<float>(j % 7) * 20.0f;
    const auto x = x_storage.topRows(d);
    const Mat d_y = RandomMat(d, n, 14);
    LayerNormCache cache;
    cache.Resize(d, static_cast<int>(n));
    Mat y_storage = Mat::Zero(d + 3, n);
    auto y = y_storage.topRows(d);
    norm.Forward(x, cache, y);
    registry.ZeroGrads();
    const Mat d_x0 = RandomMat(d, n, 15);
    Mat d_x = d_x0;
    norm.Backward(d_y, cache, d_x);

    const Eigen::ArrayXd gamma = registry.Value(norm.gamma()).col(0).cast<double>().array();
    const Eigen::ArrayXd beta = registry.Value(norm.beta()).col(0).cast<double>().array();
    Eigen::ArrayXd d_gamma = Eigen::ArrayXd::Zero(d), d_beta = Eigen::ArrayXd::Zero(d);
    double worst_y = 0, worst_xhat = 0, worst_rstd = 0, worst_dx = 0;
    for (Index j = 0; j < n; ++j) {
      const Eigen::ArrayXd xj = x.col(j).cast<double>().array();
      const double mean = xj.mean();
      const double var = (xj - mean).square().mean();
      const double rstd = 1.0 / std::sqrt(var + LayerNorm::kEps);
      const Eigen::ArrayXd xhat = (xj - mean) * rstd;
      const Eigen::ArrayXd g = gamma * d_y.col(j).cast<double>().array();
      const Eigen::ArrayXd dx = d_x0.col(j).cast<double>().array() + rstd * (g - g.mean() - xhat * (g * xhat).mean());
      worst_y = std::max(worst_y, (y.col(j).cast<double>().array() - (gamma * xhat + beta)).abs().maxCoeff());
      worst_xhat = std::max(worst_xhat, (cache.xhat.col(j).cast<double>().array() - xhat).abs().maxCoeff());
      worst_rstd = std::max(worst_rstd, std::fabs(cache.rstd(j) - rstd) / rstd);
      worst_dx = std::max(worst_dx, (d_x.col(j).cast<double>().array() - dx).abs().maxCoeff());
      d_gamma += d_y.col(j).cast<double>().array() * xhat;
      d_beta += d_y.col(j).cast<double>().array();
    }
    // (means up to 120 with unit spread: x - mean keeps about 5e-6 of float's relative precision; a
    // one-pass variance, E[x²] - mean², would be off by about 1e-3 relative and fail the rstd check)
    EXPECT_LT(worst_y, 1.5e-4) << "d=" << d;
    EXPECT_LT(worst_xhat, 5e-5) << "d=" << d;
    EXPECT_LT(worst_rstd, 2e-5) << "d=" << d;
    EXPECT_LT(worst_dx, 5e-5) << "d=" << d;
    EXPECT_LT((registry.Grad(norm.gamma()).col(0).cast<double>().array() - d_gamma).abs().maxCoeff(), 2e-3)
        << "d=" << d;
    EXPECT_LT((registry.Grad(norm.beta()).col(0).cast<double>().array() - d_beta).abs().maxCoeff(), 2e-3) << "d=" << d;
    EXPECT_TRUE(y_storage.bottomRows(3).isZero()) << "wrote past the view, d=" << d;
    std::printf("d=%d: largest errors y %.2g, x̂ %.2g, rstd %.2g (relative), d_x %.2g\n", d, worst_y, worst_xhat,
                worst_rstd, worst_dx);
  }
}

}  // namespace
}  // namespace sim
