#include "sim/kernels/sgemm_avx512.h"

#include <algorithm>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace sim {

#if defined(__AVX512F__)

namespace {

constexpr long kMr = kSgemmPanelRows, kNr = 12;  // register tile: 2 x 16 floats by 12 columns
constexpr long kKc = 256, kMc = 192, kNc = 3072;
constexpr long kInPlaceSide = 64, kInPlaceEntries = 1 << 16;  // A Bᵀ read in place up to these (Multiply)
// Floats of the A panel prefetched ahead, 32 depths (tuned: docs/benchmarks.md#sgemm-kernel).
constexpr long kAPrefetch = 1024;
static_assert(kMc * kKc == static_cast<long>(kSgemmPackA) && kKc * kNc == static_cast<long>(kSgemmPackB));

// Rows of a whole packed op(A) (SgemmPackA): m rounded up to whole panels.
inline long PanelRows(long m) { return (m + kMr - 1) / kMr * kMr; }

// In-register transpose: r[i] holds row i (16 floats); afterwards r[j] holds column j.
inline void Transpose16x16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
    t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xdd);
    t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xdd);
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

// Rows [i0, i0+mr) x depth [k0, k0+kc) of op(A) into a panel: kMr floats per k, zero padded.
void PackA(const float* a, long lda, bool trans, long i0, long mr, long k0, long kc, float* out) {
  if (!trans) {  // A(i, k) = a[i + k lda]: one contiguous column segment per k
    for (long k = 0; k < kc; ++k) {
      const float* src = a + i0 + (k0 + k) * lda;
      float* dst = out + k * kMr;
      if (mr == kMr) {
        _mm512_storeu_ps(dst, _mm512_loadu_ps(src));
        _mm512_storeu_ps(dst + 16, _mm512_loadu_ps(src + 16));
      } else {
        long i = 0;
        for (; i < mr; ++i) dst[i] = src[i];
        for (; i < kMr; ++i) dst[i] = 0.f;
      }
    }
  } else {  // A(i, k) = a[k + i lda]: kMr row streams, written k by k
    const float* src[kMr];
    for (long i = 0; i < mr; ++i) src[i] = a + k0 + (i0 + i) * lda;
    long k = 0;
    if (mr == kMr) {
      // 16 depths of 16 rows at a time: load 16 row segments, transpose in registers, store the 16
      // depths' rows (entry by entry this was the packing's slowest part: 32 scalar copies per depth).
      __m512 r[16];
      for (; k + 16 <= kc; k += 16)
        for (int half = 0; half < kMr / 16; ++half) {
          for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src[16 * half + i] + k);
          Transpose16x16(r);
          for (int kk = 0; kk < 16; ++kk) _mm512_storeu_ps(out + (k + kk) * kMr + 16 * half, r[kk]);
        }
    }
    for (; k < kc; ++k) {
      float* dst = out + k * kMr;
      long i = 0;
      for (; i < mr; ++i) dst[i] = src[i][k];
      for (; i < kMr; ++i) dst[i] = 0.f;
    }
  }
}

// Depth [k0, k0+kc) x columns [j0, j0+nr) of B (B(k, j) = b[k + j ldb]) into a panel: kNr floats
// per k, zero padded.
void PackBColumns(const float* b, long ldb, long j0, long nr, long k0, long kc, float* out) {
  const float* src[kNr];
  for (long j = 0; j < nr; ++j) src[j] = b + k0 + (j0 + j) * ldb;
  if (nr == kNr) {
    // 16 depths at a time: load 16 values of each column, transpose in registers, store rows.
    long k = 0;
    __m512 r[16];
    for (int j = kNr; j < 16; ++j) r[j] = _mm512_setzero_ps();
    for (; k + 16 <= kc; k += 16) {
      for (int j = 0; j < kNr; ++j) r[j] = _mm512_loadu_ps(src[j] + k);
      for (int j = kNr; j < 16; ++j) r[j] = _mm512_setzero_ps();
      Transpose16x16(r);
      for (int kk = 0; kk < 16; ++kk) _mm512_mask_storeu_ps(out + (k + kk) * kNr, 0x0FFF, r[kk]);
    }
    for (; k < kc; ++k) {
      float* dst = out + k * kNr;
      for (int j = 0; j < kNr; ++j) dst[j] = src[j][k];
    }
  } else {
    for (long k = 0; k < kc; ++k) {
      float* dst = out + k * kNr;
      long j = 0;
      for (; j < nr; ++j) dst[j] = src[j][k];
      for (; j < kNr; ++j) dst[j] = 0.f;
    }
  }
}

// Depth [k0, k0+kc) x columns [j0, j0+nc) of op(B) = Bᵀ (B(k, j) = b[j + k ldb], one contiguous row
// segment per k) into the nc / kNr panels of pack_b (panel jr at out + jr kc), zero padded. All
// panels together, 8 depths at a time: panel by panel, the kc source rows would be walked once per
// panel, and with a power-of-two row stride (D floats) they share a few L1 sets and are evicted
// before the next panel reads the rest of their cache lines.
void PackBRows(const float* b, long ldb, long j0, long nc, long k0, long kc, float* out) {
  constexpr long kDepthBlock = 8;  // rows in L1 at once: within the 12 ways of a set
  for (long kb = 0; kb < kc; kb += kDepthBlock) {
    const long ke = std::min(kc, kb + kDepthBlock);
    for (long jr = 0; jr < nc; jr += kNr) {
      const long nr = std::min(kNr, nc - jr);
      const __mmask16 columns = static_cast<__mmask16>((1u << nr) - 1);  // lanes >= nr load as 0
      float* panel = out + jr * kc;
      const float* src = b + j0 + jr + k0 * ldb;
      for (long k = kb; k < ke; ++k)
        _mm512_mask_storeu_ps(panel + k * kNr, 0x0FFF, _mm512_maskz_loadu_ps(columns, src + k * ldb));
    }
  }
}

// The mr x nr corner of tile c (ldc) += panel(A) panel(B) over kc; when overwrite, c = the product, or
// c = bias + the product with a bias (the tile's rows, mr entries). The first kCols (>= nr) columns
// of the B panel are multiplied: a narrower instance serves the last panel of a block whose width is
// not a multiple of kNr (64 = 5 x 12 + 4), instead of a full tile of which two thirds are padding.
// Every entry is the same chain of FMAs over k whatever kCols, so the instance changes no bit.
// The panels are packed (a_step = kMr, b_step = kNr) or read where they are (see Multiply):
// depth k's kMr entries of A at ap + k a_step, its kCols entries of B at bp + k b_step.
template <int kCols>
void Kernel(long kc, const float* ap, long a_step, const float* bp, long b_step, float* c, long ldc, long mr, long nr,
            bool overwrite, const float* bias) {
  static_assert(kCols >= 1 && kCols <= kNr);
  const long a_prefetch = kAPrefetch / kMr * a_step;  // the same depths ahead either way
  // The tile of C is fetched while the sums are formed (it is stored to at the end, and often lives
  // in memory); the A panel streams from L2 and is prefetched kAPrefetch floats ahead (past the
  // panel's end that reaches into the next panel of the block, which the next call reads).
  for (int j = 0; j < kCols; ++j) {
    _mm_prefetch(reinterpret_cast<const char*>(c + j * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + j * ldc + 16), _MM_HINT_T0);
  }
  __m512 acc[kCols][2];
  for (int j = 0; j < kCols; ++j) acc[j][0] = acc[j][1] = _mm512_setzero_ps();
  for (long k = 0; k < kc; ++k) {
    _mm_prefetch(reinterpret_cast<const char*>(ap + a_prefetch), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(ap + a_prefetch + 16), _MM_HINT_T0);
    const __m512 a0 = _mm512_loadu_ps(ap), a1 = _mm512_loadu_ps(ap + 16);
#pragma GCC unroll 12
    for (int j = 0; j < kCols; ++j) {
      const __m512 b = _mm512_set1_ps(bp[j]);
      acc[j][0] = _mm512_fmadd_ps(a0, b, acc[j][0]);
      acc[j][1] = _mm512_fmadd_ps(a1, b, acc[j][1]);
    }
    ap += a_step;
    bp += b_step;
  }
  if (mr == kMr && nr == kCols) {
    if (overwrite && bias != nullptr) {
      const __m512 b0 = _mm512_loadu_ps(bias), b1 = _mm512_loadu_ps(bias + 16);
      for (int j = 0; j < kCols; ++j) {
        _mm512_storeu_ps(c + j * ldc, _mm512_add_ps(b0, acc[j][0]));
        _mm512_storeu_ps(c + j * ldc + 16, _mm512_add_ps(b1, acc[j][1]));
      }
      return;
    }
    for (int j = 0; j < kCols; ++j) {
      float* cj = c + j * ldc;
      if (overwrite) {
        _mm512_storeu_ps(cj, acc[j][0]);
        _mm512_storeu_ps(cj + 16, acc[j][1]);
      } else {
        _mm512_storeu_ps(cj, _mm512_add_ps(_mm512_loadu_ps(cj), acc[j][0]));
        _mm512_storeu_ps(cj + 16, _mm512_add_ps(_mm512_loadu_ps(cj + 16), acc[j][1]));
      }
    }
    return;
  }
  alignas(64) float tile[kCols][kMr];
  for (int j = 0; j < kCols; ++j) {
    _mm512_store_ps(tile[j], acc[j][0]);
    _mm512_store_ps(tile[j] + 16, acc[j][1]);
  }
  for (long j = 0; j < nr; ++j)
    for (long i = 0; i < mr; ++i)
      c[i + j * ldc] = !overwrite ? c[i + j * ldc] + tile[j][i] : bias != nullptr ? bias[i] + tile[j][i] : tile[j][i];
}

}  // namespace

bool HasAvx512Sgemm() { return true; }

namespace {

// The blocked product. op(A) comes packed whole (packed_a, as SgemmPackA lays it out) or, when
// packed_a is null, is packed block by block into pack_a; either way the kernels see the same panels.
void Multiply(long m, long n, long k, const float* a, long lda, bool trans_a, const float* packed_a, const float* b,
              long ldb, bool trans_b, float* c, long ldc, bool accumulate, float* pack_a, float* pack_b,
              const float* bias) {
  if (m <= 0 || n <= 0) return;
  if (accumulate) bias = nullptr;  // C + op(A) op(B): the bias is already in C, if anywhere
  if (k <= 0) {
    if (!accumulate)
      for (long j = 0; j < n; ++j)
        for (long i = 0; i < m; ++i) c[i + j * ldc] = bias != nullptr ? bias[i] : 0.f;
    return;
  }
  const long m_panels = PanelRows(m);
  // C += A Bᵀ with A and B as stored (the weight gradients d_Y Xᵀ): depth k of a row panel of A is
  // kMr contiguous floats at a + k lda, and of a column panel of Bᵀ nr contiguous floats at b + k ldb,
  // the layout packing would produce, only further apart. So the kernels can read them in place: no
  // packing, the same FMAs in the same order (the same bits). Whole row panels only, and column
  // panels of exactly 4, 8 or 12 (a kernel reads kCols columns: no reading past B's rows). Only for
  // narrow products (a side of at most 64, C at most 64K entries), where packing costs most per FMA;
  // wider ones ran slower in place inside the step, their operands no longer cache-resident
  // (docs/benchmarks.md#in-place-narrow-weight-gradients).
  if (packed_a == nullptr && !trans_a && trans_b && m % kMr == 0 && n % 4 == 0 && std::min(m, n) <= kInPlaceSide &&
      m * n <= kInPlaceEntries) {
    for (long pc = 0; pc < k; pc += kKc) {
      const long kc = std::min(kKc, k - pc);
      const bool overwrite = !accumulate && pc == 0;
      for (long jr = 0; jr < n; jr += kNr) {
        const long nr = std::min(kNr, n - jr);
        const auto kernel = nr == kNr ? Kernel<kNr> : nr == 8 ? Kernel<8> : Kernel<4>;
        for (long ir = 0; ir < m; ir += kMr)
          kernel(kc, a + ir + pc * lda, lda, b + jr + pc * ldb, ldb, c + ir + jr * ldc, ldc, kMr, nr, overwrite,
                 bias != nullptr ? bias + ir : nullptr);
      }
    }
    return;
  }
  for (long jc = 0; jc < n; jc += kNc) {
    const long nc = std::min(kNc, n - jc);
    for (long pc = 0; pc < k; pc += kKc) {
      const long kc = std::min(kKc, k - pc);
      const bool overwrite = !accumulate && pc == 0;
      if (trans_b)
        PackBRows(b, ldb, jc, nc, pc, kc, pack_b);
      else
        for (long jr = 0; jr < nc; jr += kNr)
          PackBColumns(b, ldb, jc + jr, std::min(kNr, nc - jr), pc, kc, pack_b + jr * kc);
      for (long ic = 0; ic < m; ic += kMc) {
        const long mc = std::min(kMc, m - ic);
        const float* block_a = pack_a;  // (mc rounded up to panels) x kc, panel by panel
        if (packed_a != nullptr)
          block_a = packed_a + m_panels * pc + ic * kc;
        else
          for (long ir = 0; ir < mc; ir += kMr)
            PackA(a, lda, trans_a, ic + ir, std::min(kMr, mc - ir), pc, kc, pack_a + ir * kc);
        for (long jr = 0; jr < nc; jr += kNr) {
          const long nr = std::min(kNr, nc - jr);
          const auto kernel = nr > 8 ? Kernel<kNr> : nr > 4 ? Kernel<8> : Kernel<4>;
          for (long ir = 0; ir < mc; ir += kMr)
            kernel(kc, block_a + ir * kc, kMr, pack_b + jr * kc, kNr, c + (ic + ir) + (jc + jr) * ldc, ldc,
                   std::min(kMr, mc - ir), nr, overwrite, bias != nullptr ? bias + ic + ir : nullptr);
        }
      }
    }
  }
}

}  // namespace

void SgemmAvx512(long m, long n, long k, const float* a, long lda, bool trans_a, const float* b, long ldb, bool trans_b,
                 float* c, long ldc, bool accumulate, float* pack_a, float* pack_b, const float* bias) {
  Multiply(m, n, k, a, lda, trans_a, nullptr, b, ldb, trans_b, c, ldc, accumulate, pack_a, pack_b, bias);
}

void TransposeAvx512(long rows, long cols, const float* src, long lds, float* dst, long ldd) {
  long j0 = 0;
  for (; j0 + 16 <= cols; j0 += 16) {
    long i0 = 0;
    for (; i0 + 16 <= rows; i0 += 16) {  // 16 x 16 blocks through the registers
      __m512 r[16];
      for (int c = 0; c < 16; ++c) r[c] = _mm512_loadu_ps(src + i0 + (j0 + c) * lds);
      Transpose16x16(r);  // r[i] = row i0 + i of the block, across its 16 columns
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + j0 + (i0 + i) * ldd, r[i]);
    }
    for (; i0 < rows; ++i0)
      for (long j = j0; j < j0 + 16; ++j) dst[j + i0 * ldd] = src[i0 + j * lds];
  }
  for (long i = 0; i < rows; ++i)
    for (long j = j0; j < cols; ++j) dst[j + i * ldd] = src[i + j * lds];
}

std::size_t SgemmPackedASize(long m, long k) {
  return static_cast<std::size_t>(PanelRows(m)) * static_cast<std::size_t>(std::max(0L, k));
}

void SgemmPackA(long m, long k, const float* a, long lda, bool trans_a, long panel_begin, long panel_end,
                float* packed_a) {
  const long m_panels = PanelRows(m);
  for (long pc = 0; pc < k; pc += kKc) {
    const long kc = std::min(kKc, k - pc);
    for (long p = panel_begin; p < panel_end; ++p)
      PackA(a, lda, trans_a, p * kMr, std::min(kMr, m - p * kMr), pc, kc, packed_a + m_panels * pc + p * kMr * kc);
  }
}

void SgemmAvx512Packed(long m, long n, long k, const float* packed_a, const float* b, long ldb, bool trans_b, float* c,
                       long ldc, bool accumulate, float* pack_b, const float* bias) {
  Multiply(m, n, k, nullptr, 0, false, packed_a, b, ldb, trans_b, c, ldc, accumulate, nullptr, pack_b, bias);
}

#else  // no AVX-512 in this build

bool HasAvx512Sgemm() { return false; }

void SgemmAvx512(long, long, long, const float*, long, bool, const float*, long, bool, float*, long, bool, float*,
                 float*, const float*) {}
std::size_t SgemmPackedASize(long, long) { return 0; }
void TransposeAvx512(long, long, const float*, long, float*, long) {}
void SgemmPackA(long, long, const float*, long, bool, long, long, float*) {}
void SgemmAvx512Packed(long, long, long, const float*, const float*, long, bool, float*, long, bool, float*,
                       const float*) {}

#endif

}  // namespace sim
