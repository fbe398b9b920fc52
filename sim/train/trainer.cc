#include "sim/train/trainer.h"

#include <chrono>
#include <cmath>

#include "sim/core/check.h"
#include "sim/kernels/parallel.h"
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
  SIM_CHECK(cfg_.chunk >= 1, "Trainer: train.chunk = ", cfg_.chunk,
            " is not resolved; call ResolveAutoChunk first (BuildExperiment does)");
  gradients_ = std::make_unique<BatchGradients>(model, registry, BatchShape{cfg_.batch, t}, info.max_scored_per_example,
                                                cfg_.chunk);

  eval_n_batches_ = (cfg_.eval.size + cfg_.eval.batch - 1) / cfg_.eval.batch;
  eval_batch_size_ = (cfg_.eval.size + eval_n_batches_ - 1) / eval_n_batches_;
  eval_ws_ = model.MakeWorkspace({eval_batch_size_, t}, eval_batch_size_ * info.max_scored_per_example);
  for (size_t s = 1; s < info.splits.size(); ++s) {
    eval_splits_.push_back(static_cast<int>(s));
    eval_rngs_.push_back(Rng::ForStream(cfg_.eval.seed, "eval/" + info.splits[s]));
    std::vector<Batch> batches;
    const int fixed = info.split_size(static_cast<int>(s));
    if (fixed > 0) {  // a fixed set (a training pool): evaluated whole, whatever eval.size says
      for (int begin = 0; begin < fixed; begin += eval_batch_size_) {
        batches.emplace_back();
        task.SampleFixed(static_cast<int>(s), begin, std::min(eval_batch_size_, fixed - begin), eval_batch_size_,
                         batches.back());
      }
    } else if (!cfg_.eval.fresh) {
      batches.resize(eval_n_batches_);
      for (Batch& b : batches) task.Sample(static_cast<int>(s), eval_rngs_.back(), eval_batch_size_, b);
    }
    eval_batches_.push_back(std::move(batches));
  }
}

std::map<std::string, double> Trainer::EvaluateSplit(int which) {
  MetricSums sums;
  const bool fixed = task_->info().split_size(eval_splits_[which]) > 0;
  const int n_batches = fixed ? static_cast<int>(eval_batches_[which].size()) : eval_n_batches_;
  for (int i = 0; i < n_batches; ++i) {
    const Batch* batch = &eval_scratch_;
    if (cfg_.eval.fresh && !fixed)
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

std::map<std::string, std::map<std::string, double>> Trainer::EvaluateAndRecord() {
  TrainerState& st = state_;
  const auto metrics = EvaluateAll();
  const double train_loss = st.loss_count > 0 ? st.loss_sum / st.loss_count : st.last_train_loss;
  if (st.loss_count > 0) st.last_train_loss = train_loss;
  st.loss_sum = 0.0;
  st.loss_count = 0;
  if (st.curve_names.empty()) {
    st.curve_names = {"step", "train_loss", "lr"};
    for (const auto& [split, values] : metrics)
      for (const auto& [metric, value] : values) st.curve_names.push_back(split + "_" + metric);
    st.curves.assign(st.curve_names.size(), {});
    for (auto& c : st.curves) c.reserve(cfg_.steps / cfg_.eval_every + 2);
  }
  st.curves[0].push_back(st.step);
  st.curves[1].push_back(train_loss);
  st.curves[2].push_back(cfg_.schedule.At(std::max(0, st.step - 1)));
  size_t k = 3;
  for (const auto& [split, values] : metrics)
    for (const auto& [metric, value] : values) st.curves[k++].push_back(value);
  st.final_metrics = metrics;
  st.final_metrics["train"]["loss"] = train_loss;
  st.last_eval_step = st.step;
  if (!cfg_.target_metric.empty() && st.target_step < 0) {
    auto split_it = metrics.find(cfg_.target_split);
    if (split_it != metrics.end()) {
      auto it = split_it->second.find(cfg_.target_metric);
      if (it == split_it->second.end())
        throw ConfigError(
            Concat("train.target_metric: split '", cfg_.target_split, "' has no metric '", cfg_.target_metric, "'"));
      const bool reached =
          HigherIsBetter(cfg_.target_metric) ? it->second >= cfg_.target_value : it->second <= cfg_.target_value;
      if (reached) st.target_step = st.step;
    }
  }
  return metrics;
}

TrainResult Trainer::Result(RunStatus status, double session_seconds) const {
  TrainResult r;
  r.status = status;
  r.steps_done = state_.step;
  r.target_step = state_.target_step;
  r.curve_names = state_.curve_names;
  r.curves = state_.curves;
  r.final_metrics = state_.final_metrics;
  r.wall_seconds = state_.wall_seconds + session_seconds;
  return r;
}

Checkpoint Trainer::MakeCheckpoint() const {
  Checkpoint c;
  c.state = state_;
  c.train_rng_position = train_rng_.position();
  for (const Rng& r : eval_rngs_) c.eval_rng_positions.push_back(r.position());
  c.optimizer_steps = optimizer_->steps();
  c.params = registry_->values();
  c.moment1 = optimizer_->moment1();
  c.moment2 = optimizer_->moment2();
  return c;
}

void Trainer::Restore(const Checkpoint& c) {
  const Index n = registry_->total_size();
  if (c.params.size() != n || c.moment1.size() != optimizer_->moment1().size() ||
      c.moment2.size() != optimizer_->moment2().size())
    throw InputError(Concat("checkpoint holds ", c.params.size(), " parameters and moments of sizes ", c.moment1.size(),
                            "/", c.moment2.size(), "; this model has ", n, " parameters and moments of sizes ",
                            optimizer_->moment1().size(), "/", optimizer_->moment2().size()));
  if (c.eval_rng_positions.size() != eval_rngs_.size())
    throw InputError(Concat("checkpoint has ", c.eval_rng_positions.size(), " evaluation streams, this task has ",
                            eval_rngs_.size()));
  if (c.state.step > cfg_.steps)
    throw InputError(Concat("checkpoint is at step ", c.state.step, ", beyond train.steps=", cfg_.steps));
  state_ = c.state;
  train_rng_.set_position(c.train_rng_position);
  for (size_t i = 0; i < eval_rngs_.size(); ++i) eval_rngs_[i].set_position(c.eval_rng_positions[i]);
  optimizer_->set_steps(c.optimizer_steps);
  registry_->values() = c.params;
  optimizer_->moment1() = c.moment1;
  optimizer_->moment2() = c.moment2;
}

TrainResult Trainer::Run(const std::atomic<bool>* stop, const std::function<void(const Progress&)>& on_progress,
                         const std::function<void(const Checkpoint&)>& on_checkpoint, double checkpoint_seconds) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  auto last_report = start, last_checkpoint = start;
  int steps_at_report = state_.step;
  TrainerState& st = state_;
  RunStatus status = RunStatus::kComplete;

  while (st.step < cfg_.steps && st.target_step < 0) {
    if (stop != nullptr && stop->load()) {
      // The checkpoint holds the state at this step boundary; the result reports where the run stood
      // without adding a curve point, so a resumed run ends exactly like an uninterrupted one.
      if (on_checkpoint) {
        const double session = seconds_since(start);
        st.wall_seconds += session;
        on_checkpoint(MakeCheckpoint());
        st.wall_seconds -= session;
      }
      TrainResult r = Result(RunStatus::kInterrupted, seconds_since(start));
      if (st.last_eval_step != st.step) {
        r.final_metrics = EvaluateAll();
        if (st.loss_count > 0) r.final_metrics["train"]["loss"] = st.loss_sum / st.loss_count;
      }
      return r;
    }
    const double lr = cfg_.schedule.At(st.step);
    task_->Sample(0, train_rng_, cfg_.batch, train_batch_);
    const double loss = gradients_->Compute(train_batch_);
    if (!std::isfinite(loss)) {
      status = RunStatus::kDiverged;
      break;
    }
    const double norm = ClipGradNorm(*registry_, cfg_.clip);
    if (!std::isfinite(norm)) {
      status = RunStatus::kDiverged;
      break;
    }
    optimizer_->Step(lr);
    ++st.step;
    st.loss_sum += loss;
    ++st.loss_count;

    Progress progress;
    progress.step = st.step;
    progress.total = cfg_.steps;
    progress.lr = lr;
    progress.train_loss = loss;
    std::map<std::string, std::map<std::string, double>> metrics;
    if (st.step % cfg_.eval_every == 0 || st.step == cfg_.steps) {
      metrics = EvaluateAndRecord();
      progress.evaluated = true;
      progress.eval = &metrics;
    }
    if (on_progress) {
      const double dt = seconds_since(last_report);
      progress.steps_per_second = dt > 0 ? (st.step - steps_at_report) / dt : 0.0;
      last_report = Clock::now();
      steps_at_report = st.step;
      on_progress(progress);
    }
    if (on_checkpoint && checkpoint_seconds > 0 && seconds_since(last_checkpoint) >= checkpoint_seconds &&
        st.step < cfg_.steps) {
      const double session = seconds_since(start);
      st.wall_seconds += session;
      on_checkpoint(MakeCheckpoint());
      st.wall_seconds -= session;
      last_checkpoint = Clock::now();
    }
  }
  if (st.last_eval_step != st.step) EvaluateAndRecord();
  return Result(status, seconds_since(start));
}

}  // namespace sim
