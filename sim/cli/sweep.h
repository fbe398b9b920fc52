// Sweeps: an INI config plus a [sweep] section whose keys are option names and whose values are
// lists; the runs are the cartesian product of the axes, the first axis outermost (the last varies
// fastest), each run indexed 0..N-1 in that order.
//
//   [sweep]
//   task.name = icqa, template            a list
//   model.layers = 1..4                   an inclusive integer range
//   seed = 0..2                           `seed` is short for train.seed
//   model.d_model & model.heads = 64 & 4, 128 & 8     a zipped group: values move together
//   model.heads = [8,1,1], [4,4,4]        a value containing commas is written in brackets
//
// A run's file is <out-dir>/run-<index>-<hash>.h5, the hash taken over its resolved configuration
// without the options that cannot change training (ResultDeterminingConfig: train.threads, analysis.*),
// so a changed configuration never reuses a stale file and an unchanged one is found again.
//
// Chained sweeps: `train.init_from = sweep:DIR` (swept or fixed) starts each run from the run of the
// sweep in DIR whose values of the shared options equal this run's: the options swept there (its
// manifest's keys) that this run sets (INI, command line or [sweep]; defaults do not count). Such a
// run's hash takes the source run's parameter hash in place of its path.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "sim/cli/cli_options.h"
#include "sim/config/options.h"

namespace sim {

struct SweepAxis {
  std::vector<std::string> keys;                 // one, or several zipped
  std::vector<std::vector<std::string>> values;  // per point, one value per key
};

struct SweepRun {
  int index = 0;
  std::map<std::string, std::string> overrides;  // the swept values of this run
  std::map<std::string, std::string> given;      // every given option of this run
  std::string resolved_ini;
  uint64_t hash = 0;
  std::string file;  // file name inside the output directory
  // With train.init_from = sweep:DIR: the chosen source run file (also in given["train.init_from"]),
  // and whether it is still to be made (not complete): then the run cannot start, its hash and file
  // name are provisional ("pending"), and source_state says why.
  std::string source;
  bool source_pending = false;
  std::string source_state;
};

// Parses [sweep] lines; throws ConfigError naming file, line and problem. Values are split at commas
// outside brackets; `[a,b]` is the one value `a,b`; `a..b` is a range when a and b are integers; `#`
// and `;` start a comment at the start of a line or after whitespace.
std::vector<SweepAxis> ParseSweep(const std::vector<SweepLine>& lines, const OptionSet& set);

// At most this many runs per sweep. Resolving and validating a run (its model built) takes about
// 0.6 ms, so a sweep of 100,000 runs takes a minute to check before anything runs, and no machine
// or SLURM array (default MaxArraySize: 1001) runs that many anyway; docs/sweeps.md says more.
inline constexpr size_t kMaxSweepRuns = 100000;

// The runs of a sweep over the base options (INI files and command line), resolved one at a time:
// counting and the swept values of a run are arithmetic over the axes; a run's configuration is
// resolved and validated only when asked for. A swept value replaces an INI file's value of that
// option, but an option set on the command line (`command_line`) may not be swept.
// train.init_from = sweep:DIR is resolved to a run file of DIR (ConfigError when no run or several
// runs match, InputError when DIR has no manifest); relative DIR is relative to the current directory.
class SweepRuns {
 public:
  // Throws ConfigError when a swept option is set on the command line or the sweep has more than
  // kMaxSweepRuns runs.
  SweepRuns(const std::vector<SweepAxis>& axes, const std::map<std::string, std::string>& base,
            const std::set<std::string>& command_line, const OptionSet& set);
  ~SweepRuns();
  SweepRuns(const SweepRuns&) = delete;
  SweepRuns& operator=(const SweepRuns&) = delete;

  size_t size() const { return size_; }
  const std::vector<SweepAxis>& axes() const { return axes_; }
  // Whether train.init_from = sweep:DIR appears (fixed or swept): names then depend on the source runs.
  bool chained() const { return chained_; }
  // The swept values of run `index` (no resolution).
  std::map<std::string, std::string> Overrides(size_t index) const;
  // Resolves and validates run `index`; throws ConfigError prefixed "run <index> (<swept values>): ".
  SweepRun Resolve(size_t index);

 private:
  struct SourceCache;
  std::vector<SweepAxis> axes_;
  std::map<std::string, std::string> base_;
  const OptionSet& set_;
  size_t size_ = 1;
  bool chained_ = false;
  std::unique_ptr<SourceCache> sources_;
};

// Resolves every run in index order and calls each(run) for the valid ones (streaming: nothing is
// kept); then throws one ConfigError listing the invalid runs, if any.
void ForEachRun(SweepRuns& runs, const std::function<void(SweepRun& run)>& each);

// Every run, resolved and validated (ForEachRun); the returned runs keep neither `given` nor
// `resolved_ini` (SweepRuns::Resolve gives them for one run).
std::vector<SweepRun> ExpandSweep(SweepRuns& runs);

// The manifest a sweep leaves in its output directory, read by `sim collect`: one line per run,
// "index<TAB>hash<TAB>file<TAB>key=value<TAB>...", after a header line naming the swept keys.
std::string SweepManifest(const std::vector<SweepAxis>& axes, const std::vector<SweepRun>& runs);

// Whether the manifest at `path` is this sweep's as it stands, judged without resolving every run:
// same keys, same number of runs, every run's swept values as the axes give them, and `run`'s hash
// and file as listed. Never for a chained sweep (its names follow the source runs' states).
bool ManifestIsCurrent(const std::string& path, const SweepRuns& runs, const SweepRun& run);

struct ManifestEntry {
  int index = 0;
  std::string hash;
  std::string file;
  std::map<std::string, std::string> overrides;
};
// Swept keys in axis order, and the runs.
void ReadManifest(const std::string& path, std::vector<std::string>& keys, std::vector<ManifestEntry>& runs);

// State of a run's result file: "missing", "checkpointed" (no file, a checkpoint), "complete",
// "diverged", "interrupted" or "unreadable".
std::string RunFileState(const std::string& path);

// 64-bit FNV-1a, then mixed: stable across platforms and builds.
uint64_t HashText(const std::string& text);

}  // namespace sim
