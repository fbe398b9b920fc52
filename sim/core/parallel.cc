#include "sim/core/parallel.h"

#include <omp.h>

#include <algorithm>

#include "sim/core/check.h"

namespace sim {

namespace {
int g_threads = 1;

// Products smaller than this many multiply-adds run as one tile.
constexpr double kMinTileWork = 1 << 18;
// Tiles per product when it is large: enough to balance up to 8 threads.
constexpr int kTargetTiles = 8;
// Tile widths are multiples of this, to keep Eigen's kernels on full panels.
constexpr Index kTileQuantum = 16;

template <typename A, typename B>
void Product(const A& a, const B& b, MatRef c, bool accumulate) {
  if (accumulate)
    c.noalias() += a * b;
  else
    c.noalias() = a * b;
}

void ProductOps(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c,
                bool accumulate) {
  if (op_a == Op::kN && op_b == Op::kN)
    Product(a, b, c, accumulate);
  else if (op_a == Op::kT && op_b == Op::kN)
    Product(a.transpose(), b, c, accumulate);
  else if (op_a == Op::kN && op_b == Op::kT)
    Product(a, b.transpose(), c, accumulate);
  else
    Product(a.transpose(), b.transpose(), c, accumulate);
}
}  // namespace

void SetNumThreads(int n) { g_threads = std::max(1, n); }

int NumThreads() { return g_threads; }

void Gemm(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate) {
  const Index m = op_a == Op::kN ? a.rows() : a.cols();
  const Index k = op_a == Op::kN ? a.cols() : a.rows();
  const Index kb = op_b == Op::kN ? b.rows() : b.cols();
  const Index n = op_b == Op::kN ? b.cols() : b.rows();
  if (k != kb || c.rows() != m || c.cols() != n)
    throw ShapeError(Concat("Gemm: op(A) is (", m, ", ", k, "), op(B) is (", kb, ", ", n,
                            "), C is (", c.rows(), ", ", c.cols(), ")"));
  const double work = static_cast<double>(m) * n * k;
  const bool split_cols = n >= m;
  const Index extent = split_cols ? n : m;
  Index tile = extent;
  if (work >= kMinTileWork && extent >= 2 * kTileQuantum) {
    tile = (extent + kTargetTiles - 1) / kTargetTiles;
    tile = (tile + kTileQuantum - 1) / kTileQuantum * kTileQuantum;
  }
  const int n_tiles = static_cast<int>((extent + tile - 1) / tile);
  if (n_tiles == 1) {
    ProductOps(a, op_a, b, op_b, c, accumulate);
    return;
  }
  ParallelFor(n_tiles, [&](int i) {
    const Index start = i * tile;
    const Index len = std::min(tile, extent - start);
    if (split_cols) {
      // Columns of C come from columns of op(B).
      if (op_b == Op::kN)
        ProductOps(a, op_a, b.middleCols(start, len), op_b, c.middleCols(start, len), accumulate);
      else
        ProductOps(a, op_a, b.middleRows(start, len), op_b, c.middleCols(start, len), accumulate);
    } else {
      // Rows of C come from rows of op(A).
      if (op_a == Op::kN)
        ProductOps(a.middleRows(start, len), op_a, b, op_b, c.middleRows(start, len), accumulate);
      else
        ProductOps(a.middleCols(start, len), op_a, b, op_b, c.middleRows(start, len), accumulate);
    }
  });
}

void RowSum(const ConstMatRef& x, VecRef out, bool accumulate) {
  SIM_CHECK(out.size() == x.rows(), "RowSum: out has ", out.size(), " rows, x has ", x.rows());
  if (!accumulate) out.setZero();
  for (Index j = 0; j < x.cols(); ++j) out += x.col(j);
}

}  // namespace sim
