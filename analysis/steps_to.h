// The steps_to analysis (analysis.steps_to): the first evaluation step at which a curve of the run
// reached a threshold, from the run's /curves alone (no model needed), so sim analyze can add it to
// any finished run, for any of its curves.
#pragma once

#include <string>
#include <vector>

#include "analysis/analyses.h"

namespace sim {

// /analysis/steps_to_target: the first evaluation step at which the curve `<split>_<metric>` reached
// `threshold` (>= for metrics where higher is better, <= otherwise), -1 if never; attributes curve,
// metric, target. Nothing when the curve does not exist or the threshold is NaN.
std::vector<AnalysisArray> StepsToTarget(const std::vector<std::string>& curve_names,
                                         const std::vector<std::vector<double>>& curves, const std::string& split,
                                         const std::string& metric, double threshold);

// The registry's pieces (analysis_registry.cc).
void DeclareStepsToOptions(OptionSet& set);
bool ReadStepsToOptions(Options& options);
std::string StepsToApplies(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> StepsToAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);

}  // namespace sim
