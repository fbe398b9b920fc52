#include "sim/train/train_config.h"

#include <algorithm>
#include <limits>

#include "sim/core/error.h"
#include "sim/core/glob.h"

namespace sim {

void DeclareTrainOptions(OptionSet& set) {
  set.Declare({"train.steps", "1000", "optimizer steps", ""});
  set.Declare({"train.batch", "64", "examples per training batch", ""});
  set.Declare({"train.chunk", "auto",
               "examples per chunk of a training batch: each chunk runs forward and backward on its own (faster when "
               "activations outgrow the cache) and chunks run concurrently on the threads; the gradient is the batch's "
               "(sums in a fixed order, so the bits depend on this value, never on train.threads); N must divide "
               "train.batch; auto picks N from the batch and model shape",
               ""});
  set.Declare({"train.lr", "1e-3", "peak learning rate", ""});
  set.Declare({"train.optimizer", "adamw", "adamw | sgd (with momentum)", ""});
  set.Declare({"train.seed", "0", "seed of the parameter init and training-data streams", ""});
  set.Declare({"train.threads", "1", "threads of the engine's pool (results are identical for any count)", ""});
  set.Declare({"train.eval_every", "100", "evaluate every N steps (and after the last step)", ""});
  set.Declare({"train.weight_decay", "0",
               "decoupled weight decay (AdamW) or L2 (SGD); matrices only unless optim.decay_mult says otherwise", ""});
  set.Declare({"train.beta1", "0.9", "AdamW beta1", ""});
  set.Declare({"train.beta2", "0.999", "AdamW beta2", ""});
  set.Declare({"train.eps", "1e-8", "AdamW epsilon", ""});
  set.Declare({"train.momentum", "0.9", "SGD momentum", ""});
  set.Declare({"train.clip", "1.0", "clip the global gradient norm to this value; 0 = off", ""});
  set.Declare({"train.schedule", "constant", "learning-rate schedule after warm-up: constant | cosine", ""});
  set.Declare({"train.warmup", "0", "linear warm-up steps", ""});
  set.Declare({"train.min_lr_ratio", "0", "cosine schedule: final lr as a fraction of train.lr", ""});
  set.Declare({"train.target_metric", "none", "early stop: metric to watch (accuracy, loss, mse, ...) or none", ""});
  set.Declare({"train.target_split", "test", "early stop: evaluation split of train.target_metric", ""});
  set.Declare({"train.init_from", "none",
               "start from the parameters of this run file (its /params) instead of a random init, e.g. fine-tuning or "
               "a curriculum stage",
               ""});
  set.Declare({"train.init_params", "*",
               "with train.init_from: comma-separated glob patterns of the parameters to load; the others keep their "
               "random init",
               ""});
  set.Declare({"train.target_value", "0.99",
               "early stop: stop once the metric reaches this (>= for accuracy, <= otherwise)", ""});
  // Added after runs existed, and output-only: omitted at their default so runs keep their config
  // text, and left out of sweep file names (sim/cli/run_training.h SweepHashedConfig).
  OptionDecl snapshot_steps{"train.snapshot_steps", "none",
                            "copy the parameters after these steps (comma-separated, increasing, each in "
                            "[1, train.steps]) into the run file's /snapshots/<step>/params; analyses then run on "
                            "each of them too and write time series; none = no snapshots",
                            ""};
  snapshot_steps.omit_at_default = true;
  set.Declare(snapshot_steps);
  OptionDecl snapshot_every{"train.snapshot_every", "0",
                            "also snapshot the parameters every N steps (before the last step: the final "
                            "parameters are /params); 0 = off",
                            ""};
  snapshot_every.omit_at_default = true;
  set.Declare(snapshot_every);
  set.Declare({"eval.size", "2000", "examples per evaluation split (rounded up to whole eval batches)", ""});
  set.Declare({"eval.batch", "500", "examples per evaluation batch", ""});
  set.Declare({"eval.mode", "fixed",
               "fixed (one held-out set, the same at every evaluation) | fresh (new examples each time)", ""});
  set.Declare({"eval.seed", "0",
               "seed of the evaluation streams (independent of train.seed, so every run sees the same held-out set)",
               ""});
  OptionDecl skip{"eval.skip", "none",
                  "evaluation splits the trainer leaves out (comma-separated names, e.g. trainset: a large fixed "
                  "pool evaluated whole), so they have no curves; none = evaluate every split",
                  ""};
  skip.omit_at_default = true;  // added after runs existed
  set.Declare(skip);
  set.Declare({"optim.freeze", "none",
               "comma-separated glob patterns of parameters to freeze (embed.tok, blocks.*.attn.wq)", ""});
  set.Declare({"optim.trainable", "none", "comma-separated glob patterns: train only these (none = all)", ""});
  set.Declare({"optim.lr_mult", "none", "comma-separated pattern:multiplier pairs (blocks.*.attn.wv:4)", ""});
  set.Declare({"optim.decay_mult", "none",
               "comma-separated pattern:multiplier pairs for weight decay (default: 1 for matrices, 0 for biases and "
               "norm gains)",
               ""});
  // Added after runs existed: at their defaults they stay out of the resolved config (same hash).
  OptionDecl lr_ratio{"optim.lr_ratio", "1",
                      "lambda: the attention value parameters (blocks.*.attn.wv, bv and their LoRA adapters) train at "
                      "lambda times the learning rate (eta_V = lambda * eta_QK), on top of optim.lr_mult",
                      ""};
  lr_ratio.omit_at_default = true;
  set.Declare(lr_ratio);
  OptionDecl scope{"optim.lr_ratio_scope", "value_only",
                   "which parameters optim.lr_ratio scales: value_only | value_and_1d (also every other 1-D parameter "
                   "but the query's and key's, with weight decay 0: the released optimizer of Yao et al.)",
                   ""};
  scope.omit_at_default = true;
  set.Declare(scope);
}

namespace {
std::vector<std::pair<std::string, double>> ReadPatternMultipliers(Options& options, const std::string& key) {
  std::vector<std::pair<std::string, double>> rules;
  for (const std::string& item : options.StringList(key)) {
    const size_t colon = item.rfind(':');
    const std::string number = colon == std::string::npos ? "" : Trim(item.substr(colon + 1));
    double mult = 0;
    if (colon == std::string::npos || !ParseDecimalNumber(number, &mult) || mult < 0) {
      options.Fail(key, Concat("expected pattern:multiplier pairs, each multiplier a finite decimal number >= 0; bad "
                               "item '",
                               Excerpt(item), "'"));
      continue;
    }
    rules.emplace_back(Trim(item.substr(0, colon)), mult);
  }
  return rules;
}
}  // namespace

int AutoChunkExamples(int batch, int length, int d_model) {
  // About 512 positions per chunk (4·D at D > 128), and at least two chunks so that two threads both
  // have one; chunks far smaller than that (a prime batch) would cost more in per-chunk overhead
  // than they gain, so such batches stay whole.
  const long target = std::max(512L, 4L * d_model);
  int best = 0;
  for (int c = 1; c <= batch / 2; ++c)
    if (batch % c == 0 && static_cast<long>(c) * length <= target) best = c;
  if (best == 0 && batch >= 2) best = 1;  // one example is already more than the target
  if (best == 0 || static_cast<long>(best) * length * 4 < target) return batch;
  return best;
}

void ResolveAutoChunk(TrainConfig& config, int length, int d_model) {
  if (config.chunk == 0) config.chunk = AutoChunkExamples(config.batch, length, d_model);
}

std::vector<int> SnapshotSteps(const std::vector<int>& listed, int every, int steps) {
  std::vector<int> merged = listed;
  if (every > 0)
    for (long s = every; s < steps; s += every) merged.push_back(static_cast<int>(s));
  std::sort(merged.begin(), merged.end());
  merged.erase(std::unique(merged.begin(), merged.end()), merged.end());
  return merged;
}

bool HigherIsBetter(const std::string& metric) { return metric.rfind("acc", 0) == 0; }

TrainConfig ReadTrainConfig(Options& options) {
  TrainConfig c;
  constexpr long kMaxInt = std::numeric_limits<int>::max();
  c.steps = static_cast<int>(options.Int("train.steps", 0, kMaxInt));
  c.batch = static_cast<int>(options.Int("train.batch", 1, 1 << 20));
  const std::string chunk = options.String("train.chunk");
  if (chunk != "auto") {
    c.chunk = static_cast<int>(options.Int("train.chunk", 1, 1 << 20));
    if (c.chunk >= 1 && c.batch % c.chunk != 0)
      options.Fail("train.chunk", Concat("expected auto or a divisor of train.batch=", c.batch, ", got ", c.chunk));
  }
  c.seed = static_cast<uint64_t>(options.Int("train.seed", 0, std::numeric_limits<long>::max()));
  c.threads = static_cast<int>(options.Int("train.threads", 1, 1024));
  c.eval_every = static_cast<int>(options.Int("train.eval_every", 1, kMaxInt));
  c.optimizer.kind =
      options.Choice("train.optimizer", {"adamw", "sgd"}) == "adamw" ? OptimizerKind::kAdamW : OptimizerKind::kSgd;
  c.optimizer.weight_decay = options.Double("train.weight_decay", 0, 10);
  c.optimizer.beta1 = options.Double("train.beta1", 0, 0.999999);
  c.optimizer.beta2 = options.Double("train.beta2", 0, 0.999999999);
  c.optimizer.eps = options.Double("train.eps", 0, 1);
  c.optimizer.momentum = options.Double("train.momentum", 0, 0.999999);
  c.schedule.lr = options.Double("train.lr", 0, 1e9);
  c.schedule.kind = options.Choice("train.schedule", {"constant", "cosine"}) == "constant" ? ScheduleKind::kConstant
                                                                                           : ScheduleKind::kCosine;
  c.schedule.warmup = static_cast<int>(options.Int("train.warmup", 0, kMaxInt));
  c.schedule.min_ratio = options.Double("train.min_lr_ratio", 0, 1);
  c.schedule.total_steps = c.steps;
  c.clip = options.Double("train.clip", 0, 1e12);
  c.target_metric = options.OptionalString("train.target_metric");
  c.target_split = options.String("train.target_split");
  c.target_value = options.Double("train.target_value", -1e300, 1e300);
  c.init_from = options.OptionalString("train.init_from");
  c.init_params = options.StringList("train.init_params");
  std::vector<int> listed;
  if (!options.OptionalString("train.snapshot_steps").empty()) {
    const OptionErrorScope read(options);
    for (long s : options.IntList("train.snapshot_steps", 1, kMaxInt)) listed.push_back(static_cast<int>(s));
    for (size_t i = 1; read.ok() && i < listed.size(); ++i)
      if (listed[i] <= listed[i - 1]) {
        options.Fail("train.snapshot_steps",
                     Concat("expected increasing steps; ", listed[i], " follows ", listed[i - 1]));
        break;
      }
    if (read.ok() && listed.back() > c.steps)
      options.Fail("train.snapshot_steps",
                   Concat("expected steps <= train.steps=", c.steps, "; ", listed.back(), " is beyond the run"));
  }
  const int every = static_cast<int>(options.Int("train.snapshot_every", 0, kMaxInt));
  c.snapshot_steps = SnapshotSteps(listed, every, c.steps);
  c.eval.size = static_cast<int>(options.Int("eval.size", 1, 100000000));
  c.eval.batch = static_cast<int>(options.Int("eval.batch", 1, 1 << 20));
  c.eval.fresh = options.Choice("eval.mode", {"fixed", "fresh"}) == "fresh";
  c.eval.seed = static_cast<uint64_t>(options.Int("eval.seed", 0, std::numeric_limits<long>::max()));
  c.eval.skip = options.StringList("eval.skip");
  c.groups.freeze = options.StringList("optim.freeze");
  c.groups.trainable = options.StringList("optim.trainable");
  c.groups.lr_mult = ReadPatternMultipliers(options, "optim.lr_mult");
  c.groups.decay_mult = ReadPatternMultipliers(options, "optim.decay_mult");
  c.groups.lr_ratio = options.Double("optim.lr_ratio", 1e-12, 1e12);
  c.groups.lr_ratio_value_and_1d =
      options.Choice("optim.lr_ratio_scope", {"value_only", "value_and_1d"}) == "value_and_1d";
  return c;
}

}  // namespace sim
