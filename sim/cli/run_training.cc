#include "sim/cli/run_training.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/cli/sweep_display.h"
#include "sim/core/error.h"
#include "sim/io/atomic_file.h"
#include "sim/io/checkpoint_file.h"
#include "sim/io/hdf5_file.h"
#include "sim/io/run_file.h"
#include "sim/train/trainer.h"
#include "tasks/task_registry.h"

namespace sim {

namespace {

// Stop requests received (SIGINT, SIGTERM, SIGUSR1): the first stops the run at the next step or
// evaluation-batch boundary; a second one also skips the evaluation an interruption adds
// (Trainer::Run). Lock-free, so safe to update in a signal handler.
std::atomic<int> g_stop_requests{0};

void HandleStopSignal(int) { g_stop_requests.fetch_add(1); }

bool StopRequested() { return g_stop_requests.load() > 0; }

// Signals that stop a run: interrupt, termination, SLURM's pre-timelimit warning (USR1). Installed
// when a run starts and left installed until the process exits, so a signal at any moment (setup,
// training, evaluation, the final analysis, the final write) is answered by the run and never by
// the default action. SA_RESTART: a write in progress goes on (it is short), and the request is
// acted on at the next check.
void InstallStopSignals() {
  g_stop_requests.store(0);
  struct sigaction action = {};
  action.sa_handler = HandleStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (int s : {SIGINT, SIGTERM, SIGUSR1}) sigaction(s, &action, nullptr);
}

// TEST-ONLY hook (tests/cli/signals_test.cc), not a user interface: with the environment variable
// SIM_TEST_PAUSE_BEFORE=<point> ("analysis" or "write"), the run announces the point on stderr
// ("test pause before <point>") and waits there, up to 30 s, for a new stop request, so a test can
// signal a phase that is otherwise too short to hit. Unset, it costs one getenv.
void TestPauseBefore(const char* point) {
  const char* wanted = std::getenv("SIM_TEST_PAUSE_BEFORE");
  if (wanted == nullptr || std::strcmp(wanted, point) != 0) return;
  const int before = g_stop_requests.load();  // before the announcement, which the test answers
  std::fprintf(stderr, "test pause before %s\n", point);
  std::fflush(stderr);
  for (int i = 0; i < 3000 && g_stop_requests.load() == before; ++i) ::usleep(10 * 1000);
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
    if (p.evaluating) {
      Evaluating(p);
      return;
    }
    eval_announced_ = false;
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
    Print(text, p.evaluated);
    last_ = now;
    recent_loss_ = 0.0;
    recent_ = 0;
  }

  // A long evaluation (eval.size in the millions) reports its batches: once it has run for a
  // second, then at the cadence of the step lines.
  void Evaluating(const Progress& p) {
    if (p.eval_seconds < 1.0) return;
    const auto now = Clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    const bool due = tty_ || to_parent_ ? since >= 0.2 : since >= 10.0;
    if (eval_announced_ && !due) return;
    char line[256];
    std::snprintf(line, sizeof line, "%s%sstep %d/%d  evaluating %s: batch %d/%d", label_.c_str(),
                  label_.empty() ? "" : "  ", p.step, p.total, p.eval_split.c_str(), p.eval_batch, p.eval_batches);
    Print(line, false);
    last_ = now;
    eval_announced_ = true;
  }

  void Print(const std::string& text, bool keep) const {
    if (to_parent_)
      std::fprintf(stderr, "%c%s\n", kProgressMarker, text.c_str());
    else if (tty_)
      std::fprintf(stderr, keep ? "\r%-100s\n" : "\r%-100s", text.c_str());
    else
      std::fprintf(stderr, "[%s] %s\n", Timestamp().c_str(), text.c_str());
    std::fflush(stderr);
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
  bool eval_announced_ = false;  // the evaluation in progress has shown a line
};

// The lock of a result file for `sim train`: refused (InputError, exit 2) when another process
// holds it; stale temporaries of dead writers are removed once it is held.
std::unique_ptr<FileLock> LockOutput(const std::string& out) {
  auto lock = std::make_unique<FileLock>(out);
  if (lock->state() == FileLock::State::kBusy)
    throw InputError(Concat("--out ", out, ": in use by another process (", lock->lock_path(),
                            " is locked): wait for it to finish, or choose another --out"));
  if (lock->state() == FileLock::State::kUnsupported)
    std::fprintf(
        stderr,
        "warning: %s: the file system has no file locks (flock); another process writing %s would not be noticed\n",
        lock->lock_path().c_str(), out.c_str());
  else
    RemoveStaleTemporaries(out);
  return lock;
}

}  // namespace

namespace {

// A "key = value" line of the [analysis] section at its default: the default's text for keys every
// resolved config lists, "" (no line) for keys omitted at their default and for unknown ones.
std::string AnalysisLineAtDefault(const std::string& line) {
  static const std::map<std::string, const OptionDecl*> decls = [] {
    static const OptionSet set = AllOptions();
    std::map<std::string, const OptionDecl*> by_key;
    for (const OptionDecl& d : set.decls())
      if (d.key.rfind("analysis.", 0) == 0) by_key[d.key.substr(9)] = &d;
    return by_key;
  }();
  const size_t eq = line.find(" = ");
  const auto it = decls.find(line.substr(0, eq));
  if (it == decls.end() || it->second->omit_at_default) return "";
  return line.substr(0, eq) + " = " + it->second->default_value;
}

}  // namespace

std::string ResultDeterminingConfig(const std::string& resolved_ini, int epoch) {
  std::istringstream in(resolved_ini);
  std::string line, section, out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '[') section = line;
    if (section == "[train]" && line.rfind("threads = ", 0) == 0) continue;
    if (section == "[analysis]" && line.find(" = ") != std::string::npos &&
        (line = AnalysisLineAtDefault(line)).empty())
      continue;
    out += line + "\n";
  }
  if (epoch > 0) out += Concat("[results]\nepoch = ", epoch, "\n");
  return out;
}

std::string SweepHashedConfig(const std::string& resolved_ini) {
  std::istringstream in(ResultDeterminingConfig(resolved_ini));
  std::string line, section, out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '[') section = line;
    if (section == "[train]" && (line.rfind("snapshot_steps = ", 0) == 0 || line.rfind("snapshot_every = ", 0) == 0))
      continue;
    out += line + "\n";
  }
  return out;
}

int TrainToFile(const RunRequest& request) {
  InstallStopSignals();
  const OptionSet set = AllOptions();
  Options options(set, request.given);
  // A sweep labels its runs ("run 3/48") and names their files itself.
  const std::string replacing = CheckOutputPath(request.out, /*named_by_sweep=*/!request.label.empty());
  Experiment e = BuildExperiment(options);
  if (!request.quiet)
    for (const std::string& note : e.notes)
      std::fprintf(stderr, "%s%s%s\n", request.label.c_str(), request.label.empty() ? "" : "  ", note.c_str());
  std::unique_ptr<FileLock> lock;  // one process per result file (atomic_file.h)
  if (!request.out_locked) lock = LockOutput(request.out);
  if (!replacing.empty())
    std::fprintf(stderr, "%s%s%s\n", request.label.c_str(), request.label.empty() ? "" : "  ", replacing.c_str());
  Trainer trainer(e.train, *e.task, *e.model, *e.registry, e.lora.get());

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
  TrainResult result = trainer.Run(
      &g_stop_requests, [&](const Progress& p) { progress(p); },
      [&](const Checkpoint& c) { WriteCheckpoint(ckpt_path, e.resolved_ini, c); }, request.checkpoint_seconds);

  RunRecord record;
  record.config = e.resolved_ini;
  record.seed = e.train.seed;
  record.status = RunStatusName(result.status);
  record.steps_done = result.steps_done;
  record.target_step = result.target_step;
  record.threads = e.train.threads;
  record.chunk = e.train.chunk;
  record.base_lr = e.train.schedule.lr;
  record.weight_decay = e.train.optimizer.weight_decay;
  record.wall_seconds = result.wall_seconds;
  record.curve_names = result.curve_names;
  record.curves = result.curves;
  record.final_metrics = result.final_metrics;
  if (result.status != RunStatus::kInterrupted) {
    TestPauseBefore("analysis");
    // A stop request is checked before and after the analyses (a request during them stops the run
    // once the running analysis returns).
    if (!StopRequested()) {
      const AnalysisInputs in =
          AnalysisInputsOf(e, result.curve_names, result.curves, trainer.snapshots(), result.steps_done);
      std::vector<std::string> not_applied;
      record.analysis = AnalysesAfterTraining(in, e.analysis, &not_applied);
      for (const std::string& why : not_applied) std::fprintf(stderr, "note: analysis %s (skipped)\n", why.c_str());
    }
    if (StopRequested()) {
      // Stopped after training, before the result was written: the training is kept in a
      // checkpoint at its final step, and the result says interrupted. A rerun resumes at the end
      // and redoes the analyses and the write.
      Checkpoint final_state = trainer.MakeCheckpoint();
      final_state.state.wall_seconds = result.wall_seconds;
      WriteCheckpoint(ckpt_path, e.resolved_ini, final_state);
      result.status = RunStatus::kInterrupted;
      record.status = RunStatusName(result.status);
      record.analysis.clear();
    }
  }
  // From here on a stop request lets the write (short) finish: the run then ends as it stood when the
  // write began, complete (exit 0, checkpoint removed) or interrupted (exit 75, checkpoint kept).
  const bool requested_before_write = StopRequested();
  TestPauseBefore("write");  // (test-only: stands for a write long enough to be signalled)
  WriteRunFile(request.out, record, *e.registry, trainer.snapshots());
  if (result.status != RunStatus::kInterrupted) std::filesystem::remove(ckpt_path);
  if (!requested_before_write && StopRequested() && !request.quiet)
    std::fprintf(stderr, "%s%sstop signal during the final write: the write finished, the run is %s\n",
                 request.label.c_str(), request.label.empty() ? "" : "  ", record.status.c_str());

  std::printf("%s%s%s: %s after %d steps (%.1f s): %s -> %s\n", request.label.c_str(),
              request.label.empty() ? "" : "  ", e.task->info().name.c_str(), record.status.c_str(), result.steps_done,
              result.wall_seconds, FormatMetrics(result.final_metrics).c_str(), request.out.c_str());
  std::fflush(stdout);
  return result.status == RunStatus::kInterrupted ? kExitInterrupted : kExitOk;
}

}  // namespace sim
