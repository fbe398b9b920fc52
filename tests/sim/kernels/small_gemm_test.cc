// The unpacked small-matrix kernel (per-head attention products, narrow projections) against Eigen's
// product: both B layouts, row counts around the 16-row packets and the 32-, 48- and 64-row tiles,
// column counts around the 6- and 8-column tiles (partial tiles at the right edge), depths from 1,
// leading dimensions larger than the rows, overwrite and accumulate, and nothing written outside the
// m x n block. Relative tolerance 1e-5 of the result's scale (float sums of up to 70 products).
// And bit for bit against one FMA chain per entry (over k in order, then added to C): the kernel's
// tiling must not change a bit, so results do not depend on which tile computes an entry.
#include "sim/kernels/small_gemm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sim/core/rng.h"
#include "tests/testing/random_matrix.h"
#include "sim/core/types.h"

namespace sim {
namespace {

using testing::RandomMat;

#if defined(__AVX512F__)
TEST(SmallGemmTest, MatchesEigenOnEdgeShapes) {
  ASSERT_TRUE(HasSmallGemm());
  uint64_t seed = 1;
  for (Index m : {1, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 70, 96, 113, 128})
    for (Index n : {1, 2, 5, 6, 7, 8, 9, 13, 32, 35, 64})
      for (Index k : {1, 8, 16, 35, 64})
        for (const bool trans_b : {false, true}) {
          const Mat a = RandomMat(m + 3, k, ++seed);                                          // lda = m + 3
          const Mat b = trans_b ? RandomMat(n + 2, k, ++seed) : RandomMat(k + 2, n, ++seed);  // ldb > rows
          const Mat expected = a.topRows(m) * (trans_b ? Mat(b.topRows(n).transpose()) : Mat(b.topRows(k)));
          const Mat c0 = RandomMat(m + 5, n + 1, ++seed);  // ldc = m + 5, one column beyond n
          const double scale = 1e-5 * std::sqrt(static_cast<double>(k)) + 1e-6;
          for (const bool accumulate : {false, true}) {
            Mat c = c0;
            SmallGemm(trans_b, m, n, k, a.data(), a.rows(), b.data(), b.rows(), c.data(), c.rows(), accumulate);
            const Mat want = accumulate ? Mat(c0.topLeftCorner(m, n) + expected) : expected;
            ASSERT_LT((c.topLeftCorner(m, n) - want).cwiseAbs().maxCoeff(), scale)
                << "m=" << m << " n=" << n << " k=" << k << " trans_b=" << trans_b << " accumulate=" << accumulate;
            ASSERT_TRUE(c.bottomRows(5) == c0.bottomRows(5)) << "rows beyond m untouched, m=" << m << " n=" << n;
            ASSERT_TRUE(c.col(n) == c0.col(n)) << "column n untouched, m=" << m << " n=" << n;
          }
        }
}

TEST(SmallGemmTest, EveryEntryIsOneFmaChainInDepthOrder) {
  uint64_t seed = 100;
  for (Index m : {16, 17, 33, 40, 48, 64, 100, 128})
    for (Index n : {5, 6, 8, 13})
      for (Index k : {1, 16, 64, 130})
        for (const bool trans_b : {false, true}) {
          const Mat a = RandomMat(m, k, ++seed);
          const Mat b = trans_b ? RandomMat(n, k, ++seed) : RandomMat(k, n, ++seed);
          const Mat c0 = RandomMat(m, n, ++seed);
          for (const bool accumulate : {false, true}) {
            Mat c = c0;
            SmallGemm(trans_b, m, n, k, a.data(), m, b.data(), b.rows(), c.data(), m, accumulate);
            for (Index j = 0; j < n; ++j)
              for (Index i = 0; i < m; ++i) {
                float acc = 0.f;
                for (Index kk = 0; kk < k; ++kk) acc = std::fma(a(i, kk), trans_b ? b(j, kk) : b(kk, j), acc);
                const float want = accumulate ? c0(i, j) + acc : acc;
                ASSERT_EQ(c(i, j), want) << "entry (" << i << ", " << j << ") of m=" << m << " n=" << n << " k=" << k
                                         << " trans_b=" << trans_b << " accumulate=" << accumulate;
              }
          }
        }
}
#else
TEST(SmallGemmTest, AbsentWithoutAvx512) { EXPECT_FALSE(HasSmallGemm()); }
#endif

}  // namespace
}  // namespace sim
