#include "sim/kernels/gelu_avx512.h"

#include <array>
#include <cmath>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace sim {

#if defined(__AVX512F__)

namespace {

constexpr int kIntervals = 32;                  // one vpermt2ps table: two registers of 16
constexpr int kDegree = 4;                      // coefficients c0..c4 in t = z - center
constexpr double kRange = 6.0;                  // z = |x| in [0, 6); from 6 on, Φ and D are 1 in float
constexpr double kWidth = kRange / kIntervals;  // 3/16
constexpr float kIntervalsPerUnit = static_cast<float>(kIntervals / kRange);

double Phi(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double D(double x) { return Phi(x) + x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }

// coefficient[k][i]: the t^k coefficient on interval i.
using Table = std::array<std::array<float, kIntervals>, kDegree + 1>;

// f on each interval [i w, (i+1) w): the degree-4 polynomial through f at the interval's 5 Chebyshev
// points, in powers of t = z - center (Vandermonde system in t / half-width, Gaussian elimination with
// partial pivoting, double precision).
Table Interpolate(double (*f)(double)) {
  constexpr int kPoints = kDegree + 1;
  Table table{};
  for (int i = 0; i < kIntervals; ++i) {
    const double center = (i + 0.5) * kWidth, half = 0.5 * kWidth;
    double v[kPoints][kPoints + 1];  // augmented: rows s_j^0..s_j^4 | f(center + half s_j)
    for (int j = 0; j < kPoints; ++j) {
      const double s = std::cos((2 * j + 1) * M_PI / (2 * kPoints));
      double power = 1;
      for (int k = 0; k < kPoints; ++k, power *= s) v[j][k] = power;
      v[j][kPoints] = f(center + half * s);
    }
    for (int col = 0; col < kPoints; ++col) {
      int pivot = col;
      for (int r = col + 1; r < kPoints; ++r)
        if (std::fabs(v[r][col]) > std::fabs(v[pivot][col])) pivot = r;
      for (int k = 0; k <= kPoints; ++k) std::swap(v[col][k], v[pivot][k]);
      for (int r = 0; r < kPoints; ++r) {
        if (r == col) continue;
        const double factor = v[r][col] / v[col][col];
        for (int k = col; k <= kPoints; ++k) v[r][k] -= factor * v[col][k];
      }
    }
    double scale = 1;  // coefficient of s^k = coefficient of t^k · half^k
    for (int k = 0; k < kPoints; ++k, scale *= half) table[k][i] = static_cast<float>(v[k][kPoints] / v[k][k] / scale);
  }
  return table;
}

struct Tables {
  Table phi = Interpolate(Phi);
  Table d = Interpolate(D);
};
const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

// Coefficient registers: lo (intervals 0-15) and hi (16-31) per power of t.
struct Coefficients {
  __m512 lo[kDegree + 1], hi[kDegree + 1];
  explicit Coefficients(const Table& table) {
    for (int k = 0; k <= kDegree; ++k) {
      lo[k] = _mm512_loadu_ps(table[k].data());
      hi[k] = _mm512_loadu_ps(table[k].data() + 16);
    }
  }
};

// f(x) for 16 lanes, f = Φ or D (with f(-z) = 1 - f(z)).
inline __m512 Evaluate(const Coefficients& c, __m512 x) {
  const __m512 z = _mm512_min_ps(_mm512_set1_ps(static_cast<float>(kRange)), _mm512_abs_ps(x));  // NaN stays NaN
  __m512i index = _mm512_cvttps_epi32(_mm512_mul_ps(z, _mm512_set1_ps(kIntervalsPerUnit)));
  index = _mm512_min_epi32(index, _mm512_set1_epi32(kIntervals - 1));
  // t = z - (index + ½) w
  const __m512 t = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(index), _mm512_set1_ps(static_cast<float>(kWidth)),
                                    _mm512_sub_ps(z, _mm512_set1_ps(static_cast<float>(0.5 * kWidth))));
  __m512 p = _mm512_permutex2var_ps(c.lo[kDegree], index, c.hi[kDegree]);
  for (int k = kDegree - 1; k >= 0; --k) p = _mm512_fmadd_ps(p, t, _mm512_permutex2var_ps(c.lo[k], index, c.hi[k]));
  // From z = 6 on exactly 1 (the last interval's polynomial gives 1 or one float above it there).
  const __m512 one = _mm512_set1_ps(1.0f);
  p = _mm512_mask_mov_ps(p, _mm512_cmp_ps_mask(z, _mm512_set1_ps(static_cast<float>(kRange)), _CMP_GE_OQ), one);
  const __mmask16 negative = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
  return _mm512_mask_sub_ps(p, negative, one, p);
}

}  // namespace

bool HasFastGelu() { return true; }

void GeluForwardAvx512(const float* h, float* a, long n) {
  const Coefficients c(GetTables().phi);
  long i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_loadu_ps(h + i);
    _mm512_storeu_ps(a + i, _mm512_mul_ps(x, Evaluate(c, x)));
  }
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(m, h + i);
    _mm512_mask_storeu_ps(a + i, m, _mm512_mul_ps(x, Evaluate(c, x)));
  }
}

void GeluBackwardAvx512(const float* h, float* d, long n) {
  const Coefficients c(GetTables().d);
  long i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(d + i, _mm512_mul_ps(_mm512_loadu_ps(d + i), Evaluate(c, _mm512_loadu_ps(h + i))));
  if (i < n) {
    const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512 x = _mm512_maskz_loadu_ps(m, h + i);
    _mm512_mask_storeu_ps(d + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, d + i), Evaluate(c, x)));
  }
}

#else  // no AVX-512 in this build

bool HasFastGelu() { return false; }
void GeluForwardAvx512(const float*, float*, long) {}
void GeluBackwardAvx512(const float*, float*, long) {}

#endif

}  // namespace sim
