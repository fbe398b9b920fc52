#include "tasks/ft_task.h"

#include <algorithm>
#include <limits>

#include "sim/core/check.h"

namespace sim {

FtTask::FtTask(const std::string& name, const FtCommonConfig& common, int n_classes)
    : common_(common), lang_(common.language) {
  info_.name = name;
  info_.input = InputKind::kTokens;
  info_.vocab = lang_.vocab();
  info_.output = OutputKind::kClasses;
  info_.n_classes = n_classes;
  info_.length = common_.length;
  info_.max_scored_per_example = 1;
  // val: held out like test (its own stream), for choosing settings such as the base learning rate
  // without looking at test.
  info_.splits = {"train", "test", "trainset", "val"};
  info_.split_sizes = {0, 0, common_.train_size, 0};
  info_.chance = 1.0 / n_classes;
}

uint64_t FtTask::Hash(const int32_t* tokens) const {
  uint64_t h = 0x6a09e667f3bcc909ULL;
  for (int t = 0; t < common_.length; ++t) h = Mix64(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(tokens[t])) + 1));
  return h;
}

void FtTask::BuildPool() {
  const int t_len = common_.length, n = common_.train_size, c = info_.n_classes;
  Rng rng = Rng::ForStream(common_.pool_seed, "task/" + info_.name + "/pool");
  pool_tokens_.resize(static_cast<size_t>(n) * t_len);
  pool_labels_.resize(n);
  for (int i = 0; i < n; ++i) {
    int32_t* tokens = pool_tokens_.data() + static_cast<size_t>(i) * t_len;
    const int32_t label = i % c;
    int attempts = 0;
    do {  // distinct examples
      SIM_CHECK(++attempts <= 1000, info_.name, ": cannot draw ", n, " distinct examples (", i, " so far)");
      Generate(rng, label, tokens);
    } while (!pool_hashes_.insert(Hash(tokens)).second);
    pool_labels_[i] = label;
  }
}

void FtTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  const int t_len = common_.length, n = common_.train_size, c = info_.n_classes;
  SIM_CHECK(split == 0 || split == 1 || split == 3, info_.name, ": split ", split, " is not drawn by Sample");
  batch.Reset({batch_size, t_len}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    int32_t* tokens = batch.tokens.data() + static_cast<size_t>(b) * t_len;
    int32_t label;
    if (split == 0) {
      const int i = static_cast<int>(rng.Below(n));
      std::copy_n(pool_tokens_.data() + static_cast<size_t>(i) * t_len, t_len, tokens);
      label = pool_labels_[i];
    } else {
      label = b % c;
      int attempts = 0;
      do {  // held out: never a pool example
        SIM_CHECK(++attempts <= 1000, info_.name, ": no test example outside the pool in 1000 draws");
        Generate(rng, label, tokens);
      } while (InPool(tokens));
    }
    batch.AddClassTarget(b, t_len - 1, label);
  }
}

void FtTask::SampleFixed(int split, int begin, int count, int batch_size, Batch& batch) const {
  const int t_len = common_.length;
  SIM_CHECK(split == 2, info_.name, ": split ", split, " is not a fixed split");
  SIM_CHECK(begin >= 0 && count >= 1 && begin + count <= common_.train_size && count <= batch_size, info_.name,
            ": fixed examples [", begin, ", ", begin + count, ") of ", common_.train_size, " in a batch of ",
            batch_size);
  batch.Reset({batch_size, t_len}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    const int i = b < count ? begin + b : begin;
    std::copy_n(pool_tokens_.data() + static_cast<size_t>(i) * t_len, t_len,
                batch.tokens.data() + static_cast<size_t>(b) * t_len);
    if (b < count) batch.AddClassTarget(b, t_len - 1, pool_labels_[i]);
  }
}

void DeclareFtCommonOptions(OptionSet& set, const std::string& owner) {
  DeclareLmLanguageOptions(set, owner);
  set.Declare({"task.train_size", "2000",
               "labelled training examples N: a fixed pool drawn from train.seed (split trainset evaluates it)",
               owner});
}

FtCommonConfig ReadFtCommonOptions(Options& options, int min_length) {
  FtCommonConfig c;
  c.language = ReadLmLanguageOptions(options, min_length, &c.length);
  c.train_size = static_cast<int>(options.Int("task.train_size", 2, 1 << 22));
  c.pool_seed = static_cast<uint64_t>(options.Int("train.seed", 0, std::numeric_limits<long>::max()));
  return c;
}

}  // namespace sim
