// Subcommands of the `sim` executable. Each takes its arguments (after the command name), prints to
// stdout/stderr and returns the process exit code; errors propagate as sim::Error for main to report.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sim {

// Exit codes shared by every command (documented in README.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitInternal = 1;      // a bug: an unexpected error inside the engine
inline constexpr int kExitBadInput = 2;      // bad options, config or input files
inline constexpr int kExitIncomplete = 3;    // sim collect: runs are missing (and --allow-missing not given);
                                             // sim sweep: a chained run's source run is not complete yet
inline constexpr int kExitWriteFailed = 74;  // results could not be written (disk full, I/O error); sysexits' EX_IOERR
inline constexpr int kExitInterrupted = 75;  // stopped by a signal; a checkpoint lets a rerun resume

int RunTrain(const std::vector<std::string>& args);
int RunInfo(const std::vector<std::string>& args);
int RunBench(const std::vector<std::string>& args);
int RunSweep(const std::vector<std::string>& args);
int RunCollect(const std::vector<std::string>& args);
int RunSlurm(const std::vector<std::string>& args);
int RunAnalyze(const std::vector<std::string>& args);

// sim analyze's work on one run file (cmd_analyze.cc), also what sim sweep does to a complete run
// whose requested analyses are missing.
struct AnalyzeRequest {
  std::map<std::string, std::string> requested;  // analysis.* values, over the run's own config
  bool force = false;                            // recompute analyses present with the same options
  bool refuse_not_applicable = true;             // a requested analysis that does not apply is an error; else skipped
  bool locked_by_caller = false;                 // the caller holds the file's FileLock
};
// Adds the selected analyses the file lacks (or holds with other options); returns a one-line
// summary ("<path>: added attention; already present steps_to"). Throws sim::Error.
std::string AnalyzeFile(const std::string& path, const AnalyzeRequest& request);

// The analyses that `given` (a run's options) requests, by setting one of their keys, and the run
// file `path` lacks or holds with other options (its record attribute `options` differs). Reads
// attributes only. An analysis that does not apply to the run stays in the list (applying needs
// the model); AnalyzeFile then skips it.
std::vector<std::string> AnalysesToAdd(const std::string& path, const std::map<std::string, std::string>& given);

}  // namespace sim
