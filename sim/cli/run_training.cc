#include "sim/cli/run_training.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/cli/sweep_display.h"
#include "sim/core/error.h"
#include "sim/io/checkpoint_file.h"
#include "sim/io/hdf5_file.h"
#include "sim/io/run_file.h"
#include "sim/train/trainer.h"

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

// What is at `path` when it is not a plain file, or "" (a regular file, or nothing there).
std::string DescribeSpecial(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status link = fs::symlink_status(path, ec);
  switch (link.type()) {
    case fs::file_type::not_found:
    case fs::file_type::regular:
      return "";
    case fs::file_type::symlink: {
      const fs::path target = fs::read_symlink(path, ec);
      return Concat("a symbolic link (to ", Excerpt(target.string()), ")");
    }
    case fs::file_type::directory:
      return "a directory";
    case fs::file_type::character:
      return "a character device";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::fifo:
      return "a named pipe (FIFO)";
    case fs::file_type::socket:
      return "a socket";
    default:
      return "not a regular file";
  }
}

// Checks every path a run writes before it trains, so a bad path fails in a second, not after hours:
// the result file `out` (written as <out>.tmp, then renamed), and its checkpoint <out>.ckpt. Refuses
// an empty name, a missing or read-only directory, names too long for the suffixes, and anything at
// `out` that is not an attnsim run file (root attribute format = "attnsim.run"): a text file (the
// --config file itself), a device, a FIFO, a symbolic link, a directory, another HDF5 file. An existing
// run file is replaced (how a sweep's interrupted run is completed): the returned line says so, "" when
// nothing was there. `named_by_sweep`: `out` is a sweep's own run file name (sim sweep chose it), so a
// damaged regular file there is that run's, redone like a missing one (collect calls it unreadable).
std::string CheckOutputPath(const std::string& out, bool named_by_sweep) {
  namespace fs = std::filesystem;
  const std::string shown = Excerpt(out);
  if (out.empty()) throw InputError("--out: empty file name; expected the path of the result file, e.g. runs/mqar.h5");
  const fs::path path(out);
  if (!path.has_filename() || out.back() == '/')
    throw InputError(
        Concat("--out ", shown, ": ends in a directory separator; expected a file name, e.g. ", shown, "run.h5"));
  const fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw InputError(Concat("--out ", shown, ": directory ", Excerpt(dir.string()),
                            fs::exists(dir, ec) ? " is not a directory" : " does not exist", " (create it first)"));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw InputError(Concat("--out ", shown, ": directory ", Excerpt(dir.string()), " is not writable"));
  const long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  const size_t longest_suffix = std::max(std::string(".tmp").size(), CheckpointPath("").size());
  if (name_max > 0 && path.filename().string().size() + longest_suffix > static_cast<size_t>(name_max))
    throw InputError(Concat("--out ", shown, ": file name of ", path.filename().string().size(),
                            " characters; at most ", name_max - static_cast<long>(longest_suffix),
                            " leave room for the .tmp and .ckpt files written next to it"));
  for (const std::string& side : {out + ".tmp", CheckpointPath(out)}) {
    const std::string what = DescribeSpecial(side);
    if (!what.empty())
      throw InputError(Concat("--out ", shown, ": ", Excerpt(side), " (written next to the result) is ", what,
                              "; remove it or choose another --out"));
  }
  const std::string what = DescribeSpecial(path);
  const std::string refuse = Concat("--out ", shown, ": is ");
  const std::string hint =
      "; refusing to replace it (sim writes only attnsim run files there): remove it or "
      "choose another --out";
  if (!what.empty()) throw InputError(Concat(refuse, what, hint));
  if (!fs::exists(path, ec)) return "";
  // A regular file: replace it only when it is a run file (the HDF5 signature, then the format
  // attribute; no HDF5 call on a text file).
  if (named_by_sweep) {
    try {
      return Concat("replacing ", shown, " (status ", ReadRunFile(out).status, ")");
    } catch (const InputError& error) {
      return Concat("replacing ", shown, " (unreadable: ", error.what(), ")");
    }
  }
  char signature[8] = {};
  {
    std::ifstream in(out, std::ios::binary);
    if (!in) throw InputError(Concat(refuse, "a file that cannot be read (", std::strerror(errno), ")", hint));
    in.read(signature, sizeof signature);
  }
  if (std::memcmp(signature, "\x89HDF\r\n\x1a\n", sizeof signature) != 0)
    throw InputError(Concat(refuse, "a file that is not an attnsim run file (not HDF5",
                            fs::file_size(path, ec) == 0 ? ", empty" : "", ")", hint));
  std::string status;
  try {
    const H5Reader h5(out);
    if (!h5.HasAttr("/", "format") || h5.AttrString("/", "format") != kRunFormat) throw InputError("not a run file");
    status = h5.HasAttr("/", "status") ? h5.AttrString("/", "status") : "unknown";
  } catch (const InputError&) {
    throw InputError(Concat(refuse, "an HDF5 file that is not an attnsim run file (root attribute format is not '",
                            kRunFormat, "')", hint));
  }
  return Concat("replacing ", shown, " (an attnsim run file, status ", status, ")");
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
  // A sweep labels its runs ("run 3/48") and names their files itself.
  const std::string replacing = CheckOutputPath(request.out, /*named_by_sweep=*/!request.label.empty());
  Experiment e = BuildExperiment(options);
  if (!replacing.empty())
    std::fprintf(stderr, "%s%s%s\n", request.label.c_str(), request.label.empty() ? "" : "  ", replacing.c_str());
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
    record.analysis = RunAnalyses(*e.model, *e.task, e.analysis);
    if (!e.train.target_metric.empty())
      for (AnalysisArray& a : StepsToTarget(result.curve_names, result.curves, e.train.target_split,
                                            e.train.target_metric, e.analysis.steps_to))
        record.analysis.push_back(std::move(a));
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
