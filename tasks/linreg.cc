#include "tasks/linreg.h"

namespace sim {

LinregTask::LinregTask(const LinregConfig& config) : cfg_(config) {
  info_.name = "linreg";
  info_.input = InputKind::kVectors;
  info_.d_in = cfg_.d + 1;
  info_.output = OutputKind::kScalar;
  info_.n_classes = 0;
  info_.length = 2 * cfg_.points;
  info_.max_scored_per_example = cfg_.score_all ? cfg_.points : 1;
  info_.splits = {"train", "test"};
  info_.requires_causal = true;
  w_.resize(cfg_.d);
}

void LinregTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  const int d = cfg_.d, n = cfg_.points, t_len = 2 * n;
  batch.Reset({batch_size, t_len}, InputKind::kVectors, OutputKind::kScalar, d + 1);
  batch.vectors.setZero();
  for (int b = 0; b < batch_size; ++b) {
    for (int j = 0; j < d; ++j) w_(j) = static_cast<Scalar>(rng.Normal());
    for (int i = 0; i < n; ++i) {
      auto x = batch.vectors.col(b * t_len + 2 * i);
      for (int j = 0; j < d; ++j) x(j) = static_cast<Scalar>(rng.Normal());
      double y = 0.0;
      for (int j = 0; j < d; ++j) y += static_cast<double>(w_(j)) * x(j);
      if (cfg_.noise > 0) y += cfg_.noise * rng.Normal();
      batch.vectors(d, b * t_len + 2 * i + 1) = static_cast<Scalar>(y);
      if (cfg_.score_all || i == n - 1) batch.AddScalarTarget(b, 2 * i, static_cast<Scalar>(y));
    }
  }
}

void LinregTask::Score(const Batch& batch, const ConstMatRef& outputs, MetricSums& sums) const {
  const int t_len = 2 * cfg_.points, last = t_len - 2;
  double err = 0.0, zero = 0.0, count = 0.0;
  for (int j = 0; j < batch.n_scored(); ++j) {
    if (batch.scored[j] % t_len != last) continue;
    const double y = batch.values[j];
    const double diff = outputs(0, j) - y;
    err += diff * diff;
    zero += y * y;
    count += 1.0;
  }
  sums.Add("mse_last", err, count);
  sums.Add("mse_last_zero", zero, count);
}

void LinregTask::Finish(std::map<std::string, double>& metrics) const {
  metrics["mse_last_ratio"] = metrics.at("mse_last") / metrics.at("mse_last_zero");
}

void DeclareLinregOptions(OptionSet& set) {
  const std::string owner = "task:linreg";
  set.Declare({"task.d", "5", "input dimension d", owner});
  set.Declare({"task.points", "11", "(x, y) pairs per sequence n; the sequence has 2n positions", owner});
  set.Declare({"task.noise", "0", "label noise standard deviation", owner});
  set.Declare({"task.score", "all", "scored positions: all (every x) | last (the last x only)", owner});
}

std::unique_ptr<Task> MakeLinreg(Options& options) {
  const OptionErrorScope read(options);
  LinregConfig c;
  c.d = static_cast<int>(options.Int("task.d", 1, 4096));
  c.points = static_cast<int>(options.Int("task.points", 1, 1 << 15));
  c.noise = options.Double("task.noise", 0.0, 1e6);
  c.score_all = options.Choice("task.score", {"all", "last"}) == "all";
  return MakeIfClean<LinregTask>(read, c);
}

}  // namespace sim
