#include "tasks/mqar.h"

#include <algorithm>
#include <cmath>

#include "sim/core/check.h"

namespace sim {

MqarTask::MqarTask(const MqarConfig& config) : cfg_(config) {
  info_.name = "mqar";
  info_.input = InputKind::kTokens;
  info_.vocab = cfg_.vocab;
  info_.output = OutputKind::kClasses;
  info_.n_classes = cfg_.vocab;
  info_.length = cfg_.length;
  info_.max_scored_per_example = cfg_.queries;
  info_.splits = {"train", "test"};
  info_.chance = 1.0 / cfg_.pairs;
  const int n_slots = (cfg_.length - 2 * cfg_.pairs) / 2;
  SIM_CHECK(n_slots >= cfg_.queries, "MqarTask: ", n_slots, " query slots for ", cfg_.queries, " queries");
  slot_weights_.resize(n_slots);
  for (int g = 0; g < n_slots; ++g) slot_weights_[g] = cfg_.power_a * std::pow(g + 1.0, cfg_.power_a - 1.0);
}

void MqarTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  const int t_len = cfg_.length, k = cfg_.pairs, q = cfg_.queries, v = cfg_.vocab;
  const int n_slots = static_cast<int>(slot_weights_.size());
  batch.Reset({batch_size, t_len}, InputKind::kTokens, OutputKind::kClasses, 0);
  keys_.resize(k);
  values_.resize(k);
  chosen_.resize(q);
  slots_.resize(q);
  queries_.resize(q);
  for (int b = 0; b < batch_size; ++b) {
    int32_t* tokens = batch.tokens.data() + static_cast<size_t>(b) * t_len;
    rng.SampleWithoutReplacement(v / 2 - 1, k, scratch_, keys_.data());
    rng.SampleWithoutReplacement(v - v / 2, k, scratch_, values_.data());
    for (int i = 0; i < k; ++i) {
      tokens[2 * i] = keys_[i] + 1;
      tokens[2 * i + 1] = values_[i] + v / 2;
    }
    for (int t = 2 * k; t < t_len; ++t) tokens[t] = cfg_.random_fill ? static_cast<int32_t>(rng.Below(v)) : 0;
    // Which pairs are queried (random order), and their slots (power law, without replacement).
    rng.SampleWithoutReplacement(k, q, scratch_, chosen_.data());
    weights_.assign(slot_weights_.begin(), slot_weights_.end());
    for (int i = 0; i < q; ++i) {
      double total = 0.0;
      for (double w : weights_) total += w;
      double u = rng.Uniform() * total;
      int g = 0;
      for (; g < n_slots; ++g) {
        if (weights_[g] == 0.0) continue;
        if (u < weights_[g]) break;
        u -= weights_[g];
      }
      if (g == n_slots)  // u landed past the end by rounding: take the last free slot
        for (g = n_slots - 1; weights_[g] == 0.0; --g) {
        }
      weights_[g] = 0.0;
      slots_[i] = g;
    }
    for (int i = 0; i < q; ++i) queries_[i] = {2 * k + 2 * slots_[i], chosen_[i]};
    std::sort(queries_.begin(), queries_.end());
    for (const auto& [pos, pair] : queries_) {
      tokens[pos] = keys_[pair] + 1;
      batch.AddClassTarget(b, pos, values_[pair] + v / 2);
    }
  }
}

void DeclareMqarOptions(OptionSet& set) {
  const std::string owner = "task:mqar";
  set.Declare({"task.vocab", "64", "vocabulary V: keys 1..V/2-1, values V/2..V-1, 0 = filler", owner});
  set.Declare({"task.length", "64", "sequence length T", owner});
  set.Declare({"task.pairs", "8", "key-value pairs K per example", owner});
  set.Declare({"task.queries", "8", "queried keys per example (<= task.pairs)", owner});
  set.Declare({"task.power_a", "0.01", "query slots drawn with p(g) ∝ (g+1)^(a-1)", owner});
  set.Declare(
      {"task.random_fill", "false", "fill unused query-region positions with random tokens instead of 0", owner});
}

std::unique_ptr<Task> MakeMqar(Options& options) {
  const OptionErrorScope read(options);
  MqarConfig c;
  c.vocab = static_cast<int>(options.Int("task.vocab", 4, 1 << 20));
  c.length = static_cast<int>(options.Int("task.length", 4, 1 << 16));
  c.pairs = static_cast<int>(options.Int("task.pairs", 1, 1 << 15));
  c.queries = static_cast<int>(options.Int("task.queries", 1, 1 << 15));
  c.power_a = options.Double("task.power_a", 1e-6, 1.0);
  c.random_fill = options.Bool("task.random_fill");
  if (read.ok()) {  // the sizes' relations, only between values the user gave
    if (c.queries > c.pairs) options.Fail("task.queries", Concat("must be <= task.pairs=", c.pairs));
    if (c.pairs > c.vocab / 2 - 1)
      options.Fail("task.pairs", Concat("must be <= task.vocab/2 - 1 = ", c.vocab / 2 - 1, " (distinct keys)"));
    if (c.length < 2 * c.pairs + 2 * c.queries)
      options.Fail("task.length", Concat("must be >= 2*pairs + 2*queries = ", 2 * c.pairs + 2 * c.queries,
                                         " (context plus a slot per query)"));
  }
  return MakeIfClean<MqarTask>(read, c);
}

}  // namespace sim
