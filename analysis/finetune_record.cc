#include "analysis/finetune_record.h"

#include <set>

namespace sim {

namespace {

// q|k|v|o for attention projections (and adapters on them), else "other".
std::string GroupOf(const std::string& name) {
  const char projection = AttentionProjection(name);
  return projection ? std::string(1, projection) : "other";
}

bool IsAdapter(const std::string& name) { return name.rfind("lora.", 0) == 0; }

}  // namespace

std::vector<AnalysisArray> FinetuneRecord(const ParamRegistry& registry, const TrainConfig& train) {
  AnalysisArray groups;
  groups.path = "finetune/lr_groups";
  const int p = registry.size();
  groups.dims = {static_cast<uint64_t>(p), 3};
  std::string names, labels;
  std::set<std::string> trained;  // attention projections trained, directly or through adapters
  bool lora = false;
  double n_trainable = 0;
  for (ParamId id = 0; id < p; ++id) {
    const std::string& name = registry.name(id);
    const ParamGroupSettings& g = registry.group(id);
    const std::string group = GroupOf(name);
    groups.data.push_back(g.trainable ? train.schedule.lr * g.lr_mult : 0.0);
    groups.data.push_back(train.optimizer.weight_decay * g.decay_mult);
    groups.data.push_back(g.trainable ? 1.0 : 0.0);
    names += (id ? "," : "") + name;
    labels += (id ? "," : "") + group;
    lora = lora || IsAdapter(name);
    if (g.trainable) {
      n_trainable += static_cast<double>(registry.numel(id));
      // A bias alone does not make a projection "tuned": its weight (or an adapter on it) must train.
      const bool weight = IsAdapter(name) || name.find(".attn.w") != std::string::npos;
      if (group != "other" && weight) trained.insert(group);
    }
  }
  groups.string_attrs["names"] = names;
  groups.string_attrs["groups"] = labels;
  groups.string_attrs["fields"] = "lr,weight_decay,trainable";
  groups.string_attrs["dims"] = "param,field";

  AnalysisArray record;
  record.path = "finetune";
  record.group = true;
  std::string subset;
  for (const char* x : {"q", "k", "v", "o"})
    if (trained.count(x)) subset += (subset.empty() ? "" : ",") + std::string(x);
  record.string_attrs["trainable_subset"] = subset.empty() ? "none" : subset;
  record.string_attrs["mode"] = lora ? "lora" : "full";
  record.string_attrs["lr_ratio_scope"] = train.groups.lr_ratio_value_and_1d ? "value_and_1d" : "value_only";

  AnalysisArray ratio;
  ratio.path = "finetune/lr_ratio";
  ratio.data = {train.groups.lr_ratio};
  AnalysisArray count;
  count.path = "finetune/n_trainable";
  count.data = {n_trainable};
  return {record, groups, ratio, count};
}

void DeclareFinetuneOptions(OptionSet& set) {
  OptionDecl on{"analysis.finetune", "false",
                "store /analysis/finetune: the trained subset, the mode (full or lora), lambda and the resolved "
                "optimizer groups (lr, weight decay, trainable per parameter)",
                ""};
  on.omit_at_default = true;
  set.Declare(on);
}

bool ReadFinetuneOptions(Options& options) { return options.Bool("analysis.finetune"); }

std::string FinetuneApplies(const AnalysisInputs& in, const AnalysisOptions&) {
  return in.registry == nullptr ? "no parameter registry" : "";
}

std::vector<AnalysisArray> FinetuneAnalysis(const AnalysisInputs& in, const AnalysisOptions&) {
  return FinetuneRecord(*in.registry, *in.train);
}

}  // namespace sim
