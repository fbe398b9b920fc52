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
