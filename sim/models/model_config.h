// Model configuration: what the options say (depth, width, heads, norm, positions, mixer, ...)
// plus what the task dictates (input kind and vocabulary, output classes, sequence length).
#pragma once

#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/layers/embedding.h"
#include "sim/layers/mlp.h"

namespace sim {

enum class NormKind { kPreLn, kNone };
// fan_in: weights N(0, 1/fan_in), token and position embeddings N(0, 1) (depth.md §4).
// gpt2:   every weight and embedding N(0, 0.02²), Wo and W2 scaled by 1/√(2L) (Radford et al. 2019).
enum class InitScheme { kFanIn, kGpt2 };

struct ModelConfig {
  // From the task.
  InputKind input = InputKind::kTokens;
  int vocab = 0;      // V
  int d_in = 0;       // Din
  OutputKind output = OutputKind::kClasses;
  int n_classes = 0;  // C (1 for a scalar output)
  int max_len = 0;    // T

  // From model.* options.
  int layers = 2;                 // L
  std::vector<int> heads = {4};   // per layer, or one value for all
  int d_model = 64;               // D
  int d_mlp = 256;                // F, 0 = attention-only blocks
  NormKind norm = NormKind::kPreLn;
  PosKind pos = PosKind::kLearned;
  int segment = 7;  // S of kLearnedFactored
  bool causal = true;
  std::string mixer = "attention";
  Activation act = Activation::kGelu;
  bool bias = true;
  InitScheme init = InitScheme::kFanIn;

  int heads_in_layer(int layer) const { return heads.size() == 1 ? heads[0] : heads[layer]; }
  // Takes sizes from the task.
  void ApplyTask(const TaskInfo& task);
  // Throws ConfigError naming the option for every inconsistency (heads must divide d_model, ...).
  void Validate() const;
};

void DeclareModelOptions(OptionSet& set);
// Reads model.* options (task-derived fields are left for ApplyTask). Problems go to `options`.
ModelConfig ReadModelConfig(Options& options);

}  // namespace sim
