// Matrix products whose results do not depend on the thread count: C (+)= op(A) op(B) cut into
// tiles by a rule that looks only at shapes, each tile computed by single-threaded code (the
// AVX-512 SGEMM and small-matrix kernels of this directory, or Eigen's GEMM kernel), tiles spread
// over the engine's threads (sim/kernels/parallel.h). The same inputs therefore give the same bits
// with 1 or N threads.
#pragma once

#include <vector>

#include "sim/core/types.h"
#include "sim/kernels/parallel.h"

namespace sim {

enum class Op { kN, kT };  // use a matrix as is, or transposed

// C = op(A) op(B)  (accumulate=false)   or   C += op(A) op(B)  (accumulate=true), C must not alias
// A or B. Eigen's GEMM kernel with packing buffers owned per thread, so no call allocates after
// warm-up. Gemm splits C into shape-determined tiles spread over the threads; GemmSerial runs on the
// calling thread (for products inside an already parallel loop).
// Grows every thread's GEMM packing buffers to fit an (m, n, k) product; call it on the main thread
// before a ParallelFor whose items call GemmSerial on such products, so no item allocates. Called
// inside a parallel item, it grows the calling thread's buffers only (the others may be in use).
void ReservePacking(Index m, Index n, Index k);
void GemmSerial(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate);

// An element-wise pass over one tile of C inside Gemm: fn(block, row0, col0), block = rows
// [row0, row0 + block.rows()) x columns [col0, col0 + block.cols()) of C. Gemm runs `before` on each
// tile just before its product is added there and `after` just after, on the thread that computes the
// tile while the tile is in cache: a bias or an activation applied this way costs no separate pass over
// C (nor a separate parallel region), and every element sees the same operations in the same order as
// with the pass done on all of C outside Gemm.
class TilePass {
 public:
  TilePass() = default;
  template <typename Fn>
  explicit TilePass(const Fn& fn)
      : run_([](const void* f, MatRef block, Index row0, Index col0) {
          (*static_cast<const Fn*>(f))(block, row0, col0);
        }),
        fn_(&fn) {}
  explicit operator bool() const { return run_ != nullptr; }
  void operator()(MatRef block, Index row0, Index col0) const { run_(fn_, block, row0, col0); }

 private:
  void (*run_)(const void*, MatRef, Index, Index) = nullptr;
  const void* fn_ = nullptr;
};

// C (+)= op(A) op(B) as above, tiles of C spread over the threads; with `before` and `after` passes
// (see TilePass): C = after(before(C) + op(A) op(B)) when accumulate, else after(op(A) op(B)) (then
// `before` must be empty).
void Gemm(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, MatRef c, bool accumulate,
          const TilePass& before = TilePass(), const TilePass& after = TilePass());

// C = after(bias 1ᵀ + op(A) op(B)), bias (C's rows): a linear layer's output. The kernels add the bias
// to each entry's finished sum as they store it, so no pass over C sets it first; the bits are those
// of filling C with the bias and calling Gemm with accumulate=true.
void GemmBias(const ConstMatRef& a, Op op_a, const ConstMatRef& b, Op op_b, const ConstVecRef& bias, MatRef c,
              const TilePass& after = TilePass());

// Where a step's product time goes (`sim bench --gemm-profile`): when on, every Gemm and GemmBias
// call is timed on the calling thread and added to its product shape's entry. Off by default (one
// branch per call; nothing allocated).
struct GemmProfileEntry {
  Index m = 0, n = 0, k = 0;  // C (m, n), depth k
  Op op_a = Op::kN, op_b = Op::kN;
  const char* form = "";  // "C = AB", "C += AB" or "C = b + AB" (GemmBias)
  long calls = 0;
  double seconds = 0;
};
void SetGemmProfiling(bool on);
// The entries so far, longest total time first; clears them.
std::vector<GemmProfileEntry> TakeGemmProfile();

}  // namespace sim
