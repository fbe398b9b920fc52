// Case files: one model, its parameters and one batch, for the independent PyTorch reference
// (bench/torch_reference.py), which uses them twice: gradient parity (with the engine's loss and
// gradients included) and speed comparison (same model, weights and batch on both sides).
//
// Layout (HDF5): root attributes config (resolved INI), input (tokens|vectors), output
// (classes|scalar), vocab, d_in, n_classes, T, B; /params/<name> as in run files (float32
// [cols, rows] or [n]); /batch/tokens int32 [B, T] | /batch/vectors float32 [B*T, Din];
// /batch/scored int32 [S]; /batch/labels int32 [S] | /batch/values float32 [S];
// /batch/head_gates/<l> float32 [H_l] (when gates are used); /engine/loss and /engine/grads/<name>
// (when the engine's results are included).
#pragma once

#include <string>
#include <vector>

#include "sim/data/batch.h"
#include "sim/data/task.h"
#include "sim/params/param_registry.h"

namespace sim {

struct CaseFileContents {
  std::string config;  // resolved INI text
  const TaskInfo* task = nullptr;
  const ParamRegistry* registry = nullptr;
  const Batch* batch = nullptr;
  const std::vector<Vec>* head_gates = nullptr;  // optional, per layer
  bool with_engine_results = false;              // write /engine/loss and the registry's gradients
  double engine_loss = 0.0;
};

void WriteCaseFile(const std::string& path, const CaseFileContents& contents);

}  // namespace sim
