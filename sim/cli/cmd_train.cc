// sim train --config FILE.ini --out RUN.h5 [--section.key=value ...]
#include <iostream>

#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/cli/run_training.h"
#include "sim/core/error.h"

namespace sim {

namespace {

po::options_description TrainFlags() {
  po::options_description flags("sim train");
  flags.add_options()("help,h", "print this help, with every option and its default")(
      "config", po::value<std::vector<std::string>>(),
      "INI file(s) of options; later files win, the command line wins over all")(
      "out", po::value<std::string>(), "result file to write (HDF5), e.g. runs/mqar.h5")(
      "threads", po::value<std::string>(), "shorthand for --train.threads")(
      "checkpoint-every", po::value<double>()->default_value(60.0),
      "seconds between checkpoints (<out>.ckpt; a rerun with the same options resumes from it); 0 = only on "
      "SIGTERM/SIGUSR1/SIGINT")("restart", "ignore an existing checkpoint and start over")(
      "print-config", "print the fully resolved configuration as INI and exit (the memory estimate on stderr)")(
      "quiet", "print only the final summary line");
  return flags;
}

}  // namespace

int RunTrain(const std::vector<std::string>& args) {
  const OptionSet set = AllOptions();
  const po::options_description flags = TrainFlags();
  ParsedCommand cmd = ParseCommand("train", args, flags, set, true);
  if (cmd.flags.count("help")) {
    std::cout << "usage: sim train --config FILE.ini --out RUN.h5 [--section.key=value ...]\n\n"
              << flags << "\noptions (INI section [x] key y is --x.y on the command line):\n"
              << OptionsHelp(set);
    return kExitOk;
  }
  if (cmd.flags.count("threads")) {
    if (cmd.given.count("train.threads")) throw ConfigError("sim train: give --threads or --train.threads, not both");
    cmd.given["train.threads"] = cmd.flags["threads"].as<std::string>();
  }
  if (cmd.flags.count("print-config")) {
    Options options(set, cmd.given);
    const Experiment e = BuildExperiment(options, BuildMode::kConfigOnly);
    std::cerr << MemoryComment(e.memory);  // stdout stays the INI text a run file records, byte for byte
    std::cout << e.resolved_ini;
    return kExitOk;
  }
  if (!cmd.flags.count("out"))
    throw ConfigError("sim train: --out RUN.h5 is required (where to write the result file)");
  RunRequest request;
  request.given = cmd.given;
  request.out = cmd.flags["out"].as<std::string>();
  request.quiet = cmd.flags.count("quiet") > 0;
  request.checkpoint_seconds = cmd.flags["checkpoint-every"].as<double>();
  if (request.checkpoint_seconds < 0)
    throw ConfigError(Concat("--checkpoint-every: must be >= 0 seconds (given ", request.checkpoint_seconds, ")"));
  request.restart = cmd.flags.count("restart") > 0;
  return TrainToFile(request);
}

}  // namespace sim
