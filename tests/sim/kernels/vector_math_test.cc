// SoftmaxInPlace and ExpShiftSum (sim/kernels/vector_math.h) on every length from 1 to 50, so every
// tail length after 0, 1, 2 and 3 whole packets is seen: values against a double computation,
// nothing written past n, and a tail entry gets exactly the bits of the same value in a whole packet
// (the tail takes the vectorized path, so results do not depend on where an entry sits); the
// interleaved softmax of four arrays gives each array the bits of SoftmaxInPlace alone.
#include "sim/kernels/vector_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "sim/core/rng.h"

namespace sim {
namespace {

constexpr Index kLanes = Eigen::internal::packet_traits<Scalar>::size;
constexpr Index kGuard = 20;  // entries after n that must stay untouched
const Scalar kSentinel = std::numeric_limits<Scalar>::quiet_NaN();

// n random scores in [-4, 4), then kGuard sentinels.
std::vector<Scalar> Scores(Index n, uint64_t seed) {
  Rng rng(seed);
  std::vector<Scalar> x(n + kGuard, kSentinel);
  for (Index i = 0; i < n; ++i) x[i] = static_cast<Scalar>(8 * rng.Uniform() - 4);
  return x;
}

void ExpectGuardsUntouched(const std::vector<Scalar>& x, Index n) {
  for (Index i = n; i < n + kGuard; ++i) ASSERT_TRUE(std::isnan(x[i])) << "entry " << i << " written, n = " << n;
}

TEST(VectorMathTest, SoftmaxMatchesDoubleAndWritesNothingPastN) {
  for (Index n = 1; n <= 50; ++n) {
    const double scale = 0.37;
    std::vector<Scalar> x = Scores(n, 100 + n);
    const std::vector<Scalar> in = x;
    SoftmaxInPlace(x.data(), n, static_cast<Scalar>(scale));
    double max = -1e300, sum = 0;
    for (Index i = 0; i < n; ++i) max = std::max(max, static_cast<double>(in[i]));
    for (Index i = 0; i < n; ++i) sum += std::exp(scale * (in[i] - max));
    for (Index i = 0; i < n; ++i)
      ASSERT_NEAR(x[i], std::exp(scale * (in[i] - max)) / sum, 1e-6) << "n = " << n << ", entry " << i;
    ExpectGuardsUntouched(x, n);
  }
}

TEST(VectorMathTest, SoftmaxMaximumInTheTailAndAllEqual) {
  for (Index n : {Index(1), Index(5), kLanes - 1, kLanes + 3, 2 * kLanes + 7}) {
    std::vector<Scalar> x(n + kGuard, kSentinel);
    for (Index i = 0; i < n; ++i) x[i] = Scalar(-3);
    x[n - 1] = Scalar(60);  // exp(60) overflows float unless the tail's maximum is subtracted
    SoftmaxInPlace(x.data(), n);
    EXPECT_NEAR(x[n - 1], 1.0, 1e-6) << "n = " << n;
    ExpectGuardsUntouched(x, n);
    for (Index i = 0; i < n; ++i) x[i] = Scalar(-2);  // all equal: 1/n each
    SoftmaxInPlace(x.data(), n);
    for (Index i = 0; i < n; ++i) EXPECT_NEAR(x[i], 1.0 / n, 1e-6) << "n = " << n;
  }
}

TEST(VectorMathTest, TailEntriesGetTheBitsOfWholePacketEntries) {
  for (Index rest = 1; rest < kLanes; ++rest) {
    // The tail repeats the first entries of the first packet, with the maximum in the packet.
    const Index n = kLanes + rest;
    std::vector<Scalar> x = Scores(n, 7 + rest);
    for (Index j = 0; j < rest; ++j) x[kLanes + j] = x[j];
    x[rest] = Scalar(5);
    std::vector<Scalar> e(n + kGuard, kSentinel);
    const Scalar shift = Scalar(0.75);
    const Scalar sum = ExpShiftSum(x.data(), n, shift, e.data());
    for (Index j = 0; j < rest; ++j) ASSERT_EQ(e[kLanes + j], e[j]) << "rest = " << rest << ", lane " << j;
    ExpectGuardsUntouched(e, n);
    double want = 0;
    for (Index i = 0; i < n; ++i) want += std::exp(static_cast<double>(x[i]) - shift);
    EXPECT_NEAR(sum, want, 1e-6 * want);
    EXPECT_EQ(ExpShiftSum(x.data(), n, shift, nullptr), sum);  // without outputs: the same sum
    SoftmaxInPlace(x.data(), n, Scalar(0.5));
    for (Index j = 0; j < rest; ++j) ASSERT_EQ(x[kLanes + j], x[j]) << "rest = " << rest << ", lane " << j;
  }
}

TEST(VectorMathTest, InterleavedSoftmaxEqualsOneArrayAtATime) {
  // Four arrays of different lengths (causal columns, whole packets, tails) per call.
  const Index lengths[][4] = {{1, 2, 3, 4}, {15, 16, 17, 33}, {35, 35, 35, 35}, {64, 1, 47, 18}};
  for (const auto& n : lengths) {
    std::vector<std::vector<Scalar>> one, four;
    Scalar* ptrs[4];
    for (int g = 0; g < 4; ++g) {
      one.push_back(Scores(n[g], 50 + g + 4 * n[g]));
      four.push_back(one.back());
    }
    for (int g = 0; g < 4; ++g) {
      SoftmaxInPlace(one[g].data(), n[g], Scalar(0.3));
      ptrs[g] = four[g].data();
    }
    SoftmaxInPlaceInterleaved<4>(ptrs, n, Scalar(0.3));
    for (int g = 0; g < 4; ++g) {
      for (Index i = 0; i < n[g]; ++i) ASSERT_EQ(four[g][i], one[g][i]) << "array " << g << ", entry " << i;
      ExpectGuardsUntouched(four[g], n[g]);
    }
  }
}

}  // namespace
}  // namespace sim
