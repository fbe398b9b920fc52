// In-context regression analyses (the heads study, ../shared/specs/heads.md §5, §9, §11), for tasks
// that offer their regression prompts (Task::DrawRegression; sparse_linreg). Excess risk is exact: a
// prediction is compared with the noise-free target ⟨w*, x⟩, and normalized by s = E‖w*‖². The risk
// at n is the model's error at the point it predicts from n in-context examples (batch group n).
// Prompts come from the stream "icl/<split>" under eval.seed, so every run, and the classical
// baselines, see the same prompts. Layer l of these arrays is the model's block l (the spec's layer
// l + 1); the window W = {n : lo ≤ n ≤ hi} is d/2..d unless analysis.icl_risk.window says otherwise.
//
//   icl_risk/...:
//     risk_by_n [n_max+1]            the model's risk per n
//     window_risk                    mean of risk_by_n over W
//     masked_window_risk [L, H]      window risk with head (l, h) gated off alone
//     importance [L, H]              I = masked_window_risk − window_risk (spec §5.1)
//     share [L, H]                   Î = max(I, 0) / Σ_h max(I, 0) within the layer (NaN if all ≤ 0)
//     share_entropy [L], top1_share [L], top1_head [L]
//     top1_first_layer_raise         window risk with block 0's top head off, over the full's, minus 1
//     prune/risk_by_n, prune/window_risk            every head of block 0 and the top-1 head (by I)
//                                                   of every later block; attribute head_mask
//     prune_reverse/risk_by_n, prune_reverse/window_risk   the top-1 head of block 0, every later head
//   icl_probe/...: closed-form ridge probes of the residual stream (after the embedding, entry 0,
//   and after every block) at the predicted points with n ∈ W, fitted on `fit_prompts` prompts of
//   the stream "icl_probe/fit" (train split) and scored on the icl_risk test prompts:
//     rhat_r2 [L+1]       R² for r̂ = Xᵀy/n of the point's n examples (d targets, mean R²)
//     rhat_x_r2 [L+1]     R² for r̂ ⊙ x (x the predicted point)
//     y_risk [L+1]        risk of the probe's prediction of y against ⟨w*, x⟩, over s
//     prune/... the same three with the pruned model of icl_risk (when analysis.icl_probe.prune)
#pragma once

#include <string>
#include <vector>

#include "analysis/analyses.h"
#include "sim/data/regression_prompts.h"
#include "sim/data/task.h"
#include "sim/io/run_file.h"
#include "sim/models/transformer.h"

namespace sim {

// `count` prompts of `split` from the stream "icl/<split>" under `seed` (see above).
RegressionPrompts DrawIclPrompts(const Task& task, const std::string& split, int count, uint64_t seed);

// The model's risk per n (n_max + 1 entries, NaN where no prediction has that n) on `prompts`,
// with `gates` (per layer (H_l), or null for every head on).
std::vector<double> ModelRiskByN(const Transformer& model, const Task& task, const RegressionPrompts& prompts,
                                 const std::vector<Vec>* gates);

// The window W: "auto" = d/2..d (clipped to n_max), else "lo..hi" with 0 ≤ lo ≤ hi ≤ n_max.
struct RiskWindow {
  int lo = 0, hi = 0;
};
RiskWindow ParseRiskWindow(const std::string& text, int d, int n_max);
double WindowMean(const std::vector<double>& risk_by_n, RiskWindow w);

// Masking importance and the pruned models' gates.
struct HeadMasking {
  std::vector<double> risk_by_n;  // the full model
  double window_risk = 0;
  std::vector<std::vector<double>> masked_window_risk;  // [L][H_l]
  std::vector<int> top1;                                // per layer: argmax_h I (−1: no heads)
  std::vector<Vec> prune_gates, reverse_gates;          // per layer (H_l)
};
HeadMasking MaskHeads(const Transformer& model, const Task& task, const RegressionPrompts& prompts, RiskWindow w);
// model.head_mask text for gates (the heads at 0), "none" when every head is on.
std::string HeadMaskText(const std::vector<Vec>& gates);

std::vector<AnalysisArray> IclRisk(const Transformer& model, const Task& task, const RegressionPrompts& prompts,
                                   RiskWindow w);
std::vector<AnalysisArray> IclProbe(const Transformer& model, const Task& task, const RegressionPrompts& fit,
                                    const RegressionPrompts& test, RiskWindow w, double lambda,
                                    const std::vector<Vec>* prune_gates);

// Registry entries: analysis.icl_risk and analysis.icl_probe.
void DeclareIclRiskOptions(OptionSet& set);
void DeclareIclProbeOptions(OptionSet& set);
bool ReadIclRiskOptions(Options& options);
bool ReadIclProbeOptions(Options& options);
std::string IclApplies(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> IclRiskAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> IclProbeAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);

}  // namespace sim
