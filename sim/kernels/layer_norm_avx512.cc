#include "sim/kernels/layer_norm_avx512.h"

#include <cmath>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace sim {

#if defined(__AVX512F__)

namespace {

// Lanes of vector v of a column of d entries: all 16, or the last vector's remainder.
inline __mmask16 Lanes(long v, long d) {
  const long rest = d - 16 * v;
  return static_cast<__mmask16>(rest >= 16 ? 0xFFFF : (1u << rest) - 1);
}

}  // namespace

bool HasFastLayerNorm() { return true; }

void LayerNormForwardAvx512(const float* x, long ldx, long d, long n, const float* gamma, const float* beta, float eps,
                            float* xhat, long ldxhat, float* rstd, float* y, long ldy) {
  const long vectors = (d + 15) / 16;
  const float inv_d = 1.0f / static_cast<float>(d);
  for (long j = 0; j < n; ++j) {
    const float* xj = x + j * ldx;
    __m512 sum = _mm512_setzero_ps();
    for (long v = 0; v < vectors; ++v) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(Lanes(v, d), xj + 16 * v));
    const __m512 mean = _mm512_set1_ps(_mm512_reduce_add_ps(sum) * inv_d);
    __m512 squares = _mm512_setzero_ps();
    for (long v = 0; v < vectors; ++v) {
      const __mmask16 lanes = Lanes(v, d);
      const __m512 centered = _mm512_maskz_sub_ps(lanes, _mm512_maskz_loadu_ps(lanes, xj + 16 * v), mean);
      squares = _mm512_fmadd_ps(centered, centered, squares);
    }
    const float r = 1.0f / std::sqrt(_mm512_reduce_add_ps(squares) * inv_d + eps);
    rstd[j] = r;
    const __m512 scale = _mm512_set1_ps(r);
    float* xhj = xhat + j * ldxhat;
    float* yj = y + j * ldy;
    for (long v = 0; v < vectors; ++v) {
      const __mmask16 lanes = Lanes(v, d);
      const __m512 h = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, xj + 16 * v), mean), scale);
      _mm512_mask_storeu_ps(xhj + 16 * v, lanes, h);
      _mm512_mask_storeu_ps(yj + 16 * v, lanes,
                            _mm512_fmadd_ps(_mm512_maskz_loadu_ps(lanes, gamma + 16 * v), h,
                                            _mm512_maskz_loadu_ps(lanes, beta + 16 * v)));
    }
  }
}

void LayerNormBackwardAvx512(const float* d_y, long lddy, const float* xhat, long ldxhat, const float* rstd, long d,
                             long n, const float* gamma, float* d_x, long lddx) {
  const long vectors = (d + 15) / 16;
  const float inv_d = 1.0f / static_cast<float>(d);
  for (long j = 0; j < n; ++j) {
    const float* dyj = d_y + j * lddy;
    const float* xhj = xhat + j * ldxhat;
    __m512 sum_g = _mm512_setzero_ps(), sum_gx = _mm512_setzero_ps();
    for (long v = 0; v < vectors; ++v) {
      const __mmask16 lanes = Lanes(v, d);
      const __m512 g =
          _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, gamma + 16 * v), _mm512_maskz_loadu_ps(lanes, dyj + 16 * v));
      sum_g = _mm512_add_ps(sum_g, g);
      sum_gx = _mm512_fmadd_ps(g, _mm512_maskz_loadu_ps(lanes, xhj + 16 * v), sum_gx);
    }
    const __m512 mean_g = _mm512_set1_ps(_mm512_reduce_add_ps(sum_g) * inv_d);
    const __m512 mean_gx = _mm512_set1_ps(_mm512_reduce_add_ps(sum_gx) * inv_d);
    const __m512 r = _mm512_set1_ps(rstd[j]);
    float* dxj = d_x + j * lddx;
    for (long v = 0; v < vectors; ++v) {
      const __mmask16 lanes = Lanes(v, d);
      const __m512 g =
          _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, gamma + 16 * v), _mm512_maskz_loadu_ps(lanes, dyj + 16 * v));
      // g - mean(g) - x̂ mean(g x̂)
      const __m512 t = _mm512_fnmadd_ps(_mm512_maskz_loadu_ps(lanes, xhj + 16 * v), mean_gx, _mm512_sub_ps(g, mean_g));
      _mm512_mask_storeu_ps(dxj + 16 * v, lanes, _mm512_fmadd_ps(r, t, _mm512_maskz_loadu_ps(lanes, dxj + 16 * v)));
    }
  }
}

#else  // no AVX-512 in this build

bool HasFastLayerNorm() { return false; }
void LayerNormForwardAvx512(const float*, long, long, long, const float*, const float*, float, float*, long, float*,
                            float*, long) {}
void LayerNormBackwardAvx512(const float*, long, const float*, long, const float*, long, long, const float*, float*,
                             long) {}

#endif

}  // namespace sim
