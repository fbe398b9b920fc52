#include "analysis/head_analyses.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "analysis/example_outputs.h"
#include "sim/core/check.h"
#include "sim/train/metrics.h"

namespace sim {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// An [L, H] array of NaN.
AnalysisArray LayerHeadArray(const std::string& path, int layers, int max_heads) {
  AnalysisArray a;
  a.path = path;
  a.dims = {static_cast<uint64_t>(layers), static_cast<uint64_t>(max_heads)};
  a.data.assign(static_cast<size_t>(layers) * max_heads, kNaN);
  a.string_attrs["dims"] = "layer,head";
  return a;
}

AnalysisArray ScalarArray(const std::string& path, double value) {
  AnalysisArray a;
  a.path = path;
  a.data = {value};
  return a;
}

void AddProbeAttrs(std::vector<AnalysisArray>& arrays, const Task& task, const ProbeOptions& probe) {
  for (AnalysisArray& a : arrays) {
    a.number_attrs["probe_examples"] = probe.examples;
    a.string_attrs["split"] = task.info().splits[probe.split];
  }
}

// The probe's per-example outputs under `gates`, and its accuracy (NaN for scalar tasks).
ExampleOutputs Evaluate(const Transformer& model, Workspace& ws, const Batch& batch, const std::vector<Vec>* gates) {
  ForwardHooks hooks;
  hooks.head_gates = gates;
  return EvaluateExamples(model, ws, batch, &hooks);
}
double Accuracy(const ExampleOutputs& o) {
  return o.output == OutputKind::kClasses ? static_cast<double>(o.n_correct) / o.loss.size() : kNaN;
}

}  // namespace

std::vector<int> HeadsPerLayer(const Transformer& model) {
  std::vector<int> heads;
  for (int l = 0; l < model.n_layers(); ++l)
    heads.push_back(model.config().mixer_entry(l).Supports(MixerHook::kHeadGate) ? model.config().heads_in_layer(l)
                                                                                 : 0);
  return heads;
}

std::vector<AnalysisArray> HeadAblation(const Transformer& model, const Task& task, const ProbeOptions& probe,
                                        bool per_example) {
  const Batch batch = DrawProbe(task, probe);
  auto ws = model.MakeWorkspace(batch.shape, std::max(1, batch.n_scored()));
  const std::vector<int> heads = HeadsPerLayer(model);
  const int layers = model.n_layers(), max_heads = std::max(1, *std::max_element(heads.begin(), heads.end()));
  std::vector<Vec> gates;
  for (int h : heads) gates.push_back(Vec::Ones(h));
  const ExampleOutputs base = Evaluate(model, *ws, batch, &gates);
  const double base_accuracy = Accuracy(base);
  AnalysisArray delta_loss = LayerHeadArray("head_ablation/delta_loss", layers, max_heads);
  AnalysisArray delta_accuracy = LayerHeadArray("head_ablation/delta_accuracy", layers, max_heads);
  AnalysisArray keep_one = LayerHeadArray("head_ablation/keep_one_delta_loss", layers, max_heads);
  AnalysisArray share = LayerHeadArray("head_ablation/share", layers, max_heads);
  AnalysisArray entropy;
  entropy.path = "head_ablation/share_entropy";
  entropy.dims = {static_cast<uint64_t>(layers)};
  entropy.data.assign(layers, kNaN);
  entropy.string_attrs["dims"] = "layer";
  const int examples = batch.shape.batch;
  AnalysisArray example_delta;  // [L, H, B] (per_example)
  example_delta.path = "head_ablation/example_delta_loss";
  example_delta.dims = {static_cast<uint64_t>(layers), static_cast<uint64_t>(max_heads),
                        static_cast<uint64_t>(examples)};
  if (per_example) example_delta.data.assign(static_cast<size_t>(layers) * max_heads * examples, kNaN);
  example_delta.string_attrs["dims"] = "layer,head,example";
  for (int l = 0; l < layers; ++l) {
    const auto at = [&](int h) { return static_cast<size_t>(l) * max_heads + h; };
    for (int h = 0; h < heads[l]; ++h) {
      gates[l](h) = 0;  // head h alone off
      const ExampleOutputs m = Evaluate(model, *ws, batch, &gates);
      delta_loss.data[at(h)] = m.mean_loss - base.mean_loss;
      delta_accuracy.data[at(h)] = Accuracy(m) - base_accuracy;
      if (per_example)
        for (int b = 0; b < examples; ++b)
          example_delta.data[at(h) * examples + b] = m.example_loss[b] - base.example_loss[b];
      gates[l].setZero();  // every head of the layer but h off
      gates[l](h) = 1;
      keep_one.data[at(h)] = Evaluate(model, *ws, batch, &gates).mean_loss - base.mean_loss;
      gates[l].setOnes();
    }
    double total = 0;
    for (int h = 0; h < heads[l]; ++h) total += std::abs(delta_loss.data[at(h)]);
    if (heads[l] == 0 || !(total > 0)) continue;
    double h_entropy = 0;
    for (int h = 0; h < heads[l]; ++h) {
      const double s = std::abs(delta_loss.data[at(h)]) / total;
      share.data[at(h)] = s;
      if (s > 0) h_entropy -= s * std::log(s);
    }
    entropy.data[l] = h_entropy;
  }
  std::vector<AnalysisArray> out = {delta_loss, keep_one, share, entropy,
                                    ScalarArray("head_ablation/base_loss", base.mean_loss)};
  if (batch.output == OutputKind::kClasses) {
    out.push_back(delta_accuracy);
    out.push_back(ScalarArray("head_ablation/base_accuracy", base_accuracy));
  }
  if (per_example) {  // paired values: the same probe prompts with and without each head
    AnalysisArray example_loss;
    example_loss.path = "head_ablation/example_loss";
    example_loss.dims = {static_cast<uint64_t>(examples)};
    example_loss.data = base.example_loss;
    example_loss.string_attrs["dims"] = "example";
    out.push_back(example_loss);
    out.push_back(example_delta);
  }
  AddProbeAttrs(out, task, probe);
  return out;
}

std::vector<AnalysisArray> HeadGradImportance(const Transformer& model, const Task& task, const ProbeOptions& probe) {
  const Batch batch = DrawProbe(task, probe);
  const std::vector<int> heads = HeadsPerLayer(model);
  const int layers = model.n_layers(), max_heads = std::max(1, *std::max_element(heads.begin(), heads.end()));
  AnalysisArray importance = LayerHeadArray("head_grad_importance/importance", layers, max_heads);
  AnalysisArray normalized = LayerHeadArray("head_grad_importance/importance_normalized", layers, max_heads);
  std::vector<Vec> sums, grads;
  for (int h : heads) {
    sums.push_back(Vec::Zero(h));
    grads.push_back(Vec::Zero(h));
  }
  // Example by example: |dL(x)/dg_h| needs each example's own gradient.
  Batch one;
  std::unique_ptr<Workspace> ws;
  int counted = 0;
  for (int b = 0; b < batch.shape.batch; ++b) {
    one.CopyExamples(batch, b, 1);
    if (one.n_scored() == 0) continue;
    if (!ws || ws->max_scored < one.n_scored()) ws = model.MakeWorkspace(one.shape, batch.shape.length);
    for (Vec& g : grads) g.setZero();
    ForwardHooks hooks;
    hooks.head_gate_grads = &grads;
    ForwardLoss(model, *ws, one, true, nullptr, &hooks);
    model.Backward(one, *ws);
    for (int l = 0; l < layers; ++l) sums[l] += grads[l].cwiseAbs();
    ++counted;
  }
  SIM_CHECK(counted > 0, "head_grad_importance: no probe example has a scored position");
  for (int l = 0; l < layers; ++l) {
    if (heads[l] == 0) continue;
    const Eigen::VectorXd mean = sums[l].cast<double>() / counted;
    const double norm = mean.norm();
    for (int h = 0; h < heads[l]; ++h) {
      importance.data[static_cast<size_t>(l) * max_heads + h] = mean(h);
      normalized.data[static_cast<size_t>(l) * max_heads + h] = norm > 0 ? mean(h) / norm : kNaN;
    }
  }
  std::vector<AnalysisArray> out = {importance, normalized};
  AddProbeAttrs(out, task, probe);
  return out;
}

LayerSinkStats SinkStatsOfLayer(const Mat& probs, int length, int batch, int heads) {
  SIM_CHECK(probs.rows() == length && probs.cols() == static_cast<Index>(length) * batch * heads,
            "SinkStatsOfLayer: probs is (", probs.rows(), ", ", probs.cols(), "), expected (T=", length,
            ", T*B*H=", static_cast<Index>(length) * batch * heads, ")");
  LayerSinkStats s;
  const int first_query = length > 1 ? 1 : 0;
  const double n = static_cast<double>(batch) * (length - first_query);
  for (int h = 0; h < heads; ++h) {
    std::vector<double> mean(length, 0.0);  // mean probability of each key position
    double entropy = 0;
    for (int b = 0; b < batch; ++b) {
      const auto block = probs.middleCols(static_cast<Index>(b * heads + h) * length, length);  // (T_k, T_q)
      for (int q = first_query; q < length; ++q)
        for (int k = 0; k < length; ++k) {
          const double p = block(k, q);
          mean[k] += p / n;
          if (p > 0) entropy -= p * std::log(p) / n;
        }
    }
    const int top = static_cast<int>(std::max_element(mean.begin(), mean.end()) - mean.begin());
    s.first_mass.push_back(mean[0]);
    s.top1_position.push_back(top);
    s.top1_mass.push_back(mean[top]);
    s.entropy.push_back(entropy);
  }
  return s;
}

std::vector<AnalysisArray> SinkStatistics(const Transformer& model, const Task& task, const ProbeOptions& probe) {
  const Batch batch = DrawProbe(task, probe);
  auto ws = model.MakeWorkspace(batch.shape, std::max(1, batch.n_scored()));
  model.Forward(batch, *ws);
  const std::vector<int> heads = HeadsPerLayer(model);
  const int layers = model.n_layers(), max_heads = std::max(1, *std::max_element(heads.begin(), heads.end()));
  AnalysisArray first = LayerHeadArray("sinks/first_mass", layers, max_heads);
  AnalysisArray position = LayerHeadArray("sinks/top1_position", layers, max_heads);
  AnalysisArray top1 = LayerHeadArray("sinks/top1_mass", layers, max_heads);
  AnalysisArray entropy = LayerHeadArray("sinks/entropy", layers, max_heads);
  for (int l = 0; l < layers; ++l) {
    const Mat* probs = model.AttentionProbs(*ws, l);
    if (probs == nullptr || heads[l] == 0) continue;
    const LayerSinkStats s = SinkStatsOfLayer(*probs, batch.shape.length, batch.shape.batch, heads[l]);
    for (int h = 0; h < heads[l]; ++h) {
      const size_t at = static_cast<size_t>(l) * max_heads + h;
      first.data[at] = s.first_mass[h];
      position.data[at] = s.top1_position[h];
      top1.data[at] = s.top1_mass[h];
      entropy.data[at] = s.entropy[h];
    }
  }
  std::vector<AnalysisArray> out = {first, position, top1, entropy};
  AddProbeAttrs(out, task, probe);
  return out;
}

// ---- Registry entries ----------------------------------------------------------------------------

namespace {

void DeclareFlag(OptionSet& set, const std::string& key, const std::string& help) {
  OptionDecl decl{key, "false", help, ""};
  decl.omit_at_default = true;  // added after runs existed: they keep their config text and names
  set.Declare(decl);
}

bool AnyLayerSupports(const Transformer& model, MixerHook hook) {
  for (int l = 0; l < model.n_layers(); ++l)
    if (model.config().mixer_entry(l).Supports(hook)) return true;
  return false;
}

}  // namespace

void DeclareHeadAblationOptions(OptionSet& set) {
  DeclareFlag(set, "analysis.head_ablation",
              "store /analysis/head_ablation: the probe's loss change when each head is gated off, alone and all "
              "but one per layer, with per-layer shares and their entropy");
  DeclareFlag(set, "analysis.head_ablation.per_example",
              "with analysis.head_ablation: also store each probe example's loss (example_loss) and its change "
              "with each head off (example_delta_loss), for paired statistics over the prompts");
}

void DeclareHeadGradImportanceOptions(OptionSet& set) {
  DeclareFlag(set, "analysis.head_grad_importance",
              "store /analysis/head_grad_importance: E|dL/dg_h| over the probe, example by example (Michel et al. "
              "2019)");
}

void DeclareSinksOptions(OptionSet& set) {
  DeclareFlag(set, "analysis.sinks",
              "store /analysis/sinks: per head, the attention mass on position 0, the top-1 key position and its "
              "mass, and the entropy, over the probe");
}

bool ReadHeadAblationOptions(Options& options) {
  options.Bool("analysis.head_ablation.per_example");
  return options.Bool("analysis.head_ablation");
}
bool ReadHeadGradImportanceOptions(Options& options) { return options.Bool("analysis.head_grad_importance"); }
bool ReadSinksOptions(Options& options) { return options.Bool("analysis.sinks"); }

std::string HeadGatesApply(const AnalysisInputs& in, const AnalysisOptions&) {
  if (AnyLayerSupports(*in.model, MixerHook::kHeadGate)) return "";
  return Concat("model.mixer = ", in.model->config().mixer_in_layer(0), ": no layer's mixer has heads to gate");
}

std::string AttentionProbsApply(const AnalysisInputs& in, const AnalysisOptions&) {
  const ModelConfig& config = in.model->config();
  for (int l = 0; l < in.model->n_layers(); ++l)
    if (config.mixer_entry(l).Supports(MixerHook::kAttentionProbs) && !config.attention_probabilities(l))
      return Concat("model.attention = linear: layer ", l,
                    "'s attention weights are not probabilities (a query's weights do not sum to 1), and the "
                    "masses and entropy of this analysis assume they are");
  if (AnyLayerSupports(*in.model, MixerHook::kAttentionProbs)) return "";
  return Concat("model.mixer = ", config.mixer_in_layer(0), ": no layer's mixer has attention probabilities");
}

std::vector<AnalysisArray> HeadAblationAnalysis(const AnalysisInputs& in, const AnalysisOptions& options) {
  return HeadAblation(*in.model, *in.task, in.probe, options.Flag("analysis.head_ablation.per_example"));
}

std::vector<AnalysisArray> HeadGradImportanceAnalysis(const AnalysisInputs& in, const AnalysisOptions&) {
  return HeadGradImportance(*in.model, *in.task, in.probe);
}

std::vector<AnalysisArray> SinksAnalysis(const AnalysisInputs& in, const AnalysisOptions&) {
  return SinkStatistics(*in.model, *in.task, in.probe);
}

}  // namespace sim
