// The training loop: sample, forward, loss and backward (by chunks of the batch, BatchGradients),
// clip, step; evaluation on every evaluation
// split on schedule; curves; early stop at a target metric; stop requests (signals) answered at step
// boundaries and at evaluation-batch boundaries. It owns no model or task logic, and it allocates
// nothing per step after the first.
//
// Evaluation memory is bounded by eval.batch, not eval.size: a split drawn from a stream is generated
// batch by batch at each evaluation (eval.mode = fixed replays the stream from its start, so every
// evaluation sees the same examples in the same order); only fixed splits (a task's finite pool) are
// held whole.
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
#include "sim/train/lora.h"
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
  // An evaluation in progress (reported after each of its batches; the fields above other than step
  // and total are then unset): split name, batches done of that split, its batch count.
  bool evaluating = false;
  std::string eval_split;
  int eval_batch = 0, eval_batches = 0;
  double eval_seconds = 0;  // since this evaluation began
};

class Trainer {
 public:
  // Sets the engine's thread count, generates fixed evaluation sets, allocates workspaces. `config`
  // is validated against the task and model beforehand (BuildExperiment): train.chunk resolved
  // (ResolveAutoChunk), train.target_split an evaluation split of the task. `lora` (the experiment's,
  // required when the registry has LoRA adapters) gets the adapters' gradients from each step's and
  // merges them into the weights after each optimizer step.
  Trainer(const TrainConfig& config, const Task& task, Transformer& model, ParamRegistry& registry,
          LoraAdapters* lora = nullptr);

  // Runs to completion, divergence, the target, or until *stop_requests (the number of stop requests,
  // e.g. signals, received; may be null) becomes >= 1. A request is answered at the next step boundary
  // or evaluation-batch boundary: an evaluation cut short is not recorded and its streams rewind, so
  // the checkpoint resumes before it and the resumed run redoes it. `on_progress` (may be empty) is
  // called after every step and after every evaluation batch. `on_checkpoint` (may be empty) receives
  // a checkpoint every `checkpoint_seconds` of training (0 = never periodically) and when a stop
  // request ends the run.
  //
  // The result of an interrupted run adds an evaluation at the interruption step when none was
  // recorded there (to the result only, not to the checkpoint). That evaluation is abandoned at a
  // batch boundary when a second stop request arrives or when it would take (by the time per batch
  // of the latest evaluation) or has taken interruption_eval_seconds(); the result then has the
  // curves recorded before, or, when there are none, one point with step, train_loss and lr only.
  TrainResult Run(const std::atomic<int>* stop_requests, const std::function<void(const Progress&)>& on_progress,
                  const std::function<void(const Checkpoint&)>& on_checkpoint = {}, double checkpoint_seconds = 0.0);

  void set_interruption_eval_seconds(double seconds) { interruption_eval_seconds_ = seconds; }
  double interruption_eval_seconds() const { return interruption_eval_seconds_; }

  // The state of the run now, and its restoration (throws InputError when the checkpoint does not
  // fit this model, task or optimizer).
  Checkpoint MakeCheckpoint() const;
  void Restore(const Checkpoint& checkpoint);
  int step() const { return state_.step; }
  // The parameter snapshots taken so far (train.snapshot_steps), increasing steps.
  const std::vector<ParamSnapshot>& snapshots() const { return state_.snapshots; }

  using Metrics = std::map<std::string, std::map<std::string, double>>;

  // Metrics of every evaluation split: split -> metric -> value.
  Metrics EvaluateAll();

 private:
  // Evaluates every split into *out, checking `stop` (may return early: false, with the evaluation
  // streams rewound to where they stood before) after each batch. `on_progress` may be empty.
  bool EvaluateAll(const std::function<bool()>& stop, const std::function<void(const Progress&)>& on_progress,
                   Metrics* out);
  // Evaluates at the current step, appends to the curves, checks the target; false (nothing
  // recorded) when `stop` cut the evaluation short.
  bool EvaluateAndRecord(const std::function<bool()>& stop, const std::function<void(const Progress&)>& on_progress,
                         Metrics* out);
  // The end of a run stopped by a request: checkpoint, then the result with the interruption's
  // evaluation when one can be afforded.
  TrainResult Interrupted(const std::atomic<int>* stop_requests,
                          const std::function<void(const Checkpoint&)>& on_checkpoint, double session_seconds);
  TrainResult Result(RunStatus status, double session_seconds) const;

  TrainerState state_;

  TrainConfig cfg_;
  const Task* task_;
  Transformer* model_;
  ParamRegistry* registry_;
  LoraAdapters* lora_;  // may be null
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<BatchGradients> gradients_;
  std::unique_ptr<Workspace> eval_ws_;
  Batch train_batch_;
  Rng train_rng_;
  std::vector<int> eval_splits_;  // indices into task info().splits
  // Per evaluation split: its stream; with eval.mode = fresh it advances from evaluation to evaluation,
  // without it stays at the start and each evaluation replays it from there.
  std::vector<Rng> eval_rngs_;
  std::vector<std::vector<Batch>> eval_pools_;  // per evaluation split: a fixed split's batches, else empty
  Batch eval_scratch_;
  int eval_batch_size_ = 0;
  int eval_n_batches_ = 0;
  double interruption_eval_seconds_ = 10.0;
  double eval_batch_seconds_ = 0.0;  // time per batch of the latest evaluation (0 before any)
  size_t next_snapshot_ = 0;         // index into cfg_.snapshot_steps of the next snapshot to take
};

}  // namespace sim
