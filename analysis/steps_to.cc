#include "analysis/steps_to.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "sim/core/error.h"

namespace sim {

namespace {

// The curve analysis.steps_to.curve names, else <train.target_split>_<train.target_metric>, split
// into its split (one of the task's) and metric; false when neither is set or the split is unknown.
bool CurveOf(const AnalysisInputs& in, const AnalysisOptions& options, std::string& split, std::string& metric) {
  const std::string curve = options.OptionalText("analysis.steps_to.curve");
  if (curve.empty()) {
    split = in.train->target_split;
    metric = in.train->target_metric;
    return !metric.empty();
  }
  for (const std::string& s : in.task->info().splits)
    if (curve.size() > s.size() + 1 && curve.compare(0, s.size() + 1, s + "_") == 0 && s.size() >= split.size()) {
      split = s;  // the longest split name that prefixes it: test_ood_accuracy is test_ood's
      metric = curve.substr(s.size() + 1);
    }
  return !metric.empty();
}

}  // namespace

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

void DeclareStepsToOptions(OptionSet& set) {
  set.Declare({"analysis.steps_to", "0.9",
               "store /analysis/steps_to_target: the first evaluation step at which a curve (train.target_metric on "
               "train.target_split, or analysis.steps_to.curve) reached this value, or none",
               ""});
  OptionDecl curve{"analysis.steps_to.curve", "none",
                   "the curve for analysis.steps_to, <split>_<metric> such as test_accuracy (none: "
                   "train.target_split and train.target_metric)",
                   ""};
  curve.omit_at_default = true;
  set.Declare(curve);
}

bool ReadStepsToOptions(Options& options) {
  options.String("analysis.steps_to.curve");
  if (options.OptionalString("analysis.steps_to").empty()) return false;
  options.Double("analysis.steps_to", -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
  return true;
}

std::string StepsToApplies(const AnalysisInputs& in, const AnalysisOptions& options) {
  std::string split, metric;
  if (!CurveOf(in, options, split, metric)) {
    const std::string curve = options.OptionalText("analysis.steps_to.curve");
    if (curve.empty()) return "no curve to threshold: set analysis.steps_to.curve (or train.target_metric)";
    return Concat("analysis.steps_to.curve = ", curve, " does not start with a split of task '", in.task->info().name,
                  "' and '_'");
  }
  const std::string name = split + "_" + metric;
  if (std::find(in.curve_names->begin(), in.curve_names->end(), name) == in.curve_names->end()) {
    std::string names;
    for (const std::string& c : *in.curve_names)
      if (c != "step" && c != "lr") names += (names.empty() ? "" : ", ") + c;
    return Concat("the run has no curve ", name, DidYouMean(name, *in.curve_names), " (its curves: ", names, ")");
  }
  return "";
}

std::vector<AnalysisArray> StepsToAnalysis(const AnalysisInputs& in, const AnalysisOptions& options) {
  std::string split, metric;
  CurveOf(in, options, split, metric);
  return StepsToTarget(*in.curve_names, *in.curves, split, metric, options.Number("analysis.steps_to"));
}

}  // namespace sim
