#include "analysis/analyses.h"

#include <cerrno>
#include <cstdlib>
#include <limits>

#include "analysis/time_series.h"
#include "sim/core/error.h"
#include "sim/core/glob.h"

namespace sim {

const std::string& AnalysisOptions::Text(const std::string& key) const {
  for (const auto& [k, v] : values_)
    if (k == key) return v;
  throw InternalError(Concat("analysis option ", key, " read but not declared by the analysis"));
}

std::string AnalysisOptions::OptionalText(const std::string& key) const {
  const std::string text = Trim(Text(key));
  return text == "none" ? std::string() : text;
}

double AnalysisOptions::Number(const std::string& key) const { return std::strtod(Trim(Text(key)).c_str(), nullptr); }

long AnalysisOptions::Integer(const std::string& key) const {
  return std::strtol(Trim(Text(key)).c_str(), nullptr, 10);
}

bool AnalysisOptions::Flag(const std::string& key) const {
  const std::string text = Trim(Text(key));
  return text == "true" || text == "1" || text == "yes" || text == "on" || text == "True" || text == "TRUE";
}

std::string AnalysisOptions::Recorded() const {
  std::string text;
  for (const auto& [k, v] : values_) text += k + " = " + Trim(v) + "\n";
  return text;
}

const AnalysisEntry* FindAnalysis(const std::string& name) {
  for (const AnalysisEntry& e : AnalysisRegistry())
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<std::string> AnalysisOptionKeys(const AnalysisEntry& entry) {
  OptionSet own;
  entry.declare(own);
  std::vector<std::string> keys;
  for (const std::string& key : own.Keys())
    if (key == "analysis." + entry.name || key.rfind("analysis." + entry.name + ".", 0) == 0) keys.push_back(key);
  return keys;
}

void DeclareAnalysisOptions(OptionSet& set) {
  for (const AnalysisEntry& e : AnalysisRegistry()) e.declare(set);
}

AnalysisConfig ReadAnalysisConfig(Options& options) {
  AnalysisConfig c;
  c.seed = static_cast<uint64_t>(options.Int("eval.seed", 0, std::numeric_limits<long>::max()));
  for (const AnalysisEntry& e : AnalysisRegistry()) {
    const OptionErrorScope read(options);
    const bool selected = e.read(options);
    if (!read.ok() || !selected) continue;
    std::vector<std::pair<std::string, std::string>> values;
    bool requested = false;
    for (const std::string& key : AnalysisOptionKeys(e)) {
      values.emplace_back(key, options.Raw(key));
      requested = requested || options.IsSet(key);
    }
    for (const std::string& key : e.shared_keys) values.emplace_back(key, options.Raw(key));
    c.selected.push_back({&e, AnalysisOptions(std::move(values)), requested});
  }
  c.probe_examples = static_cast<int>(options.Int("analysis.probe", 1, 1 << 16));
  if (!options.OptionalString("analysis.steps_to").empty())
    c.steps_to =
        options.Double("analysis.steps_to", -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
  return c;
}

std::string WhyNotApplies(const SelectedAnalysis& analysis, const AnalysisConfig& config, AnalysisInputs& in) {
  if (analysis.entry->uses_probe) {
    const TaskInfo& info = in.task->info();
    in.probe.examples = config.probe_examples;
    in.probe.seed = config.seed;
    in.probe.split = -1;  // the first evaluation split drawn afresh
    for (size_t s = 1; s < info.splits.size() && in.probe.split < 0; ++s)
      if (info.split_size(static_cast<int>(s)) == 0) in.probe.split = static_cast<int>(s);
    if (in.probe.split < 0)
      return Concat("task '", info.name, "' has no evaluation split drawn afresh to probe (its splits are fixed sets)");
  }
  return analysis.entry->applies(in, analysis.options);
}

std::vector<AnalysisArray> RunAnalysis(const SelectedAnalysis& analysis, const AnalysisInputs& in) {
  const AnalysisEntry& e = *analysis.entry;
  const bool series = e.reads_params && in.snapshots != nullptr && !in.snapshots->empty();
  std::vector<AnalysisArray> out = series ? RunOverSnapshots(e, analysis.options, in) : e.run(in, analysis.options);
  AnalysisArray* record = nullptr;
  for (AnalysisArray& a : out)
    if (a.path == e.outputs.front()) record = &a;
  if (record == nullptr) {  // a group: its attributes first, so the group exists before what is below it
    AnalysisArray group;
    group.path = e.outputs.front();
    group.group = true;
    out.insert(out.begin(), group);
    record = &out.front();
  }
  record->string_attrs["options"] = analysis.options.Recorded();
  record->string_attrs["engine_version"] = EngineVersion();
  if (e.uses_probe) {
    record->string_attrs["probe_split"] = in.task->info().splits[in.probe.split];
    record->number_attrs["probe_examples"] = in.probe.examples;
  }
  return out;
}

std::vector<AnalysisArray> AnalysesAfterTraining(const AnalysisInputs& inputs, const AnalysisConfig& config,
                                                 std::vector<std::string>* not_applied) {
  std::vector<AnalysisArray> out;
  const TaskInfo& info = inputs.task->info();
  if (std::isfinite(info.chance)) {
    AnalysisArray chance;
    chance.path = "chance";
    chance.data = {info.chance};
    out.push_back(chance);
  }
  for (const SelectedAnalysis& a : config.selected) {
    AnalysisInputs in = inputs;
    const std::string why = WhyNotApplies(a, config, in);
    if (!why.empty()) {
      if (a.requested && not_applied != nullptr) not_applied->push_back(a.entry->name + ": " + why);
      continue;
    }
    for (AnalysisArray& array : RunAnalysis(a, in)) out.push_back(std::move(array));
  }
  return out;
}

}  // namespace sim
