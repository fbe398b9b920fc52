// Time series of an analysis over a run's parameter snapshots (train.snapshot_steps): the analysis
// runs on each snapshot and on the final parameters, and its arrays are stacked along a new leading
// step axis. The platform does this for every analysis whose result depends on the parameters
// (AnalysisEntry::reads_params), so an analysis is written once, for one set of parameters.
//
// Layout (docs/results-format.md): every dataset of the analysis gains a leading axis of length S
// (the number of parameter sets), its `dims` attribute gains "step," in front ("step" for a scalar),
// and it carries the int64 attribute `step` (the S steps, increasing; the last one is the final
// parameters' step). Each output that is a group also gets the dataset <output>/step ([S] float64,
// dims = "step"). Runs without snapshots are not stacked: their arrays keep today's layout.
//
// Example (analysis/analyses.cc RunAnalysis):
//   std::vector<AnalysisArray> arrays = RunOverSnapshots(entry, options, in);
#pragma once

#include <string>
#include <vector>

#include "sim/io/run_file.h"

namespace sim {

struct AnalysisEntry;
class AnalysisOptions;
struct AnalysisInputs;

// Stacks `runs` (one result per parameter set, in step order; all with the same paths, shapes and
// kinds in the same order, else InternalError) along a leading step axis; attributes come from the
// last run (the final parameters). `outputs` are the analysis's outputs (AnalysisEntry::outputs):
// those that are groups get an <output>/step dataset.
std::vector<AnalysisArray> StackOverSteps(const std::vector<int>& steps,
                                          const std::vector<std::vector<AnalysisArray>>& runs,
                                          const std::vector<std::string>& outputs);

// Runs `entry` on each snapshot in *in.snapshots before in.final_step (a snapshot at the final step
// is the final parameters) and then on the final parameters, loading each into *in.registry (the
// parameters the model reads), and stacks the results. The registry holds the final parameters again
// afterwards, also when the analysis throws.
std::vector<AnalysisArray> RunOverSnapshots(const AnalysisEntry& entry, const AnalysisOptions& options,
                                            const AnalysisInputs& in);

}  // namespace sim
