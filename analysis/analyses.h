// The analyses a run can carry under /analysis, configured by analysis.* options and run after
// training (sim train, sim sweep).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/io/run_file.h"
#include "sim/models/transformer.h"

namespace sim {

struct AnalysisConfig {
  bool attention = false;  // attention maps and the task's mechanism measurements
  int probe_examples = 256;
  uint64_t seed = 0;      // eval.seed: every run is probed on the same prompts
  double steps_to = NAN;  // /analysis/steps_to_target threshold; NaN = not written
};

void DeclareAnalysisOptions(OptionSet& set);
AnalysisConfig ReadAnalysisConfig(Options& options);

// Every configured analysis, plus /analysis/chance when the task has a chance level.
std::vector<AnalysisArray> RunAnalyses(const Transformer& model, const Task& task, const AnalysisConfig& config);

// /analysis/steps_to_target: the first evaluation step at which the curve `<split>_<metric>` reached
// `threshold` (>= for metrics where higher is better, <= otherwise), -1 if never; attributes curve,
// metric, target. Nothing when the curve does not exist or the threshold is NaN.
std::vector<AnalysisArray> StepsToTarget(const std::vector<std::string>& curve_names,
                                         const std::vector<std::vector<double>>& curves, const std::string& split,
                                         const std::string& metric, double threshold);

}  // namespace sim
