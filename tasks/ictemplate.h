// ictemplate: contextual generalization (Chen & Zou 2024, task T4; ../specs/depth.md §3). NOT YET
// VALIDATED by the spec: no training recipe is known to lift it above chance.
//
//   s_1 y_1 s_2 y_2 ... s_m y_m s* OUT      read out at OUT
// Each s_j is an instance (L filler tokens) of a distinct template τ_j; the y_j are distinct labels
// assigned at random per prompt, so the template -> label map exists only in the context; s* is a
// fresh instance (new fill) of one of the τ_j and the target is its y_j (a class in [0, |Y|)).
// Chance is 1/m. Tokens: filler [0, V), labels [V, V+|Y|), OUT V+|Y|, PAD V+|Y|+1 (multi-query
// evaluation). Templates: the pairing templates of length L; a fixed permutation of them (stream
// "task/ictemplate/pools", seed 0) gives the training pool (the first `templates_train`) and the
// held-out pool (the rest).
// Multi-query training (n_queries = k): k fresh instances of distinct context templates follow the
// m segments, each followed by OUT and read out (needs causal attention); evaluation uses one.
// Splits: train and test_id (templates of the training pool), test_ood (all m templates from the
// held-out pool).
#pragma once

#include <memory>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "tasks/task_helpers.h"
#include "tasks/templates.h"

namespace sim {

struct IctemplateConfig {
  int vocab = 32;            // V filler tokens
  int labels = 8;            // |Y|
  int pairs = 4;             // m
  int length = 6;            // L
  int templates_train = 10;  // |P_train|; the remaining pairing templates are P_test
  int n_queries = 1;         // k
  int pad_to = 0;            // prompt length in tokens, PAD-filled at the end (0 = (m + k)(L + 1))
};

class IctemplateTask : public Task {
 public:
  explicit IctemplateTask(const IctemplateConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  const std::vector<Template>& train_pool() const { return train_pool_; }
  const std::vector<Template>& test_pool() const { return test_pool_; }

 private:
  IctemplateConfig cfg_;
  TaskInfo info_;
  std::vector<Template> train_pool_, test_pool_;
  std::vector<int32_t> filler_;
  mutable std::vector<int> scratch_, which_, label_of_, asked_;
};

void DeclareIctemplateOptions(OptionSet& set);
std::unique_ptr<Task> MakeIctemplate(Options& options);

}  // namespace sim
