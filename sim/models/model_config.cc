#include "sim/models/model_config.h"

#include <cstdlib>

#include "sim/core/error.h"

namespace sim {

void DeclareModelOptions(OptionSet& set) {
  set.Declare({"model.layers", "2", "number of blocks L", ""});
  set.Declare({"model.heads", "4", "attention heads: one value for every layer, or one per layer (8,1,1)", ""});
  set.Declare({"model.d_model", "64", "residual stream width D (a multiple of every layer's heads)", ""});
  set.Declare({"model.d_mlp", "4x", "MLP width F: an integer, 'Nx' for N*d_model, or 0 for attention-only blocks", ""});
  set.Declare({"model.norm", "pre_ln", "normalization: pre_ln (LayerNorm before each branch and the readout) | none", ""});
  set.Declare({"model.pos", "learned", "positional encoding: learned | sinusoidal | none | learned_factored "
                                       "(offset within a segment of model.segment tokens plus the segment's index)", ""});
  set.Declare({"model.segment", "7", "segment length S of model.pos = learned_factored (ictemplate: task.length + 1)", ""});
  set.Declare({"model.causal", "true", "causal attention (true) or bidirectional (false)", ""});
  set.Declare({"model.mixer", "attention", "sequence mixer: attention", ""});
  set.Declare({"model.act", "gelu", "MLP activation: gelu (exact) | gelu_tanh | relu", ""});
  set.Declare({"model.bias", "true", "biases in attention projections and MLP layers", ""});
  set.Declare({"model.init", "fan_in", "initialization: fan_in (weights N(0,1/fan_in), embeddings N(0,1)) | gpt2 (N(0,0.02^2), residual outputs scaled by 1/sqrt(2L))", ""});
}

ModelConfig ReadModelConfig(Options& options) {
  ModelConfig c;
  // A bad value reads as a fallback (the minimum); checks that combine keys skip such values, so a
  // message never quotes a number the user did not give (model.d_model=abc is not "d_model=1").
  const OptionErrorScope layers_read(options);
  c.layers = static_cast<int>(options.Int("model.layers", 1, 64));
  const bool layers_ok = layers_read.ok();
  const OptionErrorScope d_model_read(options);
  c.d_model = static_cast<int>(options.Int("model.d_model", 1, 8192));
  const bool d_model_ok = d_model_read.ok();
  c.heads.clear();
  const OptionErrorScope heads_read(options);
  for (long h : options.IntList("model.heads", 1, 1024)) c.heads.push_back(static_cast<int>(h));
  const bool heads_ok = heads_read.ok();
  if (layers_ok && heads_ok && c.heads.size() != 1 && static_cast<int>(c.heads.size()) != c.layers)
    options.Fail("model.heads", Concat("expected one value or one per layer (model.layers=", c.layers,
                                       "), got ", c.heads.size(), " values"));
  const std::string mlp = options.String("model.d_mlp");
  if (!mlp.empty() && mlp.back() == 'x') {
    char* end = nullptr;
    const double mult = std::strtod(mlp.c_str(), &end);
    if (end != mlp.c_str() + mlp.size() - 1 || !(mult >= 0) || mult > 64)
      options.Fail("model.d_mlp", "expected an integer width, 'Nx' (N*d_model) or 0");
    else
      c.d_mlp = static_cast<int>(mult * c.d_model + 0.5);
  } else {
    c.d_mlp = static_cast<int>(options.Int("model.d_mlp", 0, 1 << 16));
  }
  c.norm = options.Choice("model.norm", {"pre_ln", "none"}) == "pre_ln" ? NormKind::kPreLn : NormKind::kNone;
  const std::string pos = options.Choice("model.pos", {"learned", "sinusoidal", "none", "learned_factored"});
  c.pos = pos == "learned"            ? PosKind::kLearned
          : pos == "sinusoidal"       ? PosKind::kSinusoidal
          : pos == "learned_factored" ? PosKind::kLearnedFactored
                                      : PosKind::kNone;
  c.segment = static_cast<int>(options.Int("model.segment", 1, 1 << 16));
  c.causal = options.Bool("model.causal");
  c.mixer = options.Choice("model.mixer", {"attention"});
  const std::string act = options.Choice("model.act", {"gelu", "gelu_tanh", "relu"});
  c.act = act == "gelu" ? Activation::kGelu : act == "gelu_tanh" ? Activation::kGeluTanh : Activation::kRelu;
  c.bias = options.Bool("model.bias");
  c.init = options.Choice("model.init", {"fan_in", "gpt2"}) == "fan_in" ? InitScheme::kFanIn : InitScheme::kGpt2;
  if (layers_ok && d_model_ok && heads_ok && (c.heads.size() == 1 || static_cast<int>(c.heads.size()) == c.layers))
    for (int l = 0; l < c.layers; ++l)
      if (c.d_model % c.heads_in_layer(l) != 0)
        options.Fail("model.heads", Concat("layer ", l, " has ", c.heads_in_layer(l),
                                           " heads, which must divide model.d_model=", c.d_model));
  return c;
}

void ModelConfig::ApplyTask(const TaskInfo& task) {
  input = task.input;
  vocab = task.vocab;
  d_in = task.d_in;
  output = task.output;
  n_classes = task.output == OutputKind::kClasses ? task.n_classes : 1;
  max_len = task.length;
}

void ModelConfig::Validate() const {
  if (layers < 1) throw ConfigError(Concat("model.layers: must be >= 1 (given ", layers, ")"));
  if (heads.size() != 1 && static_cast<int>(heads.size()) != layers)
    throw ConfigError(Concat("model.heads: expected one value or ", layers, " (one per layer), got ",
                             heads.size()));
  for (int l = 0; l < layers; ++l)
    if (heads_in_layer(l) < 1 || d_model % heads_in_layer(l) != 0)
      throw ConfigError(Concat("model.heads: layer ", l, " has ", heads_in_layer(l),
                               " heads, which must divide model.d_model=", d_model));
  if (d_mlp < 0) throw ConfigError(Concat("model.d_mlp: must be >= 0 (given ", d_mlp, ")"));
  if (input == InputKind::kTokens && vocab < 1)
    throw ConfigError(Concat("task: token vocabulary must be >= 1 (got ", vocab, ")"));
  if (input == InputKind::kVectors && d_in < 1)
    throw ConfigError(Concat("task: input width must be >= 1 (got ", d_in, ")"));
  if (n_classes < 1) throw ConfigError(Concat("task: output classes must be >= 1 (got ", n_classes, ")"));
  if (max_len < 1) throw ConfigError(Concat("task: sequence length must be >= 1 (got ", max_len, ")"));
}

}  // namespace sim
