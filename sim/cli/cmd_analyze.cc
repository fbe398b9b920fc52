// sim analyze RUN.h5|DIR... [--config X.ini] [--analysis.<name>[.<key>]=value ...] [--jobs J] [--force]
//
// Adds analyses to finished run files: rebuilds each run's model from its `config` attribute, loads
// /params (and the /snapshots, on which analyses write time series), runs the analyses selected by analysis.* options
// (the run's own config, then --config files, then the command line, which wins) and writes their results under
// /analysis in the same file, replaced atomically (analysis/analyses.h, sim/io/run_file.h AddAnalysesToRunFile). An
// analysis present with the same options is skipped (--force recomputes it). A directory means every
// run file in it (a sweep's --out-dir), J files at a time.
//
// Example:
//   build/sim analyze runs/depth/icqa --analysis.attention=true --jobs 2
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "analysis/analyses.h"
#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/core/glob.h"
#include "sim/io/hdf5_file.h"
#include "sim/io/run_file.h"
#include "tasks/task_registry.h"

extern char** environ;

namespace sim {

namespace {

po::options_description AnalyzeFlags() {
  po::options_description flags("sim analyze");
  flags.add_options()("help,h", "print this help, with every analysis and its options")(
      "config", po::value<std::vector<std::string>>(),
      "INI file(s) with an [analysis] section; later files win, the command line wins over all")(
      "jobs", po::value<int>()->default_value(1), "run files analyzed at a time (a directory's files)")(
      "force", "recompute analyses already present with the same options")("quiet",
                                                                           "print only errors and the final count");
  return flags;
}

// The analysis.* options only: the model, task and training come from each run file.
OptionSet AnalysisOptionSet() {
  const OptionSet all = AllOptions();
  OptionSet set;
  for (const OptionDecl& d : all.decls())
    if (d.key.rfind("analysis.", 0) == 0) set.Declare(d);
  return set;
}

// "key = value" lines under [section] headers (a run file's resolved config) as section.key -> value.
std::map<std::string, std::string> ParseResolvedIni(const std::string& text) {
  std::map<std::string, std::string> values;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    values[section + "." + Trim(line.substr(0, eq))] = Trim(line.substr(eq + 1));
  }
  return values;
}

// Files and directories (positional) apart from flags; a flag's separate value stays with it.
void SplitPositional(const std::vector<std::string>& args, std::vector<std::string>& paths,
                     std::vector<std::string>& flags) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.rfind("-", 0) != 0) {
      paths.push_back(a);
      continue;
    }
    flags.push_back(a);
    const bool takes_value = a == "--config" || a == "--jobs";
    if (takes_value && i + 1 < args.size()) flags.push_back(args[++i]);
  }
}

// The run files in `dir` (by name; other HDF5 files such as a sweep's summary.h5 are left out).
std::vector<std::string> RunFilesIn(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.size() < 3 || name.compare(name.size() - 3, 3, ".h5") != 0) continue;
    try {
      H5Reader in(entry.path().string());
      if (in.HasAttr("/", "format") && in.AttrString("/", "format") == kRunFormat)
        files.push_back(entry.path().string());
    } catch (const Error&) {
      files.push_back(entry.path().string());  // unreadable: analyzing it reports why
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

int ExitCodeOf(const std::exception& error) {
  if (dynamic_cast<const ConfigError*>(&error) || dynamic_cast<const InputError*>(&error)) return kExitBadInput;
  if (dynamic_cast<const WriteError*>(&error)) return kExitWriteFailed;
  return kExitInternal;
}

}  // namespace

std::vector<std::string> AnalysesToAdd(const std::string& path, const std::map<std::string, std::string>& given) {
  const OptionSet set = AllOptions();
  Options options(set, given);
  const AnalysisConfig config = ReadAnalysisConfig(options);
  std::vector<std::string> names;
  for (const SelectedAnalysis& a : config.selected)
    if (a.requested && AnalysisAttr(path, a.entry->outputs.front(), "options") != a.options.Recorded())
      names.push_back(a.entry->name);
  return names;
}

std::string AnalyzeFile(const std::string& path, const AnalyzeRequest& request) {
  const std::map<std::string, std::string>& requested = request.requested;
  const bool force = request.force;
  const RunRecord record = ReadRunFile(path);
  if (record.status == "interrupted")
    throw InputError(Concat(path,
                            ": the run was interrupted (status 'interrupted'); finish it first (rerun its sim "
                            "train or sim sweep command, which resumes from the checkpoint)"));
  std::map<std::string, std::string> given = ParseResolvedIni(record.config);
  given["train.init_from"] = "none";  // the weights come from this file's /params
  for (const auto& [key, value] : requested) given[key] = value;
  const OptionSet set = AllOptions();
  Options options(set, given);
  Experiment e;
  try {
    e = BuildExperiment(options);
  } catch (const ConfigError& error) {
    throw ConfigError(Concat(path, ": its config does not build with this engine (", error.what(), ")"));
  }
  ReadParams(path, *e.registry);
  const std::vector<ParamSnapshot> snapshots = ReadSnapshots(path, *e.registry);

  const AnalysisInputs base = AnalysisInputsOf(e, record.curve_names, record.curves, snapshots, record.steps_done);
  std::vector<std::string> remove, added, present, skipped;
  std::vector<AnalysisArray> arrays;
  for (const SelectedAnalysis& a : e.analysis.selected) {
    const std::string& name = a.entry->name;
    AnalysisInputs in = base;
    const std::string why = WhyNotApplies(a, e.analysis, in);
    if (!why.empty()) {
      bool asked = false;  // one of its own keys given to sim analyze (not only by the run's config)
      for (const std::string& key : AnalysisOptionKeys(*a.entry)) asked = asked || requested.count(key) > 0;
      if (asked && request.refuse_not_applicable)
        throw ConfigError(Concat(path, ": analysis ", name, " does not apply: ", why));
      skipped.push_back(name);
      continue;
    }
    if (!force && AnalysisAttr(path, a.entry->outputs.front(), "options") == a.options.Recorded()) {
      present.push_back(name);
      continue;
    }
    for (AnalysisArray& array : RunAnalysis(a, in)) arrays.push_back(std::move(array));
    remove.insert(remove.end(), a.entry->outputs.begin(), a.entry->outputs.end());
    added.push_back(name);
  }
  if (!arrays.empty()) AddAnalysesToRunFile(path, remove, arrays, request.locked_by_caller);
  auto join = [](const std::vector<std::string>& names) {
    std::string text;
    for (const std::string& n : names) text += (text.empty() ? "" : ", ") + n;
    return text;
  };
  std::string line = path + ":";
  if (!added.empty()) line += " added " + join(added) + ";";
  if (!present.empty()) line += " already present " + join(present) + ";";
  if (!skipped.empty()) line += " not applicable " + join(skipped) + ";";
  if (added.empty() && present.empty() && skipped.empty())
    line += " nothing selected (--analysis.<name>=true; sim analyze --help lists them);";
  line.pop_back();
  return line;
}

namespace {

// Runs `sim analyze FILE <flags>` for each file, `jobs` at a time; returns the worst exit code.
int AnalyzeInChildren(const std::vector<std::string>& files, const std::vector<std::string>& flags, int jobs,
                      bool quiet) {
  std::vector<std::string> child_flags;
  for (size_t i = 0; i < flags.size(); ++i) {
    if (flags[i] == "--jobs") {
      ++i;
      continue;
    }
    if (flags[i].rfind("--jobs=", 0) == 0) continue;
    child_flags.push_back(flags[i]);
  }
  std::map<pid_t, std::string> running;
  size_t next = 0, done = 0;
  int worst = kExitOk;
  while (next < files.size() || !running.empty()) {
    while (next < files.size() && static_cast<int>(running.size()) < jobs) {
      std::vector<std::string> argv_text = {"sim", "analyze", files[next]};
      argv_text.insert(argv_text.end(), child_flags.begin(), child_flags.end());
      std::vector<char*> argv;
      for (std::string& s : argv_text) argv.push_back(s.data());
      argv.push_back(nullptr);
      pid_t pid = 0;
      if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0)
        throw InternalError("sim analyze: cannot start a process for " + files[next]);
      running[pid] = files[next++];
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) break;
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : kExitInternal;
    worst = std::max(worst, code);
    ++done;
    if (!quiet)
      std::fprintf(stderr, "[%zu/%zu] %s %s\n", done, files.size(), code == 0 ? "done" : "FAILED", it->second.c_str());
    running.erase(it);
  }
  return worst;
}

}  // namespace

int RunAnalyze(const std::vector<std::string>& args) {
  std::vector<std::string> paths, flag_args;
  SplitPositional(args, paths, flag_args);
  const OptionSet set = AnalysisOptionSet();
  const po::options_description flags = AnalyzeFlags();
  ParsedCommand cmd = ParseCommand("analyze", flag_args, flags, set, true);
  if (cmd.flags.count("help")) {
    std::cout << "usage: sim analyze RUN.h5|DIR... [--config X.ini] [--analysis.<name>[.<key>]=value ...] "
                 "[--jobs J] [--force]\n\n"
                 "Adds analyses under /analysis to finished run files (a directory: every run file in it), in\n"
                 "place and atomically. Options come from each run's config, then --config files, then the\n"
                 "command line. An analysis present with the same options is skipped.\n\n"
              << flags << "\nanalyses (analysis.<name> = true selects one):\n";
    for (const AnalysisEntry& e : AnalysisRegistry()) std::cout << "  " << e.name << ": " << e.summary << "\n";
    std::cout << "\noptions (INI section [analysis] key y is --analysis.y on the command line):\n" << OptionsHelp(set);
    return kExitOk;
  }
  if (paths.empty()) throw ConfigError("sim analyze: give one or more run files or directories (sim analyze --help)");
  const int jobs = cmd.flags["jobs"].as<int>();
  if (jobs < 1) throw ConfigError(Concat("--jobs: must be at least 1 (given ", jobs, ")"));
  const bool force = cmd.flags.count("force") > 0, quiet = cmd.flags.count("quiet") > 0;
  {  // option values are checked once, before any file is touched
    std::map<std::string, std::string> probe = cmd.given;
    Options options(AllOptions(), probe);
    ReadAnalysisConfig(options);
    options.ThrowIfErrors();
  }

  std::vector<std::string> files;
  bool any_directory = false;
  for (const std::string& p : paths) {
    if (std::filesystem::is_directory(p)) {
      any_directory = true;
      for (const std::string& f : RunFilesIn(p)) files.push_back(f);
    } else {
      files.push_back(p);
    }
  }
  if (!any_directory && files.size() == 1) {
    const std::string line = AnalyzeFile(files.front(), {cmd.given, force});
    if (!quiet) std::printf("%s\n", line.c_str());
    return kExitOk;
  }
  if (files.empty()) {
    std::printf("no run files in %s\n", paths.front().c_str());
    return kExitOk;
  }
  if (jobs > 1 && files.size() > 1) return AnalyzeInChildren(files, flag_args, jobs, quiet);
  int worst = kExitOk;
  for (size_t i = 0; i < files.size(); ++i) {
    try {
      const std::string line = AnalyzeFile(files[i], {cmd.given, force});
      if (!quiet) std::printf("[%zu/%zu] %s\n", i + 1, files.size(), line.c_str());
    } catch (const std::exception& error) {
      std::fprintf(stderr, "error: %s\n", error.what());
      worst = std::max(worst, ExitCodeOf(error));
    }
    std::fflush(stdout);
  }
  return worst;
}

}  // namespace sim
