// What the tasks share, so each task file holds only its own data's definition:
//   - MakeIfClean: the end of every Make<Task>(options): the task, or null when one of its options
//     was bad (the caller reports every problem at once).
//   - Multi-query prompts of the in-context tasks (icqa, ictemplate): k = task.n_queries queries per
//     training prompt, one per evaluation prompt (PAD-filled to the same length); k > 1 needs causal
//     attention, or a readout would see the later queries.
//   - ReadoutPool: a fixed pool of N labeled instances of L tokens, each followed by an OUT token
//     that is read out (seqclass's sequences, template's training pool): training batches drawn from
//     it with replacement, and the pool evaluated whole as a fixed split (Task::SampleFixed).
//
// Example:
//   const OptionErrorScope read(options);
//   IcqaConfig c;
//   c.pairs = static_cast<int>(options.Int("task.pairs", 1, 1 << 12));
//   ...
//   if (read.ok()) CheckNQueries(options, c.n_queries, c.pairs);  // relations of clean values only
//   return MakeIfClean<IcqaTask>(read, c);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/core/rng.h"
#include "sim/data/batch.h"
#include "sim/data/task.h"

namespace sim {

// The task made from `config`, or null when a problem was recorded since `read` began.
template <class TaskType, class Config>
std::unique_ptr<Task> MakeIfClean(const OptionErrorScope& read, const Config& config) {
  if (!read.ok()) return nullptr;
  return std::make_unique<TaskType>(config);
}

// Declares task.n_queries for `owner` ("task:icqa").
void DeclareNQueries(OptionSet& set, const std::string& owner);

// Records a problem with task.n_queries unless n_queries <= pairs (each query asks a distinct pair).
void CheckNQueries(Options& options, int n_queries, int pairs);

// Marks the task as needing causal attention when training prompts have more than one query.
void RequireCausalForQueries(TaskInfo& info, int n_queries);

class ReadoutPool {
 public:
  // Instances of `length` (L) tokens; the input has L + 1 tokens, OUT (`out_token`) last.
  ReadoutPool(int length, int32_t out_token) : length_(length), out_token_(out_token) {}

  void Add(const int32_t* instance, int32_t label);  // instance: (L)
  int size() const { return static_cast<int>(labels_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }  // (N*L) instance i at i*L
  const std::vector<int32_t>& labels() const { return labels_; }  // (N)

  // Writes example b of `batch` (reset to (B, L + 1)): the instance, OUT, and when `scored` the class
  // target `label` at OUT.
  void Write(Batch& batch, int b, const int32_t* instance, int32_t label, bool scored) const;

  // A training batch of batch_size pool instances drawn uniformly with replacement (one rng.Below(N)
  // each), or every instance once in order when `whole_in_order` and batch_size == N.
  void SampleTrain(Rng& rng, int batch_size, bool whole_in_order, Batch& batch) const;

  // Instances [begin, begin + count), padded to batch_size with unscored copies of instance `begin`.
  // `task` names the caller in the message of a bad range.
  void SampleFixed(const std::string& task, int begin, int count, int batch_size, Batch& batch) const;

 private:
  int length_;
  int32_t out_token_;
  std::vector<int32_t> tokens_;  // (N*L)
  std::vector<int32_t> labels_;  // (N)
};

}  // namespace sim
