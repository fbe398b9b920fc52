// FtTask: what the fine-tuning study's downstream classification tasks share (tasks/ft_tasks.h;
// ../shared/specs/finetune.md §6.2): sequences of the lm_mixture language (tasks/lm_language.h) of
// T = task.length tokens, BOS first, read out at the LAST position (a new linear head of C classes
// reads position T - 1), a fixed pool of labelled training examples, and a held-out test stream.
//
// Splits:
//   train     batches drawn from the pool uniformly with replacement (one rng.Below(N) each)
//   test      fresh examples from the split's own stream; an example whose tokens are in the pool is
//             redrawn, so no test example occurs in the pool (examples are identified by a 64-bit hash
//             of their tokens: a hash collision only redraws a fresh example)
//   trainset  the pool, evaluated whole (fixed split, N = task.train_size examples)
//   val       as test, from its own stream: for choosing settings (the base learning rate) without
//             looking at test
// The pool is drawn from the stream "task/<name>/pool" of train.seed (each seed its own data set, as
// seqclass); distinct examples; pool example i has label i mod C. Test example b of a batch has label
// b mod C. Labels are balanced and chance is 1/C.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "tasks/lm_language.h"

namespace sim {

struct FtCommonConfig {
  LmLanguageConfig language;
  int length = 64;         // T
  int train_size = 2000;   // N
  uint64_t pool_seed = 0;  // train.seed
};

class FtTask : public Task {
 public:
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  void SampleFixed(int split, int begin, int count, int batch_size, Batch& batch) const override;

  // Writes one example of class `label` (T tokens) from rng: the task's definition.
  virtual void Generate(Rng& rng, int32_t label, int32_t* tokens) const = 0;

  const LmLanguage& language() const { return lang_; }
  const std::vector<int32_t>& pool_tokens() const { return pool_tokens_; }  // (N*T) example i at i*T
  const std::vector<int32_t>& pool_labels() const { return pool_labels_; }  // (N)
  bool InPool(const int32_t* tokens) const { return pool_hashes_.count(Hash(tokens)) > 0; }

 protected:
  FtTask(const std::string& name, const FtCommonConfig& common, int n_classes);
  // Draws the pool; derived constructors call it last (Generate is virtual).
  void BuildPool();
  uint64_t Hash(const int32_t* tokens) const;  // tokens: (T)

  FtCommonConfig common_;
  LmLanguage lang_;
  TaskInfo info_;

 private:
  std::vector<int32_t> pool_tokens_;  // (N*T)
  std::vector<int32_t> pool_labels_;  // (N)
  std::unordered_set<uint64_t> pool_hashes_;
};

// Declares the options every ft_* task has (the language's, task.train_size) for `owner`.
void DeclareFtCommonOptions(OptionSet& set, const std::string& owner);
// Reads them, with task.length at least `min_length`; problems go to `options`.
FtCommonConfig ReadFtCommonOptions(Options& options, int min_length);

}  // namespace sim
