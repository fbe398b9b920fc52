// Per-head measurements of a trained model on fixed probe prompts (the head-importance and
// attention-sink studies, ../shared/specs/heads.md and sinks.md). Every array is [layer, head] with
// H = the largest head count of any layer; entries of heads a layer does not have, and of layers
// whose mixer has no heads, are NaN. The probe is `examples` prompts of an evaluation split drawn
// from the stream "probe/<split>" under eval.seed, so every run of a study sees the same prompts.
//
//   HeadAblation, "head_ablation/...":
//     delta_loss [L, H]           loss with head (l, h) gated to 0, minus the loss with every head
//     delta_accuracy [L, H]       the same for accuracy (class tasks only)
//     keep_one_delta_loss [L, H]  loss with every head of layer l but h gated to 0, minus the loss
//     share [L, H]                |delta_loss| / Σ_h |delta_loss| within the layer (NaN when all 0)
//     share_entropy [L]           entropy (nats) of each layer's shares: 0 when one head carries it
//     base_loss, base_accuracy    scalars: the unablated model
//     with per_example (analysis.head_ablation.per_example), paired values per probe example b
//     (its mean over its scored positions, analysis/example_outputs.h):
//     example_loss [B]                 the unablated loss
//     example_delta_loss [L, H, B]     the loss with head (l, h) gated to 0, minus example_loss
//   HeadGradImportance, "head_grad_importance/...": Michel, Levy & Neubig (2019), "Are Sixteen Heads
//   Really Better than One?": I_h = E_x |dL(x)/dg_h|, the gate gradient taken example by example.
//     importance [L, H]            I_h
//     importance_normalized [L, H] I_h / ||I_l||_2 within each layer (their per-layer normalization)
//   SinkStatistics, "sinks/...": over the probe's examples and queries 1..T-1 (query 0 is left out:
//   under causal attention its whole mass is on position 0 by construction):
//     first_mass [L, H]     mean probability on key position 0
//     top1_position [L, H]  the key position with the highest mean probability
//     top1_mass [L, H]      that mean probability
//     entropy [L, H]        mean entropy (nats) of the queries' distributions
#pragma once

#include <vector>

#include "analysis/analyses.h"
#include "analysis/attention_analysis.h"
#include "sim/data/task.h"
#include "sim/io/run_file.h"
#include "sim/models/transformer.h"

namespace sim {

// Heads per layer whose output can be gated (model.heads of layers whose mixer supports head gates,
// 0 for the others).
std::vector<int> HeadsPerLayer(const Transformer& model);

std::vector<AnalysisArray> HeadAblation(const Transformer& model, const Task& task, const ProbeOptions& probe,
                                        bool per_example = false);
// (Adds to the model's parameter gradients, which are scratch after training.)
std::vector<AnalysisArray> HeadGradImportance(const Transformer& model, const Task& task, const ProbeOptions& probe);
std::vector<AnalysisArray> SinkStatistics(const Transformer& model, const Task& task, const ProbeOptions& probe);

// Registry entries (analysis/analysis_registry.cc): analysis.head_ablation, analysis.head_grad_importance
// and analysis.sinks = true select them; they apply to models with a layer whose mixer has head gates
// (for sinks: attention probabilities, so not linear attention, whose weights are not probabilities),
// and use the shared probe (analysis.probe, eval.seed).
void DeclareHeadAblationOptions(OptionSet& set);
void DeclareHeadGradImportanceOptions(OptionSet& set);
void DeclareSinksOptions(OptionSet& set);
bool ReadHeadAblationOptions(Options& options);
bool ReadHeadGradImportanceOptions(Options& options);
bool ReadSinksOptions(Options& options);
std::string HeadGatesApply(const AnalysisInputs& in, const AnalysisOptions& options);
std::string AttentionProbsApply(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> HeadAblationAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> HeadGradImportanceAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> SinksAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);

// The sink statistics of one layer's probabilities (T, T*B*H), block b*H + h (T_k, T_q): per head,
// first_mass, top1_position, top1_mass, entropy (each H long).
struct LayerSinkStats {
  std::vector<double> first_mass, top1_position, top1_mass, entropy;
};
LayerSinkStats SinkStatsOfLayer(const Mat& probs, int length, int batch, int heads);

}  // namespace sim
