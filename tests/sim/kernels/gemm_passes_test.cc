// Gemm's per-tile passes (TilePass), the transposed A shared by column tiles, RowSum over row blocks
// and ParallelAssign: each must give exactly the bits of the plain serial computation they replace,
// with one thread and with two, on shapes that reach every tiling path of Gemm (one piece, column
// tiles, row tiles, depth chunks).
#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "sim/core/error.h"
#include "sim/kernels/gemm.h"
#include "sim/core/rng.h"
#include "tests/testing/random_matrix.h"

namespace sim {
namespace {

using testing::RandomMat;

bool SameBits(const ConstMatRef& x, const ConstMatRef& y) {
  return x.rows() == y.rows() && x.cols() == y.cols() && (x.array() == y.array()).all();
}

// (m, n, k): one piece (< 2^18 multiply-adds), column tiles, row tiles, depth chunks; column tiles
// on the unpacked kernel's 48-row tile and on the packed kernel with two depth blocks.
const std::vector<std::tuple<Index, Index, Index>> kShapes = {{24, 40, 16},   {64, 2048, 64}, {1100, 48, 40},
                                                              {48, 40, 4500}, {40, 1024, 64}, {200, 700, 300}};

class GemmPassesTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { SetNumThreads(GetParam()); }
  void TearDown() override { SetNumThreads(1); }
};

// before = set a bias, after = an element-wise pass: the same bits as setting the bias, Gemm without
// passes and the pass over all of C; the passes see every element exactly once, with the right row
// and column offsets.
TEST_P(GemmPassesTest, PassesEqualSeparatePasses) {
  for (const auto& [m, n, k] : kShapes) {
    for (const Op op_a : {Op::kN, Op::kT}) {
      const Mat a = op_a == Op::kN ? RandomMat(m, k, 1) : RandomMat(k, m, 1);
      const Mat b = RandomMat(k, n, 2);
      const Vec bias = RandomMat(m, 1, 3).col(0);
      const Mat offsets = RandomMat(m, n, 4);  // the `after` pass adds the offset at its (row, col)

      Mat expected(m, n);
      expected.colwise() = bias;
      Gemm(a, op_a, b, Op::kN, expected, true);
      expected = (expected.array() * Scalar(0.5) + offsets.array()).matrix();

      Mat visits = Mat::Zero(m, n);
      const auto set_bias = [&](MatRef block, Index row0, Index) {
        block.colwise() = bias.segment(row0, block.rows());
      };
      const auto after = [&](MatRef block, Index row0, Index col0) {
        block = (block.array() * Scalar(0.5) + offsets.block(row0, col0, block.rows(), block.cols()).array()).matrix();
        visits.block(row0, col0, block.rows(), block.cols()).array() += 1;
      };
      Mat c(m, n);
      Gemm(a, op_a, b, Op::kN, c, true, TilePass(set_bias), TilePass(after));
      EXPECT_TRUE(SameBits(c, expected)) << m << "x" << n << "x" << k << " op_a " << (op_a == Op::kT);
      EXPECT_TRUE((visits.array() == 1).all()) << m << "x" << n << "x" << k << ": every element once";
    }
  }
}

// GemmBias (the kernels add the bias as they store C): the bits of filling C with the bias and
// accumulating the product, on every tiling path, both kernels and both layouts of A and B.
TEST_P(GemmPassesTest, GemmBiasEqualsFillingThenAccumulating) {
  for (const auto& [m, n, k] : kShapes) {
    for (const Op op_a : {Op::kN, Op::kT})
      for (const Op op_b : {Op::kN, Op::kT}) {
        const Mat a = op_a == Op::kN ? RandomMat(m, k, 11) : RandomMat(k, m, 11);
        const Mat b = op_b == Op::kN ? RandomMat(k, n, 12) : RandomMat(n, k, 12);
        const Vec bias = RandomMat(m, 1, 13).col(0);
        Mat expected(m, n);
        expected.colwise() = bias;
        Gemm(a, op_a, b, op_b, expected, true);
        expected.array() *= 2;
        Mat c = RandomMat(m, n, 14);  // overwritten
        const auto twice = [](MatRef block, Index, Index) { block.array() *= 2; };
        GemmBias(a, op_a, b, op_b, bias, c, TilePass(twice));
        EXPECT_TRUE(SameBits(c, expected))
            << m << "x" << n << "x" << k << " op_a " << (op_a == Op::kT) << " op_b " << (op_b == Op::kT);
      }
  }
  const Mat a = RandomMat(8, 4, 15), b = RandomMat(4, 6, 16);
  Mat c(8, 6);
  EXPECT_THROW(GemmBias(a, Op::kN, b, Op::kN, Vec::Zero(7), c), ShapeError);
}

// Accumulate without passes still adds to C; an `after` pass alone runs on the finished sum.
TEST_P(GemmPassesTest, AccumulateThenAfter) {
  for (const auto& [m, n, k] : kShapes) {
    const Mat a = RandomMat(m, k, 5), b = RandomMat(k, n, 6), c0 = RandomMat(m, n, 7);
    Mat expected = c0;
    Gemm(a, Op::kN, b, Op::kN, expected, true);
    expected.array() += 1;
    Mat c = c0;
    const auto add_one = [](MatRef block, Index, Index) { block.array() += 1; };
    Gemm(a, Op::kN, b, Op::kN, c, true, TilePass(), TilePass(add_one));
    EXPECT_TRUE(SameBits(c, expected)) << m << "x" << n << "x" << k;
  }
}

TEST_P(GemmPassesTest, RowSumEqualsColumnOrderSum) {
  for (const auto& [rows, cols] : std::vector<std::pair<Index, Index>>{{5, 7}, {64, 2048}, {100, 4096}}) {
    const Mat x = RandomMat(rows, cols, 8);
    Vec expected = RandomMat(rows, 1, 9).col(0), out = expected;
    for (Index j = 0; j < cols; ++j) expected += x.col(j);
    RowSum(x, out, true);
    EXPECT_TRUE(SameBits(out, expected)) << rows << "x" << cols << " accumulate";
    RowSum(x, out, false);
    expected.setZero();
    for (Index j = 0; j < cols; ++j) expected += x.col(j);
    EXPECT_TRUE(SameBits(out, expected)) << rows << "x" << cols;
  }
}

TEST_P(GemmPassesTest, ParallelAssignCopies) {
  const Mat src = RandomMat(64, 5000, 10);
  Mat dst = Mat::Zero(64, 5000);
  ParallelAssign(dst, src);
  EXPECT_TRUE(SameBits(dst, src));
  Mat wrong(63, 5000);
  EXPECT_ANY_THROW(ParallelAssign(wrong, src));
}

INSTANTIATE_TEST_SUITE_P(Threads, GemmPassesTest, ::testing::Values(1, 2));

// A `before` pass needs accumulate: without it the product would overwrite what the pass wrote.
TEST(GemmPassesContractTest, BeforeWithoutAccumulateIsRejected) {
  const Mat a = RandomMat(8, 8, 11), b = RandomMat(8, 8, 12);
  Mat c(8, 8);
  const auto noop = [](MatRef, Index, Index) {};
  EXPECT_ANY_THROW(Gemm(a, Op::kN, b, Op::kN, c, false, TilePass(noop)));
}

}  // namespace
}  // namespace sim
