// sim slurm --config S.ini --out-dir D [--time --mem --cpus --partition --account --max-parallel]
//           [--after JOBID] [--submit]: a SLURM job array running every run of a sweep,
//           preemption-safe; with --after, it starts once every task of job JOBID has succeeded
//           (a chained sweep, train.init_from = sweep:DIR, after the array that makes DIR).
//
// The batch script runs `sim sweep ... --index $SLURM_ARRAY_TASK_ID` in the background and forwards
// SIGTERM/SIGUSR1 to it (a shell runs traps only when its foreground child exits). sim checkpoints
// and exits 75; after the pre-limit warning (USR1, --signal=B:USR1@lead) the script requeues the
// task, which resumes from its checkpoint; after a preemption (SIGTERM) SLURM requeues it itself
// (--requeue). Tasks whose result file is complete exit at once, so resubmitting a sweep only does
// what is missing.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/cli/sweep.h"
#include "sim/core/error.h"
#include "sim/io/atomic_file.h"

namespace sim {

namespace {

namespace fs = std::filesystem;

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A value for an #SBATCH line, as sbatch reads it: in double quotes, with `\` and `"` escaped by a
// backslash (sbatch's own tokenizer; a `#` outside quotes would start a comment). A newline cannot be
// quoted there (sbatch reads the script line by line): values are checked for control characters first.
std::string SbatchQuote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\\' || c == '"') out += '\\';
    out += c;
  }
  return out + "\"";
}

// `s` with every control character shown as \n, \t or \xNN (for messages).
std::string Visible(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool HasControlCharacter(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return true;
  return false;
}

void CheckNoControlCharacter(const std::string& what, const std::string& value) {
  if (HasControlCharacter(value))
    throw ConfigError(
        Concat(what, ": '", Visible(value),
               "' contains a control character (newline, tab, ...), which cannot go into a batch script"));
}

// Values that go into #SBATCH lines, in SLURM's own syntax: a newline there would end the line, and
// the rest would run as a shell command when the array starts.
void CheckSbatchValues(const std::string& time, const std::string& mem, const std::string& partition,
                       const std::string& account) {
  CheckNoControlCharacter("--time", time);
  CheckNoControlCharacter("--mem", mem);
  CheckNoControlCharacter("--partition", partition);
  CheckNoControlCharacter("--account", account);
  static const std::regex kTime(R"(\d+|\d+:\d+|\d+:\d+:\d+|\d+-\d+|\d+-\d+:\d+|\d+-\d+:\d+:\d+)");
  if (!std::regex_match(time, kTime))
    throw ConfigError(Concat("--time: '", time,
                             "' is not a SLURM time limit; write MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"));
  static const std::regex kMem(R"(\d+[KMGTkmgt]?)");
  if (!std::regex_match(mem, kMem))
    throw ConfigError(Concat("--mem: '", mem,
                             "' is not a SLURM memory size; write digits with an optional unit K, M, "
                             "G or T (2G, 500M; no unit: megabytes)"));
  static const std::regex kName(R"([A-Za-z0-9_.,-]+)");
  if (!partition.empty() && !std::regex_match(partition, kName))
    throw ConfigError(
        Concat("--partition: '", partition, "' is not a partition name (letters, digits and _ - . , for a list)"));
  if (!account.empty() && !std::regex_match(account, kName))
    throw ConfigError(Concat("--account: '", account, "' is not an account name (letters, digits and _ - . ,)"));
}

std::string SelfPath() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "sim" : p.string();
}

}  // namespace

int RunSlurm(const std::vector<std::string>& args) {
  const OptionSet set = AllOptions();
  po::options_description flags("sim slurm");
  flags.add_options()("help,h", "print this help")("config", po::value<std::vector<std::string>>(),
                                                   "sweep file(s), as for sim sweep")(
      "out-dir", po::value<std::string>(), "directory of the run files, logs and the batch script")(
      "time", po::value<std::string>()->default_value("01:00:00"), "time limit per run (sbatch --time)")(
      "mem", po::value<std::string>()->default_value("2G"), "memory per run (sbatch --mem)")(
      "cpus", po::value<int>()->default_value(1), "CPUs per run (sbatch --cpus-per-task; also train.threads)")(
      "partition", po::value<std::string>()->default_value(""), "partition (sbatch --partition)")(
      "account", po::value<std::string>()->default_value(""), "account (sbatch --account)")(
      "max-parallel", po::value<int>()->default_value(0),
      "at most this many runs at once (--array=...%P); 0 = no limit")(
      "signal-lead", po::value<int>()->default_value(120),
      "seconds before the time limit at which a run checkpoints and is requeued")(
      "after", po::value<std::string>(),
      "start only after every task of this job (id, digits) succeeded: #SBATCH --dependency=afterok:JOBID")(
      "submit", "submit the script with sbatch and print the job id");
  std::vector<SweepLine> sweep_lines;
  ParsedCommand cmd = ParseCommand("slurm", args, flags, set, true, &sweep_lines);
  if (cmd.flags.count("help")) {
    std::cout
        << "usage: sim slurm --config S.ini --out-dir D [--time --mem --cpus --partition --account --max-parallel]\n"
           "                 [--after JOBID] [--submit]\n\n"
        << flags;
    return kExitOk;
  }
  if (!cmd.flags.count("config"))
    throw ConfigError("sim slurm: --config S.ini is required (a config with a [sweep] section)");
  if (!cmd.flags.count("out-dir")) throw ConfigError("sim slurm: --out-dir D is required");
  const int cpus = cmd.flags["cpus"].as<int>(), max_parallel = cmd.flags["max-parallel"].as<int>();
  const int lead = cmd.flags["signal-lead"].as<int>();
  if (cpus < 1) throw ConfigError(Concat("--cpus: must be >= 1 (given ", cpus, ")"));
  if (max_parallel < 0) throw ConfigError(Concat("--max-parallel: must be >= 0 (given ", max_parallel, ")"));
  if (lead < 10) throw ConfigError(Concat("--signal-lead: must be >= 10 seconds (given ", lead, ")"));
  const std::string after = cmd.flags.count("after") ? cmd.flags["after"].as<std::string>() : "";
  if (cmd.flags.count("after") &&
      (after.empty() || after.size() > 18 || after.find_first_not_of("0123456789") != std::string::npos))
    throw ConfigError(Concat("--after: expected a SLURM job id, digits only (given '", after,
                             "'); sim slurm --submit and sbatch --parsable print it"));
  if (cmd.given.count("train.threads"))
    throw ConfigError("sim slurm: train.threads comes from --cpus here; drop --train.threads");
  const std::string time = cmd.flags["time"].as<std::string>(), mem = cmd.flags["mem"].as<std::string>();
  const std::string partition = cmd.flags["partition"].as<std::string>();
  const std::string account = cmd.flags["account"].as<std::string>();
  CheckSbatchValues(time, mem, partition, account);
  CheckNoControlCharacter("--out-dir", cmd.flags["out-dir"].as<std::string>());
  const std::string cwd = fs::current_path().string();
  if (HasControlCharacter(cwd))
    throw ConfigError(Concat("sim slurm: the current directory '", Visible(cwd),
                             "' contains a control character; run sim slurm from another directory (it becomes "
                             "the tasks' --chdir)"));
  const std::vector<SweepAxis> axes = ParseSweep(sweep_lines, set);
  SweepRuns sweep(axes, cmd.given, cmd.command_line, set);
  const std::vector<SweepRun> runs = ExpandSweep(sweep);  // validates every run now

  const fs::path dir = fs::absolute(cmd.flags["out-dir"].as<std::string>());
  std::error_code ec;
  fs::create_directories(dir / "logs", ec);
  if (!fs::is_directory(dir / "logs")) throw InputError(Concat("--out-dir ", dir.string(), ": cannot create it"));

  // The sweep command each task runs: our configs (absolute paths) and overrides.
  std::string sweep_cmd = ShellQuote(SelfPath()) + " sweep";
  for (const std::string& c : cmd.flags["config"].as<std::vector<std::string>>())
    sweep_cmd += " --config " + ShellQuote(fs::absolute(c).string());
  sweep_cmd += " --out-dir " + ShellQuote(dir.string());
  for (const auto& [key, value] : cmd.given) {
    if (!cmd.command_line.count(key)) continue;  // INI values come from the config files themselves
    sweep_cmd += ' ';
    sweep_cmd += ShellQuote(Concat("--", key, "=", value));
  }
  sweep_cmd += " --train.threads=" + std::to_string(cpus) + " --index \"$SLURM_ARRAY_TASK_ID\"";

  std::string array = Concat("0-", runs.size() - 1);
  if (max_parallel > 0) array += Concat("%", max_parallel);
  std::string script = "#!/bin/bash\n";
  // Values checked above (CheckSbatchValues); paths and the name quoted as sbatch reads them.
  script += "#SBATCH --job-name=" + SbatchQuote("attnsim-" + dir.filename().string()) + "\n";
  script += "#SBATCH --array=" + array + "\n";
  script += "#SBATCH --time=" + time + "\n";
  script += "#SBATCH --mem=" + mem + "\n";
  script += Concat("#SBATCH --cpus-per-task=", cpus, "\n");
  if (!partition.empty()) script += "#SBATCH --partition=" + partition + "\n";
  if (!account.empty()) script += "#SBATCH --account=" + account + "\n";
  if (!after.empty()) script += "#SBATCH --dependency=afterok:" + after + "\n";
  // Relative paths in the configs (train.init_from, sweep:DIR) mean what they meant here.
  script += "#SBATCH --chdir=" + SbatchQuote(cwd) + "\n";
  // In --output, % starts a pattern (%A the array's job id, %a the task): a % of the path is %%.
  std::string logs = (dir / "logs").string(), logs_pattern;
  for (char c : logs) logs_pattern += c == '%' ? std::string("%%") : std::string(1, c);
  script += "#SBATCH --output=" + SbatchQuote(logs_pattern + "/%A_%a.out") + "\n";
  script += "#SBATCH --open-mode=append\n#SBATCH --requeue\n";
  script += Concat("#SBATCH --signal=B:USR1@", lead, "\n");
  script +=
      "# Written by sim slurm. Each task runs one run of the sweep; a complete result file makes it exit at\n"
      "# once, a checkpoint makes it resume. sim checkpoints and exits 75 on SIGTERM/SIGUSR1.\n"
      "set -u\n"
      "export HDF5_USE_FILE_LOCKING=FALSE   # one writer per file, temp-then-rename: safe on NFS/Lustre\n"
      "echo \"[$(date '+%F %T')] task $SLURM_ARRAY_TASK_ID on $(hostname), restart ${SLURM_RESTART_COUNT:-0}\"\n";
  script += sweep_cmd + " &\n";
  script +=
      "child=$!\n"
      "warned=0\n"
      "trap 'warned=1; kill -USR1 $child' USR1\n"
      "trap 'kill -TERM $child' TERM\n"
      "while kill -0 $child 2>/dev/null; do wait $child; done   # a trap makes wait return early\n"
      "wait $child; code=$?                                     # bash keeps the child's status\n"
      "echo \"[$(date '+%F %T')] task $SLURM_ARRAY_TASK_ID exited with $code\"\n"
      "if [ \"$code\" -eq 75 ] && [ \"$warned\" -eq 1 ]; then\n"
      "  # Stopped before the time limit: requeue this task; it resumes from its checkpoint.\n"
      "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
      "fi\n"
      "exit $code\n";
  const std::string script_path = (dir / "sweep.sbatch").string();
  WriteTextAtomically(script_path, script);
  WriteTextAtomically((dir / "manifest.tsv").string(), SweepManifest(axes, runs));
  std::printf("wrote %s: %zu runs, array %s%s\n", script_path.c_str(), runs.size(), array.c_str(),
              after.empty() ? "" : (", after job " + after).c_str());
  int waiting = 0;
  for (const SweepRun& run : runs) waiting += run.source_pending ? 1 : 0;
  if (waiting > 0 && after.empty())
    std::printf(
        "note: %d run(s) start from source runs that are not complete yet (train.init_from = sweep:...); "
        "give --after JOBID, the source array's job id, so that they start when it has finished\n",
        waiting);
  if (!cmd.flags.count("submit")) {
    std::printf("submit with: sbatch %s\n", script_path.c_str());
    return kExitOk;
  }
  const std::string submit = "sbatch --parsable " + ShellQuote(script_path);
  FILE* pipe = popen(submit.c_str(), "r");
  if (pipe == nullptr) throw InputError("sim slurm: cannot run sbatch");
  char buf[256] = {};
  const bool got = std::fgets(buf, sizeof buf, pipe) != nullptr;
  const int status = pclose(pipe);
  if (!got || status != 0)
    throw InputError(Concat("sim slurm: sbatch failed (exit ", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                            "); is SLURM available here? the script is ", script_path));
  std::printf("submitted job %s", buf);
  return kExitOk;
}

}  // namespace sim
