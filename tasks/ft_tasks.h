// The fine-tuning study's downstream classification tasks (../shared/specs/finetune.md §6.2, issue
// #23): sequences in the language of lm_mixture (tasks/lm_language.h: same vocabulary, length, chain
// and token conventions, so a model pre-trained on lm_mixture is a meaningful start), read out at the
// last position by a new head, with a fixed pool of task.train_size labelled examples and a held-out
// test stream (splits, pool and balance: tasks/ft_task.h). n = T - 2 below.
//
// ft_majority (C = 2): BOS TXT w_1 ... w_n, chain text with indicator tokens written over it. Two
//   disjoint sets A and B of task.indicators content tokens each: the 2k tokens of least stationary
//   probability (ties in a random order from the stream "task/ft_majority/indicators" of
//   chain_seed), alternately to A and B. Label 0: A occurs more often than B; label 1: B more often
//   than A; never a tie. Per example: a chain text without indicator tokens (texts with one are
//   redrawn), then u uniform in [0, task.max_count] tokens of the minority set and u + d of the
//   majority set (d uniform in [1, task.margin]), each a uniform token of its set, written over
//   distinct uniform positions of the text. The counts' distribution is the same for both labels;
//   only the comparison decides.
// ft_chain_valid (C = 2): BOS TXT w_1 ... w_n. Label 1: a chain walk (w_1 from the stationary
//   distribution pi): every transition w_{i-1} -> w_i is one of the chain's. Label 0: exactly one
//   position j (uniform in 2..n) is corrupted, task.corruption = jump (w_j drawn from pi among tokens
//   that are not successors of w_{j-1}, and the walk continues from it: a continuation drawn
//   elsewhere, one invalid transition), substitute (w_j of a valid walk replaced by such a token:
//   usually two invalid transitions), or mixed (each half the time). Every token is drawn from pi
//   or the chain in both classes, so unigram counts say nothing: only transitions do.
// ft_key_value_set (C = 2): BOS TXT w_1 ... w_m KV k_1 v_1 ... k_K v_K SEP q, with K = task.pairs
//   (even), m = T - 2K - 5 chain text, keys distinct, values distinct, and q one of the keys (the
//   last token, as a recall query in lm_mixture). A fixed set S holds half of the value tokens
//   (stream "task/ft_key_value_set/set" of chain_seed); every context has exactly K/2 values in S.
//   Label 1: the value bound to q is in S; label 0: it is not. The context's values say nothing of
//   the label; only the value recalled for q does.
// ft_value_perm (C = task.classes; the sanity control, favouring W_v by construction): the layout of
//   ft_key_value_set. Value tokens are split into C classes by a fixed random permutation (stream
//   "task/ft_value_perm/classes" of chain_seed: the value at place p of the permutation has class
//   p mod C); every context holds K/C values of each class (K = task.pairs, a multiple of C). The
//   label is the class of the value bound to q: the retrieval the pre-trained model already makes,
//   with a new map from values to classes.
#pragma once

#include <memory>
#include <vector>

#include "sim/config/options.h"
#include "tasks/ft_task.h"

namespace sim {

struct FtMajorityConfig {
  FtCommonConfig common;
  int indicators = 4;  // tokens per set
  int max_count = 4;   // u's largest value
  int margin = 2;      // d's largest value
};

class FtMajorityTask : public FtTask {
 public:
  explicit FtMajorityTask(const FtMajorityConfig& config);
  void Generate(Rng& rng, int32_t label, int32_t* tokens) const override;
  // 0: not an indicator, 1: in set A, 2: in set B.
  int IndicatorSet(int32_t token) const { return set_of_[token]; }

 private:
  FtMajorityConfig cfg_;
  std::vector<int32_t> sets_[2];  // (indicators) tokens of A and B
  std::vector<int> set_of_;       // (V)
  mutable std::vector<int> scratch_, chosen_;
};

enum class FtCorruption { kJump, kSubstitute, kMixed };

struct FtChainValidConfig {
  FtCommonConfig common;
  FtCorruption corruption = FtCorruption::kMixed;
};

class FtChainValidTask : public FtTask {
 public:
  explicit FtChainValidTask(const FtChainValidConfig& config);
  void Generate(Rng& rng, int32_t label, int32_t* tokens) const override;

 private:
  FtChainValidConfig cfg_;
};

// The two recall tasks: BOS TXT text KV pairs SEP q. A subclass chooses the K values (value indices)
// and which pair is queried for a label.
class FtRecallTask : public FtTask {
 public:
  void Generate(Rng& rng, int32_t label, int32_t* tokens) const override;
  int pairs() const { return pairs_; }

 protected:
  FtRecallTask(const std::string& name, const FtCommonConfig& common, int n_classes, int pairs);
  // Fills values[0..K) with value indices (< language().n_keys()) and returns the queried pair.
  virtual int ChooseValues(Rng& rng, int32_t label, int* values) const = 0;

  int pairs_;  // K
  mutable std::vector<int> scratch_, keys_, values_;
};

struct FtKeyValueSetConfig {
  FtCommonConfig common;
  int pairs = 8;
};

class FtKeyValueSetTask : public FtRecallTask {
 public:
  explicit FtKeyValueSetTask(const FtKeyValueSetConfig& config);
  bool InSet(int32_t value_token) const { return in_set_[value_token - language().value(0)] != 0; }

 private:
  int ChooseValues(Rng& rng, int32_t label, int* values) const override;
  std::vector<std::vector<int>> members_;  // (2) value indices outside S [0] and in S [1]
  std::vector<uint8_t> in_set_;            // (n_values)
  mutable std::vector<int> pick_, order_, tmp_;
};

struct FtValuePermConfig {
  FtCommonConfig common;
  int pairs = 8;
  int classes = 8;
};

class FtValuePermTask : public FtRecallTask {
 public:
  explicit FtValuePermTask(const FtValuePermConfig& config);
  int ClassOf(int32_t value_token) const { return class_of_[value_token - language().value(0)]; }

 private:
  int ChooseValues(Rng& rng, int32_t label, int* values) const override;
  int classes_;
  std::vector<std::vector<int>> members_;  // (C) value indices of each class
  std::vector<int> class_of_;              // (n_values)
  mutable std::vector<int> pick_, order_, tmp_;
};

void DeclareFtMajorityOptions(OptionSet& set);
std::unique_ptr<Task> MakeFtMajority(Options& options);
void DeclareFtChainValidOptions(OptionSet& set);
std::unique_ptr<Task> MakeFtChainValid(Options& options);
void DeclareFtKeyValueSetOptions(OptionSet& set);
std::unique_ptr<Task> MakeFtKeyValueSet(Options& options);
void DeclareFtValuePermOptions(OptionSet& set);
std::unique_ptr<Task> MakeFtValuePerm(Options& options);

}  // namespace sim
