#include "sim/layers/losses.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "sim/core/check.h"
#include "sim/kernels/parallel.h"
#include "sim/kernels/vector_math.h"

namespace sim {

namespace {
// Logits per parallel item of the cross-entropy (columns x classes): items of a few microseconds.
constexpr Index kMinLossBlockEntries = 1 << 14;
}  // namespace

Index ArgmaxColumn(const ConstMatRef& m, Index j) {
  Index best = 0;
  for (Index i = 1; i < m.rows(); ++i)
    if (m(i, j) > m(best, j)) best = i;
  return best;
}

double SoftmaxCrossEntropy(const ConstMatRef& logits, const int32_t* labels, Mat* d_logits, int* n_correct,
                           Index mean_over, double* column_losses) {
  const Index c = logits.rows(), s = logits.cols();
  if (d_logits != nullptr)
    SIM_CHECK(d_logits->rows() == c && d_logits->cols() >= s, "SoftmaxCrossEntropy: d_logits is (", d_logits->rows(),
              ", ", d_logits->cols(), "), need (C=", c, ", >= S=", s, ")");
  if (s == 0) return 0.0;
  SIM_CHECK(mean_over == 0 || mean_over >= s, "SoftmaxCrossEntropy: mean over ", mean_over, " of S=", s, " columns");
  const Index count = mean_over > 0 ? mean_over : s;  // the mean's denominator
  const Scalar inv_s = Scalar(1) / static_cast<Scalar>(count);
  // Columns in parallel blocks; each column's loss is kept and the losses are summed in column order
  // afterwards (the bits of a serial loop over the columns, whatever the thread count).
  // The calling thread's buffers, grown once (no allocation per step). References, because inside the
  // parallel items the names of thread_local variables would mean each worker's own.
  static thread_local std::vector<double> losses_buffer;  // (>= S)
  static thread_local std::vector<int> correct_buffer;    // per block
  std::vector<double>& losses = losses_buffer;
  std::vector<int>& correct = correct_buffer;
  if (static_cast<Index>(losses.size()) < s) losses.resize(s);
  const Index block = std::max<Index>(1, kMinLossBlockEntries / std::max<Index>(1, c));  // columns per item
  const int n_blocks = static_cast<int>((s + block - 1) / block);
  if (static_cast<int>(correct.size()) < n_blocks) correct.resize(n_blocks);
  ParallelFor(n_blocks, [&](int b) {
    int right = 0;
    for (Index j = b * block; j < std::min(s, (b + 1) * block); ++j) {
      const int32_t y = labels[j];
      SIM_DCHECK(y >= 0 && y < c, "label ", y, " outside [0, ", c, ")");
      const Scalar* z = logits.col(j).data();
      const Scalar max = logits.col(j).maxCoeff();
      Scalar* d = d_logits != nullptr ? d_logits->col(j).data() : nullptr;
      // L_j = log Σ exp(z - max) + max - z_y;  d z = (softmax(z) - onehot(y)) / S
      const Scalar sum = ExpShiftSum(z, c, max, d);
      losses[j] = std::log(static_cast<double>(sum)) + max - z[y];
      if (d != nullptr) {
        d_logits->col(j) *= inv_s / sum;
        d[y] -= inv_s;
      }
      if (n_correct != nullptr && ArgmaxColumn(logits, j) == y) ++right;
    }
    correct[b] = right;
  });
  double total = 0.0;
  for (Index j = 0; j < s; ++j) total += losses[j];
  if (column_losses != nullptr) std::copy(losses.begin(), losses.begin() + s, column_losses);
  if (n_correct != nullptr)
    for (int b = 0; b < n_blocks; ++b) *n_correct += correct[b];
  return total / static_cast<double>(count);
}

double MeanSquaredError(const ConstMatRef& preds, const Scalar* targets, Mat* d_preds, Index mean_over,
                        double* column_losses) {
  const Index s = preds.cols();
  SIM_CHECK(preds.rows() == 1, "MeanSquaredError: preds has ", preds.rows(), " rows, expected 1");
  if (d_preds != nullptr)
    SIM_CHECK(d_preds->rows() == 1 && d_preds->cols() >= s, "MeanSquaredError: d_preds is (", d_preds->rows(), ", ",
              d_preds->cols(), "), need (1, >= S=", s, ")");
  if (s == 0) return 0.0;
  SIM_CHECK(mean_over == 0 || mean_over >= s, "MeanSquaredError: mean over ", mean_over, " of S=", s, " columns");
  const Index count = mean_over > 0 ? mean_over : s;  // the mean's denominator
  double total = 0.0;
  const Scalar two_over_s = Scalar(2) / static_cast<Scalar>(count);
  for (Index j = 0; j < s; ++j) {
    const Scalar diff = preds(0, j) - targets[j];
    total += static_cast<double>(diff) * diff;
    if (column_losses != nullptr) column_losses[j] = static_cast<double>(diff) * diff;
    if (d_preds != nullptr) (*d_preds)(0, j) = two_over_s * diff;
  }
  return total / static_cast<double>(count);
}

}  // namespace sim
