#include "analysis/analyses.h"

#include <cmath>
#include <limits>

#include "analysis/attention_analysis.h"
#include "sim/train/train_config.h"

namespace sim {

void DeclareAnalysisOptions(OptionSet& set) {
  set.Declare({"analysis.attention", "false",
               "after training, store attention maps averaged over a probe batch (/analysis/attention) and the "
               "task's mechanism measurements (/analysis/mech/...)",
               ""});
  set.Declare({"analysis.probe", "256", "examples in the probe batch (held out; the same for every run)", ""});
  set.Declare({"analysis.steps_to", "0.9",
               "store /analysis/steps_to_target: the first evaluation step at which train.target_metric on "
               "train.target_split reached this value (when a target metric is set), or none",
               ""});
}

AnalysisConfig ReadAnalysisConfig(Options& options) {
  AnalysisConfig c;
  c.attention = options.Bool("analysis.attention");
  c.probe_examples = static_cast<int>(options.Int("analysis.probe", 1, 1 << 16));
  c.seed = static_cast<uint64_t>(options.Int("eval.seed", 0, std::numeric_limits<long>::max()));
  if (!options.OptionalString("analysis.steps_to").empty())
    c.steps_to =
        options.Double("analysis.steps_to", -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
  return c;
}

std::vector<AnalysisArray> RunAnalyses(const Transformer& model, const Task& task, const AnalysisConfig& config) {
  std::vector<AnalysisArray> out;
  const TaskInfo& info = task.info();
  if (std::isfinite(info.chance)) {
    AnalysisArray chance;
    chance.path = "chance";
    chance.data = {info.chance};
    out.push_back(chance);
  }
  if (config.attention) {
    ProbeOptions probe;
    probe.examples = config.probe_examples;
    probe.seed = config.seed;
    probe.split = -1;  // the first evaluation split drawn afresh
    for (size_t s = 1; s < info.splits.size() && probe.split < 0; ++s)
      if (info.split_size(static_cast<int>(s)) == 0) probe.split = static_cast<int>(s);
    if (probe.split > 0) {
      out.push_back(AttentionMaps(model, task, probe));
      for (AnalysisArray& a : MechanismMeasures(model, task, probe)) out.push_back(std::move(a));
    }
  }
  return out;
}

std::vector<AnalysisArray> StepsToTarget(const std::vector<std::string>& curve_names,
                                         const std::vector<std::vector<double>>& curves, const std::string& split,
                                         const std::string& metric, double threshold) {
  const std::string name = split + "_" + metric;
  size_t step_col = curve_names.size(), value_col = curve_names.size();
  for (size_t i = 0; i < curve_names.size(); ++i) {
    if (curve_names[i] == "step") step_col = i;
    if (curve_names[i] == name) value_col = i;
  }
  if (std::isnan(threshold) || step_col == curve_names.size() || value_col == curve_names.size()) return {};
  AnalysisArray a;
  a.path = "steps_to_target";
  a.data = {-1.0};
  const bool higher = HigherIsBetter(metric);
  for (size_t e = 0; e < curves[value_col].size(); ++e) {
    const double v = curves[value_col][e];
    if (higher ? v >= threshold : v <= threshold) {
      a.data = {curves[step_col][e]};
      break;
    }
  }
  a.string_attrs["curve"] = name;
  a.string_attrs["metric"] = metric;
  a.number_attrs["target"] = threshold;
  return {a};
}

}  // namespace sim
