// The AVX-512 SGEMM against Eigen's product: every transpose combination, edge sizes around the
// 32 x 12 register tile and the 256/192/3072 blocks, leading dimensions larger than the rows,
// overwrite and accumulate. Relative tolerance 1e-5 of the result's scale (float, sums of up to
// 600 products).
#include "sim/kernels/sgemm_avx512.h"

#include <gtest/gtest.h>

#include <atomic>
#include <tuple>
#include <vector>

#include "sim/kernels/gemm.h"
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
      SgemmAvx512(m, wide, k, a.data(), a.rows(), ta, b.data(), b.rows(), tb, reference.data(), m, accumulate, pa, pb,
                  bias.data());
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

// The transposed copy that the unpacked kernel's callers make of a transposed A: exact, around the
// 16 x 16 blocks, with leading dimensions larger than the rows.
TEST(SgemmTest, TransposeCopiesExactly) {
  for (Index rows : {1, 15, 16, 17, 33, 64, 70})
    for (Index cols : {1, 5, 16, 31, 48, 65}) {
      const Mat src = RandomMat(rows + 3, cols, static_cast<uint64_t>(rows * 100 + cols));
      Mat dst = Mat::Constant(cols + 2, rows, 7.0f);
      TransposeAvx512(rows, cols, src.data(), src.rows(), dst.data(), dst.rows());
      EXPECT_TRUE(dst.topRows(cols) == src.topRows(rows).transpose()) << rows << " x " << cols;
      EXPECT_TRUE((dst.bottomRows(2).array() == 7.0f).all()) << "wrote past the rows, " << rows << " x " << cols;
    }
}

// op(A) packed once (SgemmPackA, in two panel ranges as two threads could) and multiplied by column
// slices of B (SgemmAvx512Packed, as Gemm's column tiles do) gives the bits of the whole product.
TEST(SgemmTest, PackedOnceGivesTheSameBits) {
  std::vector<float> pack_a(kSgemmPackA + 16), pack_b(kSgemmPackB + 16);
  float* pa = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_a.data()) + 63) & ~uintptr_t{63});
  float* pb = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_b.data()) + 63) & ~uintptr_t{63});
  uint64_t seed = 100;
  for (Index m : {1, 33, 193, 416})
    for (Index k : {1, 17, 300, 600})
      for (int ops = 0; ops < 4; ++ops) {
        const bool ta = ops & 1, tb = ops & 2;
        const Index n = 100;
        const Mat a = ta ? RandomMat(k + 3, m, ++seed) : RandomMat(m + 3, k, ++seed);
        const Mat b = tb ? RandomMat(n + 2, k, ++seed) : RandomMat(k + 2, n, ++seed);
        const Vec bias = RandomMat(m, 1, ++seed);
        std::vector<float> packed(SgemmPackedASize(m, k) + 16);
        float* pw = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(packed.data()) + 63) & ~uintptr_t{63});
        const Index panels = (m + kSgemmPanelRows - 1) / kSgemmPanelRows;
        SgemmPackA(m, k, a.data(), a.rows(), ta, 0, panels / 2, pw);
        SgemmPackA(m, k, a.data(), a.rows(), ta, panels / 2, panels, pw);
        for (int form = 0; form < 3; ++form) {  // overwrite, with a bias, accumulate
          const bool accumulate = form == 2;
          const float* bias_ptr = form == 1 ? bias.data() : nullptr;
          Mat reference = RandomMat(m, n, seed + 1), c = reference;
          SgemmAvx512(m, n, k, a.data(), a.rows(), ta, b.data(), b.rows(), tb, reference.data(), m, accumulate, pa, pb,
                      bias_ptr);
          for (Index j0 = 0; j0 < n; j0 += 40) {  // column tiles 40, 40, 20 wide
            const Index cols = std::min<Index>(40, n - j0);
            const float* b_tile = tb ? b.data() + j0 : b.data() + j0 * b.rows();
            SgemmAvx512Packed(m, cols, k, pw, b_tile, b.rows(), tb, c.data() + j0 * m, m, accumulate, pb, bias_ptr);
          }
          EXPECT_TRUE(c == reference) << "m=" << m << " k=" << k << " ta=" << ta << " tb=" << tb << " form=" << form;
        }
      }
}

// Narrow A Bᵀ products (a side of at most 64) are read in place, without packing: the bits of the
// packed path (op(A) packed once, SgemmAvx512Packed), for whole and partial 12-column panels, several
// depth blocks, leading dimensions larger than the rows, overwrite, bias and accumulate; and shapes
// just outside the in-place rule (m not a multiple of 32, n not of 4, both sides above 64).
TEST(SgemmTest, InPlaceNarrowProductsGiveThePackedBits) {
  std::vector<float> pack_a(kSgemmPackA + 16), pack_b(kSgemmPackB + 16);
  float* pa = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_a.data()) + 63) & ~uintptr_t{63});
  float* pb = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_b.data()) + 63) & ~uintptr_t{63});
  uint64_t seed = 500;
  for (Index m : {32, 64, 70, 96, 256})
    for (Index n : {4, 8, 12, 20, 40, 64, 66, 96, 256})
      for (Index k : {1, 17, 300, 600}) {
        const Mat a = RandomMat(m + 3, k, ++seed);  // A (m, k), B (n, k): C = A Bᵀ
        const Mat b = RandomMat(n + 2, k, ++seed);
        const Vec bias = RandomMat(m, 1, ++seed);
        std::vector<float> packed(SgemmPackedASize(m, k) + 16);
        float* pw = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(packed.data()) + 63) & ~uintptr_t{63});
        SgemmPackA(m, k, a.data(), a.rows(), false, 0, (m + kSgemmPanelRows - 1) / kSgemmPanelRows, pw);
        for (int form = 0; form < 3; ++form) {  // overwrite, with a bias, accumulate
          const bool accumulate = form == 2;
          const float* bias_ptr = form == 1 ? bias.data() : nullptr;
          Mat packed_c = RandomMat(m + 1, n, seed + 1), c = packed_c;
          SgemmAvx512Packed(m, n, k, pw, b.data(), b.rows(), true, packed_c.data(), m + 1, accumulate, pb, bias_ptr);
          SgemmAvx512(m, n, k, a.data(), a.rows(), false, b.data(), b.rows(), true, c.data(), m + 1, accumulate, pa, pb,
                      bias_ptr);
          EXPECT_TRUE(c == packed_c) << "m=" << m << " n=" << n << " k=" << k << " form=" << form;
        }
      }
}

// Gemm's column tiles share one packed op(A) when A is too large for the unpacked kernel: the
// result has the bits of one SgemmAvx512 call on the whole product, on 1 and 2 threads, for
// Gemm and GemmBias (a TilePass sees every tile once).
TEST(SgemmTest, GemmSharedPackedAGivesTheBitsOfOneProduct) {
  std::vector<float> pack_a(kSgemmPackA + 16), pack_b(kSgemmPackB + 16);
  float* pa = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_a.data()) + 63) & ~uintptr_t{63});
  float* pb = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pack_b.data()) + 63) & ~uintptr_t{63});
  for (const auto& [m, n, k] : std::vector<std::tuple<Index, Index, Index>>{{256, 4096, 96}, {70, 1000, 300}}) {
    for (int ops = 0; ops < 4; ++ops) {
      const Op op_a = ops & 1 ? Op::kT : Op::kN, op_b = ops & 2 ? Op::kT : Op::kN;
      const Mat a = op_a == Op::kT ? RandomMat(k, m, 21) : RandomMat(m, k, 21);
      const Mat b = op_b == Op::kT ? RandomMat(n, k, 22) : RandomMat(k, n, 22);
      const Vec bias = RandomMat(m, 1, 23);
      Mat reference(m, n), reference_bias(m, n);
      SgemmAvx512(m, n, k, a.data(), a.rows(), op_a == Op::kT, b.data(), b.rows(), op_b == Op::kT, reference.data(), m,
                  false, pa, pb);
      SgemmAvx512(m, n, k, a.data(), a.rows(), op_a == Op::kT, b.data(), b.rows(), op_b == Op::kT,
                  reference_bias.data(), m, false, pa, pb, bias.data());
      for (int threads : {1, 2}) {
        SetNumThreads(threads);
        Mat c(m, n), c_bias(m, n);
        Gemm(a, op_a, b, op_b, c, false);
        std::atomic<Index> passed_cols{0};
        GemmBias(a, op_a, b, op_b, bias, c_bias,
                 TilePass([&](MatRef tile, Index, Index) { passed_cols += tile.cols(); }));
        EXPECT_TRUE(c == reference) << m << "x" << n << "x" << k << " ops=" << ops << " threads=" << threads;
        EXPECT_TRUE(c_bias == reference_bias) << m << "x" << n << "x" << k << " ops=" << ops << " threads=" << threads;
        EXPECT_EQ(passed_cols.load(), n);
      }
      SetNumThreads(1);
    }
  }
}
#endif

// Gemm's tiles (over output columns, rows, or depth chunks) give the same bits for any thread count.
TEST(SgemmTest, GemmTilesAreThreadCountInvariant) {
  for (const auto& [m, n, k] :
       std::vector<std::tuple<Index, Index, Index>>{{128, 4096, 128}, {600, 64, 96}, {128, 96, 5000}}) {
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
