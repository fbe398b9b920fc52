// Single-precision GEMM for AVX-512, single-threaded: C += op(A) op(B) or C = op(A) op(B).
//
// A BLIS-style blocked product (Goto & van de Geijn 2008; Van Zee & van de Geijn 2015): B is packed
// in kKc x kNc blocks of 12-column panels, A in kMc x kKc blocks of 32-row panels, and a 32 x 12
// register-tile kernel (24 zmm accumulators, two FMAs per broadcast) computes each tile: nearer one
// core's FMA peak than Eigen 3.4's kernel on the engine's shapes (docs/benchmarks.md#sgemm-kernel).
// Blocking sizes are constants, so results depend only on the shapes.
// Narrow products A Bᵀ (a side of at most 64: the weight gradients of small models) skip packing:
// their panels are already laid out as packing would lay them, only further apart, and the kernel
// reads them in place (the same FMAs: the same bits as packed).
//
// Storage: every matrix is column-major with its leading dimension; `trans` reads it transposed.
#pragma once

#include <cstddef>

namespace sim {

// True when this build has the AVX-512 kernel (otherwise callers use Eigen's product).
bool HasAvx512Sgemm();

// Floats each thread's packing buffers must hold (64-byte aligned).
inline constexpr std::size_t kSgemmPackA = 192 * 256;
inline constexpr std::size_t kSgemmPackB = 256 * 3072;

// C (m x n, leading dimension ldc) (+)= op(A) op(B); op(A) is m x k, op(B) is k x n. With a bias (m
// entries) and accumulate=false: C = bias 1ᵀ + op(A) op(B), the bias added where the first depth block
// is stored (the same bits as filling C with the bias and accumulating, without that pass over C).
void SgemmAvx512(long m, long n, long k, const float* a, long lda, bool trans_a, const float* b, long ldb, bool trans_b,
                 float* c, long ldc, bool accumulate, float* pack_a, float* pack_b, const float* bias = nullptr);

// dst (cols x rows, leading dimension ldd) = srcᵀ, src (rows x cols, leading dimension lds): 16 x 16
// blocks transposed in registers (a copy: no arithmetic, the same values).
void TransposeAvx512(long rows, long cols, const float* src, long lds, float* dst, long ldd);

// The whole of op(A) packed once, for several products that share it (the column tiles of one
// product, on any thread): SgemmPackA lays out panels [panel_begin, panel_end) of 32 rows (all of
// them: 0 to ceil(m / 32)) in a buffer of SgemmPackedASize(m, k) floats (64-byte aligned), and
// SgemmAvx512Packed multiplies with it, giving the same bits as SgemmAvx512 with op(A) unpacked.
inline constexpr long kSgemmPanelRows = 32;
std::size_t SgemmPackedASize(long m, long k);
void SgemmPackA(long m, long k, const float* a, long lda, bool trans_a, long panel_begin, long panel_end,
                float* packed_a);
void SgemmAvx512Packed(long m, long n, long k, const float* packed_a, const float* b, long ldb, bool trans_b, float* c,
                       long ldc, bool accumulate, float* pack_b, const float* bias = nullptr);

}  // namespace sim
