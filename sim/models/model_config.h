// Model configuration: what the options say (depth, width, heads, norm, positions, mixer, ...)
// plus what the task dictates (input kind and vocabulary, output classes, sequence length).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/layers/embedding.h"
#include "sim/layers/mixer.h"
#include "sim/layers/mlp.h"

namespace sim {

enum class NormKind { kPreLn, kNone };
// fan_in: weights N(0, 1/fan_in), token and position embeddings N(0, 1) (depth.md §4).
// gpt2:   every weight and embedding N(0, 0.02²), Wo and W2 scaled by 1/√(2L) (Radford et al. 2019).
// heads:  the heads study's recipe (heads.md §4): the read-in N(0, 1/Din), every other weight (Q, K,
//         V, O, both MLP layers, the readout) N(0, 1/D), positions N(0, 0.2²); token embeddings
//         N(0, 1). It differs from fan_in in W2 (1/D, not 1/F) and the positions (0.2, not 1).
// Biases are 0, LayerNorm gains 1, in every scheme.
enum class InitScheme { kFanIn, kGpt2, kHeads };

struct ModelConfig {
  // From the task.
  InputKind input = InputKind::kTokens;
  int vocab = 0;  // V
  int d_in = 0;   // Din
  OutputKind output = OutputKind::kClasses;
  int n_classes = 0;  // C (1 for a scalar output)
  int max_len = 0;    // T

  // From model.* options.
  int layers = 2;                // L
  std::vector<int> heads = {4};  // per layer, or one value for all (layers whose mixer has heads)
  int d_model = 64;              // D
  int d_mlp = 256;               // F, 0 = attention-only blocks
  NormKind norm = NormKind::kPreLn;
  PosKind pos = PosKind::kLearned;
  int segment = 7;  // S of kLearnedFactored
  bool causal = true;
  std::vector<std::string> mixers = {"attention"};  // per layer, or one name for all (MixerRegistry)
  Activation act = Activation::kGelu;
  bool bias = true;
  InitScheme init = InitScheme::kFanIn;
  // model.pos_std: standard deviation of learned positions at init; NaN = the scheme's (fan_in 1,
  // gpt2 0.02, heads 0.2).
  double pos_std = NAN;
  // model.attention: softmax or linear weights, in the layers whose mixer reads it (attention).
  AttentionKind attention = AttentionKind::kSoftmax;
  // model.head_mask: per layer, the heads whose output is fixed at 0 (in training and evaluation:
  // a pruned model). Empty, or L lists (most of them empty).
  std::vector<std::vector<int>> head_mask;

  int heads_in_layer(int layer) const { return heads.size() == 1 ? heads[0] : heads[layer]; }
  const std::string& mixer_in_layer(int layer) const { return mixers.size() == 1 ? mixers[0] : mixers[layer]; }
  // The registry entry of layer l's mixer (the names must have been checked: Problems()).
  const MixerEntry& mixer_entry(int layer) const;
  // What builds layer l's mixer, initialization scales left at 0 (the model sets them).
  MixerArgs mixer_args(int layer) const;
  // True when some layer's mixer has heads (model.heads applies).
  bool any_heads() const;
  // True when every layer's mixer is causal: output t never depends on inputs after t.
  bool causal_everywhere() const;
  // True when layer l's attention weights (Mixer::AttentionProbs) are probabilities, each query's
  // summing to 1: false for layers with linear attention (model.attention = linear).
  bool attention_probabilities(int layer) const;
  // Takes sizes from the task.
  void ApplyTask(const TaskInfo& task);

  // Every inconsistency, each naming its option: list lengths, unknown mixers, what each layer's
  // mixer requires (attention: heads divide d_model), sizes. The one place these rules live;
  // ReadModelConfig reports them as option errors and Validate throws them.
  struct Problem {
    std::string key;      // "model.heads"
    std::string message;  // "layer 0: 5 heads must divide model.d_model=64 (...)"
  };
  std::vector<Problem> Problems() const;
  // Throws ConfigError listing Problems(), one per line ("key: message").
  void Validate() const;
};

// model.head_mask's text ("blocks.1:0,2;blocks.2:3") as L lists of heads; on a malformed entry,
// *problem says what is wrong and the result is empty. Head indices are checked by Problems().
std::vector<std::vector<int>> ParseHeadMask(const std::string& text, int layers, std::string* problem);

void DeclareModelOptions(OptionSet& set);
// Reads model.* options (task-derived fields are left for ApplyTask). Problems go to `options`.
ModelConfig ReadModelConfig(Options& options);

}  // namespace sim
