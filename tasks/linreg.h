// linreg: in-context linear regression (Garg, Tsipras, Liang & Valiant 2022).
//
// Per example: w ~ N(0, I_d), x_i ~ N(0, I_d), y_i = w·x_i + ε_i, ε_i ~ N(0, noise²), i = 1..n.
// The sequence interleaves them, T = 2n positions of width Din = d + 1:
//   position 2i:   (x_i, 0)        -- scored: predict y_i from the pairs before it
//   position 2i+1: (0, ..., 0, y_i)
// score = all scores every x position (Garg et al.'s loss); score = last scores only the last.
// Causal attention is required: a bidirectional model would see y_i next to x_i.
// Metrics beyond mse: mse_last (error at the last x position), mse_last_zero (the zero predictor's
// error there, mean y²) and mse_last_ratio = mse_last / mse_last_zero.
// Splits: train, test (its own random stream).
#pragma once

#include <memory>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "tasks/task_helpers.h"

namespace sim {

struct LinregConfig {
  int d = 5;
  int points = 11;  // n
  double noise = 0.0;
  bool score_all = true;
};

class LinregTask : public Task {
 public:
  explicit LinregTask(const LinregConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  void Score(const Batch& batch, const ConstMatRef& outputs, MetricSums& sums) const override;
  void Finish(std::map<std::string, double>& metrics) const override;
  const LinregConfig& config() const { return cfg_; }

 private:
  LinregConfig cfg_;
  TaskInfo info_;
  mutable Vec w_;  // (d) scratch
};

void DeclareLinregOptions(OptionSet& set);
std::unique_ptr<Task> MakeLinreg(Options& options);

}  // namespace sim
