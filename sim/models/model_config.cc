#include "sim/models/model_config.h"

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "sim/core/error.h"
#include "sim/core/glob.h"

namespace sim {

void DeclareModelOptions(OptionSet& set) {
  set.Declare({"model.layers", "2", "number of blocks L", ""});
  set.Declare({"model.heads", "4", "attention heads: one value for every layer, or one per layer (8,1,1)", ""});
  set.Declare({"model.d_model", "64", "residual stream width D (a multiple of every layer's heads)", ""});
  set.Declare({"model.d_mlp", "4x", "MLP width F: an integer, 'Nx' for N*d_model, or 0 for attention-only blocks", ""});
  set.Declare(
      {"model.norm", "pre_ln", "normalization: pre_ln (LayerNorm before each branch and the readout) | none", ""});
  set.Declare({"model.pos", "learned",
               "positional encoding: learned | sinusoidal | none | learned_factored "
               "(offset within a segment of model.segment tokens plus the segment's index)",
               ""});
  set.Declare(
      {"model.segment", "7", "segment length S of model.pos = learned_factored (ictemplate: task.length + 1)", ""});
  set.Declare({"model.causal", "true", "causal attention (true) or bidirectional (false)", ""});
  set.Declare({"model.mixer", "attention",
               "sequence mixer: one for every layer, or one per layer (attention,attention): " + MixerNames(" | "),
               ""});
  set.Declare({"model.act", "gelu", "MLP activation: gelu (exact) | gelu_tanh | relu", ""});
  set.Declare({"model.bias", "true", "biases in attention projections and MLP layers", ""});
  OptionDecl head_mask{"model.head_mask", "none",
                       "heads whose output is fixed at 0 in training and evaluation (a pruned model): none, or "
                       "blocks.<l>:<h>,<h> per layer, layers separated by ';' (blocks.1:0,2;blocks.2:3)",
                       ""};
  head_mask.omit_at_default = true;  // added after runs existed: they keep their config text and names
  set.Declare(head_mask);
  set.Declare({"model.init", "fan_in",
               "initialization: fan_in (weights N(0,1/fan_in), embeddings N(0,1)) | gpt2 (N(0,0.02^2), residual "
               "outputs scaled by 1/sqrt(2L)) | heads (the heads study's recipe: read-in N(0,1/d_in), every other "
               "weight N(0,1/d_model), positions N(0,0.2^2))",
               ""});
  // Added after runs existed: at their defaults they stay out of the resolved config (same hash).
  OptionDecl pos_std{"model.pos_std", "auto",
                     "standard deviation of learned positions (model.pos = learned | learned_factored) at init: a "
                     "number >= 0, or auto for model.init's (fan_in 1, gpt2 0.02, heads 0.2)",
                     ""};
  pos_std.omit_at_default = true;
  set.Declare(pos_std);
  OptionDecl attention{"model.attention", "softmax",
                       "attention weights: softmax | linear (scores q.k/sqrt(d_head) divided by the number of keys "
                       "the query sees, no softmax: weights, not probabilities)",
                       ""};
  attention.omit_at_default = true;
  set.Declare(attention);
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
  const OptionErrorScope mixers_read(options);
  c.mixers = options.StringList("model.mixer");
  if (c.mixers.empty() ||
      std::any_of(c.mixers.begin(), c.mixers.end(), [](const std::string& name) { return FindMixer(name) == nullptr; }))
    options.Fail("model.mixer", "expected one of: " + MixerNames(", ") + " (one for every layer, or one per layer)");
  const bool mixers_ok = mixers_read.ok();
  const std::string mlp = options.String("model.d_mlp");
  if (!mlp.empty() && mlp.back() == 'x') {
    // 'Nx': N a decimal number in [0, 64] (ParseDecimalNumber's syntax; a bare 'x' is not 1x).
    double mult = 0;
    if (!ParseDecimalNumber(std::string_view(mlp).substr(0, mlp.size() - 1), &mult) || mult < 0 || mult > 64)
      options.Fail("model.d_mlp", "expected an integer width, 'Nx' (N*d_model, N a decimal number in [0, 64]) or 0");
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
  const std::string act = options.Choice("model.act", {"gelu", "gelu_tanh", "relu"});
  c.act = act == "gelu" ? Activation::kGelu : act == "gelu_tanh" ? Activation::kGeluTanh : Activation::kRelu;
  c.bias = options.Bool("model.bias");
  const std::string init = options.Choice("model.init", {"fan_in", "gpt2", "heads"});
  c.init = init == "gpt2" ? InitScheme::kGpt2 : init == "heads" ? InitScheme::kHeads : InitScheme::kFanIn;
  const std::string pos_std = options.String("model.pos_std");
  if (pos_std != "auto") {
    double value = 0;
    if (ParseDecimalNumber(pos_std, &value) && value >= 0)
      c.pos_std = value;
    else
      options.Fail("model.pos_std", "expected auto or a number >= 0 (decimal, e.g. 0.2)");
  }
  c.attention = options.Choice("model.attention", {"softmax", "linear"}) == "linear" ? AttentionKind::kLinear
                                                                                     : AttentionKind::kSoftmax;
  const std::string mask = options.OptionalString("model.head_mask");
  if (!mask.empty() && layers_ok) {
    std::string problem;
    c.head_mask = ParseHeadMask(mask, c.layers, &problem);
    if (!problem.empty()) options.Fail("model.head_mask", problem);
  }
  // Rules that combine keys, once every key they read was read cleanly (Problems: one home).
  if (layers_ok && d_model_ok && heads_ok && mixers_ok)
    for (const ModelConfig::Problem& p : c.Problems())
      if (p.key.rfind("model.", 0) == 0) options.Fail(p.key, p.message);
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

const MixerEntry& ModelConfig::mixer_entry(int layer) const {
  const MixerEntry* entry = FindMixer(mixer_in_layer(layer));
  if (entry == nullptr)
    throw ConfigError(
        Concat("model.mixer: unknown mixer '", mixer_in_layer(layer), "' (valid: ", MixerNames(", "), ")"));
  return *entry;
}

MixerArgs ModelConfig::mixer_args(int layer) const {
  MixerArgs args;
  args.d_model = d_model;
  args.n_heads = heads_in_layer(layer);
  args.causal = causal;
  args.bias = bias;
  args.attention = attention;
  return args;
}

bool ModelConfig::any_heads() const {
  for (int l = 0; l < layers; ++l)
    if (mixer_entry(l).has_heads) return true;
  return false;
}

bool ModelConfig::causal_everywhere() const {
  for (int l = 0; l < layers; ++l)
    if (!mixer_entry(l).causal(mixer_args(l))) return false;
  return true;
}

bool ModelConfig::attention_probabilities(int layer) const {
  return !(attention == AttentionKind::kLinear && mixer_entry(layer).reads_attention);
}

std::vector<std::vector<int>> ParseHeadMask(const std::string& text, int layers, std::string* problem) {
  std::vector<std::vector<int>> mask(layers);
  const auto fail = [&](const std::string& message) {
    *problem = message;
    return std::vector<std::vector<int>>();
  };
  for (const std::string& entry : SplitList(text, ';')) {  // trimmed, empty entries dropped
    const size_t colon = entry.find(':');
    if (entry.rfind("blocks.", 0) != 0 || colon == std::string::npos)
      return fail(
          Concat("expected blocks.<layer>:<head>,<head>,... per layer, layers separated by ';', got '", entry, "'"));
    long layer = -1;
    const std::string layer_text = entry.substr(7, colon - 7);
    if (!ParseDecimalInt(layer_text, &layer) || layer < 0 || layer >= layers)
      return fail(Concat("layer '", layer_text, "' in '", entry, "' is not one of 0..", layers - 1));
    const std::vector<std::string> heads = SplitList(entry.substr(colon + 1), ',');
    if (heads.empty()) return fail(Concat("no heads after ':' in '", entry, "'"));
    for (const std::string& head : heads) {
      long h = -1;
      if (!ParseDecimalInt(head, &h) || h < 0)
        return fail(Concat("head '", head, "' in '", entry, "' is not a head index"));
      mask[layer].push_back(static_cast<int>(h));
    }
  }
  return mask;
}

std::vector<ModelConfig::Problem> ModelConfig::Problems() const {
  std::vector<Problem> out;
  if (layers < 1) return {{"model.layers", Concat("must be >= 1 (given ", layers, ")")}};
  if (mixers.size() != 1 && static_cast<int>(mixers.size()) != layers)
    out.push_back({"model.mixer", Concat("expected one value or one per layer (model.layers=", layers, "), got ",
                                         mixers.size(), " values")});
  bool mixers_known = out.empty();
  for (const std::string& name : mixers)
    if (FindMixer(name) == nullptr) {
      out.push_back({"model.mixer", Concat("unknown mixer '", name, "' (valid: ", MixerNames(", "), ")")});
      mixers_known = false;
    }
  if (!mixers_known) return out;
  if (any_heads()) {
    if (heads.size() != 1 && static_cast<int>(heads.size()) != layers) {
      out.push_back({"model.heads", Concat("expected one value or one per layer (model.layers=", layers, "), got ",
                                           heads.size(), " values")});
    } else {
      for (int l = 0; l < layers; ++l) {
        const MixerEntry& entry = mixer_entry(l);
        if (!entry.has_heads) continue;
        const std::string problem = entry.problem(mixer_args(l));
        if (!problem.empty()) out.push_back({"model.heads", Concat("layer ", l, ": ", problem)});
      }
    }
  }
  for (int l = 0; l < layers; ++l) {  // what mixers without heads require
    const MixerEntry& entry = mixer_entry(l);
    if (entry.has_heads) continue;
    const std::string problem = entry.problem(mixer_args(l));
    if (!problem.empty()) out.push_back({"model.mixer", Concat("layer ", l, " (", entry.name, "): ", problem)});
  }
  if (attention != AttentionKind::kSoftmax) {
    bool read = false;
    for (int l = 0; l < layers; ++l) read = read || mixer_entry(l).reads_attention;
    if (!read)
      out.push_back({"model.attention", Concat("linear applies to attention layers; no layer's mixer has attention "
                                               "(model.mixer = ",
                                               mixers[0], mixers.size() > 1 ? ", ..." : "", ")")});
  }
  if (!head_mask.empty()) {
    if (static_cast<int>(head_mask.size()) != layers)
      out.push_back({"model.head_mask", Concat("has ", head_mask.size(), " layers, the model ", layers)});
    else
      for (int l = 0; l < layers; ++l) {
        if (head_mask[l].empty()) continue;
        const MixerEntry& entry = mixer_entry(l);
        if (!entry.Supports(MixerHook::kHeadGate)) {
          out.push_back({"model.head_mask", Concat("layer ", l, "'s mixer (", entry.name, ") has no heads to mask")});
          continue;
        }
        for (int h : head_mask[l])
          if (h >= heads_in_layer(l))
            out.push_back({"model.head_mask", Concat("layer ", l, " has ", heads_in_layer(l), " heads (0..",
                                                     heads_in_layer(l) - 1, "), not head ", h)});
      }
  }
  if (d_mlp < 0) out.push_back({"model.d_mlp", Concat("must be >= 0 (given ", d_mlp, ")")});
  if (input == InputKind::kTokens && vocab < 1)
    out.push_back({"task", Concat("token vocabulary must be >= 1 (got ", vocab, ")")});
  if (input == InputKind::kVectors && d_in < 1)
    out.push_back({"task", Concat("input width must be >= 1 (got ", d_in, ")")});
  if (n_classes < 1) out.push_back({"task", Concat("output classes must be >= 1 (got ", n_classes, ")")});
  if (max_len < 1) out.push_back({"task", Concat("sequence length must be >= 1 (got ", max_len, ")")});
  return out;
}

void ModelConfig::Validate() const {
  std::string message;
  for (const Problem& p : Problems()) message += Concat(message.empty() ? "" : "\n", p.key, ": ", p.message);
  if (!message.empty()) throw ConfigError(message);
}

}  // namespace sim
