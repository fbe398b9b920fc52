// The attention analysis (analysis.attention): attention maps of a trained model averaged over a
// probe batch, and the task's mechanism measures on the same probe (the depth study's mech/*,
// ../specs/depth.md §7 P1-mech, §8, §10), which the task offers through the task registry. With
// linear attention (model.attention = linear) the maps are its weights; a task's measures, which are
// attention masses, make the analysis not apply (AttentionApplies says why).
#pragma once

#include <string>
#include <vector>

#include "analysis/analyses.h"

namespace sim {

// "attention": [L, H, T, T] with [l, h, q, k] = mean over the probe of query q's weight on key k
// (NaN for heads a layer does not have); attributes probe_examples, split, tokens (first example),
// positions (role labels, when the task has them).
AnalysisArray AttentionMaps(const Transformer& model, const Task& task, const ProbeOptions& probe);

// The task's measures (`measures`, null = none) on the probe's attention, each with the attributes
// probe_examples and split. Empty when the task offers none.
std::vector<AnalysisArray> MechanismMeasures(const Transformer& model, const Task& task, const ProbeOptions& probe,
                                             TaskMeasureFn measures);

// The registry's pieces (analysis_registry.cc).
void DeclareAttentionOptions(OptionSet& set);
bool ReadAttentionOptions(Options& options);
std::string AttentionApplies(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> AttentionAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);

}  // namespace sim
