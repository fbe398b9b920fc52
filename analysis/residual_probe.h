// Linear probes of the residual stream (Alain & Bengio 2016; Hewitt & Manning 2019 for the
// held-out selection): after the embedding and after every layer, a closed-form ridge regression
// from the stream at the scored positions to the task's target, its label (one-hot; accuracy of the
// largest output) or its value (R²).
//
// The probe prompts (see head_analyses.h) are split by example: the first half fits each probe, the
// third quarter chooses the ridge strength λ from a grid, the last quarter gives the reported score,
// so neither the weights nor λ see the prompts the score is measured on. Features and targets are
// centred with the fitting half's means (an intercept that is not penalized).
//
//   "probe/accuracy" [L+1] (class tasks) or "probe/r2" [L+1] (scalar tasks): entry 0 after the
//     embedding, entry l after layer l; attribute target = "label" | "value"
//   "probe/lambda" [L+1]: the chosen λ, relative to the mean squared feature norm
#pragma once

#include <vector>

#include "analysis/analyses.h"
#include "analysis/attention_analysis.h"
#include "sim/data/task.h"
#include "sim/io/run_file.h"
#include "sim/models/transformer.h"

namespace sim {

std::vector<AnalysisArray> ResidualProbe(const Transformer& model, const Task& task, const ProbeOptions& probe);

// Registry entry: analysis.residual_probe = true selects it (any model; the shared probe prompts).
void DeclareResidualProbeOptions(OptionSet& set);
bool ReadResidualProbeOptions(Options& options);
std::string ResidualProbeApplies(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> ResidualProbeAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);

// One probe: features (D, S) and targets (C, S) split into fit / select / test columns; returns the
// test score (accuracy when `classes`, else R², averaged over target rows) and sets *lambda.
struct ProbeSplit {
  Eigen::MatrixXd fit_x, fit_y, select_x, select_y, test_x, test_y;
};
double FitRidgeProbe(const ProbeSplit& data, bool classes, double* lambda);

}  // namespace sim
