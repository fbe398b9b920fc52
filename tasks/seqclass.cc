#include "tasks/seqclass.h"

#include <cmath>
#include <set>

#include "sim/core/check.h"

namespace sim {

SeqclassTask::SeqclassTask(const SeqclassConfig& config) : cfg_(config), pool_(config.length, config.vocab) {
  info_.name = "seqclass";
  info_.input = InputKind::kTokens;
  info_.vocab = cfg_.vocab + 1;  // + OUT
  info_.output = OutputKind::kClasses;
  info_.n_classes = cfg_.classes;
  info_.length = cfg_.length + 1;
  info_.max_scored_per_example = 1;
  info_.splits = {"train", "trainset", "control"};
  info_.split_sizes = {0, cfg_.n, 0};
  info_.chance = 1.0 / cfg_.classes;
  for (int i = 1; i <= cfg_.length; ++i) info_.position_labels.push_back(Concat("x", i));
  info_.position_labels.push_back("OUT");
  // N distinct sequences with independent labels.
  Rng rng = Rng::ForStream(cfg_.seed, "task/seqclass");
  std::set<std::vector<int32_t>> seen;
  std::vector<int32_t> seq(cfg_.length);
  while (pool_.size() < cfg_.n) {
    for (int32_t& t : seq) t = static_cast<int32_t>(rng.Below(cfg_.vocab));
    if (!seen.insert(seq).second) continue;
    pool_.Add(seq.data(), static_cast<int32_t>(rng.Below(cfg_.classes)));
  }
  fresh_.resize(cfg_.length);
}

void SeqclassTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  if (split == 0) {  // a full batch is every sequence once, in order
    pool_.SampleTrain(rng, batch_size, /*whole_in_order=*/true, batch);
    return;
  }
  SIM_CHECK(split == 2, "seqclass: split ", split, " is not drawn afresh");
  batch.Reset({batch_size, info_.length}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    for (int32_t& t : fresh_) t = static_cast<int32_t>(rng.Below(cfg_.vocab));
    pool_.Write(batch, b, fresh_.data(), static_cast<int32_t>(rng.Below(cfg_.classes)), true);
  }
}

void SeqclassTask::SampleFixed(int split, int begin, int count, int batch_size, Batch& batch) const {
  SIM_CHECK(split == 1, "seqclass: split ", split, " is not a fixed split");
  pool_.SampleFixed("seqclass", begin, count, batch_size, batch);
}

void DeclareSeqclassOptions(OptionSet& set) {
  const std::string owner = "task:seqclass";
  set.Declare({"task.vocab", "32", "content vocabulary V (the OUT token is V)", owner});
  set.Declare({"task.length", "6", "sequence length L (the input has L + 1 tokens with OUT)", owner});
  set.Declare({"task.classes", "4", "label classes K", owner});
  set.Declare({"task.n", "256", "number of sequences N to memorize (drawn from train.seed)", owner});
}

std::unique_ptr<Task> MakeSeqclass(Options& options) {
  const OptionErrorScope read(options);
  SeqclassConfig c;
  c.vocab = static_cast<int>(options.Int("task.vocab", 2, 1 << 16));
  c.length = static_cast<int>(options.Int("task.length", 1, 4096));
  c.classes = static_cast<int>(options.Int("task.classes", 2, 1 << 16));
  c.n = static_cast<int>(options.Int("task.n", 1, 1 << 22));
  c.seed = static_cast<uint64_t>(options.Int("train.seed", 0, std::numeric_limits<long>::max()));
  if (read.ok() && c.length * std::log(static_cast<double>(c.vocab)) < std::log(2.0 * c.n))
    options.Fail("task.n", Concat("cannot draw ", c.n, " distinct sequences from ", c.vocab, "^", c.length,
                                  " (raise task.vocab or task.length)"));
  return MakeIfClean<SeqclassTask>(read, c);
}

}  // namespace sim
