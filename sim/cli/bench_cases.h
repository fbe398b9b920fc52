// What `sim bench` times: the named reference configurations (presets: tiny, small, mid, large,
// depth), INI files and --section.key=value overrides layered over them exactly as `sim train`
// reads them, and an optional scan of one option over a list of values.
//
// Layers, lowest first: a preset's options (or the declared defaults when no preset is named), the
// INI files given with --config, the command line. Each model is built by BuildExperiment, the
// function `sim train` builds its model with, so a bad key or value is the same ConfigError.
//
// Example:
//   sim bench --config tiny                                   a preset
//   sim bench --config experiments/quickstart/mqar.ini --model.layers=2
//   sim bench --config small --config deltas.ini              small with the file's deltas on top
//   sim bench --config run.ini --scan task.length=64,256,1024 one model per value
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sim/config/options.h"

namespace sim {

struct BenchPreset {
  std::string name;
  std::string summary;
  std::map<std::string, std::string> options;
};

// The reference configurations of docs/benchmarks.md (PyTorch figures in ../specs/perf.md).
const std::vector<BenchPreset>& BenchPresets();

// Takes the --config values that name presets ("--config tiny,mid", "--config=all") out of `args`,
// leaving INI files for ParseCommand to read. Returns the preset names in order, "all" expanded,
// without repeats. A value counts as a preset list when every comma-separated item is a preset name
// or "all"; otherwise it must be an existing file or end in ".ini" (else ConfigError naming it).
std::vector<std::string> TakePresetNames(std::vector<std::string>& args);

// --scan KEY=v1,v2,...: one option and its values. Values that themselves contain commas (a list
// option such as model.heads = 8,1,1) are separated by ';' instead: "model.heads=8,1,1;4,4,4".
struct BenchScan {
  std::string key;                  // empty: no scan
  std::vector<std::string> values;  // in the order given
};

// Parses the --scan text; an unknown key or an empty value list is a ConfigError naming it.
BenchScan ParseBenchScan(const std::string& text, const OptionSet& set);

// One model to time.
struct BenchSpec {
  std::string name;                          // preset name and/or INI file stem(s): "tiny", "mqar", "small+deltas"
  std::map<std::string, std::string> given;  // option values: preset, then INI files and command line
  std::string scan_key, scan_value;          // empty unless scanning
  int threads = 1;                           // train.threads as validated (ValidateBenchSpecs)
};

// The models to time: one per preset (its options with `given` on top), or one of `given` alone
// when no preset is named (`files` then name it); with a scan, every model once per value (value
// order within each model).
std::vector<BenchSpec> MakeBenchSpecs(const std::vector<std::string>& presets, const std::vector<std::string>& files,
                                      const std::map<std::string, std::string>& given, const BenchScan& scan);

// Builds every spec's experiment once, as `sim train` would, before anything is timed, and records
// its thread count. A bad option is the ConfigError `sim train` raises, prefixed with the scan
// point
// ("--scan task.length=abc: task.length: ...") when scanning.
void ValidateBenchSpecs(std::vector<BenchSpec>& specs);

}  // namespace sim
