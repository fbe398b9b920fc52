#include "tasks/lm_mixture.h"

#include <algorithm>
#include <cmath>

#include "sim/core/check.h"
#include "sim/layers/losses.h"
#include "tasks/task_helpers.h"

namespace sim {

namespace {
// Target kinds as stored in Batch::groups.
constexpr int32_t kOther = static_cast<int32_t>(LmMixtureTarget::kOther);
constexpr int32_t kTextTarget = static_cast<int32_t>(LmMixtureTarget::kText);
constexpr int32_t kMqarTarget = static_cast<int32_t>(LmMixtureTarget::kMqar);
constexpr int32_t kCopyTarget = static_cast<int32_t>(LmMixtureTarget::kCopy);
// The number of pairs K of the recall segment that the query at column `col` of `batch` belongs to:
// back to its KV marker, then forward to the SEP after the pairs.
int SegmentPairs(const Batch& batch, int col) {
  const int t_len = batch.shape.length, begin = col / t_len * t_len;
  int kv = col;
  while (kv > begin && batch.tokens[kv] != lm_tokens::kKv) --kv;
  int sep = kv + 1;
  while (sep < col && batch.tokens[sep] != lm_tokens::kSep) ++sep;
  SIM_CHECK(batch.tokens[kv] == lm_tokens::kKv && batch.tokens[sep] == lm_tokens::kSep && (sep - kv) % 2 == 1,
            "lm_mixture: no recall segment before the query at column ", col);
  return (sep - kv - 1) / 2;
}

}  // namespace

LmMixtureTask::LmMixtureTask(const LmMixtureConfig& config) : cfg_(config), lang_(config.language) {
  info_.name = "lm_mixture";
  info_.input = InputKind::kTokens;
  info_.vocab = lang_.vocab();
  info_.output = OutputKind::kClasses;
  info_.n_classes = lang_.vocab();
  info_.length = cfg_.length;
  info_.max_scored_per_example = cfg_.length;
  info_.splits = {"train", "test"};
  info_.chance = NAN;
  info_.requires_causal = true;
  info_.causal_reason = "next-token prediction: a bidirectional model would see each target";
  seq_.resize(cfg_.length + 1);
  kind_.resize(cfg_.length + 1);
}

void LmMixtureTask::Generate(Rng& rng) const {
  const int n = cfg_.length + 1;
  int32_t* seq = seq_.data();
  int32_t* kind = kind_.data();
  seq[0] = lm_tokens::kBos;
  kind[0] = kOther;
  const double total = cfg_.mix_text + cfg_.mix_mqar + cfg_.mix_copy;
  int pos = 1;
  while (pos < n) {
    const int left = n - pos;
    const double u = rng.Uniform() * total;
    int segment = u < cfg_.mix_text ? 0 : u < cfg_.mix_text + cfg_.mix_mqar ? 1 : 2;
    const int max_pairs = std::min(cfg_.pairs, (left - 2) / 4), max_copy = std::min(cfg_.copy_length, (left - 2) / 2);
    if ((segment == 1 && max_pairs < 1) || (segment == 2 && max_copy < 1)) segment = 0;
    if (segment == 0) {  // TXT w_1 ... w_m
      const int m = std::min(1 + static_cast<int>(rng.Below(cfg_.text_length)), left - 1);
      seq[pos] = lm_tokens::kText;
      kind[pos] = kOther;
      lang_.Walk(rng, m, seq + pos + 1);
      for (int i = 0; i < m; ++i) kind[pos + 1 + i] = i == 0 ? kOther : kTextTarget;
      pos += 1 + m;
    } else if (segment == 1) {  // KV k v ... SEP q a ...
      const int k = 1 + static_cast<int>(rng.Below(max_pairs));
      keys_.resize(k);
      values_.resize(k);
      order_.resize(k);
      rng.SampleWithoutReplacement(lang_.n_keys(), k, scratch_, keys_.data());
      rng.SampleWithoutReplacement(lang_.n_keys(), k, scratch_, values_.data());
      rng.SampleWithoutReplacement(k, k, scratch_, order_.data());
      seq[pos] = lm_tokens::kKv;
      for (int i = 0; i < k; ++i) {
        seq[pos + 1 + 2 * i] = lang_.key(keys_[i]);
        seq[pos + 2 + 2 * i] = lang_.value(values_[i]);
      }
      seq[pos + 1 + 2 * k] = lm_tokens::kSep;
      const int q0 = pos + 2 + 2 * k;
      for (int i = 0; i < k; ++i) {
        seq[q0 + 2 * i] = lang_.key(keys_[order_[i]]);
        seq[q0 + 2 * i + 1] = lang_.value(values_[order_[i]]);
      }
      for (int i = pos; i < q0 + 2 * k; ++i) kind[i] = i >= q0 && (i - q0) % 2 == 1 ? kMqarTarget : kOther;
      pos = q0 + 2 * k;
    } else {  // CPY s ... SEP s ...
      const int len = 1 + static_cast<int>(rng.Below(max_copy));
      seq[pos] = lm_tokens::kCopy;
      for (int i = 0; i < len; ++i) seq[pos + 1 + i] = lang_.content(static_cast<int>(rng.Below(lang_.n_content())));
      seq[pos + 1 + len] = lm_tokens::kSep;
      for (int i = 0; i < len; ++i) seq[pos + 2 + len + i] = seq[pos + 1 + i];
      for (int i = pos; i < pos + 2 + 2 * len; ++i) kind[i] = i >= pos + 2 + len ? kCopyTarget : kOther;
      pos += 2 + 2 * len;
    }
  }
  SIM_CHECK(pos == n, "lm_mixture: segments filled ", pos, " of ", n, " tokens");
}

void LmMixtureTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  const int t_len = cfg_.length;
  batch.Reset({batch_size, t_len}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    Generate(rng);
    std::copy(seq_.begin(), seq_.begin() + t_len, batch.tokens.begin() + static_cast<size_t>(b) * t_len);
    for (int t = 0; t < t_len; ++t) {
      batch.AddClassTarget(b, t, seq_[t + 1]);
      batch.groups.push_back(kind_[t + 1]);
    }
  }
}

void LmMixtureTask::Score(const Batch& batch, const ConstMatRef& outputs, MetricSums& sums) const {
  SIM_CHECK(static_cast<int>(batch.groups.size()) == batch.n_scored(), "lm_mixture: a batch without target kinds (",
            batch.n_scored(), " scored, ", batch.groups.size(), " kinds)");
  double right[4] = {0, 0, 0, 0}, count[4] = {0, 0, 0, 0};
  double text_loss = 0.0, entropy = 0.0, bayes = 0.0, mqar_chance = 0.0;
  for (int j = 0; j < batch.n_scored(); ++j) {
    const int g = batch.groups[j];
    SIM_CHECK(g >= kOther && g <= kCopyTarget, "lm_mixture: target kind ", g);
    count[g] += 1.0;
    right[g] += ArgmaxColumn(outputs, j) == batch.labels[j] ? 1.0 : 0.0;
    if (g == kMqarTarget) mqar_chance += 1.0 / SegmentPairs(batch, batch.scored[j]);
    if (g != kTextTarget) continue;
    // Cross-entropy of this column in double, and the chain's own numbers for the input token.
    double top = outputs(0, j);
    for (Index c = 1; c < outputs.rows(); ++c) top = std::max(top, static_cast<double>(outputs(c, j)));
    double z = 0.0;
    for (Index c = 0; c < outputs.rows(); ++c) z += std::exp(static_cast<double>(outputs(c, j)) - top);
    text_loss += top + std::log(z) - outputs(batch.labels[j], j);
    const int32_t prev = batch.tokens[batch.scored[j]];
    entropy += lang_.Entropy(prev);
    bayes += lang_.MaxProb(prev);
  }
  // Every name is added, with count 0 when absent, so the metrics are the same every evaluation.
  sums.Add("acc_text", right[kTextTarget], count[kTextTarget]);
  sums.Add("acc_mqar", right[kMqarTarget], count[kMqarTarget]);
  sums.Add("acc_copy", right[kCopyTarget], count[kCopyTarget]);
  sums.Add("acc_mqar_chance", mqar_chance, count[kMqarTarget]);
  sums.Add("loss_text", text_loss, count[kTextTarget]);
  sums.Add("text_entropy", entropy, count[kTextTarget]);
  sums.Add("text_bayes_accuracy", bayes, count[kTextTarget]);
}

void DeclareLmMixtureOptions(OptionSet& set) {
  const std::string owner = "task:lm_mixture";
  DeclareLmLanguageOptions(set, owner);
  set.Declare({"task.mix_text", "0.2", "relative frequency of text segments (Markov chain)", owner});
  set.Declare({"task.mix_mqar", "0.4", "relative frequency of recall segments (key-value pairs, then queries)", owner});
  set.Declare({"task.mix_copy", "0.4", "relative frequency of copy segments (string, SEP, string)", owner});
  set.Declare({"task.pairs", "8", "largest number of key-value pairs K in a recall segment (uniform in 1..K)", owner});
  set.Declare({"task.copy_length", "12", "largest string length L of a copy segment (uniform in 1..L)", owner});
  set.Declare({"task.text_length", "32", "largest length m of a text segment (uniform in 1..m)", owner});
}

std::unique_ptr<Task> MakeLmMixture(Options& options) {
  const OptionErrorScope read(options);
  LmMixtureConfig c;
  c.language = ReadLmLanguageOptions(options, 4, &c.length);
  const bool language_ok = read.ok();
  const OptionErrorScope mix_read(options);
  c.mix_text = options.Double("task.mix_text", 0.0, 1e9);
  c.mix_mqar = options.Double("task.mix_mqar", 0.0, 1e9);
  c.mix_copy = options.Double("task.mix_copy", 0.0, 1e9);
  if (mix_read.ok() && c.mix_text + c.mix_mqar + c.mix_copy <= 0.0)
    options.Fail("task.mix_text", "task.mix_text, task.mix_mqar and task.mix_copy are all 0: at least one must be > 0");
  const OptionErrorScope pairs_read(options);
  c.pairs = static_cast<int>(options.Int("task.pairs", 1, 1 << 15));
  if (pairs_read.ok() && language_ok) {
    const int n_keys = (c.language.vocab - lm_tokens::kFirstContent) / 2;
    if (c.pairs > n_keys)
      options.Fail("task.pairs", Concat("must be <= ", n_keys, " keys of task.vocab = ", c.language.vocab,
                                        " (distinct keys and values)"));
  }
  c.copy_length = static_cast<int>(options.Int("task.copy_length", 1, 1 << 15));
  c.text_length = static_cast<int>(options.Int("task.text_length", 1, 1 << 16));
  return MakeIfClean<LmMixtureTask>(read, c);
}

}  // namespace sim
