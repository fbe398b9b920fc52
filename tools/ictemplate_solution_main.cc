// ictemplate_solution: writes the hand-built ictemplate solution (tools/ictemplate_solution.h) as a
// run file, so that `sim train --train.init_from` and `sim analyze` load it like any trained run.
//
// It reads the same options as sim train (--config files, --section.key=value), sets the model.*
// options the construction needs (an option given with another value is an error), builds the model,
// writes the weights (optionally plus Gaussian noise), evaluates every evaluation split as sim train
// does (eval.* options) and writes /params, /final/<split>/<metric>, a one-point /curves and the
// resolved config, with status complete and 0 steps.
//
// Example:
//   build/ictemplate_solution --config experiments/depth/base.ini
//       --config experiments/depth/ictemplate_explore.ini --out runs/depth/ictemplate_solution.h5
//   build/sim analyze runs/depth/ictemplate_solution.h5 --analysis.attention=true
//   build/sim train ... --train.init_from=runs/depth/ictemplate_solution.h5   (with the printed model options)
#include <cmath>
#include <cstdio>
#include <iostream>

#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/core/glob.h"
#include "sim/core/rng.h"
#include "sim/io/run_file.h"
#include "sim/train/trainer.h"
#include "tasks/ictemplate.h"
#include "tools/ictemplate_solution.h"

namespace sim {
namespace {

po::options_description Flags() {
  po::options_description flags("ictemplate_solution");
  flags.add_options()("help,h", "print this help")("config", po::value<std::vector<std::string>>(),
                                                   "INI file(s) of options, as for sim train; the command line wins")(
      "out", po::value<std::string>(), "run file to write (HDF5)")("margin", po::value<double>()->default_value(20.0),
                                                                   "M: score margin of every attention choice")(
      "readout", po::value<double>()->default_value(20.0), "R: answer logit of the readout")(
      "noise", po::value<double>()->default_value(0.0),
      "sigma: adds sigma * rms(W) * N(0, 1) to every entry of each parameter W matched by --noise-params")(
      "noise-params", po::value<std::string>()->default_value("blocks.*,embed.pos*,head.*"),
      "comma-separated globs of the parameters that get noise (the token table, frozen in the study, not by "
      "default)")("noise-seed", po::value<long>()->default_value(0),
                  "seed of the noise (stream "
                  "\"ictemplate_solution/noise\")");
  return flags;
}

// Adds sigma * rms(W) * N(0, 1) to each matched parameter W, in registration order.
void AddNoise(ParamRegistry& registry, double sigma, const std::vector<std::string>& patterns, uint64_t seed) {
  Rng rng = Rng::ForStream(seed, "ictemplate_solution/noise");
  for (ParamId id = 0; id < registry.size(); ++id) {
    bool match = false;
    for (const std::string& p : patterns) match = match || GlobMatch(p, registry.name(id));
    if (!match) continue;
    MatMap w = registry.Value(id);
    const double rms = std::sqrt(w.squaredNorm() / static_cast<double>(w.size()));
    for (Index j = 0; j < w.cols(); ++j)
      for (Index i = 0; i < w.rows(); ++i) w(i, j) += static_cast<Scalar>(sigma * rms * rng.Normal());
  }
}

int Run(const std::vector<std::string>& args) {
  const OptionSet set = AllOptions();
  const po::options_description flags = Flags();
  ParsedCommand cmd = ParseCommand("ictemplate_solution", args, flags, set, true);
  if (cmd.flags.count("help")) {
    std::cout << "usage: ictemplate_solution [--config FILE.ini] --out RUN.h5 [--section.key=value ...]\n\n" << flags;
    return kExitOk;
  }
  if (!cmd.flags.count("out")) throw ConfigError("ictemplate_solution: --out RUN.h5 is required");
  const double margin = cmd.flags["margin"].as<double>(), readout = cmd.flags["readout"].as<double>();
  const double noise = cmd.flags["noise"].as<double>();
  if (!(margin > 0)) throw ConfigError(Concat("--margin: must be > 0, given ", margin));
  if (!(noise >= 0)) throw ConfigError(Concat("--noise: must be >= 0, given ", noise));
  std::map<std::string, std::string> given = cmd.given;
  if (given.count("task.name") && given["task.name"] != "ictemplate")
    throw ConfigError(Concat("task.name: the solution is for ictemplate, given ", given["task.name"]));
  given["task.name"] = "ictemplate";

  // The task's sizes (from a configuration-only build), then the model they need.
  IctemplateLayout layout;
  {
    Options options(set, given);
    const Experiment probe = BuildExperiment(options, BuildMode::kConfigOnly);
    const auto* task = dynamic_cast<const IctemplateTask*>(probe.task.get());
    if (task == nullptr) throw InternalError("ictemplate_solution: task.name = ictemplate built another task");
    const TaskInfo& info = task->info();
    layout = MakeIctemplateLayout(info.vocab - info.n_classes - 2, info.n_classes,
                                  static_cast<int>(task->train_pool().front().size()), info.length);
  }
  std::map<std::string, std::string> model = IctemplateSolutionModelOptions(layout);
  model.emplace("model.pos", "learned_factored");
  // A config file's value (the study's base.ini: d_model 64, 2 layers) gives way; the command line's
  // is an error. model.pos stays as given (learned or learned_factored; SetIctemplateSolution checks).
  std::string model_flags;
  for (const auto& [key, value] : model) {
    auto it = given.find(key);
    const bool keep = it != given.end() && key == "model.pos";
    if (it != given.end() && !keep && Trim(it->second) != value) {
      if (cmd.command_line.count(key))
        throw ConfigError(Concat(key, ": the ictemplate solution needs ", value, ", given ", it->second,
                                 " (leave it out: ictemplate_solution sets it)"));
      std::fprintf(stderr, "note: %s = %s (the config file's %s does not fit the solution)\n", key.c_str(),
                   value.c_str(), it->second.c_str());
    }
    if (!keep) given[key] = value;
    model_flags += Concat(" --", key, "=", given[key]);
  }

  Options options(set, given);
  Experiment e = BuildExperiment(options);
  SetIctemplateSolution(e.model_config, layout, {margin, readout}, *e.registry);
  if (noise > 0)
    AddNoise(*e.registry, noise, SplitList(cmd.flags["noise-params"].as<std::string>()),
             static_cast<uint64_t>(cmd.flags["noise-seed"].as<long>()));

  Trainer trainer(e.train, *e.task, *e.model, *e.registry);
  const Trainer::Metrics metrics = trainer.EvaluateAll();
  RunRecord record;
  record.config = e.resolved_ini;
  record.seed = e.train.seed;
  record.status = "complete";
  record.threads = e.train.threads;
  record.chunk = e.train.chunk;
  record.curve_names = {"step"};
  record.curves = {{0.0}};
  for (const auto& [split, values] : metrics)
    for (const auto& [metric, value] : values) {
      record.curve_names.push_back(split + "_" + metric);
      record.curves.push_back({value});
    }
  record.final_metrics = metrics;
  const std::string out = cmd.flags["out"].as<std::string>();
  WriteRunFile(out, record, *e.registry);

  std::printf("ictemplate solution (margin %g, readout %g, noise %g) -> %s\n", margin, readout, noise, out.c_str());
  for (const auto& [split, values] : metrics)
    for (const auto& [metric, value] : values) std::printf("  %s %s %.4g\n", split.c_str(), metric.c_str(), value);
  std::printf("model options (give them to sim train --train.init_from=%s):%s\n", out.c_str(), model_flags.c_str());
  return kExitOk;
}

}  // namespace
}  // namespace sim

int main(int argc, char** argv) {
  try {
    return sim::Run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const sim::ConfigError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return sim::kExitBadInput;
  } catch (const sim::InputError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return sim::kExitBadInput;
  } catch (const sim::WriteError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return sim::kExitWriteFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return sim::kExitInternal;
  }
}
