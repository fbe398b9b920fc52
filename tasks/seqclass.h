// seqclass: memorization (Chen & Zou 2024, task T1; ../specs/depth.md §3).
//
// N distinct sequences of L tokens drawn uniformly from V^L, each with an independent uniform label
// in [0, K); an OUT token (id V) is appended and read out, so an input has L + 1 tokens. The data are
// drawn from the stream "task/seqclass" of train.seed: each seed is its own dataset.
// Splits: train (batches drawn from the N sequences, with replacement; the whole set in order when
// train.batch = N), trainset (the N sequences, evaluated whole: memorization accuracy), control
// (fresh random sequences with random labels: nothing to generalize, accuracy must sit at 1/K).
#pragma once

#include <memory>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "tasks/task_helpers.h"

namespace sim {

struct SeqclassConfig {
  int vocab = 32;   // V
  int length = 6;   // L
  int classes = 4;  // K
  int n = 256;      // N
  uint64_t seed = 0;
};

class SeqclassTask : public Task {
 public:
  explicit SeqclassTask(const SeqclassConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  void SampleFixed(int split, int begin, int count, int batch_size, Batch& batch) const override;

  const std::vector<int32_t>& sequences() const { return pool_.tokens(); }  // (N*L)
  const std::vector<int32_t>& labels() const { return pool_.labels(); }     // (N)

 private:
  SeqclassConfig cfg_;
  TaskInfo info_;
  ReadoutPool pool_;  // the N sequences, OUT = V
  mutable std::vector<int32_t> fresh_;
};

void DeclareSeqclassOptions(OptionSet& set);
std::unique_ptr<Task> MakeSeqclass(Options& options);

}  // namespace sim
