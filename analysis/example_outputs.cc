#include "analysis/example_outputs.h"

#include <limits>

#include "sim/layers/losses.h"

namespace sim {

ExampleOutputs EvaluateExamples(const Transformer& model, Workspace& ws, const Batch& batch,
                                const ForwardHooks* hooks) {
  ExampleOutputs out;
  out.output = batch.output;
  const int n_scored = batch.n_scored(), n_examples = batch.shape.batch, length = batch.shape.length;
  out.loss.assign(n_scored, 0.0);
  // The forward pass and loss of ForwardLoss (sim/train/metrics.cc), with the per-column losses kept.
  model.Forward(batch, ws, hooks);
  if (batch.output == OutputKind::kClasses) {
    out.mean_loss = SoftmaxCrossEntropy(ws.Outputs(), batch.labels.data(), nullptr, &out.n_correct, 0, out.loss.data());
    out.correct.resize(n_scored);
    for (int s = 0; s < n_scored; ++s) out.correct[s] = ArgmaxColumn(ws.Outputs(), s) == batch.labels[s] ? 1 : 0;
  } else {
    out.mean_loss = MeanSquaredError(ws.Outputs(), batch.values.data(), nullptr, 0, out.loss.data());
  }
  // Per example: positions are ordered by column b*T + t, so each example's are contiguous.
  std::vector<double> loss_sum(n_examples, 0.0), correct_sum(n_examples, 0.0);
  out.example.resize(n_scored);
  out.example_scored.assign(n_examples, 0);
  for (int s = 0; s < n_scored; ++s) {
    const int b = batch.scored[s] / length;
    out.example[s] = b;
    ++out.example_scored[b];
    loss_sum[b] += out.loss[s];
    if (!out.correct.empty()) correct_sum[b] += out.correct[s];
  }
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  for (int b = 0; b < n_examples; ++b) {
    const int n = out.example_scored[b];
    out.example_loss.push_back(n > 0 ? loss_sum[b] / n : kNaN);
    out.example_accuracy.push_back(n > 0 && !out.correct.empty() ? correct_sum[b] / n : kNaN);
  }
  return out;
}

}  // namespace sim
