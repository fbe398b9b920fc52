#include "sim/kernels/small_gemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace sim {

#if defined(__AVX512F__)

namespace {

// Tile of R packets (16·R rows) by NR columns. `rows` (<= 16·R) masks the last packet.
// B(kk, j) is b[kk + j ldb] (TransB = false) or b[j + kk ldb] (TransB = true: C = A Bᵀ).
template <int R, int NR, bool TransB>
inline void Tile(long rows, long cols, long k, const float* a, long lda, const float* b, long ldb, float* c, long ldc,
                 bool accumulate, const float* bias, const float* next_b) {
  __m512 acc[R][NR];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NR; ++j) acc[r][j] = _mm512_setzero_ps();
  const long last = rows - 16 * (R - 1);  // rows in the last packet, 1..16
  const __mmask16 mask = static_cast<__mmask16>(last >= 16 ? 0xFFFF : ((1u << last) - 1));
  const float* bj[NR];
  for (int j = 0; j < NR; ++j) bj[j] = b + (j < cols ? j : 0) * (TransB ? 1 : ldb);
  // Depth in chunks of 16 (one cache line of a B column): at the start of each chunk, the same line
  // of the next tile's B columns is prefetched (B streams from memory; the kernel would otherwise wait
  // on it at every tile). The chunking leaves the order of the FMAs as it is.
  for (long k0 = 0; k0 < k; k0 += 16) {
    const long k1 = k0 + 16 < k ? k0 + 16 : k;
    if (!TransB && next_b != nullptr) {
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) _mm_prefetch(reinterpret_cast<const char*>(next_b + j * ldb + k0), _MM_HINT_T0);
    }
    for (long kk = k0; kk < k1; ++kk) {
      __m512 av[R];
#pragma GCC unroll 4
      for (int r = 0; r < R - 1; ++r) av[r] = _mm512_loadu_ps(a + kk * lda + 16 * r);
      av[R - 1] = _mm512_maskz_loadu_ps(mask, a + kk * lda + 16 * (R - 1));
#pragma GCC unroll 8
      for (int j = 0; j < NR; ++j) {
        const __m512 bv = _mm512_set1_ps(TransB ? bj[j][kk * ldb] : bj[j][kk]);
#pragma GCC unroll 4
        for (int r = 0; r < R; ++r) acc[r][j] = _mm512_fmadd_ps(av[r], bv, acc[r][j]);
      }
    }
  }
  // Write back C + acc, bias + acc or acc, with constant indices only (runtime-indexed accumulators
  // would live in memory): the unrolled column loop skips columns >= cols (a partial tile at the
  // right edge) by a branch.
#pragma GCC unroll 8
  for (int j = 0; j < NR; ++j) {
    if (j >= cols) break;
    float* cj = c + j * ldc;
#pragma GCC unroll 4
    for (int r = 0; r < R; ++r) {
      const __mmask16 m = r == R - 1 ? mask : static_cast<__mmask16>(0xFFFF);
      __m512 v = acc[r][j];
      if (accumulate)
        v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, cj + 16 * r), v);
      else if (bias != nullptr)
        v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, bias + 16 * r), v);
      _mm512_mask_storeu_ps(cj + 16 * r, m, v);
    }
  }
}

template <int R, int NR, bool TransB>
void Columns(long rows, long n, long k, const float* a, long lda, const float* b, long ldb, float* c, long ldc,
             bool accumulate, const float* bias) {
  const long step = TransB ? 1 : ldb;  // distance between columns j and j+1 of B
  long j = 0;
  for (; j + NR <= n; j += NR)
    Tile<R, NR, TransB>(rows, NR, k, a, lda, b + j * step, ldb, c + j * ldc, ldc, accumulate, bias,
                        j + 2 * NR <= n ? b + (j + NR) * step : nullptr);
  if (j < n)
    Tile<R, NR, TransB>(rows, n - j, k, a, lda, b + j * step, ldb, c + j * ldc, ldc, accumulate, bias, nullptr);
}

// The bias entries of rows i and on (none without a bias).
inline const float* RowsFrom(const float* bias, long i) { return bias == nullptr ? nullptr : bias + i; }

// Row blocks of up to 64 rows (4 packets x 6 columns: 24 accumulators, 10 loads per 24 FMAs, and an
// A panel of 64 x k read once per column tile), then what is left with the widest tile that fits it.
// Every entry of C is one chain of FMAs over k in order whatever the tile, so the tiling changes no bit.
template <bool TransB>
void Rows(long m, long n, long k, const float* a, long lda, const float* b, long ldb, float* c, long ldc,
          bool accumulate, const float* bias) {
  long i = 0;
  while (m - i > 48) {  // four-packet row tiles (the last may be partial)
    const long rows = m - i < 64 ? m - i : 64;
    Columns<4, 6, TransB>(rows, n, k, a + i, lda, b, ldb, c + i, ldc, accumulate, RowsFrom(bias, i));
    i += rows;
  }
  const long left = m - i;  // 0..48
  if (left > 32)
    Columns<3, 8, TransB>(left, n, k, a + i, lda, b, ldb, c + i, ldc, accumulate, RowsFrom(bias, i));
  else if (left > 16)
    Columns<2, 6, TransB>(left, n, k, a + i, lda, b, ldb, c + i, ldc, accumulate, RowsFrom(bias, i));
  else if (left > 0)
    Columns<1, 8, TransB>(left, n, k, a + i, lda, b, ldb, c + i, ldc, accumulate, RowsFrom(bias, i));
}

}  // namespace

bool HasSmallGemm() { return true; }

void SmallGemm(bool trans_b, long m, long n, long k, const float* a, long lda, const float* b, long ldb, float* c,
               long ldc, bool accumulate, const float* bias) {
  if (accumulate) bias = nullptr;  // C + A op(B): the bias is already in C, if anywhere
  if (trans_b)
    Rows<true>(m, n, k, a, lda, b, ldb, c, ldc, accumulate, bias);
  else
    Rows<false>(m, n, k, a, lda, b, ldb, c, ldc, accumulate, bias);
}

#else

bool HasSmallGemm() { return false; }

void SmallGemm(bool, long, long, long, const float*, long, const float*, long, float*, long, bool, const float*) {}

#endif

}  // namespace sim
