// The piecewise-polynomial GELU (sim/kernels/gelu_avx512.h) against double-precision erf and exp: Φ and
// Φ + x φ within 2e-7 (absolute) for every float in [-8, 8] at a spacing of 2^-12 and around every
// interval edge, arrays of every length from 1 to 40 (masked tails), in place, and its limits: 0 and
// x far out, NaN in NaN out, the sign of zero.
#include "sim/kernels/gelu_avx512.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

namespace sim {
namespace {

double ExactPhi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double ExactDerivative(double x) { return ExactPhi(x) + x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }

#if defined(__AVX512F__)
std::vector<float> TestPoints() {
  std::vector<float> x;
  for (int i = -8 * 4096; i <= 8 * 4096; ++i) x.push_back(static_cast<float>(i) / 4096.0f);
  for (int edge = 0; edge <= 32; ++edge)  // around the interval edges z = 3/16 · edge, both signs
    for (float sign : {-1.0f, 1.0f}) {
      const float e = sign * 3.0f / 16.0f * static_cast<float>(edge);
      float below = e, above = e;
      for (int s = 0; s < 3; ++s) {
        below = std::nextafter(below, -100.0f);
        above = std::nextafter(above, 100.0f);
        x.insert(x.end(), {below, e, above});
      }
    }
  x.insert(x.end(), {5.9999995f, 6.0f, 6.0000005f, 7.5f, 30.0f, 1e30f, -5.9999995f, -6.0f, -7.5f, -30.0f, -1e30f,
                     1e-30f, -1e-30f, std::numeric_limits<float>::denorm_min()});
  return x;
}

TEST(GeluAvx512Test, ForwardMatchesErfWithin2e7) {
  ASSERT_TRUE(HasFastGelu());
  const std::vector<float> x = TestPoints();
  std::vector<float> a(x.size());
  GeluForwardAvx512(x.data(), a.data(), static_cast<long>(x.size()));
  double worst = 0;
  float worst_x = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    // |a - x Φ(x)| <= |x| · 2e-7 (Φ's error scaled by x), and within 1e-30 absolute near 0
    const double error = std::fabs(a[i] - x[i] * ExactPhi(x[i])) / std::max(1.0, std::fabs(static_cast<double>(x[i])));
    if (error > worst) worst = error, worst_x = x[i];
  }
  EXPECT_LT(worst, 2e-7) << "worst at x = " << worst_x;
  std::printf("GELU forward: largest error %.3g (relative to max(1, |x|)) at x = %.9g\n", worst, worst_x);
}

TEST(GeluAvx512Test, BackwardMatchesErfAndExpWithin2e7) {
  const std::vector<float> x = TestPoints();
  std::vector<float> d(x.size(), 1.0f);
  GeluBackwardAvx512(x.data(), d.data(), static_cast<long>(x.size()));
  double worst = 0;
  float worst_x = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double error = std::fabs(d[i] - ExactDerivative(x[i]));
    if (error > worst) worst = error, worst_x = x[i];
  }
  EXPECT_LT(worst, 2e-7) << "worst at x = " << worst_x;
  std::printf("GELU derivative: largest error %.3g at x = %.9g\n", worst, worst_x);
  // The upstream gradient multiplies: d = 3 gives three times D, to float rounding.
  std::vector<float> d3(x.size(), 3.0f);
  GeluBackwardAvx512(x.data(), d3.data(), static_cast<long>(x.size()));
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(d3[i], 3.0f * d[i]) << "x = " << x[i];
}

TEST(GeluAvx512Test, EveryLengthAndInPlace) {
  for (long n = 1; n <= 40; ++n) {
    std::vector<float> x(n + 1), a(n + 1, 7.0f), d(n + 1, 2.0f);
    for (long i = 0; i <= n; ++i) x[i] = -3.0f + 0.37f * static_cast<float>(i);
    GeluForwardAvx512(x.data(), a.data(), n);
    GeluBackwardAvx512(x.data(), d.data(), n);
    for (long i = 0; i < n; ++i) {
      EXPECT_NEAR(a[i], x[i] * ExactPhi(x[i]), 1e-6) << "n = " << n << " i = " << i;
      EXPECT_NEAR(d[i], 2.0 * ExactDerivative(x[i]), 1e-6) << "n = " << n << " i = " << i;
    }
    EXPECT_EQ(a[n], 7.0f) << "wrote past the end, n = " << n;
    EXPECT_EQ(d[n], 2.0f) << "wrote past the end, n = " << n;
    std::vector<float> in_place(x.begin(), x.begin() + n);
    GeluForwardAvx512(in_place.data(), in_place.data(), n);
    for (long i = 0; i < n; ++i) EXPECT_EQ(in_place[i], a[i]);
  }
}

TEST(GeluAvx512Test, Limits) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {-100.0f, -6.0f, 6.0f, 100.0f, nan, 0.0f, -0.0f};
  std::vector<float> a(x.size()), d(x.size(), 1.0f);
  GeluForwardAvx512(x.data(), a.data(), static_cast<long>(x.size()));
  GeluBackwardAvx512(x.data(), d.data(), static_cast<long>(x.size()));
  EXPECT_EQ(a[0], 0.0f);
  EXPECT_EQ(a[2], 6.0f);
  EXPECT_EQ(a[3], 100.0f);
  EXPECT_TRUE(std::isnan(a[4]));
  EXPECT_EQ(a[5], 0.0f);
  EXPECT_EQ(d[0], 0.0f);
  EXPECT_EQ(d[3], 1.0f);
  EXPECT_TRUE(std::isnan(d[4]));
  EXPECT_NEAR(d[5], 0.5, 1e-7);
  EXPECT_NEAR(d[6], 0.5, 1e-7);
}
#endif

}  // namespace
}  // namespace sim
