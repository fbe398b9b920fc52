// `sim sweep --all`: a sweep's runs on this machine, each in its own process, `jobs` at a time.
#pragma once

#include <string>
#include <vector>

namespace sim {

struct LocalSweep {
  std::vector<int> todo;                // run indices still to do, in order
  int total = 0;                        // runs in the sweep
  std::vector<std::string> child_args;  // `sim` arguments of a run process, without `--index I`
  int jobs = 1;                         // processes at a time
  bool quiet = false;                   // no progress lines at all
};

// Runs every run of `sweep.todo` as `sim <child_args> --index I [--quiet | --report-progress]`.
// Progress: with one job on a terminal, the run's own live line; with several jobs on a terminal,
// a live block (sweep_display.h); otherwise a timestamped line per finished run. SIGINT/SIGTERM are
// passed on to the runs, which checkpoint and stop. Returns kExitOk, kExitInterrupted (a run was
// stopped) or kExitInternal (a run failed).
int RunSweepLocally(const LocalSweep& sweep);

}  // namespace sim
