// Task measures: named measurements a task offers on a trained model's attention (the mechanism it
// expects, such as icqa's partner and match heads), computed by the attention analysis without
// analysis/ knowing the task's type. A task offers them through its task-registry entry
// (tasks/task_registry.cc, TaskEntry::measures); the CLI hands them to the analyses.
//
// Example (tasks/icqa.cc):
//   std::vector<AnalysisArray> IcqaMeasures(const Task& task, const AttentionCapture& capture);
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "sim/core/types.h"
#include "sim/data/batch.h"
#include "sim/data/task.h"
#include "sim/io/run_file.h"

namespace sim {

// The attention of a model on a probe batch: the batch and, per layer, the probabilities of the
// last Forward.
struct AttentionCapture {
  const Batch* batch = nullptr;   // the probe batch (B examples of length T)
  std::vector<const Mat*> probs;  // per layer: (T, T*B*H_l), block b*H_l + h is (T_k, T_q); null = none
  std::vector<int> heads;         // per layer: H_l

  int n_layers() const { return static_cast<int>(probs.size()); }
  int length() const { return batch->shape.length; }
  int examples() const { return batch->shape.batch; }
  // Query `query`'s weight on key `key` in example b, head h of `layer` (which has probabilities).
  double Weight(int layer, int b, int h, int key, int query) const {
    const int t_len = length();
    return (*probs[layer])(key, static_cast<Index>(b * heads[layer] + h) * t_len + query);
  }
};

// Arrays with paths relative to /analysis ("mech/icqa_partner_mass"); the attention analysis adds
// the probe's attributes. Documented in docs/results-format.md.
using TaskMeasureFn = std::vector<AnalysisArray> (*)(const Task& task, const AttentionCapture& capture);

// A zero-filled array at `path` of shape `dims` (C order).
inline AnalysisArray ZeroArray(const std::string& path, std::vector<uint64_t> dims) {
  AnalysisArray a;
  a.path = path;
  a.dims = std::move(dims);
  size_t n = 1;
  for (uint64_t d : a.dims) n *= d;
  a.data.assign(n, 0.0);
  return a;
}

}  // namespace sim
