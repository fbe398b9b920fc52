// ictemplate: contextual generalization (Chen & Zou 2024, task T4; ../specs/depth.md §3). NOT YET
// VALIDATED by the spec: no training recipe is known to lift the study's sizes (m = 4) above chance;
// at m = 2 the auxiliary partner target below does (experiments/depth/README.md, issue #25).
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
// Training aids (issue #25: a signal for the parse step), training batches only (SampleTraining;
// Sample and so every evaluation split never change; both off by default):
//   - auxiliary partner target (task.aux_partner = p > 0): each filler whose partner (the other
//     position of its symbol) is earlier in its segment, in context and query segments alike, is also
//     scored, with probability p, with class |Y| + (the partner's offset in the segment, 0..L-2) in
//     the same softmax readout (so C = |Y| + L - 1). p is the expected weight of those terms; the loss
//     averages over all scored positions. task.aux_partner_until = S switches it off from step S on.
//   - keep-context curriculum (task.keep_context = q0): each symbol of a query instance s* keeps its
//     token from the context instance of the same template with probability q(step), the others get
//     fresh distinct tokens (none equal to a kept one); q = 1 makes s* an exact copy, q = 0 is the task
//     itself (the same random draws, bit for bit). q = q0 for task.keep_context_hold steps, then falls
//     linearly to 0 over task.keep_context_anneal steps.
#pragma once

#include <memory>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/data/task_measures.h"
#include "tasks/task_helpers.h"
#include "tasks/templates.h"

namespace sim {

struct IctemplateConfig {
  int vocab = 32;               // V filler tokens
  int labels = 8;               // |Y|
  int pairs = 4;                // m
  int length = 6;               // L
  int templates_train = 10;     // |P_train|; the remaining pairing templates are P_test
  int n_queries = 1;            // k
  int pad_to = 0;               // prompt length in tokens, PAD-filled at the end (0 = (m + k)(L + 1))
  double aux_partner = 0;       // probability of scoring a filler with its earlier partner's offset (0 = off)
  int aux_partner_until = 0;    // training step from which the auxiliary target is off (0 = never)
  double keep_context = 0;      // q0: probability that a query symbol keeps its context token (0 = off)
  int keep_context_hold = 0;    // steps at q0
  int keep_context_anneal = 0;  // then steps of a linear fall from q0 to 0
};

class IctemplateTask : public Task {
 public:
  explicit IctemplateTask(const IctemplateConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  // Sample(0, ...) with the training aids of step `step` (the auxiliary target, q(step)).
  void SampleTraining(Rng& rng, int batch_size, int step, Batch& batch) const override;
  // The keep-context probability q and the auxiliary target's probability at training step `step`.
  double KeepAt(int step) const;
  double AuxAt(int step) const;
  int n_aux_classes() const { return cfg_.aux_partner > 0 ? cfg_.length - 1 : 0; }
  int length() const { return cfg_.length; }    // L
  int n_fillers() const { return cfg_.vocab; }  // filler tokens are [0, V)
  const std::vector<Template>& train_pool() const { return train_pool_; }
  const std::vector<Template>& test_pool() const { return test_pool_; }

 private:
  // The prompts of `split`; a query symbol keeps its context token with probability keep, and each
  // eligible filler is scored with its partner's offset with probability aux (both 0 for Sample).
  void SampleWith(int split, Rng& rng, int batch_size, double keep, double aux, Batch& batch) const;
  // Writes query instance `out` of template t: symbol s keeps context[first position of s] with
  // probability keep, the others draw distinct fresh tokens from the fillers not kept.
  void FillQuery(const Template& t, const int32_t* context, double keep, Rng& rng, int32_t* out) const;
  // Scores each filler of the segment at `first` (template t) whose partner is earlier, with
  // probability aux.
  void AddPartnerTargets(const Template& t, int b, int first, double aux, Rng& rng, Batch& batch) const;

  IctemplateConfig cfg_;
  TaskInfo info_;
  std::vector<Template> train_pool_, test_pool_;
  std::vector<int32_t> filler_;
  mutable std::vector<int> scratch_, which_, label_of_, asked_, kept_, fresh_;
  mutable std::vector<int32_t> available_;
};

void DeclareIctemplateOptions(OptionSet& set);
std::unique_ptr<Task> MakeIctemplate(Options& options);

// The mechanism measure of ictemplate (the task registry offers it to analysis.attention), first
// layer (docs/results-format.md): is layer 1 a same-token parse (spec §5)?
//   mech/ictemplate_partner_mass [3, H]  over every filler whose token occurs earlier in its own
//                                        segment (its partner, found from the tokens alone), the mass
//                                        on that partner (row 0), on itself (row 1), and on earlier
//                                        positions of other segments holding the same token (row 2)
// Empty when layer 1 has no attention probabilities.
std::vector<AnalysisArray> IctemplateMeasures(const Task& task, const AttentionCapture& capture);

}  // namespace sim
