// Subcommands of the `sim` executable. Each takes its arguments (after the command name), prints to
// stdout/stderr and returns the process exit code; errors propagate as sim::Error for main to report.
#pragma once

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

}  // namespace sim
