#include "sim/train/trainer.h"

#include <chrono>
#include <cmath>

#include "sim/core/check.h"
#include "sim/core/parallel.h"
#include "sim/train/metrics.h"

namespace sim {

const char* RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kComplete:
      return "complete";
    case RunStatus::kDiverged:
      return "diverged";
    case RunStatus::kInterrupted:
      return "interrupted";
  }
  return "unknown";
}

Trainer::Trainer(const TrainConfig& config, const Task& task, Transformer& model, ParamRegistry& registry)
    : cfg_(config),
      task_(&task),
      model_(&model),
      registry_(&registry),
      train_rng_(Rng::ForStream(config.seed, "data/train")) {
  SetNumThreads(cfg_.threads);
  const TaskInfo& info = task.info();
  optimizer_ = std::make_unique<Optimizer>(cfg_.optimizer, registry);
  const int t = info.length;
  train_ws_ = model.MakeWorkspace({cfg_.batch, t}, cfg_.batch * info.max_scored_per_example);

  eval_n_batches_ = (cfg_.eval.size + cfg_.eval.batch - 1) / cfg_.eval.batch;
  eval_batch_size_ = (cfg_.eval.size + eval_n_batches_ - 1) / eval_n_batches_;
  eval_ws_ = model.MakeWorkspace({eval_batch_size_, t}, eval_batch_size_ * info.max_scored_per_example);
  for (size_t s = 1; s < info.splits.size(); ++s) {
    eval_splits_.push_back(static_cast<int>(s));
    eval_rngs_.push_back(Rng::ForStream(cfg_.eval.seed, "eval/" + info.splits[s]));
    std::vector<Batch> batches;
    if (!cfg_.eval.fresh) {
      batches.resize(eval_n_batches_);
      for (Batch& b : batches) task.Sample(static_cast<int>(s), eval_rngs_.back(), eval_batch_size_, b);
    }
    eval_batches_.push_back(std::move(batches));
  }
  if (!cfg_.target_metric.empty() && task.SplitIndex(cfg_.target_split) < 1)
    throw ConfigError(Concat("train.target_split: '", cfg_.target_split, "' is not an evaluation split of task '",
                             info.name, "'"));
}

std::map<std::string, double> Trainer::EvaluateSplit(int which) {
  MetricSums sums;
  for (int i = 0; i < eval_n_batches_; ++i) {
    const Batch* batch = &eval_scratch_;
    if (cfg_.eval.fresh)
      task_->Sample(eval_splits_[which], eval_rngs_[which], eval_batch_size_, eval_scratch_);
    else
      batch = &eval_batches_[which][i];
    EvaluateBatch(*model_, *eval_ws_, *task_, *batch, sums);
  }
  std::map<std::string, double> metrics = sums.Means();
  task_->Finish(metrics);
  return metrics;
}

std::map<std::string, std::map<std::string, double>> Trainer::EvaluateAll() {
  std::map<std::string, std::map<std::string, double>> all;
  for (size_t i = 0; i < eval_splits_.size(); ++i)
    all[task_->info().splits[eval_splits_[i]]] = EvaluateSplit(static_cast<int>(i));
  return all;
}

TrainResult Trainer::Run(const std::atomic<bool>* stop, const std::function<void(const Progress&)>& on_progress) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  TrainResult result;
  const int n_evals = cfg_.steps / cfg_.eval_every + 2;
  std::map<std::string, std::vector<double>> series;  // built at the first evaluation
  double loss_sum = 0.0;
  int loss_count = 0;
  double last_train_loss = NAN;
  int last_eval_step = -1;
  auto last_report = start;
  int steps_at_report = 0;

  auto evaluate = [&](int step) {
    const auto metrics = EvaluateAll();
    const double train_loss = loss_count > 0 ? loss_sum / loss_count : last_train_loss;
    if (loss_count > 0) last_train_loss = train_loss;
    loss_sum = 0.0;
    loss_count = 0;
    if (result.curve_names.empty()) {
      result.curve_names = {"step", "train_loss", "lr"};
      for (const auto& [split, values] : metrics)
        for (const auto& [metric, value] : values) result.curve_names.push_back(split + "_" + metric);
      result.curves.assign(result.curve_names.size(), {});
      for (auto& c : result.curves) c.reserve(n_evals);
    }
    result.curves[0].push_back(step);
    result.curves[1].push_back(train_loss);
    result.curves[2].push_back(cfg_.schedule.At(std::max(0, step - 1)));
    size_t k = 3;
    for (const auto& [split, values] : metrics)
      for (const auto& [metric, value] : values) result.curves[k++].push_back(value);
    result.final_metrics = metrics;
    result.final_metrics["train"]["loss"] = train_loss;
    last_eval_step = step;
    if (!cfg_.target_metric.empty() && result.target_step < 0) {
      auto split_it = metrics.find(cfg_.target_split);
      if (split_it != metrics.end()) {
        auto it = split_it->second.find(cfg_.target_metric);
        if (it == split_it->second.end())
          throw ConfigError(Concat("train.target_metric: split '", cfg_.target_split, "' has no metric '",
                                   cfg_.target_metric, "'"));
        const bool reached = HigherIsBetter(cfg_.target_metric) ? it->second >= cfg_.target_value
                                                                : it->second <= cfg_.target_value;
        if (reached) result.target_step = step;
      }
    }
    return metrics;
  };

  int step = 0;
  while (step < cfg_.steps) {
    if (stop != nullptr && stop->load()) {
      result.status = RunStatus::kInterrupted;
      break;
    }
    const double lr = cfg_.schedule.At(step);
    task_->Sample(0, train_rng_, cfg_.batch, train_batch_);
    const double loss = ForwardLoss(*model_, *train_ws_, train_batch_, true, nullptr);
    if (!std::isfinite(loss)) {
      result.status = RunStatus::kDiverged;
      break;
    }
    registry_->ZeroGrads();
    model_->Backward(train_batch_, *train_ws_);
    const double norm = ClipGradNorm(*registry_, cfg_.clip);
    if (!std::isfinite(norm)) {
      result.status = RunStatus::kDiverged;
      break;
    }
    optimizer_->Step(lr);
    ++step;
    loss_sum += loss;
    ++loss_count;

    Progress progress;
    progress.step = step;
    progress.total = cfg_.steps;
    progress.lr = lr;
    progress.train_loss = loss;
    std::map<std::string, std::map<std::string, double>> metrics;
    if (step % cfg_.eval_every == 0 || step == cfg_.steps) {
      metrics = evaluate(step);
      progress.evaluated = true;
      progress.eval = &metrics;
    }
    if (on_progress) {
      const auto now = Clock::now();
      const double dt = std::chrono::duration<double>(now - last_report).count();
      progress.steps_per_second = dt > 0 ? (step - steps_at_report) / dt : 0.0;
      last_report = now;
      steps_at_report = step;
      on_progress(progress);
    }
    if (result.target_step >= 0) break;
  }
  result.steps_done = step;
  if (last_eval_step != step) evaluate(step);
  result.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return result;
}

}  // namespace sim
