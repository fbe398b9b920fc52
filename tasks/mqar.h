// mqar: multi-query associative recall (Arora, Eyuboglu et al. 2023, "Zoology", multiquery_ar.py).
//
// An example of length T holds K key-value pairs, then a query region:
//   positions 0..2K-1:  k_1 v_1 k_2 v_2 ... k_K v_K   keys distinct from {1..V/2-1}, values distinct
//                                                    from {V/2..V-1}, paired at random per example
//   query region:      Q of the keys, each at its own slot 2K + 2g (g < S = (T-2K)/2), slots drawn
//                      without replacement with p(g) ∝ (g+1)^(α-1) (α = power_a), all other
//                      positions token 0 (or random tokens with random_fill)
// The model must output, at each queried key, the value bound to it (a class out of V); every other
// position is unscored. Chance for a model that only knows "some value in the context" is 1/K.
// Splits: train, test (its own random stream).
#pragma once

#include <memory>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "tasks/task_helpers.h"

namespace sim {

struct MqarConfig {
  int vocab = 64;   // V
  int length = 64;  // T
  int pairs = 8;    // K
  int queries = 8;  // Q <= K
  double power_a = 0.01;
  bool random_fill = false;
};

class MqarTask : public Task {
 public:
  explicit MqarTask(const MqarConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  const MqarConfig& config() const { return cfg_; }

 private:
  MqarConfig cfg_;
  TaskInfo info_;
  std::vector<double> slot_weights_;  // (S) unnormalized p(g)
  mutable std::vector<int> scratch_;  // sampling scratch (Sample is not re-entrant)
  mutable std::vector<int> keys_, values_, chosen_, slots_;
  mutable std::vector<double> weights_;
  mutable std::vector<std::pair<int, int>> queries_;
};

void DeclareMqarOptions(OptionSet& set);
std::unique_ptr<Task> MakeMqar(Options& options);

}  // namespace sim
