// Loss and metrics of a model on a batch: the pieces the trainer and analyses share.
#pragma once

#include "sim/data/task.h"
#include "sim/models/transformer.h"

namespace sim {

// Forward pass and loss on `batch`. When with_grad, writes dL/d outputs into ws.d_outputs.
// Adds the number of correct argmax predictions to *n_correct when given (class outputs).
// mean_over > 0: the loss and its gradient are averaged over that many positions instead of the
// batch's own (when `batch` is one chunk of a larger batch).
double ForwardLoss(const Transformer& model, Workspace& ws, const Batch& batch, bool with_grad, int* n_correct,
                   const ForwardHooks* hooks = nullptr, Index mean_over = 0);

// Evaluates `batch` and adds to `sums`: "loss" (per scored position), "accuracy" (class outputs) or
// "mse" (scalar outputs), and whatever the task's Score adds.
void EvaluateBatch(const Transformer& model, Workspace& ws, const Task& task, const Batch& batch, MetricSums& sums,
                   const ForwardHooks* hooks = nullptr);

}  // namespace sim
