// Unpacked products for small matrices (the per-head attention blocks, narrow projections):
// C (m x n) (+)= A op(B) with A (m x k) column-major and B either (k x n) or, transposed, (n x k)
// column-major, any leading dimensions, no packing and no blocking. A
// register tile of 16·R rows by NR columns accumulates over k, reading A's columns with vector loads
// and broadcasting B's entries; rows past m are masked. For the 8-64 wide blocks of attention heads
// this beats a packing GEMM, whose packing and set-up cost as much as the arithmetic there.
//
// Float with AVX-512 only; HasSmallGemm() says whether this build has it.
#pragma once

namespace sim {

bool HasSmallGemm();

// c (ldc) = a (lda) op(b) (ldb) (accumulate=false) or += (accumulate=true); op(b) = bᵀ when trans_b.
// With a bias (m entries) and accumulate=false: c = bias 1ᵀ + a op(b), the bias added to each entry's
// finished sum (the same bits as filling c with the bias and accumulating, without that pass over c).
void SmallGemm(bool trans_b, long m, long n, long k, const float* a, long lda, const float* b, long ldb, float* c,
               long ldc, bool accumulate, const float* bias = nullptr);

}  // namespace sim
