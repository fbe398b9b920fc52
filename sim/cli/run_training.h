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

// The results epoch: raise it when the code behind an unchanged configuration starts to compute
// something else (a default's meaning changes, say model.init = fan_in draws another way), so that
// every sweep gets new file names and no stale result is reused. At 0 it adds nothing to the text,
// which keeps the names runs had before the epoch existed.
inline constexpr int kResultsEpoch = 0;

// What names a run's results: what checkpoints must match and what sweep file names hash. The
// resolved INI text without the options that cannot change training: train.threads (dropped) and
// every analysis.* option (as if at its default: analyses run after training; sim sweep adds the
// ones a complete run lacks, sim analyze adds them to any run file), and "[results] epoch = N"
// when the epoch is above 0. Options added after runs exist are declared omit_at_default (absent
// from the resolved text at their default), so declaring one renames no run
// (tests/sim/cli/run_names_test.cc checks both, and that every new option is declared so).
std::string ResultDeterminingConfig(const std::string& resolved_ini, int epoch = kResultsEpoch);

// ResultDeterminingConfig without the options that only add outputs and change no bit of training
// (train.snapshot_steps, train.snapshot_every): what sweep file names hash. A sweep that adds
// snapshots therefore keeps its file names and does not redo complete runs (a new --out-dir does).
// Checkpoints still match on ResultDeterminingConfig: a run resumes only with the snapshots it began with.
std::string SweepHashedConfig(const std::string& resolved_ini);

}  // namespace sim
