#include "analysis/attention_analysis.h"

#include <algorithm>
#include <cmath>

#include "sim/core/check.h"
#include "sim/layers/mixer.h"

namespace sim {

Batch DrawProbe(const Task& task, const ProbeOptions& options) {
  const TaskInfo& info = task.info();
  SIM_CHECK(
      options.split > 0 && options.split < static_cast<int>(info.splits.size()) && info.split_size(options.split) == 0,
      "probe: split ", options.split, " is not an evaluation split drawn afresh");
  Batch batch;
  Rng rng = Rng::ForStream(options.seed, "probe/" + info.splits[options.split]);
  task.Sample(options.split, rng, options.examples, batch);
  return batch;
}

namespace {

struct Probe {
  Batch batch;
  std::unique_ptr<Workspace> ws;
};

Probe RunProbe(const Transformer& model, const Task& task, const ProbeOptions& options) {
  Probe p;
  p.batch = DrawProbe(task, options);
  p.ws = model.MakeWorkspace(p.batch.shape, std::max(1, p.batch.n_scored()));
  model.Forward(p.batch, *p.ws);
  return p;
}

int MaxHeads(const Transformer& model) {
  int h = 0;
  for (int l = 0; l < model.n_layers(); ++l) h = std::max(h, model.config().heads_in_layer(l));
  return h;
}

// P(key, query) of example b, head h, layer l.
inline double Weight(const Mat& probs, int t_len, int n_heads, int b, int h, int key, int query) {
  return probs(key, static_cast<Index>(b * n_heads + h) * t_len + query);
}

std::vector<AnalysisArray> Measures(const Transformer& model, const Task& task, const ProbeOptions& options,
                                    const Probe& p, TaskMeasureFn measures) {
  if (measures == nullptr) return {};
  AttentionCapture capture;
  capture.batch = &p.batch;
  for (int l = 0; l < model.n_layers(); ++l) {
    capture.probs.push_back(model.AttentionProbs(*p.ws, l));
    capture.heads.push_back(model.config().heads_in_layer(l));
  }
  std::vector<AnalysisArray> out = measures(task, capture);
  for (AnalysisArray& a : out) {
    a.number_attrs["probe_examples"] = p.batch.shape.batch;
    a.string_attrs["split"] = task.info().splits[options.split];
  }
  return out;
}

AnalysisArray Maps(const Transformer& model, const Task& task, const ProbeOptions& options, const Probe& p) {
  const int n_layers = model.n_layers(), n_heads = MaxHeads(model), t_len = p.batch.shape.length;
  const int batch = p.batch.shape.batch;
  AnalysisArray a;
  a.path = "attention";
  a.dims = {static_cast<uint64_t>(n_layers), static_cast<uint64_t>(n_heads), static_cast<uint64_t>(t_len),
            static_cast<uint64_t>(t_len)};
  a.data.assign(static_cast<size_t>(n_layers) * n_heads * t_len * t_len, NAN);
  for (int l = 0; l < n_layers; ++l) {
    const Mat* probs = model.AttentionProbs(*p.ws, l);
    if (probs == nullptr) continue;
    const int heads = model.config().heads_in_layer(l);
    for (int h = 0; h < heads; ++h)
      for (int q = 0; q < t_len; ++q)
        for (int k = 0; k < t_len; ++k) {
          double sum = 0.0;
          for (int b = 0; b < batch; ++b) sum += Weight(*probs, t_len, heads, b, h, k, q);
          a.data[((static_cast<size_t>(l) * n_heads + h) * t_len + q) * t_len + k] = sum / batch;
        }
  }
  a.string_attrs["dims"] = "layer,head,query,key";
  a.number_attrs["probe_examples"] = batch;
  a.string_attrs["split"] = task.info().splits[options.split];
  const std::vector<std::string>& labels = task.info().position_labels;
  if (static_cast<int>(labels.size()) == t_len) {
    std::string joined;
    for (const std::string& l : labels) joined += (joined.empty() ? "" : ",") + l;
    a.string_attrs["positions"] = joined;
  }
  if (p.batch.input == InputKind::kTokens)
    a.int_array_attrs["tokens"] = std::vector<int64_t>(p.batch.tokens.begin(), p.batch.tokens.begin() + t_len);
  return a;
}

}  // namespace

AnalysisArray AttentionMaps(const Transformer& model, const Task& task, const ProbeOptions& options) {
  return Maps(model, task, options, RunProbe(model, task, options));
}

std::vector<AnalysisArray> MechanismMeasures(const Transformer& model, const Task& task, const ProbeOptions& options,
                                             TaskMeasureFn measures) {
  if (measures == nullptr) return {};
  return Measures(model, task, options, RunProbe(model, task, options), measures);
}

void DeclareAttentionOptions(OptionSet& set) {
  set.Declare({"analysis.attention", "false",
               "store attention maps averaged over a probe batch (/analysis/attention) and the task's mechanism "
               "measurements (/analysis/mech/...)",
               ""});
  set.Declare({"analysis.probe", "256",
               "examples in the probe batch of every probe analysis (held out; the same for every run)", ""});
}

bool ReadAttentionOptions(Options& options) { return options.Bool("analysis.attention"); }

std::string AttentionApplies(const AnalysisInputs& in, const AnalysisOptions&) {
  const ModelConfig& config = in.model->config();
  // The maps average whatever weights a layer has; a task's mechanism measures are attention masses.
  if (in.task_measures != nullptr)
    for (int l = 0; l < in.model->n_layers(); ++l)
      if (config.mixer_entry(l).Supports(MixerHook::kAttentionProbs) && !config.attention_probabilities(l))
        return Concat("model.attention = linear: task ", in.task->info().name,
                      "'s mechanism measures (/analysis/mech) are attention masses, which need probabilities; "
                      "layer ",
                      l, "'s linear attention weights are not (a query's weights do not sum to 1)");
  for (int l = 0; l < in.model->n_layers(); ++l)
    if (config.mixer_entry(l).Supports(MixerHook::kAttentionProbs)) return "";
  return Concat("model.mixer = ", config.mixer_in_layer(0), ": no layer's mixer has attention probabilities");
}

std::vector<AnalysisArray> AttentionAnalysis(const AnalysisInputs& in, const AnalysisOptions&) {
  const Probe p = RunProbe(*in.model, *in.task, in.probe);
  std::vector<AnalysisArray> out = {Maps(*in.model, *in.task, in.probe, p)};
  for (AnalysisArray& a : Measures(*in.model, *in.task, in.probe, p, in.task_measures)) out.push_back(std::move(a));
  return out;
}

}  // namespace sim
