// GELU (x Φ(x), Φ the standard normal CDF) and its derivative Φ(x) + x φ(x) for float AVX-512, on
// contiguous arrays: piecewise polynomials in place of erf and exp.
//
// Φ(z) and D(z) = Φ(z) + z φ(z) for z = |x| in [0, 6) are degree-4 polynomials on 32 intervals of
// width 3/16, interpolated at each interval's Chebyshev points when the program starts (double
// precision, from std::erfc and std::exp); one two-register table lookup (vpermt2ps) per coefficient
// selects an interval's polynomial for 16 lanes at once. Negative x use Φ(-z) = 1 - Φ(z) and D(-z) =
// 1 - D(z); from z = 6 on, Φ and D are 1. Neither erf's division nor exp is left, so the derivative
// costs about what GELU itself does, where Eigen's erf and exp made it the dearer of the two
// (figures: docs/benchmarks.md#gelu).
//
// Accuracy: within 2e-7 of the exact Φ and D for every float x (tests/sim/kernels/gelu_test.cc; measured
// 1.1e-7 and 1.2e-7 against Eigen's 2.1e-7 and 1.9e-7 in float, 1 + erf(x/√2) rounding to float's
// spacing near 1). Interpolation error is below 1e-9; the rest is float rounding.
//
// HasFastGelu() says whether this build has it (float with AVX-512); elsewhere the caller uses
// Eigen's erf and exp.
#pragma once

namespace sim {

bool HasFastGelu();

// a[i] = h[i] Φ(h[i]) for i < n (a may be h).
void GeluForwardAvx512(const float* h, float* a, long n);

// d[i] *= Φ(h[i]) + h[i] φ(h[i]) for i < n: the gradient through GELU, in place.
void GeluBackwardAvx512(const float* h, float* d, long n);

}  // namespace sim
