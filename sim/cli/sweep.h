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
// (without train.threads), so a changed configuration never reuses a stale file and an unchanged
// one is found again.
//
// Chained sweeps: `train.init_from = sweep:DIR` (swept or fixed) starts each run from the run of the
// sweep in DIR whose values of the shared options equal this run's: the options swept there (its
// manifest's keys) that this run sets (INI, command line or [sweep]; defaults do not count). Such a
// run's hash takes the source run's parameter hash in place of its path.
#pragma once

#include <cstdint>
#include <map>
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

// Expands the axes over the base options (INI files and command line): a swept value replaces an INI
// file's value of that option, but an option set on the command line (`command_line`) may not be
// swept. Every run's configuration is resolved and validated. train.init_from = sweep:DIR is resolved
// to a run file of DIR (ConfigError when no run or several runs match, InputError when DIR has no
// manifest); relative DIR is relative to the current directory.
std::vector<SweepRun> ExpandSweep(const std::vector<SweepAxis>& axes, const std::map<std::string, std::string>& base,
                                  const std::set<std::string>& command_line, const OptionSet& set);

// The manifest a sweep leaves in its output directory, read by `sim collect`: one line per run,
// "index<TAB>hash<TAB>file<TAB>key=value<TAB>...", after a header line naming the swept keys.
std::string SweepManifest(const std::vector<SweepAxis>& axes, const std::vector<SweepRun>& runs);

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
