// The finetune analysis (analysis.finetune = true): what a run trained, for the fine-tuning study
// (../specs/finetune.md §9). It reads the resolved optimizer groups (optim.trainable, optim.freeze,
// optim.lr_mult, optim.lr_ratio, LoRA adapters) from the parameter registry, not the parameters, so
// it is one record per run, never a time series.
//
//   /analysis/finetune               group; attributes trainable_subset ("q,v": the attention
//                                    projections trained directly or through adapters, "none" if
//                                    none), mode ("lora" with adapters, else "full"), lr_ratio_scope
//   /analysis/finetune/lr_groups     (P, 3) per parameter: lr (peak, after every multiplier; 0 when
//                                    frozen), weight_decay (after its multiplier), trainable (0/1);
//                                    attributes names (P comma-separated parameter names), groups
//                                    (P comma-separated q|k|v|o|other), fields, dims "param,field"
//   /analysis/finetune/lr_ratio      scalar λ (optim.lr_ratio)
//   /analysis/finetune/n_trainable   scalar: trainable parameter entries
#pragma once

#include <string>
#include <vector>

#include "analysis/analyses.h"

namespace sim {

// The records above for the registry's resolved groups under train's lr, weight decay and λ.
std::vector<AnalysisArray> FinetuneRecord(const ParamRegistry& registry, const TrainConfig& train);

// The registry's pieces (analysis_registry.cc).
void DeclareFinetuneOptions(OptionSet& set);
bool ReadFinetuneOptions(Options& options);
std::string FinetuneApplies(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> FinetuneAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);

}  // namespace sim
