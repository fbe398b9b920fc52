// The synthetic "language" shared by lm_mixture (pre-training) and the ft_* fine-tuning tasks
// (../shared/specs/finetune.md §6, sinks.md B3.3): token ids, the key and value ranges of recall
// segments, and the Markov chain of text segments. The chain depends only on (task.vocab,
// task.chain_seed, task.chain_degree), never on train.seed, so every pre-training seed and every
// downstream task speaks the same language.
//
// Tokens (V = task.vocab, at least 16):
//   0 BOS   position 0 of every sequence
//   1 SEP   delimiter: between a copy segment's string and its repeat, and between a recall
//           segment's key-value pairs and its queries
//   2 TXT   starts a text segment (Markov-chain text)
//   3 KV    starts a recall segment (MQAR: pairs, SEP, queried keys each followed by its value)
//   4 CPY   starts a copy segment (a random string, SEP, the string again)
//   5..7    reserved (never emitted)
//   8..V-1  content: keys are [8, 8 + n), values [8 + n, 8 + 2n) with n = floor((V - 8) / 2) (when
//           V is odd, token V-1 is neither); text and copy strings use every content token.
// Segment grammar (what LmTokenTypes parses):
//   text:   TXT w_1 ... w_m            w_1 from the chain's stationary distribution, then the chain
//   recall: KV k_1 v_1 ... k_K v_K SEP q_1 a_1 ... q_Q a_Q   (a downstream sequence may end after q)
//   copy:   CPY s_1 ... s_L SEP s_1 ... s_L                  (s_i uniform over content tokens)
//
// The chain: every content token a has `degree` distinct successors, uniform over content tokens,
// with probabilities drawn from a flat Dirichlet (normalized exponentials): a sparse random
// transition table from the stream "task/chain" of chain_seed. Its stationary distribution pi is the
// average of 1000 steps of the distribution after a 500-step burn-in from uniform.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/core/rng.h"

namespace sim {

namespace lm_tokens {
constexpr int32_t kBos = 0;
constexpr int32_t kSep = 1;
constexpr int32_t kText = 2;
constexpr int32_t kKv = 3;
constexpr int32_t kCopy = 4;
constexpr int32_t kFirstContent = 8;
constexpr int kMinVocab = 16;
}  // namespace lm_tokens

// The kind of each input token, for statistics by token kind (attention sinks, issue #24).
enum class LmTokenType : uint8_t { kBos = 0, kMarker, kDelimiter, kKey, kValue, kContent, kCount };
// "bos", "marker", "delimiter", "key", "value", "content", indexed by LmTokenType.
const std::vector<std::string>& LmTokenTypeNames();

// The type of each of `tokens[0..n)` by the segment grammar above (keys and values by their place in
// a recall segment, not by their id; every other content token is kContent).
void LmTokenTypes(const int32_t* tokens, int n, LmTokenType* types);

struct LmLanguageConfig {
  int vocab = 256;  // V
  uint64_t chain_seed = 0;
  int chain_degree = 4;  // successors per content token
};

class LmLanguage {
 public:
  explicit LmLanguage(const LmLanguageConfig& config);

  int vocab() const { return cfg_.vocab; }
  int degree() const { return cfg_.chain_degree; }
  int n_content() const { return cfg_.vocab - lm_tokens::kFirstContent; }
  int n_keys() const { return n_content() / 2; }                     // = number of values
  int32_t key(int i) const { return lm_tokens::kFirstContent + i; }  // i < n_keys
  int32_t value(int i) const { return lm_tokens::kFirstContent + n_keys() + i; }
  int32_t content(int i) const { return lm_tokens::kFirstContent + i; }
  bool is_content(int32_t t) const { return t >= lm_tokens::kFirstContent && t < cfg_.vocab; }

  // The chain. a, b content tokens.
  const int32_t* successors(int32_t a) const { return &succ_[Row(a)]; }      // (degree)
  const double* successor_probs(int32_t a) const { return &prob_[Row(a)]; }  // (degree), sum 1
  double TransitionProb(int32_t a, int32_t b) const;
  double stationary(int32_t a) const { return pi_[a - lm_tokens::kFirstContent]; }
  double Entropy(int32_t a) const;  // of the next token after a, in nats
  double MaxProb(int32_t a) const;  // of the most likely next token after a

  int32_t SampleStationary(Rng& rng) const;
  int32_t SampleNext(int32_t a, Rng& rng) const;
  // A chain walk of n tokens: out[0] from pi, then the chain.
  void Walk(Rng& rng, int n, int32_t* out) const;
  // A content token from pi that is neither a successor of `after` nor `not_this`.
  int32_t SampleNonSuccessor(int32_t after, int32_t not_this, Rng& rng) const;

 private:
  size_t Row(int32_t a) const {
    return static_cast<size_t>(a - lm_tokens::kFirstContent) * static_cast<size_t>(cfg_.chain_degree);
  }

  LmLanguageConfig cfg_;
  std::vector<int32_t> succ_;   // (n_content * degree) successors of content token a at Row(a)
  std::vector<double> prob_;    // (n_content * degree) their probabilities
  std::vector<double> pi_;      // (n_content) stationary distribution
  std::vector<double> pi_cdf_;  // (n_content) its running sum
};

// Declares task.vocab, task.length, task.chain_seed and task.chain_degree for `owner` ("task:ft_majority"):
// every task of the language reads them with the same defaults, so a downstream run left at its
// defaults speaks the language of a pre-training run left at its defaults.
void DeclareLmLanguageOptions(OptionSet& set, const std::string& owner);
// Reads the language's options (problems go to `options`) and task.length into *length, whose minimum
// is `min_length`.
LmLanguageConfig ReadLmLanguageOptions(Options& options, int min_length, int* length);

}  // namespace sim
