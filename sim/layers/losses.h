// Losses over the scored positions of a batch. Each averages over the S scored columns.
//
//   cross-entropy: logits (C, S), labels (S);  L = mean_s [logsumexp(z_s) - z_s[y_s]]
//                  d_logits = (softmax(z) - onehot(y)) / S
//   squared error: preds (1, S), targets (S);  L = mean_s (p_s - y_s)²,  d_preds = 2 (p - y) / S
#pragma once

#include <cstdint>

#include "sim/core/types.h"

namespace sim {

// Returns the mean loss; when d_logits is non-null writes the (C, S) gradients into its first S
// columns (it may be wider, a buffer sized for the largest batch); when n_correct is non-null adds the number of
// columns whose argmax (first maximum) equals the label. mean_over > 0 replaces S in the mean and the gradient (a chunk
// of a batch of mean_over positions: the chunks' losses then add up to the batch's mean). When column_losses is
// non-null it receives the (S) losses of the columns, whose sum in column order over S is the returned mean.
double SoftmaxCrossEntropy(const ConstMatRef& logits, const int32_t* labels, Mat* d_logits, int* n_correct,
                           Index mean_over = 0, double* column_losses = nullptr);

// Returns the mean squared error; when d_preds is non-null writes the (1, S) gradients into its
// first S columns. mean_over and column_losses (the (S) squared errors) as above.
double MeanSquaredError(const ConstMatRef& preds, const Scalar* targets, Mat* d_preds, Index mean_over = 0,
                        double* column_losses = nullptr);

// Index of the first largest entry of column j.
Index ArgmaxColumn(const ConstMatRef& m, Index j);

}  // namespace sim
