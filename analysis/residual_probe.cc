#include "analysis/residual_probe.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Cholesky>

#include "sim/core/check.h"

namespace sim {

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// Ridge strengths tried, relative to the mean squared norm of a centred feature column.
constexpr double kLambdas[] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100};

// Accuracy (argmax of the outputs against argmax of the one-hot targets) or mean R² over rows.
double Score(const MatrixXd& predicted, const MatrixXd& target, bool classes) {
  if (classes) {
    int correct = 0;
    for (Index j = 0; j < target.cols(); ++j) {
      Index p, t;
      predicted.col(j).maxCoeff(&p);
      target.col(j).maxCoeff(&t);
      correct += p == t;
    }
    return static_cast<double>(correct) / target.cols();
  }
  double r2 = 0;
  for (Index i = 0; i < target.rows(); ++i) {
    const double mean = target.row(i).mean();
    const double total = (target.row(i).array() - mean).square().sum();
    const double error = (target.row(i) - predicted.row(i)).squaredNorm();
    r2 += total > 0 ? 1.0 - error / total : std::numeric_limits<double>::quiet_NaN();
  }
  return r2 / target.rows();
}

}  // namespace

double FitRidgeProbe(const ProbeSplit& data, bool classes, double* lambda) {
  SIM_CHECK(data.fit_x.cols() > 0 && data.select_x.cols() > 0 && data.test_x.cols() > 0,
            "FitRidgeProbe: every part of the split needs columns");
  const VectorXd x_mean = data.fit_x.rowwise().mean(), y_mean = data.fit_y.rowwise().mean();
  const MatrixXd x = data.fit_x.colwise() - x_mean, y = data.fit_y.colwise() - y_mean;
  const MatrixXd gram = x * x.transpose();   // (D, D)
  const MatrixXd cross = y * x.transpose();  // (C, D)
  const double scale = std::max(1e-12, x.colwise().squaredNorm().mean()) * x.cols();
  const auto predict = [&](const MatrixXd& w, const MatrixXd& features) -> MatrixXd {
    return (w * (features.colwise() - x_mean)).colwise() + y_mean;
  };
  double best_score = -std::numeric_limits<double>::infinity();
  MatrixXd best_w;
  for (double relative : kLambdas) {
    MatrixXd regularized = gram;
    regularized.diagonal().array() += relative * scale / x.rows();
    // W (C, D) = Y Xᵀ (X Xᵀ + λ I)⁻¹, from the symmetric system (X Xᵀ + λ I) Wᵀ = X Yᵀ.
    const MatrixXd w = regularized.ldlt().solve(cross.transpose()).transpose();
    const double score = Score(predict(w, data.select_x), data.select_y, classes);
    if (score > best_score || best_w.size() == 0) {
      best_score = score;
      best_w = w;
      *lambda = relative;
    }
  }
  return Score(predict(best_w, data.test_x), data.test_y, classes);
}

std::vector<AnalysisArray> ResidualProbe(const Transformer& model, const Task& task, const ProbeOptions& probe) {
  const TaskInfo& info = task.info();
  const Batch batch = DrawProbe(task, probe);
  SIM_CHECK(batch.shape.batch >= 4, "probe: needs at least 4 examples (fit, select, test), has ", batch.shape.batch);
  auto ws = model.MakeWorkspace(batch.shape, std::max(1, batch.n_scored()));
  model.Forward(batch, *ws);
  const bool classes = batch.output == OutputKind::kClasses;
  const int n_targets = classes ? info.n_classes : 1;
  // Scored positions by part: examples [0, B/2) fit, [B/2, 3B/4) select, the rest test.
  const int t = batch.shape.length, b = batch.shape.batch;
  const auto part = [&](int column) {
    const int example = column / t;
    return example < b / 2 ? 0 : example < (3 * b) / 4 ? 1 : 2;
  };
  std::vector<int> columns[3];
  std::vector<int> target_index[3];
  for (int j = 0; j < batch.n_scored(); ++j) {
    columns[part(batch.scored[j])].push_back(batch.scored[j]);
    target_index[part(batch.scored[j])].push_back(j);
  }
  const auto targets = [&](int p) {
    MatrixXd y = MatrixXd::Zero(n_targets, static_cast<Index>(columns[p].size()));
    for (size_t i = 0; i < columns[p].size(); ++i) {
      const int j = target_index[p][i];
      if (classes)
        y(batch.labels[j], static_cast<Index>(i)) = 1.0;
      else
        y(0, static_cast<Index>(i)) = batch.values[j];
    }
    return y;
  };
  const int layers = model.n_layers();
  AnalysisArray score, lambdas;
  score.path = classes ? "probe/accuracy" : "probe/r2";
  lambdas.path = "probe/lambda";
  for (AnalysisArray* a : {&score, &lambdas}) {
    a->dims = {static_cast<uint64_t>(layers + 1)};
    a->string_attrs["dims"] = "stream";
    a->string_attrs["target"] = classes ? "label" : "value";
    a->string_attrs["split"] = info.splits[probe.split];
    a->number_attrs["probe_examples"] = probe.examples;
  }
  for (int l = 0; l <= layers; ++l) {
    const Mat& stream = ws->stream[l];  // (D, N)
    const auto features = [&](int p) {
      MatrixXd x(stream.rows(), static_cast<Index>(columns[p].size()));
      for (size_t i = 0; i < columns[p].size(); ++i)
        x.col(static_cast<Index>(i)) = stream.col(columns[p][i]).cast<double>();
      return x;
    };
    const ProbeSplit data{features(0), targets(0), features(1), targets(1), features(2), targets(2)};
    double lambda = 0;
    score.data.push_back(FitRidgeProbe(data, classes, &lambda));
    lambdas.data.push_back(lambda);
  }
  return {score, lambdas};
}

void DeclareResidualProbeOptions(OptionSet& set) {
  OptionDecl decl{"analysis.residual_probe", "false",
                  "store /analysis/probe: ridge probes of the residual stream after every layer for the task's "
                  "target (accuracy or R^2 on held-out probe examples)",
                  ""};
  decl.omit_at_default = true;  // added after runs existed: they keep their config text and names
  set.Declare(decl);
}

bool ReadResidualProbeOptions(Options& options) { return options.Bool("analysis.residual_probe"); }

std::string ResidualProbeApplies(const AnalysisInputs& in, const AnalysisOptions&) {
  if (in.probe.examples < 4) return Concat("analysis.probe = ", in.probe.examples, ": needs at least 4 examples");
  return "";
}

std::vector<AnalysisArray> ResidualProbeAnalysis(const AnalysisInputs& in, const AnalysisOptions&) {
  return ResidualProbe(*in.model, *in.task, in.probe);
}

}  // namespace sim
