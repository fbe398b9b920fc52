// The analyses a run can carry under /analysis: a registry of named analyses (analysis_registry.cc,
// one line each, like the tasks), run after training (sim train, sim sweep) or later on the run
// file (sim analyze). docs/extending.md shows how to add one.
//
// Each entry
//   - declares its options: analysis.<name> selects it (true/false; steps_to takes a threshold or
//     none), analysis.<name>.<key> are its own, each with a default and help (shown by sim train
//     --help and sim analyze --help). Keys added after run files exist are declared
//     omit_at_default, so a run that leaves them alone keeps its resolved config text and its
//     sweep file name;
//   - says whether it applies to a model and task, and why not (sim analyze refuses an analysis
//     that was asked for and does not apply; one selected by default is skipped);
//   - computes float64 arrays at paths below /analysis (its `outputs`, documented with shape, dims
//     and meaning in docs/results-format.md) for one set of parameters. On a run with parameter
//     snapshots the runner calls it once per snapshot and once for the final parameters, and stacks
//     the arrays along a leading step axis (analysis/time_series.h); the analysis does nothing for it.
// The runner adds the record attributes to /analysis/<outputs[0]>: `options` (the analysis's
// resolved options, "key = value" lines: what sim analyze compares to skip it), `engine_version`,
// and for probe analyses `probe_split` and `probe_examples`.
//
// Example (sim/cli/run_training.cc):
//   AnalysisInputs in;  in.model = ...; in.task = ...; in.task_measures = TaskMeasures(name);
//   record.analysis = AnalysesAfterTraining(in, ReadAnalysisConfig(options), &skipped);
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/data/task_measures.h"
#include "sim/io/run_file.h"
#include "sim/models/transformer.h"
#include "sim/train/train_config.h"

namespace sim {

// A probe batch: `examples` held-out examples of evaluation split `split` (drawn afresh), from the
// stream "probe/<split name>" under eval.seed, so every run of a study is probed on the same prompts.
struct ProbeOptions {
  int split = 1;  // index into the task's splits; -1 = the task has no split drawn afresh
  int examples = 256;
  uint64_t seed = 0;  // eval.seed
};

// The probe prompts: `examples` of evaluation split `split` (drawn afresh: never a fixed pool) from
// the stream "probe/<split>" under eval.seed, so every run of a study sees the same prompts
// (analysis/attention_analysis.cc).
Batch DrawProbe(const Task& task, const ProbeOptions& options);

// What an analysis reads. Every pointer is set by the caller; probe is filled by the runner.
struct AnalysisInputs {
  const Transformer* model = nullptr;  // with trained parameters
  const Task* task = nullptr;
  const TrainConfig* train = nullptr;                        // train.target_metric, target_split
  const std::vector<std::string>* curve_names = nullptr;     // the run's /curves
  const std::vector<std::vector<double>>* curves = nullptr;  // one per name, one entry per evaluation
  TaskMeasureFn task_measures = nullptr;                     // the task's measures (task registry), or null
  ProbeOptions probe;                                        // for analyses with uses_probe
  // For the runner (RunAnalysis), never read by an analysis: the run's parameter snapshots
  // (train.snapshot_steps; null or empty = none), the step of the parameters the model holds (steps
  // done), and the registry whose values the model reads. With snapshots, an analysis that reads the
  // parameters runs on each of them and on the final parameters, and writes time series
  // (analysis/time_series.h).
  const std::vector<ParamSnapshot>* snapshots = nullptr;
  int final_step = 0;
  ParamRegistry* registry = nullptr;
};

// One analysis's resolved options (already checked): the text of each of its keys, typed reads.
class AnalysisOptions {
 public:
  AnalysisOptions() = default;
  explicit AnalysisOptions(std::vector<std::pair<std::string, std::string>> values) : values_(std::move(values)) {}
  // The value of `key`, which must be one of the analysis's keys (else InternalError).
  const std::string& Text(const std::string& key) const;
  // Text(key), or "" when it is `none` or empty.
  std::string OptionalText(const std::string& key) const;
  double Number(const std::string& key) const;
  long Integer(const std::string& key) const;
  bool Flag(const std::string& key) const;
  // "key = value" lines in declaration order: the `options` attribute of the analysis's record.
  std::string Recorded() const;

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

struct AnalysisEntry {
  std::string name;     // analysis.<name> selects it
  std::string summary;  // one line for sim analyze --help
  // Declares analysis.<name> and analysis.<name>.* (new keys with omit_at_default = true).
  void (*declare)(OptionSet& set) = nullptr;
  // Other options whose values change its result (recorded with its own): analysis.probe, eval.seed.
  std::vector<std::string> shared_keys;
  // Checks its options with typed reads (problems go to options); returns whether it is selected.
  bool (*read)(Options& options) = nullptr;
  // Why it does not apply to this model, task and run, naming what is missing ("" = it applies).
  std::string (*applies)(const AnalysisInputs& in, const AnalysisOptions& options) = nullptr;
  // Its arrays, paths relative to /analysis, each below one of `outputs`.
  std::vector<AnalysisArray> (*run)(const AnalysisInputs& in, const AnalysisOptions& options) = nullptr;
  // Its paths below /analysis (a group covers everything below it); outputs[0] carries the record
  // attributes. sim analyze removes them all before writing a recomputed result.
  std::vector<std::string> outputs;
  bool uses_probe = false;  // reads in.probe (probe_split and probe_examples are recorded)
  // Its result depends on the parameters: on a run with snapshots it runs on each and writes time
  // series. False for analyses of the run's record alone (steps_to reads the curves).
  bool reads_params = true;
};

const std::vector<AnalysisEntry>& AnalysisRegistry();
// The entry called `name`, or null.
const AnalysisEntry* FindAnalysis(const std::string& name);
// Every analysis's option keys: analysis.<name> and analysis.<name>.* (not the shared keys).
std::vector<std::string> AnalysisOptionKeys(const AnalysisEntry& entry);

// Declares every analysis's options, in registry order.
void DeclareAnalysisOptions(OptionSet& set);

struct SelectedAnalysis {
  const AnalysisEntry* entry = nullptr;
  AnalysisOptions options;  // its keys and its shared keys, resolved
  bool requested = false;   // one of its keys was given (INI or command line), not left at its default
};

struct AnalysisConfig {
  std::vector<SelectedAnalysis> selected;  // in registry order
  int probe_examples = 256;                // analysis.probe
  uint64_t seed = 0;                       // eval.seed: every run is probed on the same prompts
  double steps_to = NAN;                   // analysis.steps_to; NaN = none
};

// Reads and checks every analysis's options (problems go to options).
AnalysisConfig ReadAnalysisConfig(Options& options);

// Why `analysis` does not apply to `in` ("" when it does); sets in.probe for probe analyses.
std::string WhyNotApplies(const SelectedAnalysis& analysis, const AnalysisConfig& config, AnalysisInputs& in);

// Runs one analysis (which must apply: call WhyNotApplies first) and adds the record attributes: on
// the model's parameters, or, when in.snapshots has any and the analysis reads the parameters, on
// each snapshot and the final parameters, stacked into time series (analysis/time_series.h).
std::vector<AnalysisArray> RunAnalysis(const SelectedAnalysis& analysis, const AnalysisInputs& in);

// After training: /analysis/chance (when the task has a chance level) and every selected analysis
// that applies; "name: reason" of each requested one that does not goes to *not_applied.
std::vector<AnalysisArray> AnalysesAfterTraining(const AnalysisInputs& in, const AnalysisConfig& config,
                                                 std::vector<std::string>* not_applied);

}  // namespace sim
