// The engine's parallel loop and the element-wise passes built on it, with results that do not
// depend on the thread count: work is cut into items by a rule that looks only at shapes, never at
// the number of threads, and each item is computed by single-threaded code (Eigen is built with
// EIGEN_DONT_PARALLELIZE). Matrix products are in sim/kernels/gemm.h.
#pragma once

#include "sim/kernels/thread_pool.h"
#include "sim/core/types.h"

namespace sim {

// At most this many threads (per-thread buffers are sized for it).
constexpr int kMaxThreads = 256;

// Number of threads the engine uses (>= 1; the calling thread is one of them).
void SetNumThreads(int n);
int NumThreads();

// Calls fn(i) for i in [0, n) on the engine's threads (sim/kernels/thread_pool.h). Items must write
// disjoint outputs; per-thread scratch is indexed by ThreadIndex().
template <typename Fn>
void ParallelFor(int n, const Fn& fn) {
  ThreadPool::Global().Run(n, fn);
}

// Index of the calling thread, in [0, NumThreads()).
inline int ThreadIndex() { return ThreadPool::ThreadIndex(); }

// dst = src, blocks of columns in parallel.
void ParallelAssign(MatRef dst, const ConstMatRef& src);
// dst = 0, blocks of columns in parallel.
void ParallelSetZero(MatRef dst);

// out(:) (+)= sum over columns of x, in column order for every row (blocks of rows in parallel, so the
// bits do not depend on the thread count): x (R, N) -> out (R).
void RowSum(const ConstMatRef& x, VecRef out, bool accumulate);

}  // namespace sim
