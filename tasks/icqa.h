// icqa: in-context question answering, reasoning (Chen & Zou 2024, task T2; ../specs/depth.md §3).
//
//   q_1 a_1 q_2 a_2 ... q_m a_m q*     read out at q* (no OUT token)
// Questions are m distinct tokens of Q = [0, |Q|), answers m distinct tokens of A = [|Q|, |Q|+|A|);
// the pairing is drawn afresh for every prompt, so it exists only in the context; q* = q_J for a
// uniform J and the target is a_J (a class in [0, |A|)). Chance is 1/m: a model that cannot bind
// answers to questions can at best pick one of the m answers present.
// Multi-query training (n_queries = k > 1): k distinct questions q*_1..q*_k follow the pairs, each
// read out; this needs causal attention (a readout must not see later queries), and evaluation
// always uses single-query prompts, padded with a PAD token (|Q|+|A|) to the same length.
// Splits: train, test (its own stream).
#pragma once

#include <memory>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/data/task_measures.h"
#include "tasks/task_helpers.h"

namespace sim {

struct IcqaConfig {
  int questions = 32;  // |Q|
  int answers = 16;    // |A|
  int pairs = 6;       // m
  int n_queries = 1;   // k, training prompts
};

class IcqaTask : public Task {
 public:
  explicit IcqaTask(const IcqaConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  const IcqaConfig& config() const { return cfg_; }

 private:
  IcqaConfig cfg_;
  TaskInfo info_;
  mutable std::vector<int> scratch_, q_, a_, asked_;
};

void DeclareIcqaOptions(OptionSet& set);
std::unique_ptr<Task> MakeIcqa(Options& options);

// The mechanism measures of icqa (the task registry offers them to analysis.attention), over
// single-query probe prompts, first layer l1 and second layer l2 (docs/results-format.md):
//   mech/icqa_partner_mass [2, H]    l1 mass q_j -> a_j (row 0) and a_j -> q_j (row 1)
//   mech/icqa_readout_qJ_mass [H]    l1 mass at the readout on q_J (match-then-shift route)
//   mech/icqa_match_mass [2, H]      l2 mass at the readout on {q_J, a_J} (row 0), on a_J (row 1)
// Empty when layer 1 has no attention probabilities; no match mass without a second attention layer.
std::vector<AnalysisArray> IcqaMeasures(const Task& task, const AttentionCapture& capture);

}  // namespace sim
