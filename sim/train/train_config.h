// Training-loop configuration: steps, batch, optimizer and schedule, evaluation, early stop, and
// the parameter-group rules (freeze, trainable subset, learning-rate and decay multipliers).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/optim/lr_schedule.h"
#include "sim/optim/optimizer.h"
#include "sim/params/param_registry.h"

namespace sim {

struct EvalConfig {
  int size = 2000;                // examples per evaluation split (rounded up to whole batches)
  int batch = 500;                // examples per evaluation batch
  bool fresh = false;             // draw new examples at every evaluation instead of a fixed held-out set
  uint64_t seed = 0;              // seed of the evaluation streams, independent of train.seed
  std::vector<std::string> skip;  // evaluation splits not evaluated during training (eval.skip)

  bool Skips(const std::string& split) const {
    for (const std::string& s : skip)
      if (s == split) return true;
    return false;
  }
};

struct TrainConfig {
  int steps = 1000;
  int batch = 64;
  int chunk = 0;  // examples per chunk of a training batch (sim/train/batch_gradients.h); 0 = auto
                  // until ResolveAutoChunk (the trainer takes only a resolved value)
  uint64_t seed = 0;
  int threads = 1;
  int eval_every = 100;
  OptimizerConfig optimizer;
  LrSchedule schedule;  // lr, warm-up, kind, min ratio; total_steps = steps
  double clip = 1.0;    // max gradient norm, 0 = off
  // Early stop when <target_split>/<target_metric> reaches target_value at an evaluation:
  // metrics named "accuracy"/"acc*" must be >= the value, all others (loss, mse) <= it.
  std::string target_split = "test";
  std::string target_metric;  // empty = no early stop
  double target_value = 0.0;
  EvalConfig eval;
  ParamGroupRules groups;
  std::string init_from;                 // run file whose /params replace the random init ("" = none)
  std::vector<std::string> init_params;  // glob patterns of the parameters taken from init_from
  // Steps after whose optimizer step the parameters are copied (train.snapshot_steps and every multiple
  // of train.snapshot_every below train.steps), increasing, each in [1, steps]; empty = none. They
  // add outputs (/snapshots in the run file) and change no bit of training.
  std::vector<int> snapshot_steps;
};

void DeclareTrainOptions(OptionSet& set);
TrainConfig ReadTrainConfig(Options& options);

// train.chunk = auto: the chunk size for batches of `batch` examples of `length` positions of a model
// of width d_model (a rule of the config alone, never of the machine or the thread count, so a
// config gives the same bits everywhere). See docs/benchmarks.md for the measurements behind it.
int AutoChunkExamples(int batch, int length, int d_model);

// Replaces train.chunk = auto (0) by AutoChunkExamples for sequences of `length` positions and a model
// of width d_model: the one place the rule is applied (BuildExperiment calls it, so `sim train`,
// `sim sweep` and `sim bench` resolve alike and the run file records the value trained with).
void ResolveAutoChunk(TrainConfig& config, int length, int d_model);

// The snapshot steps of train.snapshot_steps (`listed`, increasing) and train.snapshot_every (`every`,
// 0 = none: its multiples below `steps`; the final step is a snapshot only when listed), merged.
std::vector<int> SnapshotSteps(const std::vector<int>& listed, int every, int steps);

// True when higher values of the metric are better (accuracy-like).
bool HigherIsBetter(const std::string& metric);

}  // namespace sim
