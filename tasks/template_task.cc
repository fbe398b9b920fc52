#include "tasks/template_task.h"

#include "sim/core/check.h"

namespace sim {

TemplateTask::TemplateTask(const TemplateConfig& config)
    : cfg_(config), pool_(config.length, config.vocab_train + config.vocab_test) {
  const std::vector<Template> all = PairingTemplates(cfg_.length);
  SIM_CHECK(cfg_.templates <= static_cast<int>(all.size()), "template: ", cfg_.templates, " of ", all.size());
  // A fixed, spread-out subset: every (all / K)-th template.
  for (int i = 0; i < cfg_.templates; ++i)
    templates_.push_back(all[static_cast<size_t>(i) * all.size() / cfg_.templates]);
  for (int t = 0; t < cfg_.vocab_train; ++t) train_tokens_.push_back(t);
  for (int t = 0; t < cfg_.vocab_test; ++t) test_tokens_.push_back(cfg_.vocab_train + t);
  info_.name = "template";
  info_.input = InputKind::kTokens;
  info_.vocab = cfg_.vocab_train + cfg_.vocab_test + 1;  // + OUT
  info_.output = OutputKind::kClasses;
  info_.n_classes = cfg_.templates;
  info_.length = cfg_.length + 1;
  info_.max_scored_per_example = 1;
  info_.splits = {"train", "trainset", "test_id"};
  info_.split_sizes = {0, cfg_.train_size, 0};
  if (cfg_.vocab_test > 0) {
    info_.splits.push_back("test_ood");
    info_.split_sizes.push_back(0);
  }
  info_.chance = 1.0 / cfg_.templates;
  for (int i = 1; i <= cfg_.length; ++i) info_.position_labels.push_back(Concat("x", i));
  info_.position_labels.push_back("OUT");
  // The training pool: N distinct instances.
  Rng rng = Rng::ForStream(cfg_.seed, "task/template");
  fill_.resize(cfg_.length);
  while (pool_.size() < cfg_.train_size) {
    const int32_t label = static_cast<int32_t>(rng.Below(cfg_.templates));
    FillTemplate(templates_[label], train_tokens_, rng, scratch_, fill_.data());
    if (!pool_keys_.insert(Key(fill_.data(), label)).second) continue;
    pool_.Add(fill_.data(), label);
  }
}

uint64_t TemplateTask::Key(const int32_t* instance, int32_t label) const {
  uint64_t key = static_cast<uint64_t>(label);
  for (int i = 0; i < cfg_.length; ++i) key = key * 1000003ULL + static_cast<uint64_t>(instance[i]);
  return key;
}

bool TemplateTask::InPool(const int32_t* instance, int32_t label) const {
  return pool_keys_.count(Key(instance, label)) > 0;
}

void TemplateTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  if (split == 0) {
    pool_.SampleTrain(rng, batch_size, /*whole_in_order=*/false, batch);
    return;
  }
  SIM_CHECK(split == 2 || split == 3, "template: split ", split, " is not drawn afresh");
  batch.Reset({batch_size, info_.length}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    int32_t label;
    do {  // test_id: instances outside the training pool
      label = static_cast<int32_t>(rng.Below(cfg_.templates));
      FillTemplate(templates_[label], split == 2 ? train_tokens_ : test_tokens_, rng, scratch_, fill_.data());
    } while (split == 2 && InPool(fill_.data(), label));
    pool_.Write(batch, b, fill_.data(), label, true);
  }
}

void TemplateTask::SampleFixed(int split, int begin, int count, int batch_size, Batch& batch) const {
  SIM_CHECK(split == 1, "template: split ", split, " is not a fixed split");
  pool_.SampleFixed("template", begin, count, batch_size, batch);
}

void DeclareTemplateOptions(OptionSet& set) {
  const std::string owner = "task:template";
  set.Declare({"task.vocab_train", "24", "filler tokens for training and test_id (0..Vtrain-1)", owner});
  set.Declare({"task.vocab_test", "8", "held-out filler tokens for test_ood (Vtrain..Vtrain+Vtest-1)", owner});
  set.Declare({"task.length", "6", "template length L (even; every symbol occurs twice)", owner});
  set.Declare({"task.templates", "8", "number of templates K (classes), a fixed subset of the pairings", owner});
  set.Declare({"task.train_size", "4096", "training pool: N distinct instances (drawn from train.seed)", owner});
}

std::unique_ptr<Task> MakeTemplate(Options& options) {
  const OptionErrorScope read(options);
  TemplateConfig c;
  c.vocab_train = static_cast<int>(options.Int("task.vocab_train", 1, 1 << 16));
  c.vocab_test = static_cast<int>(options.Int("task.vocab_test", 0, 1 << 16));
  c.length = static_cast<int>(options.Int("task.length", 2, 16));
  c.templates = static_cast<int>(options.Int("task.templates", 1, 1 << 20));
  c.train_size = static_cast<int>(options.Int("task.train_size", 1, 1 << 22));
  c.seed = static_cast<uint64_t>(options.Int("train.seed", 0, std::numeric_limits<long>::max()));
  if (read.ok()) {
    const int symbols = c.length / 2;
    if (c.length % 2 != 0) options.Fail("task.length", "must be even (every symbol occurs twice)");
    const size_t n_templates = c.length % 2 == 0 ? PairingTemplates(c.length).size() : 0;
    if (c.length % 2 == 0 && c.templates > static_cast<int>(n_templates))
      options.Fail("task.templates", Concat("at most ", n_templates, " pairing templates of length ", c.length));
    if (c.vocab_train < symbols)
      options.Fail("task.vocab_train", Concat("needs >= ", symbols, " tokens (distinct symbols)"));
    if (c.vocab_test > 0 && c.vocab_test < symbols)
      options.Fail("task.vocab_test", Concat("needs 0 or >= ", symbols, " tokens (distinct symbols)"));
    double instances = c.templates;
    for (int i = 0; i < symbols; ++i) instances *= c.vocab_train - i;
    if (c.train_size > 0.5 * instances)
      options.Fail("task.train_size", Concat("must be at most half of the ", instances,
                                             " possible instances, so test_id can hold out unseen ones"));
  }
  return MakeIfClean<TemplateTask>(read, c);
}

}  // namespace sim

namespace sim {

std::vector<AnalysisArray> TemplateMeasures(const Task& task, const AttentionCapture& p) {
  std::vector<AnalysisArray> out;
  if (p.n_layers() < 1 || p.probs[0] == nullptr) return out;
  const int t_len = p.length(), batch = p.examples(), h1 = p.heads[0];
  const int len = t_len - 1, at_out = len;  // content positions 0..L-1, OUT at L
  AnalysisArray same = ZeroArray("mech/template_same_token_mass", {2, static_cast<uint64_t>(h1)});
  same.string_attrs["dims"] = "row,head";
  AnalysisArray top2 = ZeroArray("mech/template_out_top2_mass", {2, static_cast<uint64_t>(h1)});
  top2.string_attrs["dims"] = "row,head";
  for (int h = 0; h < h1; ++h) {
    double self_and_partner = 0, partner_only = 0, top_mass = 0, top_same = 0;
    for (int b = 0; b < batch; ++b) {
      const int32_t* t = p.batch->tokens.data() + static_cast<size_t>(b) * t_len;
      for (int q = 0; q < len; ++q)
        for (int k = 0; k < len; ++k)
          if (t[k] == t[q]) {
            const double w = p.Weight(0, b, h, k, q);
            self_and_partner += w;
            if (k != q) partner_only += w;
          }
      int first = -1, second = -1;
      for (int k = 0; k < t_len; ++k) {
        const double w = p.Weight(0, b, h, k, at_out);
        if (first < 0 || w > p.Weight(0, b, h, first, at_out)) {
          second = first;
          first = k;
        } else if (second < 0 || w > p.Weight(0, b, h, second, at_out)) {
          second = k;
        }
      }
      top_mass += p.Weight(0, b, h, first, at_out) + p.Weight(0, b, h, second, at_out);
      top_same += t[first] == t[second] ? 1.0 : 0.0;
    }
    same.data[h] = self_and_partner / (batch * len);
    same.data[h1 + h] = partner_only / (batch * len);
    top2.data[h] = top_mass / batch;
    top2.data[h1 + h] = top_same / batch;
  }
  out.push_back(same);
  out.push_back(top2);
  return out;
}

}  // namespace sim
