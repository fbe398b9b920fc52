// sim: train small transformers on synthetic tasks and write one HDF5 file per run.
//
// Example:
//   build/sim train --config experiments/quickstart/mqar.ini --out runs/mqar.h5 --train.threads=2
//   build/sim info runs/mqar.h5
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/io/run_file.h"

namespace {

void PrintUsage() {
  std::printf(
      "usage: sim <command> [options]\n\n"
      "commands:\n"
      "  train   train a model: sim train --config FILE.ini --out RUN.h5 [--section.key=value ...]\n"
      "  info    print a run file's status, final metrics and config: sim info RUN.h5\n"
      "  sweep   a sweep's runs: sim sweep --config S.ini --out-dir D (--list|--count|--index I|--all --jobs J)\n"
      "  slurm   a SLURM job array for a sweep: sim slurm --config S.ini --out-dir D [--submit]\n"
      "  collect a sweep's runs into one table: sim collect D --out summary.h5\n"
      "  analyze add analyses to finished run files: sim analyze RUN.h5|DIR --analysis.attention=true\n"
      "  bench   training-step speed of reference models against the measured FP32 peak\n\n"
      "sim <command> --help lists the command's own flags; sim train --help also lists every\n"
      "configuration option, which follows here with its default.\n"
      "exit codes: 0 ok, 1 internal error (or failed sweep runs), 2 bad input (options, config, files),\n"
      "3 sim collect found missing runs, 74 results could not be written (disk full: the last checkpoint\n"
      "is kept), 75 interrupted (a checkpoint lets the same command resume).\n\n"
      "options (INI section [x] key y is --x.y on the command line):\n%s",
      sim::OptionsHelp(sim::AllOptions()).c_str());
}

// One "error: " line per problem (configuration errors come several at a time).
void PrintError(const std::string& message) {
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::fprintf(stderr, "error: %s\n", message.substr(start, end - start).c_str());
    start = end + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    PrintUsage();
    return args.empty() ? sim::kExitBadInput : sim::kExitOk;
  }
  if (args[0] == "--version") {
    std::printf("sim %s\n", sim::EngineVersion());
    return sim::kExitOk;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "train") return sim::RunTrain(args);
    if (command == "info") return sim::RunInfo(args);
    if (command == "bench") return sim::RunBench(args);
    if (command == "sweep") return sim::RunSweep(args);
    if (command == "collect") return sim::RunCollect(args);
    if (command == "slurm") return sim::RunSlurm(args);
    if (command == "analyze") return sim::RunAnalyze(args);
    std::fprintf(stderr,
                 "error: unknown command '%s'; valid commands: train, info, sweep, slurm, collect, analyze, bench (sim "
                 "--help)\n",
                 command.c_str());
    return sim::kExitBadInput;
  } catch (const sim::ConfigError& e) {
    PrintError(e.what());
    return sim::kExitBadInput;
  } catch (const sim::InputError& e) {
    PrintError(e.what());
    return sim::kExitBadInput;
  } catch (const sim::WriteError& e) {
    PrintError(e.what());
    return sim::kExitWriteFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return sim::kExitInternal;
  }
}
