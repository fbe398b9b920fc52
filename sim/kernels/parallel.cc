#include "sim/kernels/parallel.h"

#include <algorithm>

#include <Eigen/Core>

#include "sim/core/check.h"

namespace sim {

namespace {

// Rows per block of the row-wise sums (RowSum): summed in registers, two AVX-512 vectors of floats;
// sums of fewer entries than kMinRowSumWork run on the calling thread.
constexpr Index kRowBlock = 32;
constexpr double kMinRowSumWork = 1 << 16;
// Entries per item of a parallel copy (256 KiB of floats).
constexpr Index kMinCopyBlock = 1 << 16;

}  // namespace

void SetNumThreads(int n) {
  SIM_CHECK(n <= kMaxThreads, "SetNumThreads: ", n, " threads, at most ", kMaxThreads);
  ThreadPool::Global().SetThreads(std::max(1, n));
}

int NumThreads() { return ThreadPool::Global().threads(); }

namespace {

// fn(start, len) over blocks of about kMinCopyBlock entries of a (rows x cols) matrix's columns, in
// parallel: the copy-like passes.
template <typename Fn>
void ForColumnBlocks(Index rows, Index cols, const Fn& fn) {
  const Index block = std::max<Index>(1, kMinCopyBlock / std::max<Index>(1, rows));  // columns per item
  ParallelFor(static_cast<int>((cols + block - 1) / block), [&](int i) {
    const Index start = i * block;
    fn(start, std::min(block, cols - start));
  });
}

}  // namespace

void ParallelAssign(MatRef dst, const ConstMatRef& src) {
  SIM_CHECK(dst.rows() == src.rows() && dst.cols() == src.cols(), "ParallelAssign: dst is (", dst.rows(), ", ",
            dst.cols(), "), src is (", src.rows(), ", ", src.cols(), ")");
  ForColumnBlocks(src.rows(), src.cols(),
                  [&](Index start, Index len) { dst.middleCols(start, len) = src.middleCols(start, len); });
}

void ParallelSetZero(MatRef dst) {
  ForColumnBlocks(dst.rows(), dst.cols(), [&](Index start, Index len) { dst.middleCols(start, len).setZero(); });
}

void RowSum(const ConstMatRef& x, VecRef out, bool accumulate) {
  SIM_CHECK(out.size() == x.rows(), "RowSum: out has ", out.size(), " rows, x has ", x.rows());
  // Blocks of kRowBlock rows in parallel, each summed over the columns in order (as the whole would
  // be); full blocks accumulate in registers (fixed size), the last partial one in place.
  const Index rows = x.rows(), cols = x.cols();
  const auto sum_rows = [&](Index start, Index len) {
    if (len == kRowBlock) {
      Eigen::Matrix<Scalar, kRowBlock, 1> acc;  // (kRowBlock)
      if (accumulate)
        acc = out.segment<kRowBlock>(start);
      else
        acc.setZero();
      for (Index j = 0; j < cols; ++j) acc += x.col(j).segment<kRowBlock>(start);
      out.segment<kRowBlock>(start) = acc;
      return;
    }
    auto o = out.segment(start, len);
    if (!accumulate) o.setZero();
    for (Index j = 0; j < cols; ++j) o += x.col(j).segment(start, len);
  };
  if (static_cast<double>(rows) * cols < kMinRowSumWork) {
    for (Index start = 0; start < rows; start += kRowBlock) sum_rows(start, std::min(kRowBlock, rows - start));
    return;
  }
  ParallelFor(static_cast<int>((rows + kRowBlock - 1) / kRowBlock), [&](int i) {
    const Index start = i * kRowBlock;
    sum_rows(start, std::min(kRowBlock, rows - start));
  });
}

}  // namespace sim
