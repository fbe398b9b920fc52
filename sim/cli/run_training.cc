#include "sim/cli/run_training.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/cli/sweep_display.h"
#include "sim/core/error.h"
#include "sim/io/checkpoint_file.h"
#include "sim/io/run_file.h"
#include "sim/train/trainer.h"
#include "tasks/task_registry.h"

namespace sim {

namespace {

std::atomic<bool> g_stop{false};

void HandleStopSignal(int) { g_stop.store(true); }

// Signals that stop a run at the next step boundary: interrupt, termination, SLURM's pre-timelimit
// warning (USR1).
class StopSignals {
 public:
  StopSignals() {
    g_stop.store(false);
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) std::signal(s, HandleStopSignal);
  }
  ~StopSignals() {
    for (int s : {SIGINT, SIGTERM, SIGUSR1}) std::signal(s, SIG_DFL);
  }
};

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
  if (!fs::is_directory(dir)) throw InputError(Concat("--out ", out, ": directory ", dir.string(), " does not exist"));
  if (::access(dir.c_str(), W_OK) != 0)
    throw InputError(Concat("--out ", out, ": directory ", dir.string(), " is not writable"));
  if (fs::is_directory(out)) throw InputError(Concat("--out ", out, ": is a directory; give a file name"));
}

// Progress lines: a live line on a terminal, plain timestamped lines every 10 s otherwise, or marked
// lines five times a second for the live view of a parallel sweep (to_parent).
class ProgressPrinter {
 public:
  ProgressPrinter(bool quiet, bool to_parent, std::string label)
      : quiet_(quiet),
        to_parent_(to_parent),
        tty_(::isatty(STDERR_FILENO)),
        label_(std::move(label)),
        start_(Clock::now()),
        last_(start_) {}

  void operator()(const Progress& p) {
    if (quiet_) return;
    if (first_step_ < 0) first_step_ = p.step - 1;  // steps/s counts the steps of this process only
    recent_loss_ += p.train_loss;
    ++recent_;
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    const bool due = tty_ || to_parent_ ? since >= 0.2 : since >= 10.0;
    if (!due && !p.evaluated && p.step != p.total) return;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double rate = (p.step - first_step_) / std::max(elapsed, 1e-9);
    const double eta = (p.total - p.step) / std::max(rate, 1e-9);
    char line[256];
    std::snprintf(line, sizeof line, "%s%sstep %d/%d  loss %.4f  %.1f steps/s  ETA %.0fs", label_.c_str(),
                  label_.empty() ? "" : "  ", p.step, p.total, recent_loss_ / std::max(recent_, 1), rate, eta);
    std::string text = line;
    if (p.evaluated) text += "  " + FormatMetrics(*p.eval);
    if (to_parent_)
      std::fprintf(stderr, "%c%s\n", kProgressMarker, text.c_str());
    else if (tty_)
      std::fprintf(stderr, p.evaluated ? "\r%-100s\n" : "\r%-100s", text.c_str());
    else
      std::fprintf(stderr, "[%s] %s\n", Timestamp().c_str(), text.c_str());
    std::fflush(stderr);
    last_ = now;
    recent_loss_ = 0.0;
    recent_ = 0;
  }

  static std::string Timestamp() {
    const std::time_t now = std::time(nullptr);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
    return text;
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool quiet_, to_parent_, tty_;
  std::string label_;
  Clock::time_point start_, last_;
  double recent_loss_ = 0.0;
  int recent_ = 0;
  int first_step_ = -1;
};

}  // namespace

std::string ResultDeterminingConfig(const std::string& resolved_ini) {
  std::istringstream in(resolved_ini);
  std::string line, section, out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '[') section = line;
    if (section == "[train]" && line.rfind("threads = ", 0) == 0) continue;
    out += line + "\n";
  }
  return out;
}

int TrainToFile(const RunRequest& request) {
  const OptionSet set = AllOptions();
  Options options(set, request.given);
  Experiment e = BuildExperiment(options);
  CheckOutputPath(request.out);
  Trainer trainer(e.train, *e.task, *e.model, *e.registry);

  const std::string ckpt_path = CheckpointPath(request.out);
  if (std::filesystem::exists(ckpt_path) && !request.restart) {
    std::string ckpt_config;
    const Checkpoint ckpt = ReadCheckpoint(ckpt_path, &ckpt_config);
    if (ResultDeterminingConfig(ckpt_config) != ResultDeterminingConfig(e.resolved_ini))
      throw InputError(Concat(ckpt_path,
                              ": checkpoint of a run with another configuration; rerun with the "
                              "options it was made with (its config attribute lists them), or pass --restart "
                              "to start over"));
    trainer.Restore(ckpt);
    if (!request.quiet)
      std::fprintf(stderr, "%s%sresuming from %s at step %d\n", request.label.c_str(),
                   request.label.empty() ? "" : "  ", ckpt_path.c_str(), ckpt.state.step);
  }

  ProgressPrinter progress(request.quiet, request.report_to_parent, request.label);
  TrainResult result;
  {
    StopSignals signals;
    result = trainer.Run(
        &g_stop, [&](const Progress& p) { progress(p); },
        [&](const Checkpoint& c) { WriteCheckpoint(ckpt_path, e.resolved_ini, c); }, request.checkpoint_seconds);
  }

  RunRecord record;
  record.config = e.resolved_ini;
  record.seed = e.train.seed;
  record.status = RunStatusName(result.status);
  record.steps_done = result.steps_done;
  record.target_step = result.target_step;
  record.threads = e.train.threads;
  record.chunk = e.train.chunk;
  record.wall_seconds = result.wall_seconds;
  record.curve_names = result.curve_names;
  record.curves = result.curves;
  record.final_metrics = result.final_metrics;
  if (result.status != RunStatus::kInterrupted) {
    AnalysisInputs in;
    in.model = e.model.get();
    in.task = e.task.get();
    in.train = &e.train;
    in.curve_names = &result.curve_names;
    in.curves = &result.curves;
    in.task_measures = TaskMeasures(e.task->info().name);
    std::vector<std::string> not_applied;
    record.analysis = AnalysesAfterTraining(in, e.analysis, &not_applied);
    for (const std::string& why : not_applied) std::fprintf(stderr, "note: analysis %s (skipped)\n", why.c_str());
  }
  WriteRunFile(request.out, record, *e.registry);
  if (result.status != RunStatus::kInterrupted) std::filesystem::remove(ckpt_path);

  std::printf("%s%s%s: %s after %d steps (%.1f s): %s -> %s\n", request.label.c_str(),
              request.label.empty() ? "" : "  ", e.task->info().name.c_str(), record.status.c_str(), result.steps_done,
              result.wall_seconds, FormatMetrics(result.final_metrics).c_str(), request.out.c_str());
  std::fflush(stdout);
  return result.status == RunStatus::kInterrupted ? kExitInterrupted : kExitOk;
}

}  // namespace sim
