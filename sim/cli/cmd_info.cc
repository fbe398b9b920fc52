// sim info RUN.h5: a run's status, final metrics, curves and resolved config.
#include <cstdio>
#include <iostream>

#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/io/run_file.h"

namespace sim {

int RunInfo(const std::vector<std::string>& args) {
  po::options_description flags("sim info");
  flags.add_options()("help,h", "print this help")("file", po::value<std::string>(), "run file (HDF5)");
  std::vector<std::string> rest = args;
  if (!rest.empty() && rest[0].rfind("-", 0) != 0) rest[0] = "--file=" + rest[0];
  ParsedCommand cmd = ParseCommand("info", rest, flags, OptionSet(), false);
  if (cmd.flags.count("help")) {
    std::cout << "usage: sim info RUN.h5\n\n" << flags;
    return kExitOk;
  }
  if (!cmd.flags.count("file")) throw ConfigError("sim info: give a run file, e.g. sim info runs/mqar.h5");
  const std::string path = cmd.flags["file"].as<std::string>();
  std::string version;
  const RunRecord r = ReadRunFile(path, &version);
  std::printf("file:     %s\n", path.c_str());
  std::printf("status:   %s after %d steps", r.status.c_str(), r.steps_done);
  if (r.target_step >= 0) std::printf(" (target reached at step %d)", r.target_step);
  std::printf("\nseed:     %llu   threads: %d   wall: %.1f s   engine: %s\n", static_cast<unsigned long long>(r.seed),
              r.threads, r.wall_seconds, version.c_str());
  std::printf("final:\n");
  for (const auto& [split, metrics] : r.final_metrics)
    for (const auto& [name, value] : metrics) std::printf("  %-28s %.6g\n", (split + "/" + name).c_str(), value);
  std::printf("curves:   %zu points:", r.curves.empty() ? size_t{0} : r.curves[0].size());
  for (const std::string& name : r.curve_names) std::printf(" %s", name.c_str());
  // The memory estimate of the run's configuration (as `sim train --print-config` shows it), when
  // this build still reads that configuration.
  try {
    const OptionSet set = AllOptions();
    Options options(set, ParseIniText(r.config, set));
    const Experiment e = BuildExperiment(options, BuildMode::kConfigOnly);
    std::printf("\nmemory:   training needs about %s", e.memory.Describe().c_str());
  } catch (const Error&) {
    std::printf("\nmemory:   (no estimate: this build does not read the run's configuration)");
  }
  std::printf("\nconfig:\n%s", r.config.c_str());
  return kExitOk;
}

}  // namespace sim
