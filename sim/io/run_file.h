// The run file: one self-describing HDF5 file per run (docs/results-format.md, format_version 1).
//
//   /            attributes format="attnsim.run", format_version=1, status, seed, config (resolved
//                INI text), version, steps_done, target_step, threads, chunk, wall_seconds, created
//   /curves/*    1-D float64 datasets of equal length, one entry per evaluation
//   /final/<split>/<metric>   scalar float64
//   /analysis/...             analyses (docs/results-format.md), added by sim train or sim analyze
//   /params/<name>            the trained weights; an engine (rows, cols) column-major matrix is
//                             stored unchanged as a C-order [cols, rows] dataset, a vector as [n]
//   /snapshots/<step>/params/<name>   the weights after that step (train.snapshot_steps), as /params;
//                             attribute steps (int64, increasing) on /snapshots. Absent without snapshots.
//
// Files are written to a temporary name unique to the process ("<path>.tmp.<host>.<pid>"), closed,
// fsync'ed and renamed: a reader never sees a partial file, and a run killed mid-way leaves no file
// at `path`.
#pragma once

#include <cstdint>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/params/param_registry.h"
#include "sim/train/checkpoint.h"

namespace sim {

inline constexpr const char* kRunFormat = "attnsim.run";
inline constexpr int kRunFormatVersion = 1;

// An analysis result stored under /analysis (docs/results-format.md lists them): a float64 array
// (dims in C order, empty = scalar) with optional attributes.
struct AnalysisArray {
  std::string path;  // relative to /analysis, e.g. "attention"
  std::vector<uint64_t> dims;
  std::vector<double> data;
  std::map<std::string, std::string> string_attrs;
  std::map<std::string, double> number_attrs;
  std::map<std::string, std::vector<int64_t>> int_array_attrs;
  bool group = false;  // a group carrying only the attributes (dims and data unused)
};

struct RunRecord {
  std::string config;  // resolved INI text
  uint64_t seed = 0;
  std::string status;  // complete | diverged | interrupted
  int steps_done = 0;
  int target_step = -1;
  int threads = 1;
  int chunk = 0;  // examples per chunk of a training batch (train.chunk resolved); 0 = not recorded
  double wall_seconds = 0.0;
  std::vector<std::string> curve_names;
  std::vector<std::vector<double>> curves;
  std::map<std::string, std::map<std::string, double>> final_metrics;
  std::vector<AnalysisArray> analysis;  // written under /analysis (not read back by ReadRunFile)
  std::string created;                  // kept when a file is rewritten (sim analyze); empty = now
  // Peak learning rate and weight decay before per-parameter multipliers: with them, every
  // /params/<name> records the lr and weight_decay it trained with; NaN = not recorded.
  double base_lr = NAN;
  double weight_decay = NAN;
};

// Writes the record, every parameter of `registry` (with the attribute `trainable`, and `lr` and
// `weight_decay` after every multiplier when the record has base_lr and weight_decay) and the parameter snapshots (each
// with the layout of registry.values()), atomically (temp file, fsync, rename).
void WriteRunFile(const std::string& path, const RunRecord& record, const ParamRegistry& registry,
                  const std::vector<ParamSnapshot>& snapshots = {});

// Reads the root attributes, curves and final metrics. Throws InputError when the file is missing,
// unreadable, or not an attnsim run file (naming what is wrong).
RunRecord ReadRunFile(const std::string& path, std::string* version = nullptr);

// Loads /params/<name> into the parameters of `registry` whose names match one of `patterns`
// (glob, empty = every parameter); names and shapes must match. Returns how many were loaded.
// Throws InputError naming the file and the parameter.
int ReadParams(const std::string& path, ParamRegistry& registry, const std::vector<std::string>& patterns = {});

// The names of the parameters of `registry` that run file `path` stores with another shape (a
// readout for another number of classes). Throws InputError when `path` is not a run file.
std::vector<std::string> ParamsWithOtherShapes(const std::string& path, const ParamRegistry& registry);

// The parameter snapshots of run file `path` (/snapshots, in step order; empty when it has none), each
// with the layout of registry.values(); names and shapes must match `registry`'s. Throws InputError.
std::vector<ParamSnapshot> ReadSnapshots(const std::string& path, const ParamRegistry& registry);

// Adds analysis results to the existing run file `path`: copies it byte for byte to a temporary
// file, removes there the objects `remove` (paths relative to /analysis, a group with everything
// below it), writes `arrays`, fsyncs and renames the copy over `path`. Every other object and
// attribute stays as it was; a process killed at any moment leaves `path` intact (at worst a stale
// "<path>.tmp.<pid>"). Throws InputError when `path` is not a run file or another process holds its
// FileLock (unless locked_by_caller: the caller holds it), WriteError when the disk is full.
void AddAnalysesToRunFile(const std::string& path, const std::vector<std::string>& remove,
                          const std::vector<AnalysisArray>& arrays, bool locked_by_caller = false);

// The string attribute `name` of /analysis/<object> in run file `path`, or "" when the object or
// the attribute does not exist.
std::string AnalysisAttr(const std::string& path, const std::string& object, const std::string& name);

// The numbers of a run file that sim collect turns into summary columns.
struct RunScalars {
  int64_t n_params = 0;  // the root attribute n_params, else the element count of /params
  // (path below /analysis, value) of every scalar dataset under /analysis, in name order, groups
  // included ("chance", "head_ablation/base_loss"). A time series of a scalar (a 1-D dataset with
  // dims = "step", docs/results-format.md) gives its value at the last step; the step axes
  // themselves (datasets named "step") are left out.
  std::vector<std::pair<std::string, double>> analysis;
};

// Reads them. Throws InputError when `path` is not a run file.
RunScalars ReadRunScalars(const std::string& path);

// The engine version string recorded in run files (git describe at build time).
const char* EngineVersion();

}  // namespace sim
