// template: generalization (Chen & Zou 2024, task T3; ../specs/depth.md §3).
//
// K templates, a fixed subset of the pairing templates of length L (tasks/templates.h: every other
// one of the 15 for L = 6, i.e. numbers 0, 2, ..., 14), each a class. An instance fills a template's
// symbols with distinct filler tokens; a fixed OUT token follows and is read out. Filler tokens are
// [0, Vtrain) for training and in-distribution tests and [Vtrain, Vtrain+Vtest) for
// out-of-vocabulary tests; OUT is Vtrain+Vtest.
// Splits: train (batches drawn with replacement from a pool of N distinct instances, drawn from the
// stream "task/template" of train.seed), trainset (the pool, evaluated whole), test_id (fresh fills
// from Vtrain that are not in the pool), test_ood (fills from Vtest only: meaningful with frozen
// random token embeddings, optim.freeze = embed.tok). Chance is 1/K.
#pragma once

#include <memory>
#include <unordered_set>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/data/task_measures.h"
#include "tasks/task_helpers.h"
#include "tasks/templates.h"

namespace sim {

struct TemplateConfig {
  int vocab_train = 24;   // Vtrain
  int vocab_test = 8;     // Vtest
  int length = 6;         // L
  int templates = 8;      // K
  int train_size = 4096;  // N
  uint64_t seed = 0;
};

class TemplateTask : public Task {
 public:
  explicit TemplateTask(const TemplateConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  void SampleFixed(int split, int begin, int count, int batch_size, Batch& batch) const override;
  const std::vector<Template>& templates() const { return templates_; }
  bool InPool(const int32_t* instance, int32_t label) const;

 private:
  uint64_t Key(const int32_t* instance, int32_t label) const;

  TemplateConfig cfg_;
  TaskInfo info_;
  std::vector<Template> templates_;
  std::vector<int32_t> train_tokens_, test_tokens_;
  ReadoutPool pool_;  // the N training instances, OUT = Vtrain + Vtest
  std::unordered_set<uint64_t> pool_keys_;
  mutable std::vector<int> scratch_;
  mutable std::vector<int32_t> fill_;
};

void DeclareTemplateOptions(OptionSet& set);
std::unique_ptr<Task> MakeTemplate(Options& options);

// The mechanism measures of template (the task registry offers them to analysis.attention), first
// layer (docs/results-format.md):
//   mech/template_same_token_mass [2, H]  mass of each content position on the positions holding
//                                         its token: itself and its partner (row 0), the partner (row 1)
//   mech/template_out_top2_mass [2, H]    at OUT: mass on the two highest-weight positions (row 0),
//                                         fraction of prompts where those hold the same token (row 1)
// Empty when layer 1 has no attention probabilities.
std::vector<AnalysisArray> TemplateMeasures(const Task& task, const AttentionCapture& capture);

}  // namespace sim
