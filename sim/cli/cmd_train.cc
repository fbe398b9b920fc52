// sim train --config FILE.ini --out RUN.h5 [--section.key=value ...]
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/io/run_file.h"
#include "sim/train/trainer.h"

namespace sim {

namespace {

std::atomic<bool> g_stop{false};

void HandleStopSignal(int) { g_stop.store(true); }

po::options_description TrainFlags() {
  po::options_description flags("sim train");
  flags.add_options()
      ("help,h", "print this help, with every option and its default")
      ("config", po::value<std::vector<std::string>>(), "INI file(s) of options; later files win, the command line wins over all")
      ("out", po::value<std::string>(), "result file to write (HDF5), e.g. runs/mqar.h5")
      ("threads", po::value<std::string>(), "shorthand for --train.threads")
      ("print-config", "print the fully resolved configuration as INI and exit")
      ("quiet", "print only the final summary line");
  return flags;
}

std::string FormatMetrics(const std::map<std::string, std::map<std::string, double>>& metrics) {
  std::string text;
  for (const auto& [split, values] : metrics) {
    if (split == "train") continue;
    text += (text.empty() ? "" : "; ") + split + ":";
    for (const auto& [name, value] : values) {
      char buf[64];
      std::snprintf(buf, sizeof buf, " %s=%.4g", name.c_str(), value);
      text += buf;
    }
  }
  return text;
}

// Checks early that `out` can be written, so a bad path fails before training, not after.
void CheckOutputPath(const std::string& out) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(out).parent_path().empty() ? fs::path(".") : fs::path(out).parent_path();
  if (!fs::is_directory(dir))
    throw InputError(Concat("--out ", out, ": directory ", dir.string(), " does not exist"));
  if (::access(dir.c_str(), W_OK) != 0)
    throw InputError(Concat("--out ", out, ": directory ", dir.string(), " is not writable"));
  if (fs::is_directory(out)) throw InputError(Concat("--out ", out, ": is a directory; give a file name"));
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
    if (cmd.given.count("train.threads"))
      throw ConfigError("sim train: give --threads or --train.threads, not both");
    cmd.given["train.threads"] = cmd.flags["threads"].as<std::string>();
  }
  Options options(set, cmd.given);
  Experiment e = BuildExperiment(options);
  if (cmd.flags.count("print-config")) {
    std::cout << e.resolved_ini;
    return kExitOk;
  }
  if (!cmd.flags.count("out")) throw ConfigError("sim train: --out RUN.h5 is required (where to write the result file)");
  const std::string out = cmd.flags["out"].as<std::string>();
  CheckOutputPath(out);
  const bool quiet = cmd.flags.count("quiet") > 0;
  const bool tty = ::isatty(STDERR_FILENO);

  Trainer trainer(e.train, *e.task, *e.model, *e.registry);
  g_stop.store(false);
  std::signal(SIGINT, HandleStopSignal);
  std::signal(SIGTERM, HandleStopSignal);
  std::signal(SIGUSR1, HandleStopSignal);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_line = start;
  double recent_loss = 0.0;
  int recent = 0;
  auto progress = [&](const Progress& p) {
    if (quiet) return;
    recent_loss += p.train_loss;
    ++recent;
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_line).count();
    const bool due = tty ? since >= 0.2 : since >= 10.0;
    if (!due && !p.evaluated && p.step != p.total) return;
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double rate = p.step / std::max(elapsed, 1e-9);
    const double eta = (p.total - p.step) / std::max(rate, 1e-9);
    char line[256];
    std::snprintf(line, sizeof line, "step %d/%d  loss %.4f  %.1f steps/s  ETA %.0fs", p.step, p.total,
                  recent_loss / std::max(recent, 1), rate, eta);
    std::string text = line;
    if (p.evaluated) text += "  " + FormatMetrics(*p.eval);
    if (tty && !p.evaluated)
      std::fprintf(stderr, "\r%-100s", text.c_str());
    else if (tty)
      std::fprintf(stderr, "\r%-100s\n", text.c_str());
    else
      std::fprintf(stderr, "[%.1fs] %s\n", elapsed, text.c_str());
    std::fflush(stderr);
    last_line = now;
    recent_loss = 0.0;
    recent = 0;
  };
  const TrainResult result = trainer.Run(&g_stop, progress);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGUSR1, SIG_DFL);

  RunRecord record;
  record.config = e.resolved_ini;
  record.seed = e.train.seed;
  record.status = RunStatusName(result.status);
  record.steps_done = result.steps_done;
  record.target_step = result.target_step;
  record.threads = e.train.threads;
  record.wall_seconds = result.wall_seconds;
  record.curve_names = result.curve_names;
  record.curves = result.curves;
  record.final_metrics = result.final_metrics;
  WriteRunFile(out, record, *e.registry);

  std::printf("%s: %s after %d steps (%.1f s): %s -> %s\n", e.task->info().name.c_str(), record.status.c_str(),
              result.steps_done, result.wall_seconds, FormatMetrics(result.final_metrics).c_str(), out.c_str());
  return result.status == RunStatus::kInterrupted ? kExitInterrupted : kExitOk;
}

}  // namespace sim
