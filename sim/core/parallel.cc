#include "sim/core/parallel.h"

#include <omp.h>

#include <algorithm>
#include <Eigen/Core>

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

// Thread-local packing buffers for the GEMM kernel: they grow to the largest product seen and are
// then reused, so products allocate nothing after warm-up (Eigen's own path would heap-allocate
// packing blocks above EIGEN_STACK_ALLOCATION_LIMIT on every call).
struct PackingBuffers {
  Scalar* a = nullptr;
  Scalar* b = nullptr;
  size_t a_size = 0;
  size_t b_size = 0;
  static Scalar* Grow(Scalar*& p, size_t& have, size_t need) {
    if (need > have) {
      Eigen::internal::aligned_free(p);
      p = static_cast<Scalar*>(Eigen::internal::aligned_malloc(need * sizeof(Scalar)));
      have = need;
    }
    return p;
  }
  ~PackingBuffers() {
    Eigen::internal::aligned_free(a);
    Eigen::internal::aligned_free(b);
  }
};
thread_local PackingBuffers t_packing;

// Eigen's blocking descriptor, pointed at our buffers.
class PreallocatedBlocking : public Eigen::internal::level3_blocking<Scalar, Scalar> {
 public:
  PreallocatedBlocking(Index kc, Index mc, Index nc, Scalar* block_a, Scalar* block_b) {
    this->m_kc = kc;
    this->m_mc = mc;
    this->m_nc = nc;
    this->m_blockA = block_a;
    this->m_blockB = block_b;
  }
};

// C (m, n, column stride ldc) += A B with A (m, k) and B (k, n) in the given storage orders:
// Eigen's cache-blocked GEMM kernel (gebp), single-threaded, blocking sizes from the shape only.
template <int kLhsOrder, int kRhsOrder>
void KernelGemm(Index m, Index n, Index k, const Scalar* a, Index lda, const Scalar* b, Index ldb, Scalar* c,
                Index ldc) {
  Index kc = k, mc = m, nc = n;
  Eigen::internal::computeProductBlockingSizes<Scalar, Scalar, 1>(kc, mc, nc, Index(1));
  PackingBuffers& buf = t_packing;
  Scalar* block_a = PackingBuffers::Grow(buf.a, buf.a_size, static_cast<size_t>(kc * mc));
  Scalar* block_b = PackingBuffers::Grow(buf.b, buf.b_size, static_cast<size_t>(kc * nc));
  PreallocatedBlocking blocking(kc, mc, nc, block_a, block_b);
  Eigen::internal::general_matrix_matrix_product<Index, Scalar, kLhsOrder, false, Scalar, kRhsOrder, false,
                                                 Eigen::ColMajor, 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc,
                                                                          Scalar(1), blocking, nullptr);
}

void ProductOps(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate) {
  const Index m = c.rows(), n = c.cols();
  const Index k = op_a == Op::kN ? a.cols() : a.rows();
  if (!accumulate) c.setZero();
  if (m == 0 || n == 0 || k == 0) return;
  // A column-major matrix read transposed is a row-major matrix with the same stride.
  const Index lda = a.outerStride(), ldb = b.outerStride(), ldc = c.outerStride();
  constexpr int kCol = Eigen::ColMajor, kRow = Eigen::RowMajor;
  if (op_a == Op::kN && op_b == Op::kN)
    KernelGemm<kCol, kCol>(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  else if (op_a == Op::kT && op_b == Op::kN)
    KernelGemm<kRow, kCol>(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  else if (op_a == Op::kN && op_b == Op::kT)
    KernelGemm<kCol, kRow>(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
  else
    KernelGemm<kRow, kRow>(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
}

void CheckGemmShapes(const char* where, const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b,
                     const MatRef& c) {
  const Index m = op_a == Op::kN ? a.rows() : a.cols();
  const Index k = op_a == Op::kN ? a.cols() : a.rows();
  const Index kb = op_b == Op::kN ? b.rows() : b.cols();
  const Index n = op_b == Op::kN ? b.cols() : b.rows();
  if (k != kb || c.rows() != m || c.cols() != n)
    throw ShapeError(Concat(where, ": op(A) is (", m, ", ", k, "), op(B) is (", kb, ", ", n, "), C is (",
                            c.rows(), ", ", c.cols(), ")"));
}

}  // namespace

void SetNumThreads(int n) { g_threads = std::max(1, n); }

int NumThreads() { return g_threads; }

void GemmSerial(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate) {
  CheckGemmShapes("GemmSerial", a, op_a, b, op_b, c);
  ProductOps(a, op_a, b, op_b, c, accumulate);
}

void Gemm(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate) {
  CheckGemmShapes("Gemm", a, op_a, b, op_b, c);
  const Index m = c.rows(), n = c.cols();
  const Index k = op_a == Op::kN ? a.cols() : a.rows();
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
