#include "sim/train/metrics.h"

#include "sim/layers/losses.h"

namespace sim {

double ForwardLoss(const Transformer& model, Workspace& ws, const Batch& batch, bool with_grad, int* n_correct,
                   const ForwardHooks* hooks, Index mean_over) {
  model.Forward(batch, ws, hooks);
  if (batch.output == OutputKind::kClasses)
    return SoftmaxCrossEntropy(ws.Outputs(), batch.labels.data(), with_grad ? &ws.d_outputs : nullptr, n_correct,
                               mean_over);
  return MeanSquaredError(ws.Outputs(), batch.values.data(), with_grad ? &ws.d_outputs : nullptr, mean_over);
}

void EvaluateBatch(const Transformer& model, Workspace& ws, const Task& task, const Batch& batch, MetricSums& sums,
                   const ForwardHooks* hooks) {
  int n_correct = 0;
  const double loss = ForwardLoss(model, ws, batch, false, &n_correct, hooks);
  const double s = batch.n_scored();
  sums.Add("loss", loss * s, s);
  if (batch.output == OutputKind::kClasses)
    sums.Add("accuracy", n_correct, s);
  else
    sums.Add("mse", loss * s, s);
  task.Score(batch, ws.Outputs(), sums);
}

}  // namespace sim
