// The training loop: sample, forward, loss and backward (by chunks of the batch, BatchGradients),
// clip, step; evaluation on every evaluation
// split on schedule; curves; early stop at a target metric; a stop flag checked at step boundaries.
// It owns no model or task logic, and it allocates nothing per step after the first.
//
// Random streams (all derived from seeds, see sim/core/rng.h): "data/train" under train.seed for
// training batches, "eval/<split>" under eval.seed for each evaluation split. Parameter init
// ("init" under train.seed) happens before the trainer is built.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/data/task.h"
#include "sim/models/transformer.h"
#include "sim/optim/optimizer.h"
#include "sim/train/batch_gradients.h"
#include "sim/train/checkpoint.h"
#include "sim/train/train_config.h"

namespace sim {

enum class RunStatus { kComplete, kDiverged, kInterrupted };
const char* RunStatusName(RunStatus status);

struct TrainResult {
  RunStatus status = RunStatus::kComplete;
  int steps_done = 0;
  int target_step = -1;  // first evaluation step at which the target was reached, -1 if never
  // Curves, equal length, one entry per evaluation: "step", "train_loss", "lr",
  // "<split>_<metric>" for each evaluation split and metric.
  std::vector<std::string> curve_names;
  std::vector<std::vector<double>> curves;
  // split -> metric -> value at the last evaluation ("train" holds the recent training loss).
  std::map<std::string, std::map<std::string, double>> final_metrics;
  double wall_seconds = 0.0;
};

struct Progress {
  int step = 0;  // steps done
  int total = 0;
  double train_loss = 0;  // mean since the last report
  double lr = 0;
  double steps_per_second = 0;
  bool evaluated = false;  // an evaluation just happened; `eval` holds it
  const std::map<std::string, std::map<std::string, double>>* eval = nullptr;
};

class Trainer {
 public:
  // Sets the engine's thread count, generates fixed evaluation sets, allocates workspaces. `config`
  // is validated against the task and model beforehand (BuildExperiment): train.chunk resolved
  // (ResolveAutoChunk), train.target_split an evaluation split of the task.
  Trainer(const TrainConfig& config, const Task& task, Transformer& model, ParamRegistry& registry);

  // Runs to completion, divergence, the target, or until *stop becomes true. `on_progress` (may be
  // empty) is called after every step. `on_checkpoint` (may be empty) receives a checkpoint every
  // `checkpoint_seconds` of training (0 = never periodically) and when *stop ends the run.
  TrainResult Run(const std::atomic<bool>* stop, const std::function<void(const Progress&)>& on_progress,
                  const std::function<void(const Checkpoint&)>& on_checkpoint = {}, double checkpoint_seconds = 0.0);

  // The state of the run now, and its restoration (throws InputError when the checkpoint does not
  // fit this model, task or optimizer).
  Checkpoint MakeCheckpoint() const;
  void Restore(const Checkpoint& checkpoint);
  int step() const { return state_.step; }

  // Metrics of every evaluation split: split -> metric -> value.
  std::map<std::string, std::map<std::string, double>> EvaluateAll();

 private:
  std::map<std::string, double> EvaluateSplit(int split);
  // Evaluates at the current step, appends to the curves, checks the target.
  std::map<std::string, std::map<std::string, double>> EvaluateAndRecord();
  TrainResult Result(RunStatus status, double session_seconds) const;

  TrainerState state_;

  TrainConfig cfg_;
  const Task* task_;
  Transformer* model_;
  ParamRegistry* registry_;
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<BatchGradients> gradients_;
  std::unique_ptr<Workspace> eval_ws_;
  Batch train_batch_;
  Rng train_rng_;
  std::vector<int> eval_splits_;                  // indices into task info().splits
  std::vector<Rng> eval_rngs_;                    // per evaluation split (fresh mode)
  std::vector<std::vector<Batch>> eval_batches_;  // per evaluation split (fixed mode)
  Batch eval_scratch_;
  int eval_batch_size_ = 0;
  int eval_n_batches_ = 0;
};

}  // namespace sim
