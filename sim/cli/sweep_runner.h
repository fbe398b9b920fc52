// `sim sweep --all`: a sweep's runs on this machine, each in its own process, `jobs` at a time.
#pragma once

#include <string>
#include <vector>

namespace sim {

// Exit code of a run process started with --skip-if-running whose run another process holds (its
// lock is taken): only between `sim sweep --all` and its run processes, never of `sim` itself.
inline constexpr int kExitRunElsewhere = 79;

struct LocalSweep {
  std::vector<int> todo;                // run indices still to do, in order
  int total = 0;                        // runs in the sweep
  std::vector<std::string> child_args;  // `sim` arguments of a run process, without `--index I`
  int jobs = 1;                         // processes at a time
  bool quiet = false;                   // no progress lines at all
};

// Runs every run of `sweep.todo` as `sim <child_args> --index I --skip-if-running [--quiet |
// --report-progress]`. A run that another process holds (a concurrent sweep on the same directory)
// is started again after the others, without --skip-if-running: that process waits for the other
// to finish with it, and makes it if the other stopped before it was done.
// Progress: with one job on a terminal, the run's own live line; with several jobs on a terminal,
// a live block (sweep_display.h); otherwise a timestamped line per finished run. SIGINT/SIGTERM are
// passed on to the runs, which checkpoint and stop. Returns kExitOk, kExitInterrupted (a run was
// stopped) or kExitInternal (a run failed).
int RunSweepLocally(const LocalSweep& sweep);

}  // namespace sim
