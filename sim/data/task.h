// The task interface: a pure generator of batches, with no model code inside.
//
// A task states its input kind (tokens or vectors) and sizes, its output kind (classes or a scalar),
// the sequence length, and its splits. Split 0 is always "train"; the others are evaluation splits,
// each held out from training by construction: its own random stream and, where the task says so,
// its own vocabulary. Sample() fills a batch of any size from a given stream, so the trainer owns all
// random streams (and their positions, for checkpoints) while the task owns the data's definition.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/data/batch.h"
#include "sim/data/regression_prompts.h"

namespace sim {

struct TaskInfo {
  std::string name;
  InputKind input = InputKind::kTokens;
  int vocab = 0;  // V, token tasks: ids in [0, V)
  int d_in = 0;   // Din, vector tasks
  OutputKind output = OutputKind::kClasses;
  int n_classes = 0;  // C, class tasks
  int length = 0;     // T
  int max_scored_per_example = 0;
  std::vector<std::string> splits = {"train"};  // split 0 is "train"
  // Examples per split when the split is a fixed set (a training pool evaluated whole), 0 when
  // examples are drawn afresh; empty = all 0. Fixed splits are read with SampleFixed.
  std::vector<int> split_sizes;
  // Splits the trainer does not evaluate: drawn only by analyses (sparse_linreg's "val", prompts for
  // tuning baselines). Empty = every split but train is evaluated.
  std::vector<std::string> analysis_splits;
  double chance = NAN;  // chance accuracy, or NaN where it has no meaning
  // What each position holds, T labels such as "q1", "a1", ..., "q*" (empty: no fixed roles), so
  // analyses averaged over prompts can label their axes by role rather than by one prompt's tokens.
  std::vector<std::string> position_labels;
  bool requires_causal = false;  // bidirectional attention would see what it must predict
  std::string causal_reason;     // why, for the error message

  // Whether the trainer evaluates split (every split but train and the analysis-only ones).
  bool evaluated(int split) const {
    if (split < 1 || split >= static_cast<int>(splits.size())) return false;
    for (const std::string& a : analysis_splits)
      if (a == splits[split]) return false;
    return true;
  }
  int split_size(int split) const { return split < static_cast<int>(split_sizes.size()) ? split_sizes[split] : 0; }
};

// Named metric sums over evaluation batches; the mean of each is reported.
class MetricSums {
 public:
  void Add(const std::string& name, double sum, double count) {
    Entry& e = entries_[name];
    e.sum += sum;
    e.count += count;
  }
  std::map<std::string, double> Means() const {
    std::map<std::string, double> out;
    for (const auto& [name, e] : entries_) out[name] = e.count > 0 ? e.sum / e.count : NAN;
    return out;
  }

 private:
  struct Entry {
    double sum = 0, count = 0;
  };
  std::map<std::string, Entry> entries_;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual const TaskInfo& info() const = 0;

  // Fills `batch` with `batch_size` examples of `split` (an index into info().splits) from `rng`.
  virtual void Sample(int split, Rng& rng, int batch_size, Batch& batch) const = 0;

  // A training batch at optimizer step `step` (steps done before it): tasks with a curriculum (a
  // schedule over the training step) override it; the default is Sample(0, ...). Evaluation splits
  // never depend on the step. The trainer calls it from one thread, before the batch's chunks run.
  virtual void SampleTraining(Rng& rng, int batch_size, int step, Batch& batch) const {
    Sample(0, rng, batch_size, batch);
  }

  // Regression tasks (sparse_linreg) offer the regression problem behind their batches
  // (sim/data/regression_prompts.h), for baselines, probes and exact risks; others do not (false).
  // DrawRegression draws `count` prompts of `split` from `rng` at the task's full d and n_max (no
  // curriculum): the same prompts Sample draws from the same stream position. Returns false when
  // the task does not offer them.
  virtual bool DrawRegression(int split, Rng& rng, int count, RegressionPrompts& out) const { return false; }
  // Builds the model's batch from prompts [begin, begin + count) of `prompts`: the prediction of prompt
  // p from its first n examples is a scored position with group n and clean target
  // prompts.point_target(p, n). The batch may hold more than `count` examples when the layout needs
  // several per prompt (read batch.shape.batch). Throws InternalError when not offered.
  virtual void RegressionBatch(const RegressionPrompts& prompts, int begin, int count, Batch& batch) const {
    throw InternalError(Concat("task ", info().name, " offers no regression prompts"));
  }

  // Fills `batch` with examples [begin, begin + count) of a fixed split (split_size > 0), padded to
  // batch_size with unscored copies of the first one, so every evaluation batch has one shape.
  virtual void SampleFixed(int split, int begin, int count, int batch_size, Batch& batch) const {
    throw InternalError(Concat("task ", info().name, " has no fixed split ", split));
  }

  // Adds task-specific metrics for an evaluated batch; outputs are (C, S) logits or (1, S)
  // predictions at batch.scored. The trainer already records loss and accuracy / mse.
  virtual void Score(const Batch& batch, const ConstMatRef& outputs, MetricSums& sums) const {}
  // Derives metrics from the means (ratios to baselines, for example).
  virtual void Finish(std::map<std::string, double>& metrics) const {}

  int SplitIndex(const std::string& name) const {
    for (size_t i = 0; i < info().splits.size(); ++i)
      if (info().splits[i] == name) return static_cast<int>(i);
    return -1;
  }
};

}  // namespace sim
