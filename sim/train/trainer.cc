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

Trainer::Trainer(const TrainConfig& config, const Task& task, Transformer& model, ParamRegistry& registry,
                 LoraAdapters* lora)
    : cfg_(config),
      task_(&task),
      model_(&model),
      registry_(&registry),
      lora_(lora),
      train_rng_(Rng::ForStream(config.seed, "data/train")) {
  SIM_CHECK(lora != nullptr || registry.Match("lora.*").empty(),
            "Trainer: the registry has LoRA adapters; pass the experiment's LoraAdapters");
  SetNumThreads(cfg_.threads);
  const TaskInfo& info = task.info();
  optimizer_ = std::make_unique<Optimizer>(cfg_.optimizer, registry);
  const int t = info.length;
  SIM_CHECK(cfg_.chunk >= 1, "Trainer: train.chunk = ", cfg_.chunk,
            " is not resolved; call ResolveAutoChunk first (BuildExperiment does)");
  gradients_ = std::make_unique<BatchGradients>(model, registry, BatchShape{cfg_.batch, t}, info.max_scored_per_example,
                                                cfg_.chunk);

  state_.snapshots.reserve(cfg_.snapshot_steps.size());
  eval_n_batches_ = (cfg_.eval.size + cfg_.eval.batch - 1) / cfg_.eval.batch;
  eval_batch_size_ = (cfg_.eval.size + eval_n_batches_ - 1) / eval_n_batches_;
  eval_ws_ = model.MakeWorkspace({eval_batch_size_, t}, eval_batch_size_ * info.max_scored_per_example);
  for (size_t s = 1; s < info.splits.size(); ++s) {
    if (!info.evaluated(static_cast<int>(s))) continue;  // analysis-only (a tuning split)
    if (cfg_.eval.Skips(info.splits[s])) continue;       // eval.skip
    eval_splits_.push_back(static_cast<int>(s));
    eval_rngs_.push_back(Rng::ForStream(cfg_.eval.seed, "eval/" + info.splits[s]));
    std::vector<Batch> pool;
    const int fixed = info.split_size(static_cast<int>(s));
    // A fixed split (a training pool): evaluated whole, whatever eval.size says. Its size is the
    // task's, so holding it costs no more than the task's own pool.
    for (int begin = 0; begin < fixed; begin += eval_batch_size_) {
      pool.emplace_back();
      task.SampleFixed(static_cast<int>(s), begin, std::min(eval_batch_size_, fixed - begin), eval_batch_size_,
                       pool.back());
    }
    eval_pools_.push_back(std::move(pool));
  }
}

bool Trainer::EvaluateAll(const std::function<bool()>& stop, const std::function<void(const Progress&)>& on_progress,
                          Metrics* out) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  std::vector<uint64_t> positions;
  for (const Rng& r : eval_rngs_) positions.push_back(r.position());
  auto rewind = [&] {
    for (size_t i = 0; i < eval_rngs_.size(); ++i) eval_rngs_[i].set_position(positions[i]);
  };
  Metrics all;
  int batches_done = 0;
  for (size_t which = 0; which < eval_splits_.size(); ++which) {
    const int split = eval_splits_[which];
    const std::vector<Batch>& pool = eval_pools_[which];
    const bool fixed = !pool.empty();
    const int n_batches = fixed ? static_cast<int>(pool.size()) : eval_n_batches_;
    // With eval.mode = fixed every evaluation replays the stream from its start: the examples the engine
    // once generated whole at construction, in the same order, now one batch at a time.
    Rng replay = eval_rngs_[which];
    Rng& rng = cfg_.eval.fresh ? eval_rngs_[which] : replay;
    MetricSums sums;
    for (int i = 0; i < n_batches; ++i) {
      if (stop && stop()) {
        rewind();
        return false;
      }
      const Batch* batch = &eval_scratch_;
      if (fixed)
        batch = &pool[i];
      else
        task_->Sample(split, rng, eval_batch_size_, eval_scratch_);
      EvaluateBatch(*model_, *eval_ws_, *task_, *batch, sums);
      ++batches_done;
      eval_batch_seconds_ = std::chrono::duration<double>(Clock::now() - start).count() / batches_done;
      if (on_progress) {
        Progress p;
        p.step = state_.step;
        p.total = cfg_.steps;
        p.evaluating = true;
        p.eval_split = task_->info().splits[split];
        p.eval_batch = i + 1;
        p.eval_batches = n_batches;
        p.eval_seconds = std::chrono::duration<double>(Clock::now() - start).count();
        on_progress(p);
      }
    }
    std::map<std::string, double> metrics = sums.Means();
    task_->Finish(metrics);
    all[task_->info().splits[split]] = std::move(metrics);
  }
  *out = std::move(all);
  return true;
}

Trainer::Metrics Trainer::EvaluateAll() {
  Metrics all;
  EvaluateAll({}, {}, &all);
  return all;
}

bool Trainer::EvaluateAndRecord(const std::function<bool()>& stop,
                                const std::function<void(const Progress&)>& on_progress, Metrics* out) {
  TrainerState& st = state_;
  Metrics metrics;
  if (!EvaluateAll(stop, on_progress, &metrics)) return false;
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
  *out = std::move(metrics);
  return true;
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
  // The snapshots are those of this run's list up to its step (the config matched, so a mismatch is a
  // damaged or foreign checkpoint).
  for (size_t i = 0; i < c.state.snapshots.size(); ++i) {
    const ParamSnapshot& snap = c.state.snapshots[i];
    if (i >= cfg_.snapshot_steps.size() || snap.step != cfg_.snapshot_steps[i] || snap.values.size() != n)
      throw InputError(Concat("checkpoint snapshot ", i, " (step ", snap.step, ", ", snap.values.size(),
                              " values) does not match train.snapshot_steps and this model's ", n, " parameters"));
  }
  size_t due = 0;
  while (due < cfg_.snapshot_steps.size() && cfg_.snapshot_steps[due] <= c.state.step) ++due;
  if (c.state.snapshots.size() != due)
    throw InputError(Concat("checkpoint at step ", c.state.step, " holds ", c.state.snapshots.size(),
                            " parameter snapshots; train.snapshot_steps has ", due, " up to that step"));
  next_snapshot_ = due;
  state_ = c.state;
  train_rng_.set_position(c.train_rng_position);
  // With eval.mode = fixed the streams stay at their start (checkpoints of earlier engines hold the
  // position after the whole set was generated; it is not where evaluations begin).
  if (cfg_.eval.fresh)
    for (size_t i = 0; i < eval_rngs_.size(); ++i) eval_rngs_[i].set_position(c.eval_rng_positions[i]);
  optimizer_->set_steps(c.optimizer_steps);
  registry_->values() = c.params;
  optimizer_->moment1() = c.moment1;
  optimizer_->moment2() = c.moment2;
}

TrainResult Trainer::Interrupted(const std::atomic<int>* stop_requests,
                                 const std::function<void(const Checkpoint&)>& on_checkpoint, double session_seconds) {
  TrainerState& st = state_;
  // The state is at a step boundary, or before an evaluation that was cut short (nothing of it
  // recorded, its streams rewound): the checkpoint resumes there, and a resumed run ends exactly like
  // an uninterrupted one.
  if (on_checkpoint) {
    st.wall_seconds += session_seconds;
    on_checkpoint(MakeCheckpoint());
    st.wall_seconds -= session_seconds;
  }
  TrainResult r = Result(RunStatus::kInterrupted, session_seconds);
  if (st.last_eval_step == st.step) return r;
  // The interruption's evaluation, in the result only. It costs one scheduled evaluation; it is
  // skipped or abandoned (at a batch boundary) when a second stop request arrives or when it would
  // take more than interruption_eval_seconds_, judged by the time per batch of the latest evaluation
  // (often the one the request cut short) and by the clock.
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  int total_batches = 0;
  for (const std::vector<Batch>& pool : eval_pools_)
    total_batches += pool.empty() ? eval_n_batches_ : static_cast<int>(pool.size());
  auto give_up = [&] {
    return stop_requests->load() >= 2 || eval_batch_seconds_ * total_batches > interruption_eval_seconds_ ||
           std::chrono::duration<double>(Clock::now() - start).count() >= interruption_eval_seconds_;
  };
  std::vector<uint64_t> positions;
  for (const Rng& rng : eval_rngs_) positions.push_back(rng.position());
  Metrics metrics;
  const bool evaluated = EvaluateAll(give_up, {}, &metrics);
  for (size_t i = 0; i < eval_rngs_.size(); ++i) eval_rngs_[i].set_position(positions[i]);  // as checkpointed
  const double train_loss = st.loss_count > 0 ? st.loss_sum / st.loss_count : st.last_train_loss;
  if (evaluated) {
    r.final_metrics = metrics;
    if (st.loss_count > 0) r.final_metrics["train"]["loss"] = train_loss;
  } else if (!r.curve_names.empty()) {
    return r;  // the curves so far, and the last evaluation's final values
  } else {
    r.final_metrics.clear();
    if (st.loss_count > 0) r.final_metrics["train"]["loss"] = train_loss;
  }
  if (r.curve_names.empty()) {
    r.curve_names = {"step", "train_loss", "lr"};
    if (evaluated)
      for (const auto& [split, values] : metrics)
        for (const auto& [metric, value] : values) r.curve_names.push_back(split + "_" + metric);
    r.curves.assign(r.curve_names.size(), {});
  }
  r.curves[0].push_back(st.step);
  r.curves[1].push_back(train_loss);
  r.curves[2].push_back(cfg_.schedule.At(std::max(0, st.step - 1)));
  size_t k = 3;
  for (const auto& [split, values] : metrics)
    for (const auto& [metric, value] : values) r.curves[k++].push_back(value);
  return r;
}

TrainResult Trainer::Run(const std::atomic<int>* stop_requests, const std::function<void(const Progress&)>& on_progress,
                         const std::function<void(const Checkpoint&)>& on_checkpoint, double checkpoint_seconds) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto seconds_since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  auto last_report = start, last_checkpoint = start;
  int steps_at_report = state_.step;
  TrainerState& st = state_;
  std::atomic<int> no_requests{0};
  if (stop_requests == nullptr) stop_requests = &no_requests;
  const std::function<bool()> stop = [stop_requests] { return stop_requests->load() >= 1; };
  auto evaluation_due = [&](int step) { return step % cfg_.eval_every == 0 || step == cfg_.steps; };
  Metrics metrics;

  // A resumed run whose evaluation at this step was cut short by an interruption redoes it first.
  if (!st.diverged && st.step > 0 && st.step < cfg_.steps && st.last_eval_step != st.step && evaluation_due(st.step)) {
    if (!EvaluateAndRecord(stop, on_progress, &metrics))
      return Interrupted(stop_requests, on_checkpoint, seconds_since(start));
  }
  while (!st.diverged && st.step < cfg_.steps && st.target_step < 0) {
    if (stop()) return Interrupted(stop_requests, on_checkpoint, seconds_since(start));
    const double lr = cfg_.schedule.At(st.step);
    task_->SampleTraining(train_rng_, cfg_.batch, st.step, train_batch_);
    const double loss = gradients_->Compute(train_batch_);
    if (!std::isfinite(loss)) {
      st.diverged = true;
      break;
    }
    if (lora_) lora_->AddAdapterGrads();
    const double norm = ClipGradNorm(*registry_, cfg_.clip);
    if (!std::isfinite(norm)) {
      st.diverged = true;
      break;
    }
    optimizer_->Step(lr);
    if (lora_) lora_->Merge();  // the weights of the next forward pass, evaluation or snapshot
    ++st.step;
    if (next_snapshot_ < cfg_.snapshot_steps.size() && cfg_.snapshot_steps[next_snapshot_] == st.step) {
      st.snapshots.push_back({st.step, registry_->values()});
      ++next_snapshot_;
    }
    st.loss_sum += loss;
    ++st.loss_count;

    Progress progress;
    progress.step = st.step;
    progress.total = cfg_.steps;
    progress.lr = lr;
    progress.train_loss = loss;
    if (evaluation_due(st.step)) {
      if (!EvaluateAndRecord(stop, on_progress, &metrics))
        return Interrupted(stop_requests, on_checkpoint, seconds_since(start));
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
  if (st.last_eval_step != st.step && !EvaluateAndRecord(stop, on_progress, &metrics))
    return Interrupted(stop_requests, on_checkpoint, seconds_since(start));
  return Result(st.diverged ? RunStatus::kDiverged : RunStatus::kComplete, seconds_since(start));
}

}  // namespace sim
