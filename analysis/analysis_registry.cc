// The list of analyses (analyses.h): adding one means adding its files and one line here.
#include "analysis/analyses.h"
#include "analysis/attention_analysis.h"
#include "analysis/head_analyses.h"
#include "analysis/icl_regression.h"
#include "analysis/residual_probe.h"
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
       {"steps_to_target"},
       /*uses_probe=*/false,
       /*reads_params=*/false},
      {"head_ablation",
       "per head, the probe's loss change when it is gated off (alone, and all but it in its layer)",
       DeclareHeadAblationOptions,
       {"analysis.probe", "eval.seed"},
       ReadHeadAblationOptions,
       HeadGatesApply,
       HeadAblationAnalysis,
       {"head_ablation"},
       /*uses_probe=*/true},
      {"head_grad_importance",
       "per head, E|dL/dg_h| over the probe examples (Michel et al. 2019)",
       DeclareHeadGradImportanceOptions,
       {"analysis.probe", "eval.seed"},
       ReadHeadGradImportanceOptions,
       HeadGatesApply,
       HeadGradImportanceAnalysis,
       {"head_grad_importance"},
       /*uses_probe=*/true},
      {"sinks",
       "per head, attention mass on position 0, the top-1 key position and mass, and the entropy",
       DeclareSinksOptions,
       {"analysis.probe", "eval.seed"},
       ReadSinksOptions,
       AttentionProbsApply,
       SinksAnalysis,
       {"sinks"},
       /*uses_probe=*/true},
      {"residual_probe",
       "ridge probes of the residual stream after every layer for the task's target",
       DeclareResidualProbeOptions,
       {"analysis.probe", "eval.seed"},
       ReadResidualProbeOptions,
       ResidualProbeApplies,
       ResidualProbeAnalysis,
       {"probe"},
       /*uses_probe=*/true},
      {"icl_risk",
       "regression tasks: excess risk by n, per-head masking importance over a window, pruned models",
       DeclareIclRiskOptions,
       {"eval.seed"},
       ReadIclRiskOptions,
       IclApplies,
       IclRiskAnalysis,
       {"icl_risk"}},
      {"icl_probe",
       "regression tasks: ridge probes of the residual stream for r^, r^*x and y over the window",
       DeclareIclProbeOptions,
       {"eval.seed", "analysis.icl_risk.prompts", "analysis.icl_risk.window"},
       ReadIclProbeOptions,
       IclApplies,
       IclProbeAnalysis,
       {"icl_probe"}},
  };
  return entries;
}

}  // namespace sim
