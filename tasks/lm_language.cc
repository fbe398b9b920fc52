#include "tasks/lm_language.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/core/check.h"

namespace sim {

const std::vector<std::string>& LmTokenTypeNames() {
  static const std::vector<std::string> names = {"bos", "marker", "delimiter", "key", "value", "content"};
  return names;
}

void LmTokenTypes(const int32_t* tokens, int n, LmTokenType* types) {
  using namespace lm_tokens;
  enum class Mode { kNone, kText, kPairs, kQueries, kCopy };
  Mode mode = Mode::kNone;
  int offset = 0;  // content tokens since the recall segment's KV or SEP
  for (int t = 0; t < n; ++t) {
    const int32_t x = tokens[t];
    if (x == kBos) {
      types[t] = LmTokenType::kBos;
      mode = Mode::kNone;
    } else if (x == kText || x == kKv || x == kCopy) {
      types[t] = LmTokenType::kMarker;
      mode = x == kText ? Mode::kText : x == kKv ? Mode::kPairs : Mode::kCopy;
      offset = 0;
    } else if (x == kSep) {
      types[t] = LmTokenType::kDelimiter;
      if (mode == Mode::kPairs) mode = Mode::kQueries;
      offset = 0;
    } else if (mode == Mode::kPairs || mode == Mode::kQueries) {
      types[t] = offset % 2 == 0 ? LmTokenType::kKey : LmTokenType::kValue;
      ++offset;
    } else {
      types[t] = LmTokenType::kContent;
    }
  }
}

LmLanguage::LmLanguage(const LmLanguageConfig& config) : cfg_(config) {
  const int n = n_content(), d = cfg_.chain_degree;
  SIM_CHECK(cfg_.vocab >= lm_tokens::kMinVocab && d >= 1 && d <= n, "LmLanguage: vocab ", cfg_.vocab, ", degree ", d);
  Rng rng = Rng::ForStream(cfg_.chain_seed, "task/chain");
  succ_.resize(static_cast<size_t>(n) * d);
  prob_.resize(succ_.size());
  std::vector<int> scratch, chosen(d);
  for (int a = 0; a < n; ++a) {
    rng.SampleWithoutReplacement(n, d, scratch, chosen.data());
    double total = 0.0;
    for (int i = 0; i < d; ++i) {
      succ_[static_cast<size_t>(a) * d + i] = content(chosen[i]);
      const double w = -std::log(1.0 - rng.Uniform());  // Exp(1): normalized, a flat Dirichlet
      prob_[static_cast<size_t>(a) * d + i] = w;
      total += w;
    }
    for (int i = 0; i < d; ++i) prob_[static_cast<size_t>(a) * d + i] /= total;
  }
  // Stationary distribution: the Cesàro average of the distribution's iterates (robust to periods).
  std::vector<double> p(n, 1.0 / n), next(n);
  pi_.assign(n, 0.0);
  const int burn_in = 500, average = 1000;
  for (int step = 0; step < burn_in + average; ++step) {
    std::fill(next.begin(), next.end(), 0.0);
    for (int a = 0; a < n; ++a)
      for (int i = 0; i < d; ++i)
        next[succ_[static_cast<size_t>(a) * d + i] - lm_tokens::kFirstContent] +=
            p[a] * prob_[static_cast<size_t>(a) * d + i];
    p.swap(next);
    if (step >= burn_in)
      for (int a = 0; a < n; ++a) pi_[a] += p[a] / average;
  }
  pi_cdf_.resize(n);
  double run = 0.0;
  for (int a = 0; a < n; ++a) pi_cdf_[a] = run += pi_[a];
}

double LmLanguage::TransitionProb(int32_t a, int32_t b) const {
  const int32_t* s = successors(a);
  for (int i = 0; i < cfg_.chain_degree; ++i)
    if (s[i] == b) return successor_probs(a)[i];
  return 0.0;
}

double LmLanguage::Entropy(int32_t a) const {
  double h = 0.0;
  for (int i = 0; i < cfg_.chain_degree; ++i) {
    const double q = successor_probs(a)[i];
    if (q > 0.0) h -= q * std::log(q);
  }
  return h;
}

double LmLanguage::MaxProb(int32_t a) const {
  const double* q = successor_probs(a);
  return *std::max_element(q, q + cfg_.chain_degree);
}

int32_t LmLanguage::SampleStationary(Rng& rng) const {
  const double u = rng.Uniform() * pi_cdf_.back();
  const auto it = std::upper_bound(pi_cdf_.begin(), pi_cdf_.end(), u);
  const int i = std::min(static_cast<int>(it - pi_cdf_.begin()), n_content() - 1);
  return content(i);
}

int32_t LmLanguage::SampleNext(int32_t a, Rng& rng) const {
  const double* q = successor_probs(a);
  double u = rng.Uniform();
  for (int i = 0; i < cfg_.chain_degree - 1; ++i) {
    if (u < q[i]) return successors(a)[i];
    u -= q[i];
  }
  return successors(a)[cfg_.chain_degree - 1];  // the last one, also when rounding left u past the end
}

void LmLanguage::Walk(Rng& rng, int n, int32_t* out) const {
  if (n <= 0) return;
  out[0] = SampleStationary(rng);
  for (int i = 1; i < n; ++i) out[i] = SampleNext(out[i - 1], rng);
}

int32_t LmLanguage::SampleNonSuccessor(int32_t after, int32_t not_this, Rng& rng) const {
  SIM_CHECK(cfg_.chain_degree + 1 < n_content(), "LmLanguage: no non-successor with degree ", cfg_.chain_degree, " of ",
            n_content(), " content tokens");
  for (int attempt = 0; attempt < 1000; ++attempt) {  // nearly always the first draw
    const int32_t c = SampleStationary(rng);
    if (c != not_this && TransitionProb(after, c) == 0.0) return c;
  }
  for (;;) {  // pi concentrated on the excluded tokens: uniform over the allowed ones instead
    const int32_t c = content(static_cast<int>(rng.Below(n_content())));
    if (c != not_this && TransitionProb(after, c) == 0.0) return c;
  }
}

void DeclareLmLanguageOptions(OptionSet& set, const std::string& owner) {
  set.Declare({"task.vocab", "256",
               "vocabulary V (>= 16): 0 BOS, 1 SEP, 2 TXT, 3 KV, 4 CPY, 5-7 reserved, 8..V-1 content (keys, then "
               "values)",
               owner});
  set.Declare({"task.length", "64", "sequence length T", owner});
  set.Declare({"task.chain_seed", "0",
               "seed of the Markov chain of text segments (not train.seed: every run shares the language)", owner});
  set.Declare({"task.chain_degree", "4", "successors per content token in the chain's transition table", owner});
}

LmLanguageConfig ReadLmLanguageOptions(Options& options, int min_length, int* length) {
  LmLanguageConfig c;
  const OptionErrorScope vocab_read(options);
  c.vocab = static_cast<int>(options.Int("task.vocab", lm_tokens::kMinVocab, 1 << 20));
  const bool vocab_ok = vocab_read.ok();
  *length = static_cast<int>(options.Int("task.length", min_length, 1 << 16));
  c.chain_seed = static_cast<uint64_t>(options.Int("task.chain_seed", 0, std::numeric_limits<long>::max()));
  const OptionErrorScope degree_read(options);
  c.chain_degree = static_cast<int>(options.Int("task.chain_degree", 1, 1 << 16));
  // At least two content tokens outside any successor list (corrupted transitions need one).
  const int n_content = c.vocab - lm_tokens::kFirstContent;
  if (vocab_ok && degree_read.ok() && c.chain_degree > n_content - 2)
    options.Fail("task.chain_degree", Concat("must be <= task.vocab - 10 = ", n_content - 2, " (content tokens ",
                                             n_content, " minus two that are not successors)"));
  return c;
}

}  // namespace sim
