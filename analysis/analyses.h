// The analyses a run can carry under /analysis, configured by analysis.* options and run after
// training (sim train, sim sweep) or on a finished run file (sim analyze).
#pragma once

#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/io/run_file.h"
#include "sim/models/transformer.h"

namespace sim {

struct AnalysisConfig {
  bool attention = false;   // attention maps and the task's mechanism measurements
  int probe_examples = 256;
  uint64_t seed = 0;        // eval.seed: every run is probed on the same prompts
};

void DeclareAnalysisOptions(OptionSet& set);
AnalysisConfig ReadAnalysisConfig(Options& options);

// Every configured analysis, plus /analysis/chance when the task has a chance level.
std::vector<AnalysisArray> RunAnalyses(const Transformer& model, const Task& task, const AnalysisConfig& config);

}  // namespace sim
