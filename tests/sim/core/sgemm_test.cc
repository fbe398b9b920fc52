// The AVX-512 SGEMM against Eigen's product: every transpose combination, edge sizes around the
// 32 x 12 register tile and the 256/192/3072 blocks, leading dimensions larger than the rows,
// overwrite and accumulate. Relative tolerance 1e-5 of the result's scale (float, sums of up to
// 600 products).
#include "sim/core/sgemm_avx512.h"

#include <gtest/gtest.h>

#include <vector>

#include "sim/core/parallel.h"
#include "sim/core/rng.h"
#include "tests/testing/random_matrix.h"

namespace sim {
namespace {

using testing::RandomMat;

#if defined(__AVX512F__)  // builds without AVX-512 use Eigen's product; the test below covers both
TEST(SgemmTest, MatchesEigenOnEdgeShapes) {
  ASSERT_TRUE(HasAvx512Sgemm());
  std::vector<float> pack_a(kSgemmPackA + 16), pack_b(kSgemmPackB + 16);
  float* pa = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_a.data()) + 63) & ~uintptr_t{63});
  float* pb = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_b.data()) + 63) & ~uintptr_t{63});
  uint64_t seed = 1;
  for (Index m : {1, 31, 32, 33, 64, 193})
    for (Index n : {1, 11, 12, 13, 17, 20, 40, 3075})
      for (Index k : {1, 15, 16, 17, 257, 600})
        for (int ops = 0; ops < 4; ++ops) {
          if (m * n * k > 3000000) continue;
          const bool ta = ops & 1, tb = ops & 2;
          const Mat a = ta ? RandomMat(k + 3, m, ++seed) : RandomMat(m + 3, k, ++seed);  // leading dim > rows
          const Mat b = tb ? RandomMat(n + 2, k, ++seed) : RandomMat(k + 2, n, ++seed);
          const auto av = ta ? a.topRows(k) : a.topRows(m);
          const auto bv = tb ? b.topRows(n) : b.topRows(k);
          Mat expected = ta ? Mat(av.transpose()) : Mat(av);
          expected = expected * (tb ? Mat(bv.transpose()) : Mat(bv));
          Mat c = RandomMat(m + 5, n, ++seed), c0 = c;
          SgemmAvx512(m, n, k, a.data(), a.rows(), ta, b.data(), b.rows(), tb, c.data(), c.rows(), false, pa, pb);
          const double scale = 1e-5 * std::sqrt(static_cast<double>(k)) + 1e-6;
          ASSERT_LT((c.topRows(m) - expected).cwiseAbs().maxCoeff(), scale)
              << "overwrite m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb;
          ASSERT_TRUE(c.bottomRows(5) == c0.bottomRows(5)) << "rows beyond m untouched";
          Mat acc = c0;
          SgemmAvx512(m, n, k, a.data(), a.rows(), ta, b.data(), b.rows(), tb, acc.data(), acc.rows(), true, pa, pb);
          ASSERT_LT((acc.topRows(m) - (c0.topRows(m) + expected)).cwiseAbs().maxCoeff(), scale)
              << "accumulate m=" << m << " n=" << n << " k=" << k << " ta=" << ta << " tb=" << tb;
        }
}

// A column's bits do not depend on how many columns the product has: the last panel of a block is
// computed by a narrower kernel (4 or 8 columns) when it is that narrow, and must give the same
// bits as the full 12-column kernel that computes the same column in a wider product.
TEST(SgemmTest, NarrowLastPanelGivesTheSameBits) {
  std::vector<float> pack_a(kSgemmPackA + 16), pack_b(kSgemmPackB + 16);
  float* pa = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_a.data()) + 63) & ~uintptr_t{63});
  float* pb = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_b.data()) + 63) & ~uintptr_t{63});
  const Index m = 70, k = 300, wide = 36;
  for (int ops = 0; ops < 4; ++ops) {
    const bool ta = ops & 1, tb = ops & 2;
    const Mat a = ta ? RandomMat(k, m, 11) : RandomMat(m, k, 11);
    const Mat b = tb ? RandomMat(wide, k, 12) : RandomMat(k, wide, 12);
    const Vec bias = RandomMat(m, 1, 13);
    for (bool accumulate : {false, true}) {
      Mat reference = RandomMat(m, wide, 14);
      SgemmAvx512(m, wide, k, a.data(), a.rows(), ta, b.data(), b.rows(), tb, reference.data(), m, accumulate, pa,
                  pb, bias.data());
      for (Index n : {13, 16, 17, 20, 24}) {  // last panel 1, 4, 5, 8 and 12 columns wide
        Mat c = RandomMat(m, wide, 14);       // the same starting values as the reference's
        SgemmAvx512(m, n, k, a.data(), a.rows(), ta, b.data(), b.rows(), tb, c.data(), m, accumulate, pa, pb,
                    bias.data());
        EXPECT_TRUE(c.leftCols(n) == reference.leftCols(n))
            << "n=" << n << " ta=" << ta << " tb=" << tb << " accumulate=" << accumulate;
      }
    }
  }
}
#endif

// Gemm's tiles (over output columns, rows, or depth chunks) give the same bits for any thread count.
TEST(SgemmTest, GemmTilesAreThreadCountInvariant) {
  for (const auto& [m, n, k] : std::vector<std::tuple<Index, Index, Index>>{{128, 4096, 128}, {600, 64, 96}, {128, 96, 5000}}) {
    const Mat a = RandomMat(m, k, 1), b = RandomMat(k, n, 2);
    Mat c1(m, n), c2(m, n);
    SetNumThreads(1);
    Gemm(a, Op::kN, b, Op::kN, c1, false);
    SetNumThreads(2);
    Gemm(a, Op::kN, b, Op::kN, c2, false);
    SetNumThreads(1);
    EXPECT_TRUE((c1.array() == c2.array()).all()) << m << "x" << n << "x" << k;
    EXPECT_LT((c1 - a * b).cwiseAbs().maxCoeff(), 1e-4 * std::sqrt(static_cast<double>(k)));
  }
}

}  // namespace
}  // namespace sim
