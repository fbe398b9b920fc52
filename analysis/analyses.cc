#include "analysis/analyses.h"

#include <cmath>
#include <limits>

#include "analysis/attention_analysis.h"

namespace sim {

void DeclareAnalysisOptions(OptionSet& set) {
  set.Declare({"analysis.attention", "false",
               "after training, store attention maps averaged over a probe batch (/analysis/attention) and the "
               "task's mechanism measurements (/analysis/mech/...)", ""});
  set.Declare({"analysis.probe", "256", "examples in the probe batch (held out; the same for every run)", ""});
}

AnalysisConfig ReadAnalysisConfig(Options& options) {
  AnalysisConfig c;
  c.attention = options.Bool("analysis.attention");
  c.probe_examples = static_cast<int>(options.Int("analysis.probe", 1, 1 << 16));
  c.seed = static_cast<uint64_t>(options.Int("eval.seed", 0, std::numeric_limits<long>::max()));
  return c;
}

std::vector<AnalysisArray> RunAnalyses(const Transformer& model, const Task& task, const AnalysisConfig& config) {
  std::vector<AnalysisArray> out;
  const TaskInfo& info = task.info();
  if (std::isfinite(info.chance)) {
    AnalysisArray chance;
    chance.path = "chance";
    chance.data = {info.chance};
    out.push_back(chance);
  }
  if (config.attention) {
    ProbeOptions probe;
    probe.examples = config.probe_examples;
    probe.seed = config.seed;
    probe.split = -1;  // the first evaluation split drawn afresh
    for (size_t s = 1; s < info.splits.size() && probe.split < 0; ++s)
      if (info.split_size(static_cast<int>(s)) == 0) probe.split = static_cast<int>(s);
    if (probe.split > 0) {
      out.push_back(AttentionMaps(model, task, probe));
      for (AnalysisArray& a : MechanismMeasures(model, task, probe)) out.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace sim
