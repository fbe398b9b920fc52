#include "tasks/task_helpers.h"

#include "sim/core/check.h"

namespace sim {

void DeclareNQueries(OptionSet& set, const std::string& owner) {
  set.Declare({"task.n_queries", "1",
               "queries per training prompt k (k > 1 needs model.causal = true); evaluation uses 1", owner});
}

void CheckNQueries(Options& options, int n_queries, int pairs) {
  if (n_queries > pairs) options.Fail("task.n_queries", Concat("must be <= task.pairs=", pairs, " (distinct queries)"));
}

void RequireCausalForQueries(TaskInfo& info, int n_queries) {
  info.requires_causal = n_queries > 1;
  info.causal_reason = "with task.n_queries > 1 a readout would see the later queries";
}

void ReadoutPool::Add(const int32_t* instance, int32_t label) {
  tokens_.insert(tokens_.end(), instance, instance + length_);
  labels_.push_back(label);
}

void ReadoutPool::Write(Batch& batch, int b, const int32_t* instance, int32_t label, bool scored) const {
  int32_t* tokens = batch.tokens.data() + static_cast<size_t>(b) * (length_ + 1);
  for (int t = 0; t < length_; ++t) tokens[t] = instance[t];
  tokens[length_] = out_token_;
  if (scored) batch.AddClassTarget(b, length_, label);
}

void ReadoutPool::SampleTrain(Rng& rng, int batch_size, bool whole_in_order, Batch& batch) const {
  batch.Reset({batch_size, length_ + 1}, InputKind::kTokens, OutputKind::kClasses, 0);
  const bool in_order = whole_in_order && batch_size == size();
  for (int b = 0; b < batch_size; ++b) {
    const int i = in_order ? b : static_cast<int>(rng.Below(size()));
    Write(batch, b, tokens_.data() + static_cast<size_t>(i) * length_, labels_[i], true);
  }
}

void ReadoutPool::SampleFixed(const std::string& task, int begin, int count, int batch_size, Batch& batch) const {
  SIM_CHECK(begin >= 0 && count >= 1 && begin + count <= size() && count <= batch_size, task, ": fixed examples [",
            begin, ", ", begin + count, ") of ", size(), " in a batch of ", batch_size);
  batch.Reset({batch_size, length_ + 1}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    const int i = b < count ? begin + b : begin;
    Write(batch, b, tokens_.data() + static_cast<size_t>(i) * length_, labels_[i], b < count);
  }
}

}  // namespace sim
