// Per-example evaluation outputs: the loss and correctness of every scored position of a batch, and
// their means per example, under the hooks given (head gates, attention edits). Two model variants
// evaluated on the same batch (a head ablated or not, two checkpoints) give paired values, the input
// of paired statistics (a paired t-test or a sign test over prompts).
//
// The values are the trainer's, bit for bit: the same forward pass and the same loss function, whose
// per-column losses summed in column order over S are ForwardLoss's mean (tests/analysis/
// example_outputs_test.cc).
//
// Example:
//   auto ws = model.MakeWorkspace(batch.shape, batch.n_scored());
//   ForwardHooks hooks;  hooks.head_gates = &gates;         // e.g. head (1, 0) off
//   const ExampleOutputs base = EvaluateExamples(model, *ws, batch);
//   const ExampleOutputs ablated = EvaluateExamples(model, *ws, batch, &hooks);
//   ablated.example_loss[b] - base.example_loss[b]           // prompt b's loss change
#pragma once

#include <cstdint>
#include <vector>

#include "sim/data/task.h"
#include "sim/models/transformer.h"

namespace sim {

struct ExampleOutputs {
  OutputKind output = OutputKind::kClasses;
  // Per scored position s, in the batch's order (column batch.scored[s] = b*T + t):
  std::vector<double> loss;      // (S) cross-entropy (class outputs) or squared error (scalar outputs)
  std::vector<uint8_t> correct;  // (S) 1 when the argmax (first maximum) is the label; empty for scalar outputs
  std::vector<int32_t> example;  // (S) the example b the position belongs to
  // Per example b:
  std::vector<int32_t> example_scored;   // (B) its scored positions
  std::vector<double> example_loss;      // (B) mean loss over them (NaN when it has none)
  std::vector<double> example_accuracy;  // (B) fraction of them correct (class outputs; else NaN)
  // Over the batch:
  double mean_loss = 0;  // mean loss per scored position: ForwardLoss's value, bit for bit
  int n_correct = 0;     // correct positions (class outputs): ForwardLoss's count
};

// Runs the model on `batch` (with `hooks`, or none) in `ws` (made for at least this batch shape and
// its scored positions) and returns the per-position and per-example outputs.
ExampleOutputs EvaluateExamples(const Transformer& model, Workspace& ws, const Batch& batch,
                                const ForwardHooks* hooks = nullptr);

}  // namespace sim
