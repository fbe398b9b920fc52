#include "tasks/uniform.h"

namespace sim {

UniformTask::UniformTask(const UniformConfig& config) : cfg_(config) {
  info_.name = "uniform";
  info_.length = cfg_.length;
  info_.max_scored_per_example = cfg_.score_all ? cfg_.length : 1;
  info_.splits = {"train", "test"};
  if (cfg_.d_in > 0) {  // vectors in, a scalar out
    info_.input = InputKind::kVectors;
    info_.d_in = cfg_.d_in;
    info_.output = OutputKind::kScalar;
    return;
  }
  info_.input = InputKind::kTokens;
  info_.vocab = cfg_.vocab;
  info_.output = OutputKind::kClasses;
  info_.n_classes = cfg_.classes;
  info_.chance = 1.0 / cfg_.classes;
}

void UniformTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  const int t_len = cfg_.length;
  if (cfg_.d_in > 0) {
    batch.Reset({batch_size, t_len}, InputKind::kVectors, OutputKind::kScalar, cfg_.d_in);
    for (int b = 0; b < batch_size; ++b)
      for (int t = 0; t < t_len; ++t) {
        auto x = batch.vectors.col(static_cast<Index>(b) * t_len + t);  // (Din)
        for (int j = 0; j < cfg_.d_in; ++j) x(j) = static_cast<Scalar>(rng.Normal());
        if (cfg_.score_all || t == t_len - 1) batch.AddScalarTarget(b, t, static_cast<Scalar>(rng.Normal()));
      }
    return;
  }
  batch.Reset({batch_size, t_len}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b)
    for (int t = 0; t < t_len; ++t) {
      batch.tokens[static_cast<size_t>(b) * t_len + t] = static_cast<int32_t>(rng.Below(cfg_.vocab));
      if (cfg_.score_all || t == t_len - 1) batch.AddClassTarget(b, t, static_cast<int32_t>(rng.Below(cfg_.classes)));
    }
}

void DeclareUniformOptions(OptionSet& set) {
  const std::string owner = "task:uniform";
  set.Declare({"task.vocab", "64", "vocabulary V", owner});
  set.Declare({"task.length", "32", "sequence length T", owner});
  set.Declare({"task.classes", "64", "label classes C", owner});
  set.Declare({"task.score", "all", "scored positions: all | last", owner});
  OptionDecl d_in{"task.d_in", "0",
                  "0: token inputs with class labels; Din > 0: vector inputs of width Din (entries N(0,1)) with "
                  "scalar N(0,1) targets (task.vocab and task.classes unused)",
                  owner};
  d_in.omit_at_default = true;  // added after runs existed: they keep their config text and names
  set.Declare(d_in);
}

std::unique_ptr<Task> MakeUniform(Options& options) {
  const OptionErrorScope read(options);
  UniformConfig c;
  c.vocab = static_cast<int>(options.Int("task.vocab", 1, 1 << 20));
  c.length = static_cast<int>(options.Int("task.length", 1, 1 << 16));
  c.classes = static_cast<int>(options.Int("task.classes", 1, 1 << 20));
  c.score_all = options.Choice("task.score", {"all", "last"}) == "all";
  c.d_in = static_cast<int>(options.Int("task.d_in", 0, 1 << 16));
  return MakeIfClean<UniformTask>(read, c);
}

}  // namespace sim
