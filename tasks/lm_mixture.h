// lm_mixture: next-token prediction on a mixture of segments, the pre-training task of the
// fine-tuning study and of the sinks study's Hint-tok experiment (../shared/specs/finetune.md §6.1,
// sinks.md B3.3). Tokens and the segment grammar: tasks/lm_language.h.
//
// An example is T + 1 tokens: BOS, then segments until the sequence is full; the input is the first
// T tokens and position t (every t < T) is scored with target token t + 1 (a class out of V), so the
// loss is at every position. Each segment is, with probabilities proportional to task.mix_text,
// task.mix_mqar and task.mix_copy:
//   text:  TXT w_1 ... w_m              m uniform in [1, task.text_length], the chain of task.chain_seed
//   mqar:  KV k_1 v_1 ... k_K v_K SEP q_1 a_1 ... q_K a_K
//          K uniform in [1, task.pairs]; keys distinct, values distinct; every key is queried once, in
//          random order, and followed by its value a_i (the recall the model must make)
//   copy:  CPY s_1 ... s_L SEP s_1 ... s_L   L uniform in [1, task.copy_length], s_i uniform content
// A segment that does not fit in the space left is shrunk to fit (K <= (left - 2) / 4, L <= (left - 2)
// / 2, m <= left - 1), or becomes text when even K = 1 (L = 1) does not fit; with one token left the
// last segment is a lone TXT.
//
// Each scored position carries in Batch::groups the kind of its target (LmMixtureTarget): text (a
// text token after a text token: predictable from the chain), mqar (a recalled value a_i), copy (a
// token of the repeat), other (markers, SEP, the first token of a text segment, keys and values of
// the pairs, queried keys, the copied string's first pass: unpredictable or structural).
// Metrics, besides loss and accuracy over every position: acc_text, acc_mqar, acc_copy and
// loss_text per kind (NaN when an evaluation has no target of the kind); text_entropy and
// text_bayes_accuracy, the chain's conditional entropy (nats) and the accuracy of always naming the
// likeliest successor, over the same text targets (what loss_text and acc_text approach);
// acc_mqar_chance, the mean of 1/K over the recall targets: the accuracy of a model that knows only
// "some value of this segment" (about 0.22 at task.pairs = 8). Copy chance is 1/(V - 8). Overall
// accuracy has no chance level (TaskInfo::chance is NaN).
// Default weights 0.2 / 0.4 / 0.4: text is learned within a few hundred steps at any weight, while
// recall and copying (induction) form much later when text takes a larger share (measurements in
// docs/finetune-tasks.md).
// Splits: train, test (its own random stream). Needs causal attention.
#pragma once

#include <memory>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "tasks/lm_language.h"

namespace sim {

enum class LmMixtureTarget : int32_t { kOther = 0, kText = 1, kMqar = 2, kCopy = 3 };

struct LmMixtureConfig {
  LmLanguageConfig language;
  int length = 64;  // T
  double mix_text = 0.2, mix_mqar = 0.4, mix_copy = 0.4;
  int pairs = 8;         // largest K
  int copy_length = 12;  // largest L
  int text_length = 32;  // largest m
};

class LmMixtureTask : public Task {
 public:
  explicit LmMixtureTask(const LmMixtureConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  void Score(const Batch& batch, const ConstMatRef& outputs, MetricSums& sums) const override;
  const LmLanguage& language() const { return lang_; }
  const LmMixtureConfig& config() const { return cfg_; }

 private:
  // Fills seq_ (T + 1 tokens) and kind_ (T + 1 target kinds) with one example.
  void Generate(Rng& rng) const;

  LmMixtureConfig cfg_;
  LmLanguage lang_;
  TaskInfo info_;
  mutable std::vector<int32_t> seq_, kind_;  // (T + 1) scratch: Sample is not re-entrant
  mutable std::vector<int> scratch_, keys_, values_, order_;
};

void DeclareLmMixtureOptions(OptionSet& set);
std::unique_ptr<Task> MakeLmMixture(Options& options);

}  // namespace sim
