// LayerNorm's per-column work for float AVX-512 (sim/layers/layer_norm.h has the formulas): each
// column of D features in vectors of 16, the last one masked, with no per-operation loop set-up.
// Eigen's expressions made a pass over the column per operation (sum, subtract, squared norm,
// scale, affine) with the set-up of a dynamic-size loop each time, which at D = 64 (four vectors)
// cost more than the arithmetic.
//
// Sums run lane-wise over the column's vectors and are then added across lanes; the variance is
// the mean of squared deviations from the mean (two passes, as before: no loss of digits for
// columns with a large mean).
//
// HasFastLayerNorm() says whether this build has it (float with AVX-512); elsewhere the caller uses
// Eigen.
#pragma once

namespace sim {

bool HasFastLayerNorm();

// Columns [0, n) of x (d x n, column stride ldx): xhat = (x - mean) rstd, rstd[j] = 1 / sqrt(var +
// eps), y = gamma ⊙ xhat + beta. xhat and y have column strides ldxhat and ldy.
void LayerNormForwardAvx512(const float* x, long ldx, long d, long n, const float* gamma, const float* beta, float eps,
                            float* xhat, long ldxhat, float* rstd, float* y, long ldy);

// d_x += rstd ⊙ (g - mean(g) - xhat ⊙ mean(g ⊙ xhat)), g = gamma ⊙ d_y, column by column over [0, n).
void LayerNormBackwardAvx512(const float* d_y, long lddy, const float* xhat, long ldxhat, const float* rstd, long d,
                             long n, const float* gamma, float* d_x, long lddx);

}  // namespace sim
