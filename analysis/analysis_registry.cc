// The list of analyses (analyses.h): adding one means adding its files and one line here.
#include "analysis/analyses.h"
#include "analysis/attention_analysis.h"
#include "analysis/steps_to.h"

namespace sim {

const std::vector<AnalysisEntry>& AnalysisRegistry() {
  static const std::vector<AnalysisEntry> entries = {
      {"attention",
       "attention maps over a probe batch, and the task's mechanism measures",
       DeclareAttentionOptions,
       {"analysis.probe", "eval.seed"},
       ReadAttentionOptions,
       AttentionApplies,
       AttentionAnalysis,
       {"attention", "mech"},
       /*uses_probe=*/true},
      {"steps_to",
       "the first evaluation step at which a curve reached a threshold",
       DeclareStepsToOptions,
       {"train.target_split", "train.target_metric"},
       ReadStepsToOptions,
       StepsToApplies,
       StepsToAnalysis,
       {"steps_to_target"}},
  };
  return entries;
}

}  // namespace sim
