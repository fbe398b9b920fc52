// One training run from resolved options to a result file, with checkpoints and resumption: the
// shared body of `sim train` and `sim sweep`.
#pragma once

#include <map>
#include <string>

namespace sim {

struct RunRequest {
  std::map<std::string, std::string> given;  // option values (INI + overrides)
  std::string out;                           // result file
  bool quiet = false;                        // only the summary line
  double checkpoint_seconds = 60.0;          // periodic checkpoints; 0 = only when stopped by a signal
  bool restart = false;                      // ignore (and replace) an existing checkpoint
  std::string label;                         // prefix of progress lines (sweeps: "run 3/48")
  bool report_to_parent = false;             // progress lines for a parallel sweep's live view on stderr,
                                             // each starting with kProgressMarker (sweep_display.h)
  bool out_locked = false;                   // the caller holds out's FileLock (sweeps); else TrainToFile
                                             // takes it, and refuses when another process holds it
};

// Trains and writes `out`; returns the process exit code (0, or kExitInterrupted after a stop
// signal, with a checkpoint at "<out>.ckpt" to resume from). Throws sim::Error for bad input.
int TrainToFile(const RunRequest& request);

// The resolved INI text without the settings that cannot change results (train.threads): what
// checkpoints must match and what sweep file names hash.
std::string ResultDeterminingConfig(const std::string& resolved_ini);

// ResultDeterminingConfig without the options that only add outputs and change no bit of training
// (train.snapshot_steps, train.snapshot_every): what sweep file names hash. A sweep that adds
// snapshots therefore keeps its file names and does not redo complete runs (a new --out-dir does).
// Checkpoints still match on ResultDeterminingConfig: a run resumes only with the snapshots it began with.
std::string SweepHashedConfig(const std::string& resolved_ini);

}  // namespace sim
