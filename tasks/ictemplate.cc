#include "tasks/ictemplate.h"

#include <algorithm>

#include "sim/core/check.h"

namespace sim {

IctemplateTask::IctemplateTask(const IctemplateConfig& config) : cfg_(config) {
  std::vector<Template> all = PairingTemplates(cfg_.length);
  Rng rng = Rng::ForStream(0, "task/ictemplate/pools");
  std::vector<int> order(all.size()), scratch;
  rng.SampleWithoutReplacement(static_cast<int>(all.size()), static_cast<int>(all.size()), scratch, order.data());
  for (size_t i = 0; i < all.size(); ++i)
    (static_cast<int>(i) < cfg_.templates_train ? train_pool_ : test_pool_).push_back(all[order[i]]);
  for (int t = 0; t < cfg_.vocab; ++t) filler_.push_back(t);
  const int seg = cfg_.length + 1;
  info_.name = "ictemplate";
  info_.input = InputKind::kTokens;
  info_.vocab = cfg_.vocab + cfg_.labels + 2;  // + OUT + PAD
  info_.output = OutputKind::kClasses;
  info_.n_classes = cfg_.labels;
  info_.length = std::max(seg * cfg_.pairs + seg * cfg_.n_queries, cfg_.pad_to);
  info_.max_scored_per_example = cfg_.n_queries;
  info_.splits = {"train", "test_id"};
  if (static_cast<int>(test_pool_.size()) >= cfg_.pairs) info_.splits.push_back("test_ood");
  info_.chance = 1.0 / cfg_.pairs;
  // Segment j holds instance j (x_j1 .. x_jL) then its label y_j; query segments end in OUT (or PAD
  // in evaluation prompts, which have a single query).
  for (int j = 1; j <= cfg_.pairs + cfg_.n_queries; ++j) {
    const bool query = j > cfg_.pairs;
    const std::string seg = !query ? Concat(j) : cfg_.n_queries == 1 ? std::string("*") : Concat("*", j - cfg_.pairs);
    for (int i = 1; i <= cfg_.length; ++i) info_.position_labels.push_back(Concat("x", seg, ".", i));
    info_.position_labels.push_back(query ? Concat("OUT", seg.substr(1)) : Concat("y", seg));
  }
  while (static_cast<int>(info_.position_labels.size()) < info_.length) info_.position_labels.push_back("PAD");
  RequireCausalForQueries(info_, cfg_.n_queries);
  which_.resize(cfg_.pairs);
  label_of_.resize(cfg_.pairs);
  asked_.resize(cfg_.n_queries);
}

void IctemplateTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  const int m = cfg_.pairs, seg = cfg_.length + 1, t_len = info_.length;
  const int k = split == 0 ? cfg_.n_queries : 1;
  const std::vector<Template>& pool = split == 2 ? test_pool_ : train_pool_;
  const int32_t label0 = cfg_.vocab, out = cfg_.vocab + cfg_.labels, pad = out + 1;
  batch.Reset({batch_size, t_len}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    int32_t* tokens = batch.tokens.data() + static_cast<size_t>(b) * t_len;
    rng.SampleWithoutReplacement(static_cast<int>(pool.size()), m, scratch_, which_.data());
    rng.SampleWithoutReplacement(cfg_.labels, m, scratch_, label_of_.data());
    for (int j = 0; j < m; ++j) {
      FillTemplate(pool[which_[j]], filler_, rng, scratch_, tokens + j * seg);
      tokens[j * seg + cfg_.length] = label0 + label_of_[j];
    }
    rng.SampleWithoutReplacement(m, k, scratch_, asked_.data());
    for (int i = 0; i < k; ++i) {
      int32_t* query = tokens + (m + i) * seg;
      FillTemplate(pool[which_[asked_[i]]], filler_, rng, scratch_, query);
      query[cfg_.length] = out;
      batch.AddClassTarget(b, (m + i) * seg + cfg_.length, label_of_[asked_[i]]);
    }
    for (int t = (m + k) * seg; t < t_len; ++t) tokens[t] = pad;
  }
}

void DeclareIctemplateOptions(OptionSet& set) {
  const std::string owner = "task:ictemplate";
  set.Declare({"task.vocab", "32", "filler tokens V", owner});
  set.Declare({"task.labels", "8", "label tokens |Y| (the classes)", owner});
  set.Declare({"task.pairs", "4", "(instance, label) segments m per prompt (chance 1/m)", owner});
  set.Declare({"task.length", "6", "template length L (even)", owner});
  set.Declare({"task.templates_train", "10", "templates in the training pool; the other pairing templates are held out",
               owner});
  DeclareNQueries(set, owner);
  set.Declare({"task.pad_to", "0",
               "prompt length in tokens, filled with PAD after the last query (0 = (m + k)(L + 1)); lets the stages of "
               "a curriculum over m share one model",
               owner});
}

std::unique_ptr<Task> MakeIctemplate(Options& options) {
  const OptionErrorScope read(options);
  IctemplateConfig c;
  c.vocab = static_cast<int>(options.Int("task.vocab", 1, 1 << 16));
  c.labels = static_cast<int>(options.Int("task.labels", 2, 1 << 16));
  c.pairs = static_cast<int>(options.Int("task.pairs", 1, 1 << 10));
  c.length = static_cast<int>(options.Int("task.length", 2, 16));
  c.templates_train = static_cast<int>(options.Int("task.templates_train", 1, 1 << 20));
  c.n_queries = static_cast<int>(options.Int("task.n_queries", 1, 1 << 10));
  c.pad_to = static_cast<int>(options.Int("task.pad_to", 0, 1 << 16));
  if (read.ok()) {
    if (c.length % 2 != 0) {
      options.Fail("task.length", "must be even (every symbol occurs twice)");
    } else {
      const int n = static_cast<int>(PairingTemplates(c.length).size());
      if (c.templates_train > n)
        options.Fail("task.templates_train", Concat("at most ", n, " templates of length ", c.length));
      if (c.pairs > c.templates_train)
        options.Fail("task.pairs",
                     Concat("must be <= task.templates_train=", c.templates_train, " (distinct templates per prompt)"));
    }
    if (c.pairs > c.labels)
      options.Fail("task.pairs", Concat("must be <= task.labels=", c.labels, " (distinct labels)"));
    if (c.vocab < c.length / 2) options.Fail("task.vocab", Concat("needs >= ", c.length / 2, " tokens"));
    CheckNQueries(options, c.n_queries, c.pairs);
    const int natural = (c.pairs + c.n_queries) * (c.length + 1);
    if (c.pad_to != 0 && c.pad_to < natural)
      options.Fail(
          "task.pad_to",
          Concat("must be 0 or >= the prompt's length (task.pairs + task.n_queries) * (task.length + 1) = ", natural));
  }
  return MakeIfClean<IctemplateTask>(read, c);
}

}  // namespace sim
