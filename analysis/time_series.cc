#include "analysis/time_series.h"

#include "analysis/analyses.h"
#include "sim/core/check.h"
#include "sim/core/error.h"

namespace sim {

std::vector<AnalysisArray> StackOverSteps(const std::vector<int>& steps,
                                          const std::vector<std::vector<AnalysisArray>>& runs,
                                          const std::vector<std::string>& outputs) {
  SIM_CHECK(!steps.empty() && runs.size() == steps.size(), "StackOverSteps: ", runs.size(), " results for ",
            steps.size(), " steps");
  const uint64_t n_steps = steps.size();
  const std::vector<int64_t> step_attr(steps.begin(), steps.end());
  std::vector<AnalysisArray> out = runs.back();  // attributes of the final parameters' result
  for (size_t j = 0; j < out.size(); ++j) {
    AnalysisArray& a = out[j];
    for (size_t r = 0; r < runs.size(); ++r)
      if (runs[r].size() != out.size() || runs[r][j].path != a.path || runs[r][j].group != a.group ||
          runs[r][j].dims != a.dims || runs[r][j].data.size() != a.data.size())
        throw InternalError(Concat("analysis array ", a.path, " at step ", steps[r],
                                   " differs in path, kind or shape from the final parameters' result"));
    if (a.group) continue;
    std::vector<double> data;
    data.reserve(n_steps * a.data.size());
    for (const std::vector<AnalysisArray>& run : runs) data.insert(data.end(), run[j].data.begin(), run[j].data.end());
    a.data = std::move(data);
    auto dims = a.string_attrs.find("dims");
    if (dims != a.string_attrs.end()) {
      dims->second = "step," + dims->second;
    } else {  // unnamed axes: "step" for a scalar, else "step,axis1,axis2,..."
      std::string names = "step";
      for (size_t k = 1; k <= a.dims.size(); ++k) names += Concat(",axis", k);
      a.string_attrs["dims"] = names;
    }
    a.dims.insert(a.dims.begin(), n_steps);
    a.int_array_attrs["step"] = step_attr;
  }
  for (const std::string& output : outputs) {
    bool dataset = false, members = false;
    for (const AnalysisArray& a : out) {
      dataset = dataset || (a.path == output && !a.group);
      members = members || a.path.rfind(output + "/", 0) == 0;
      if (a.path == output + "/step") throw InternalError(Concat("analysis array ", a.path, " is reserved"));
    }
    if (dataset || !members) continue;
    AnalysisArray step;
    step.path = output + "/step";
    step.dims = {n_steps};
    step.data.assign(steps.begin(), steps.end());
    step.string_attrs["dims"] = "step";
    out.push_back(std::move(step));
  }
  return out;
}

std::vector<AnalysisArray> RunOverSnapshots(const AnalysisEntry& entry, const AnalysisOptions& options,
                                            const AnalysisInputs& in) {
  SIM_CHECK(in.registry != nullptr && in.snapshots != nullptr, "RunOverSnapshots: no registry or snapshots");
  ParamRegistry& registry = *in.registry;
  const Vec final_values = registry.values();
  // Puts the final parameters back however the loop ends.
  struct RestoreFinal {
    ParamRegistry& registry;
    const Vec& values;
    ~RestoreFinal() { registry.values() = values; }
  } restore{registry, final_values};
  AnalysisInputs one = in;
  one.snapshots = nullptr;
  std::vector<int> steps;
  std::vector<std::vector<AnalysisArray>> runs;
  for (const ParamSnapshot& snap : *in.snapshots) {
    if (snap.step >= in.final_step) continue;
    SIM_CHECK(snap.values.size() == registry.total_size(), "snapshot of step ", snap.step, " holds ",
              snap.values.size(), " values, the model has ", registry.total_size());
    registry.values() = snap.values;
    steps.push_back(snap.step);
    runs.push_back(entry.run(one, options));
  }
  registry.values() = final_values;
  steps.push_back(in.final_step);
  runs.push_back(entry.run(one, options));
  return StackOverSteps(steps, runs, entry.outputs);
}

}  // namespace sim
