// uniform: random tokens with random labels, nothing to learn. The loss stays at ln(classes).
//
// Every token is uniform over [0, V); every scored position's label is uniform over [0, C). With
// score = all every position is scored (the language-model shape of a step, used by `sim bench` to
// compare speed with PyTorch on the same work); with score = last only the last one is.
// With task.d_in = Din > 0 the inputs are vectors instead, each entry N(0, 1), and every scored
// position's target a scalar N(0, 1) (squared error; the shape of a regression model's step, such
// as the heads study's, for `sim bench`); task.vocab and task.classes are then unused.
// Splits: train, test. Chance accuracy is 1/C (token inputs).
#pragma once

#include <memory>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "tasks/task_helpers.h"

namespace sim {

struct UniformConfig {
  int vocab = 64;
  int length = 32;
  int classes = 64;
  bool score_all = true;
  int d_in = 0;  // > 0: vector inputs of this width and scalar targets
};

class UniformTask : public Task {
 public:
  explicit UniformTask(const UniformConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;

 private:
  UniformConfig cfg_;
  TaskInfo info_;
};

void DeclareUniformOptions(OptionSet& set);
std::unique_ptr<Task> MakeUniform(Options& options);

}  // namespace sim
