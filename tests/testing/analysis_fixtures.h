// Helpers shared by the analysis tests: a model built from options, a head silenced by construction,
// an analysis array found by its path.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/cli/experiment.h"
#include "sim/io/run_file.h"

namespace sim::testing {

// An experiment from `given`, each of `defaults` applying where `given` does not set the key.
inline Experiment BuildExperimentWith(std::map<std::string, std::string> given,
                                      const std::map<std::string, std::string>& defaults) {
  for (const auto& [key, value] : defaults) given.emplace(key, value);
  const OptionSet set = AllOptions();
  Options options(set, given);
  return BuildExperiment(options);
}

// Zeroes the columns of layer l's Wo that read head h (Dh = D / H): the head's output reaches nothing.
inline void SilenceHead(Experiment& e, int l, int h) {
  const int heads = e.model_config.heads_in_layer(l), dh = e.model_config.d_model / heads;
  e.registry->Value(e.registry->Find("blocks." + std::to_string(l) + ".attn.wo")).middleCols(h * dh, dh).setZero();
}

// The array at `path` (throws when there is none).
inline const AnalysisArray& Named(const std::vector<AnalysisArray>& arrays, const std::string& path) {
  for (const AnalysisArray& a : arrays)
    if (a.path == path) return a;
  throw std::runtime_error("no analysis " + path);
}

}  // namespace sim::testing
