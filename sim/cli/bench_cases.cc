#include "sim/cli/bench_cases.h"

#include <algorithm>
#include <filesystem>

#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/core/glob.h"

namespace sim {

// One configuration per line, as in the table of docs/benchmarks.md.
// clang-format off
const std::vector<BenchPreset>& BenchPresets() {
  auto lm = [](int d, int layers, int heads, int t, int batch, int vocab) {
    return std::map<std::string, std::string>{
        {"task.name", "uniform"},           {"task.vocab", std::to_string(vocab)},
        {"task.length", std::to_string(t)}, {"task.classes", std::to_string(vocab)},
        {"task.score", "all"},              {"model.d_model", std::to_string(d)},
        {"model.layers", std::to_string(layers)}, {"model.heads", std::to_string(heads)},
        {"model.d_mlp", "4x"},              {"model.norm", "pre_ln"},
        {"model.pos", "learned"},           {"model.causal", "true"},
        {"model.act", "gelu"},              {"model.bias", "true"},
        {"train.batch", std::to_string(batch)}, {"train.optimizer", "adamw"}};
  };
  static const std::vector<BenchPreset> presets = {
      {"tiny", "d32 L1 H2 T16 B32 V32, pre-LN, GELU MLP 4x, logits at every position", lm(32, 1, 2, 16, 32, 32)},
      {"small", "d64 L2 H4 T32 B64 V64, pre-LN, GELU MLP 4x, logits at every position", lm(64, 2, 4, 32, 64, 64)},
      {"mid", "d128 L4 H8 T64 B64 V128, pre-LN, GELU MLP 4x, logits at every position", lm(128, 4, 8, 64, 64, 128)},
      {"large", "d256 L4 H8 T128 B32 V256, pre-LN, GELU MLP 4x, logits at every position", lm(256, 4, 8, 128, 32, 256)},
      {"depth", "depth study's largest model: attention-only d64 L3 H8 T35 B64, full attention, readout at the last position",
       {{"task.name", "uniform"}, {"task.vocab", "48"}, {"task.length", "35"}, {"task.classes", "8"},
        {"task.score", "last"}, {"model.d_model", "64"}, {"model.layers", "3"}, {"model.heads", "8"},
        {"model.d_mlp", "0"}, {"model.norm", "none"}, {"model.pos", "learned"}, {"model.causal", "false"},
        {"train.batch", "64"}, {"train.optimizer", "adamw"}}},
      {"heads", "heads study's main model: d64 L3 H8 T33 B64, vector inputs of width 9, pre-LN, GELU MLP 4x, causal, a scalar at every position",
       {{"task.name", "uniform"}, {"task.d_in", "9"}, {"task.length", "33"}, {"task.score", "all"},
        {"model.d_model", "64"}, {"model.layers", "3"}, {"model.heads", "8"}, {"model.d_mlp", "4x"},
        {"model.norm", "pre_ln"}, {"model.pos", "learned"}, {"model.causal", "true"}, {"model.act", "gelu"},
        {"model.bias", "true"}, {"train.batch", "64"}, {"train.optimizer", "adamw"}}},
  };
  return presets;
}

// clang-format on

namespace {

bool IsPreset(const std::string& name) {
  const std::vector<BenchPreset>& presets = BenchPresets();
  return std::any_of(presets.begin(), presets.end(), [&](const BenchPreset& p) { return p.name == name; });
}

std::string PresetNames() {
  std::string names;
  for (const BenchPreset& p : BenchPresets()) names += (names.empty() ? "" : ", ") + p.name;
  return names + ", all";
}

// "a,b" -> true when every item is a preset or "all" (names appended to `out`).
bool ReadPresetList(const std::string& value, std::vector<std::string>& out) {
  const std::vector<std::string> items = SplitList(value);
  if (items.empty()) return false;
  for (const std::string& item : items)
    if (item != "all" && !IsPreset(item)) return false;
  for (const std::string& item : items) {
    std::vector<std::string> names;
    if (item == "all")
      for (const BenchPreset& p : BenchPresets()) names.push_back(p.name);
    else
      names.push_back(item);
    for (const std::string& name : names)
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  return true;
}

bool EndsWith(const std::string& text, const std::string& tail) {
  return text.size() >= tail.size() && text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::vector<std::string> TakePresetNames(std::vector<std::string>& args) {
  std::vector<std::string> names;
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string value;
    size_t used = 1;
    if (args[i] == "--config" && i + 1 < args.size()) {
      value = args[i + 1];
      used = 2;
    } else if (args[i].rfind("--config=", 0) == 0) {
      value = args[i].substr(9);
    } else {
      kept.push_back(args[i]);
      continue;
    }
    if (!ReadPresetList(value, names)) {
      if (!std::filesystem::exists(value) && !EndsWith(value, ".ini"))
        throw ConfigError(
            Concat("--config: '", value, "' is neither a configuration (", PresetNames(), ") nor an INI file"));
      for (size_t k = 0; k < used; ++k) kept.push_back(args[i + k]);
    }
    i += used - 1;
  }
  args = kept;
  return names;
}

BenchScan ParseBenchScan(const std::string& text, const OptionSet& set) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos)
    throw ConfigError(Concat("--scan: expected KEY=v1,v2,... (e.g. task.length=64,256,1024), got '", text, "'"));
  BenchScan scan;
  scan.key = Trim(text.substr(0, eq));
  if (!set.Has(scan.key))
    throw ConfigError(Concat("--scan: unknown option '", scan.key, "'", DidYouMean(scan.key, set.Keys()),
                             " (sim train --help lists every option)"));
  const std::string list = text.substr(eq + 1);
  for (const std::string& value : SplitList(list, list.find(';') != std::string::npos ? ';' : ','))
    scan.values.push_back(Trim(value));
  if (scan.values.empty()) throw ConfigError(Concat("--scan ", scan.key, ": no values after '='"));
  return scan;
}

std::vector<BenchSpec> MakeBenchSpecs(const std::vector<std::string>& presets, const std::vector<std::string>& files,
                                      const std::map<std::string, std::string>& given, const BenchScan& scan) {
  std::string file_names;
  for (const std::string& file : files) {
    if (!file_names.empty()) file_names += '+';
    file_names += std::filesystem::path(file).stem().string();
  }
  std::vector<BenchSpec> models;
  for (const std::string& name : presets) {
    const std::vector<BenchPreset>& all = BenchPresets();
    const auto preset = std::find_if(all.begin(), all.end(), [&](const BenchPreset& p) { return p.name == name; });
    BenchSpec spec;
    spec.name = file_names.empty() ? name : name + "+" + file_names;
    spec.given = preset->options;
    for (const auto& [key, value] : given) spec.given[key] = value;
    models.push_back(spec);
  }
  if (presets.empty()) models.push_back({file_names.empty() ? "options" : file_names, given, "", "", 1});
  if (scan.key.empty()) return models;
  std::vector<BenchSpec> points;
  for (const BenchSpec& model : models)
    for (const std::string& value : scan.values) {
      BenchSpec point = model;
      point.given[scan.key] = value;
      point.scan_key = scan.key;
      point.scan_value = value;
      points.push_back(point);
    }
  return points;
}

void ValidateBenchSpecs(std::vector<BenchSpec>& specs) {
  const OptionSet set = AllOptions();
  for (BenchSpec& spec : specs) {
    const std::string where = spec.scan_key.empty() ? "" : Concat("--scan ", spec.scan_key, "=", spec.scan_value, ": ");
    try {
      Options options(set, spec.given);
      spec.threads = BuildExperiment(options).train.threads;
    } catch (const ConfigError& error) {
      if (where.empty()) throw;
      // Every line gets the scan point, since main prints one "error: " line per line.
      std::string message = where;
      for (const char c : std::string(error.what())) message += c == '\n' ? "\n" + where : std::string(1, c);
      throw ConfigError(message);
    } catch (const InputError& error) {
      if (where.empty()) throw;
      throw InputError(where + error.what());
    }
  }
}

}  // namespace sim
