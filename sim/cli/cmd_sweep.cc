// sim sweep --config S.ini [--list | --count | --index I | --all [--jobs J]] --out-dir D
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/cli/run_training.h"
#include "sim/cli/sweep.h"
#include "sim/cli/sweep_runner.h"
#include "sim/core/error.h"
#include "sim/io/atomic_file.h"
#include "sim/io/run_file.h"

namespace sim {

namespace {

namespace fs = std::filesystem;

po::options_description SweepFlags() {
  po::options_description flags("sim sweep");
  flags.add_options()("help,h", "print this help")(
      "config", po::value<std::vector<std::string>>(),
      "sweep file: an INI config with a [sweep] section (more files may follow; later win)")(
      "out-dir", po::value<std::string>(), "directory of the run files (created if missing)")(
      "list", "print every run: index, hash, swept values (and, with --out-dir, its state)")(
      "count", "print the number of runs")("index", po::value<int>(), "run this run (default: $SLURM_ARRAY_TASK_ID)")(
      "all", "run every run that has no complete result file, --jobs at a time")(
      "jobs", po::value<int>()->default_value(1), "parallel runs with --all (give each train.threads = cores / jobs)")(
      "checkpoint-every", po::value<double>()->default_value(60.0), "seconds between checkpoints of a run")(
      "quiet", "no progress lines");
  return flags;
}

// Flags of the run processes that `--all` starts, not for users.
po::options_description HiddenSweepFlags() {
  po::options_description flags("internal");
  flags.add_options()("report-progress", "progress lines for the live view of the parent sweep")(
      "skip-if-running", "exit kExitRunElsewhere at once when another process holds the run's lock");
  return flags;
}

// A run's state for --list: its file's, or, when its source run (train.init_from = sweep:DIR) is
// not complete yet, "waiting for <source> (<its state>)".
std::string State(const SweepRun& run, const std::string& dir) {
  if (run.source_pending) return Concat("waiting for ", run.source, " (", run.source_state, ")");
  return RunFileState(dir + "/" + run.file);
}

// A source that may yet be completed (exit 3: run it first) rather than a final bad one.
bool SourceMayComplete(const std::string& state) {
  return state == "missing" || state == "checkpointed" || state == "interrupted";
}

bool IsDone(const std::string& state) { return state == "complete" || state == "diverged"; }

volatile sig_atomic_t g_wait_stop = 0;
void HandleWaitStop(int) { g_wait_stop = 1; }

// Takes the lock of the run file `out` (FileLock): at once, or, when another process holds it (a
// concurrent sweep, a SLURM task, a sim train), after waiting for that process to finish with it,
// unless `skip`. Returns kExitOk with `lock` held (or unsupported: then with a warning), or the code
// to exit with: kExitRunElsewhere (skip), kExitInterrupted (a stop signal while waiting).
int LockRun(const std::string& out, int index, bool skip, std::unique_ptr<FileLock>& lock) {
  lock = std::make_unique<FileLock>(out);
  if (lock->state() == FileLock::State::kBusy) {
    if (skip) {  // the parent sweep reports it and asks again later
      return kExitRunElsewhere;
    }
    std::fprintf(stderr, "run %d: running in another process (%s is locked); waiting for it\n", index,
                 lock->lock_path().c_str());
    g_wait_stop = 0;
    struct sigaction action = {}, old[3] = {};
    action.sa_handler = HandleWaitStop;
    sigemptyset(&action.sa_mask);
    const int signals[3] = {SIGINT, SIGTERM, SIGUSR1};
    for (int i = 0; i < 3; ++i) sigaction(signals[i], &action, &old[i]);
    while (lock->state() == FileLock::State::kBusy && !g_wait_stop) {
      ::usleep(200 * 1000);  // a signal ends it early
      lock.reset();
      if (!g_wait_stop) lock = std::make_unique<FileLock>(out);
    }
    for (int i = 0; i < 3; ++i) sigaction(signals[i], &old[i], nullptr);
    if (g_wait_stop) return kExitInterrupted;
  }
  if (lock->state() == FileLock::State::kUnsupported)
    std::fprintf(stderr,
                 "warning: %s: the file system has no file locks (flock); a process running the same run "
                 "at the same time would not be noticed\n",
                 lock->lock_path().c_str());
  else
    RemoveStaleTemporaries(out);
  return kExitOk;
}

// Whether the sweep sets any analysis.* option (in its files, on the command line or swept): only
// then can a complete run lack an analysis the sweep asks for.
bool AsksForAnalyses(const std::map<std::string, std::string>& given, const std::vector<SweepAxis>& axes) {
  for (const auto& [key, value] : given)
    if (key.rfind("analysis.", 0) == 0) return true;
  for (const SweepAxis& axis : axes)
    for (const std::string& key : axis.keys)
      if (key.rfind("analysis.", 0) == 0) return true;
  return false;
}

// Adds to the complete run file `out` the analyses its run asks for and lacks (analysis options do
// not enter file names, so a sweep that selects another analysis finds its runs complete): waits
// for a process holding the file, as for a run, then analyzes it as sim analyze does, skipping (not
// refusing) analyses that do not apply. Returns the exit code.
int AddRequestedAnalyses(const SweepRun& run, const std::string& out, bool skip_if_running, bool quiet) {
  std::unique_ptr<FileLock> lock;
  const int lock_code = LockRun(out, run.index, skip_if_running, lock);
  if (lock_code != kExitOk) return lock_code;
  AnalyzeRequest request;
  for (const auto& [key, value] : run.given)
    if (key.rfind("analysis.", 0) == 0) request.requested[key] = value;
  request.refuse_not_applicable = false;
  request.locked_by_caller = lock->state() == FileLock::State::kHeld;
  const std::string line = AnalyzeFile(out, request);  // nothing to do when the holder added them
  if (!quiet) std::printf("run %d: %s\n", run.index, line.c_str());
  return kExitOk;
}

std::string Describe(const SweepRun& run) {
  std::string text;
  for (const auto& [k, v] : run.overrides) text += (text.empty() ? "" : " ") + k + "=" + v;
  return text;
}

}  // namespace

int RunSweep(const std::vector<std::string>& args) {
  const OptionSet set = AllOptions();
  const po::options_description flags = SweepFlags();
  po::options_description parsed_flags;
  parsed_flags.add(flags).add(HiddenSweepFlags());
  std::vector<SweepLine> sweep_lines;
  ParsedCommand cmd = ParseCommand("sweep", args, parsed_flags, set, true, &sweep_lines);
  if (cmd.flags.count("help")) {
    std::cout
        << "usage: sim sweep --config S.ini --out-dir D (--list | --count | --index I | --all [--jobs J])\n"
           "       [--section.key=value ...]\n\n"
        << flags
        << "\nThe [sweep] section: `key = v1, v2`, `key = a..b` (inclusive integers), `seed = ...` (train.seed),\n"
           "`key1 & key2 = a1 & a2, b1 & b2` (zipped), `key = [8,1,1], [4,4,4]` (a value with commas in brackets).\n"
           "Runs are the cartesian product, first axis outermost. `#` and `;` start a comment at the start of a\n"
           "line or after a space.\n";
    return kExitOk;
  }
  if (!cmd.flags.count("config"))
    throw ConfigError("sim sweep: --config S.ini is required (a config with a [sweep] section)");
  const std::vector<SweepAxis> axes = ParseSweep(sweep_lines, set);
  SweepRuns sweep(axes, cmd.given, cmd.command_line, set);  // counts; resolves runs when asked
  if (cmd.flags.count("count")) {
    std::printf("%zu\n", sweep.size());
    return kExitOk;
  }
  const std::string dir = cmd.flags.count("out-dir") ? cmd.flags["out-dir"].as<std::string>() : "";
  if (cmd.flags.count("list")) {  // streamed: each run resolved, printed and forgotten
    ForEachRun(sweep, [&](SweepRun& run) {
      std::printf("%d\t%s\t%s%s\n", run.index, run.file.c_str(), Describe(run).c_str(),
                  dir.empty() ? "" : ("\t" + State(run, dir)).c_str());
    });
    return kExitOk;
  }
  if (dir.empty()) throw ConfigError("sim sweep: --out-dir D is required to run (where the run files go)");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!fs::is_directory(dir)) throw InputError(Concat("--out-dir ", dir, ": cannot create the directory"));
  const std::string manifest = dir + "/manifest.tsv";

  const bool quiet = cmd.flags.count("quiet") > 0;
  if (cmd.flags.count("all")) {
    const int jobs = cmd.flags["jobs"].as<int>();
    if (jobs < 1 || jobs > 1024) throw ConfigError(Concat("--jobs: must be in [1, 1024] (given ", jobs, ")"));
    const std::vector<SweepRun> runs = ExpandSweep(sweep);  // validates every run before any starts
    WriteTextAtomically(manifest, SweepManifest(axes, runs));
    LocalSweep local;
    std::string waiting;
    const bool analyses = AsksForAnalyses(cmd.given, axes);
    for (const SweepRun& run : runs) {
      if (run.source_pending) {
        waiting += Concat(waiting.empty() ? "" : ", ", run.index);
      } else if (!IsDone(RunFileState(dir + "/" + run.file))) {
        local.todo.push_back(run.index);
      } else if (analyses && !AnalysesToAdd(dir + "/" + run.file, sweep.Resolve(run.index).given).empty()) {
        local.todo.push_back(run.index);  // complete, but without an analysis the sweep asks for
      }
    }
    if (!waiting.empty())
      std::fprintf(stderr,
                   "sweep: runs %s wait for runs of their source sweep (train.init_from = sweep:...) "
                   "that are not complete; they are not started\n",
                   waiting.c_str());
    local.total = static_cast<int>(runs.size());
    local.jobs = jobs;
    local.quiet = quiet;
    // A run process gets our arguments without --all, --jobs and --quiet (it is told how to report).
    local.child_args = {"/proc/self/exe", "sweep"};
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--all" || args[i] == "--quiet") continue;
      if (args[i] == "--jobs") {
        ++i;
        continue;
      }
      if (args[i].rfind("--jobs=", 0) == 0) continue;
      local.child_args.push_back(args[i]);
    }
    const int code = RunSweepLocally(local);
    return code == kExitOk && !waiting.empty() ? kExitIncomplete : code;
  }
  int index = -1;
  if (cmd.flags.count("index")) {
    index = cmd.flags["index"].as<int>();
  } else if (const char* env = std::getenv("SLURM_ARRAY_TASK_ID")) {
    char* end = nullptr;
    index = static_cast<int>(std::strtol(env, &end, 10));
    if (*env == '\0' || *end != '\0') throw ConfigError(Concat("SLURM_ARRAY_TASK_ID='", env, "' is not an integer"));
  } else {
    throw ConfigError("sim sweep: give --list, --count, --all, or --index I (or run inside a SLURM array job)");
  }
  if (index < 0 || static_cast<size_t>(index) >= sweep.size())
    throw ConfigError(Concat("--index: ", index, " outside [0, ", sweep.size(), ") (sim sweep --count gives N)"));
  const SweepRun run = sweep.Resolve(index);
  // The manifest, when it is not this sweep's already (sim slurm and --all write it first): then every
  // run is resolved and validated, as the manifest lists them all.
  if (!ManifestIsCurrent(manifest, sweep, run)) WriteTextAtomically(manifest, SweepManifest(axes, ExpandSweep(sweep)));
  if (run.source_pending) {
    const bool later = SourceMayComplete(run.source_state);
    std::fprintf(stderr, "error: run %d: train.init_from: its source run %s is %s%s\n", index, run.source.c_str(),
                 run.source_state.c_str(), later ? "; run the source sweep first" : "");
    return later ? kExitIncomplete : kExitBadInput;
  }
  const std::string out = dir + "/" + run.file;
  // One process per run: concurrent sweeps on one --out-dir (two terminals, a local sweep beside a
  // SLURM array) share the runs; the state is read under the lock, so a run is never made twice.
  if (const std::string before = RunFileState(out); IsDone(before)) {  // made already: no lock needed
    if (!AnalysesToAdd(out, run.given).empty())
      return AddRequestedAnalyses(run, out, cmd.flags.count("skip-if-running") > 0, quiet);
    if (!quiet) std::printf("run %d: already %s -> %s\n", index, before.c_str(), out.c_str());
    return kExitOk;
  }
  std::unique_ptr<FileLock> lock;
  const int lock_code = LockRun(out, index, cmd.flags.count("skip-if-running") > 0, lock);
  if (lock_code != kExitOk) return lock_code;
  const std::string state = RunFileState(out);
  if (IsDone(state)) {  // made by the process we waited for
    std::printf("run %d: %s, made by another process -> %s\n", index, state.c_str(), out.c_str());
    if (AnalysesToAdd(out, run.given).empty()) return kExitOk;
    lock.reset();  // that process may have had other analysis options
    return AddRequestedAnalyses(run, out, /*skip_if_running=*/false, quiet);
  }
  RunRequest request;
  request.given = run.given;
  request.out = out;
  request.quiet = quiet;
  request.checkpoint_seconds = cmd.flags["checkpoint-every"].as<double>();
  request.label = Concat("run ", index, "/", sweep.size());
  request.report_to_parent = cmd.flags.count("report-progress") > 0;
  request.out_locked = true;
  return TrainToFile(request);
}

}  // namespace sim
