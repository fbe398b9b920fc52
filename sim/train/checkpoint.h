// A run's complete training state as plain data: what the trainer makes and restores
// (Trainer::MakeCheckpoint, Trainer::Restore) and what sim/io writes to "<out>.ckpt" files, without
// either side knowing the other. A run resumed from it ends bit-identical to an uninterrupted run.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/core/types.h"

namespace sim {

// The parameters after the optimizer step of `step` (train.snapshot_steps): the registry's flat
// values, same layout as ParamRegistry::values().
struct ParamSnapshot {
  int step = 0;
  Vec values;  // (total_size)
};

// Everything the loop accumulates besides the parameters and the optimizer: with those and the
// random-stream positions it makes a checkpoint.
struct TrainerState {
  int step = 0;           // optimizer steps done
  double loss_sum = 0.0;  // training loss since the last evaluation
  int loss_count = 0;
  double last_train_loss = NAN;
  int last_eval_step = -1;
  int target_step = -1;
  bool diverged = false;  // training stopped at a non-finite loss or gradient (a resumed run stays so)
  std::vector<std::string> curve_names;
  std::vector<std::vector<double>> curves;
  std::map<std::string, std::map<std::string, double>> final_metrics;
  double wall_seconds = 0.0;             // training time of earlier sessions (not part of the results' bits)
  std::vector<ParamSnapshot> snapshots;  // taken so far, increasing steps (empty without train.snapshot_steps)
};

struct Checkpoint {
  TrainerState state;
  uint64_t train_rng_position = 0;
  std::vector<uint64_t> eval_rng_positions;  // per evaluation split
  int64_t optimizer_steps = 0;
  Vec params;   // (total_size) parameter values
  Vec moment1;  // (total_size) AdamW first moment / SGD momentum
  Vec moment2;  // (total_size) AdamW second moment, empty for SGD
};

}  // namespace sim
