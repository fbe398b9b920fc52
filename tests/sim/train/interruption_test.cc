// Stop requests answered inside an evaluation, and the evaluation an interruption adds to the result:
// a run stopped at chosen points (through the progress callback, so no timing is involved), resumed
// from its checkpoint in a fresh trainer, ends bit for bit like an uninterrupted run.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "sim/cli/experiment.h"
#include "sim/train/trainer.h"

namespace sim {
namespace {

std::map<std::string, std::string> SmallMqar(const std::string& eval_mode) {
  return {{"task.name", "mqar"}, {"task.vocab", "32"},    {"task.length", "16"},      {"task.pairs", "4"},
          {"task.queries", "4"}, {"model.d_model", "32"}, {"model.heads", "2"},       {"model.d_mlp", "0"},
          {"train.steps", "60"}, {"train.lr", "3e-3"},    {"train.eval_every", "20"}, {"train.target_metric", "none"},
          {"eval.size", "250"},  {"eval.batch", "60"},    {"eval.mode", eval_mode}};
}

const std::vector<double>& Curve(const TrainResult& r, const std::string& name) {
  for (size_t i = 0; i < r.curve_names.size(); ++i)
    if (r.curve_names[i] == name) return r.curves[i];
  ADD_FAILURE() << "no curve " << name;
  static const std::vector<double> none;
  return none;
}

struct Session {
  explicit Session(const std::map<std::string, std::string>& given) : set(AllOptions()), options(set, given) {
    e = BuildExperiment(options);
    trainer = std::make_unique<Trainer>(e.train, *e.task, *e.model, *e.registry);
  }
  OptionSet set;
  Options options;
  Experiment e;
  std::unique_ptr<Trainer> trainer;
};

void ExpectSameBits(const std::vector<double>& a, const std::vector<double>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)), 0) << what;
}

void ExpectSameResult(const TrainResult& a, const Vec& params_a, const TrainResult& b, const Vec& params_b) {
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.steps_done, b.steps_done);
  ASSERT_EQ(a.curve_names, b.curve_names);
  for (size_t i = 0; i < a.curves.size(); ++i) ExpectSameBits(a.curves[i], b.curves[i], a.curve_names[i]);
  EXPECT_EQ(a.final_metrics, b.final_metrics);
  ASSERT_EQ(params_a.size(), params_b.size());
  EXPECT_EQ(std::memcmp(params_a.data(), params_b.data(), params_a.size() * sizeof(Scalar)), 0);
}

// Stops the run when the evaluation at `step` has done `batch` batches (of its first split).
TrainResult StopInsideEvaluation(Session& s, int step, int batch, Checkpoint* checkpoint, std::atomic<int>* stop) {
  return s.trainer->Run(
      stop,
      [&](const Progress& p) {
        if (p.evaluating && p.step == step && p.eval_batch == batch) stop->store(1);
      },
      [&](const Checkpoint& c) { *checkpoint = c; });
}

class InterruptedEvaluationTest : public ::testing::TestWithParam<std::string> {};

// Item 9 of the adversarial campaign: a stop request inside an evaluation checkpoints before that
// evaluation (at its step, nothing of it recorded) and the resumed run redoes it; the end result is
// the uninterrupted one, for fixed and fresh evaluation sets.
TEST_P(InterruptedEvaluationTest, ResumedRunRedoesTheEvaluationAndEndsBitIdentical) {
  Session reference(SmallMqar(GetParam()));
  const TrainResult expected = reference.trainer->Run(nullptr, {});
  ASSERT_EQ(expected.curves[0], (std::vector<double>{20, 40, 60}));

  Session first(SmallMqar(GetParam()));
  Checkpoint checkpoint;
  std::atomic<int> stop{0};
  const TrainResult stopped = StopInsideEvaluation(first, 40, 2, &checkpoint, &stop);
  EXPECT_EQ(stopped.status, RunStatus::kInterrupted);
  EXPECT_EQ(stopped.steps_done, 40);
  EXPECT_EQ(checkpoint.state.step, 40);
  EXPECT_EQ(checkpoint.state.last_eval_step, 20) << "the evaluation cut short is not in the checkpoint";
  // The interrupted result adds the evaluation at step 40 (a whole one), equal to the reference's.
  ASSERT_EQ(stopped.curves[0], (std::vector<double>{20, 40}));
  for (size_t i = 0; i < stopped.curves.size(); ++i)
    EXPECT_EQ(stopped.curves[i][1], expected.curves[i][1]) << stopped.curve_names[i];

  Session resumed(SmallMqar(GetParam()));
  resumed.trainer->Restore(checkpoint);
  const TrainResult result = resumed.trainer->Run(nullptr, {});
  ExpectSameResult(expected, reference.e.registry->values(), result, resumed.e.registry->values());

  // The interrupted trainer itself, asked to go on, also ends like the reference: the interruption's
  // evaluation left no trace in its state.
  stop.store(0);
  const TrainResult continued = first.trainer->Run(&stop, {});
  ExpectSameResult(expected, reference.e.registry->values(), continued, first.e.registry->values());
}

// A stop request inside the last evaluation (after the last step) checkpoints at the last step; the
// resumed run only evaluates.
TEST_P(InterruptedEvaluationTest, StopInsideTheFinalEvaluation) {
  Session reference(SmallMqar(GetParam()));
  const TrainResult expected = reference.trainer->Run(nullptr, {});
  Session first(SmallMqar(GetParam()));
  Checkpoint checkpoint;
  std::atomic<int> stop{0};
  EXPECT_EQ(StopInsideEvaluation(first, 60, 3, &checkpoint, &stop).status, RunStatus::kInterrupted);
  EXPECT_EQ(checkpoint.state.step, 60);
  EXPECT_EQ(checkpoint.state.last_eval_step, 40);
  Session resumed(SmallMqar(GetParam()));
  resumed.trainer->Restore(checkpoint);
  ExpectSameResult(expected, reference.e.registry->values(), resumed.trainer->Run(nullptr, {}),
                   resumed.e.registry->values());
}

INSTANTIATE_TEST_SUITE_P(EvalModes, InterruptedEvaluationTest, ::testing::Values("fixed", "fresh"));

// Item 11: a stop before the first evaluation still gives curves, one point at the interruption step.
TEST(InterruptionEvaluationTest, StopBeforeTheFirstEvaluationRecordsOneThere) {
  Session s(SmallMqar("fixed"));
  std::atomic<int> stop{0};
  const TrainResult r = s.trainer->Run(&stop, [&](const Progress& p) {
    if (p.step == 7) stop.store(1);
  });
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  ASSERT_EQ(r.curves.size(), r.curve_names.size());
  ASSERT_GE(r.curve_names.size(), 5u);
  for (const auto& c : r.curves) EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(r.curves[0][0], 7);
  EXPECT_TRUE(std::isfinite(r.curves[1][0])) << "train_loss over steps 1..7";
  EXPECT_EQ(r.final_metrics.at("test").at("accuracy"), Curve(r, "test_accuracy").at(0));
}

// When the interruption's evaluation cannot be afforded (here a budget of 0 s), the result still has
// a curve point: step, train_loss and lr, with no evaluation metric.
TEST(InterruptionEvaluationTest, UnaffordableEvaluationLeavesATrainingOnlyPoint) {
  Session s(SmallMqar("fixed"));
  s.trainer->set_interruption_eval_seconds(0.0);
  std::atomic<int> stop{0};
  const TrainResult r = s.trainer->Run(&stop, [&](const Progress& p) {
    if (p.step == 7) stop.store(1);
  });
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  EXPECT_EQ(r.curve_names, (std::vector<std::string>{"step", "train_loss", "lr"}));
  ASSERT_EQ(r.curves.size(), 3u);
  EXPECT_EQ(r.curves[0], (std::vector<double>{7}));
  EXPECT_EQ(r.final_metrics.count("test"), 0u);
  EXPECT_EQ(r.final_metrics.at("train").at("loss"), r.curves[1][0]);
}

// A second stop request abandons the interruption's evaluation; with earlier evaluations the result
// keeps exactly those.
TEST(InterruptionEvaluationTest, SecondRequestSkipsTheInterruptionEvaluation) {
  Session s(SmallMqar("fixed"));
  std::atomic<int> stop{0};
  const TrainResult r = s.trainer->Run(&stop, [&](const Progress& p) {
    if (p.step == 25) stop.store(2);
  });
  EXPECT_EQ(r.status, RunStatus::kInterrupted);
  EXPECT_EQ(r.steps_done, 25);
  EXPECT_EQ(r.curves[0], (std::vector<double>{20}));
  EXPECT_EQ(r.final_metrics.at("test").at("accuracy"), Curve(r, "test_accuracy").at(0));
}

// A diverged run stays diverged when resumed from a checkpoint made after it diverged.
TEST(InterruptionEvaluationTest, ResumedDivergedRunStaysDiverged) {
  std::map<std::string, std::string> given = SmallMqar("fixed");
  given["train.lr"] = "1e6";
  given["train.clip"] = "0";
  given["train.optimizer"] = "sgd";
  Session s(given);
  const TrainResult r = s.trainer->Run(nullptr, {});
  ASSERT_EQ(r.status, RunStatus::kDiverged);
  const Checkpoint c = s.trainer->MakeCheckpoint();
  EXPECT_TRUE(c.state.diverged);
  Session resumed(given);
  resumed.trainer->Restore(c);
  const TrainResult again = resumed.trainer->Run(nullptr, {});
  EXPECT_EQ(again.status, RunStatus::kDiverged);
  EXPECT_EQ(again.steps_done, r.steps_done);
  EXPECT_EQ(again.curves[0], r.curves[0]);
}

// ---- Parameter snapshots (train.snapshot_steps, train.snapshot_every) ------------------------------

std::map<std::string, std::string> WithSnapshots(std::map<std::string, std::string> given, const std::string& steps,
                                                 const std::string& every = "0") {
  given["train.snapshot_steps"] = steps;
  given["train.snapshot_every"] = every;
  return given;
}

void ExpectSameSnapshots(const Trainer& a, const Trainer& b) {
  ASSERT_EQ(a.snapshots().size(), b.snapshots().size());
  for (size_t i = 0; i < a.snapshots().size(); ++i) {
    const ParamSnapshot &x = a.snapshots()[i], &y = b.snapshots()[i];
    EXPECT_EQ(x.step, y.step);
    ASSERT_EQ(x.values.size(), y.values.size());
    EXPECT_EQ(std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(Scalar)), 0) << "step " << x.step;
  }
}

std::vector<int> Steps(const std::vector<ParamSnapshot>& snapshots) {
  std::vector<int> steps;
  for (const ParamSnapshot& s : snapshots) steps.push_back(s.step);
  return steps;
}

// Snapshots are taken after the optimizer step of each listed step and of every multiple of
// snapshot_every below train.steps (the final step only when listed), and change no bit of training.
TEST(SnapshotsTest, TakenAtTheListedStepsWithoutChangingTraining) {
  Session plain(SmallMqar("fixed"));
  const TrainResult expected = plain.trainer->Run(nullptr, {});
  EXPECT_TRUE(plain.trainer->snapshots().empty());
  Session snap(WithSnapshots(SmallMqar("fixed"), "5,25", "20"));
  EXPECT_EQ(snap.e.train.snapshot_steps, (std::vector<int>{5, 20, 25, 40}));
  const TrainResult result = snap.trainer->Run(nullptr, {});
  ExpectSameResult(expected, plain.e.registry->values(), result, snap.e.registry->values());
  EXPECT_EQ(Steps(snap.trainer->snapshots()), (std::vector<int>{5, 20, 25, 40}));
  Session last(WithSnapshots(SmallMqar("fixed"), "60"));
  last.trainer->Run(nullptr, {});
  ASSERT_EQ(Steps(last.trainer->snapshots()), (std::vector<int>{60})) << "the final step when listed";
  EXPECT_TRUE(last.trainer->snapshots()[0].values == last.e.registry->values());
}

// The snapshot of step s holds the parameters a run of s steps ends with (constant learning rate:
// the schedule does not depend on train.steps).
TEST(SnapshotsTest, ASnapshotIsTheParametersOfARunStoppedThere) {
  Session snap(WithSnapshots(SmallMqar("fixed"), "7,40"));
  snap.trainer->Run(nullptr, {});
  ASSERT_EQ(Steps(snap.trainer->snapshots()), (std::vector<int>{7, 40}));
  for (const ParamSnapshot& s : snap.trainer->snapshots()) {
    std::map<std::string, std::string> given = SmallMqar("fixed");
    given["train.steps"] = std::to_string(s.step);
    Session shorter(given);
    shorter.trainer->Run(nullptr, {});
    EXPECT_TRUE(s.values == shorter.e.registry->values()) << "step " << s.step;
    EXPECT_FALSE(s.values == snap.e.registry->values());
  }
}

// A run with snapshots before and after the interruption point, stopped inside the evaluation at step
// 40 or between steps 25 and 26, resumes from its checkpoint to the uninterrupted run's result and
// snapshots, bit for bit (the checkpoint holds the snapshots taken so far).
TEST(SnapshotsTest, InterruptedAndResumedRunHasTheUninterruptedSnapshots) {
  const auto given = WithSnapshots(SmallMqar("fresh"), "10,40,50", "15");  // 10, 15, 30, 40, 45, 50
  Session reference(given);
  const TrainResult expected = reference.trainer->Run(nullptr, {});
  ASSERT_EQ(Steps(reference.trainer->snapshots()), (std::vector<int>{10, 15, 30, 40, 45, 50}));
  for (const bool inside_evaluation : {true, false}) {
    SCOPED_TRACE(inside_evaluation ? "stopped inside the evaluation at step 40" : "stopped after step 25");
    Session first(given);
    Checkpoint checkpoint;
    std::atomic<int> stop{0};
    TrainResult stopped;
    if (inside_evaluation) {
      stopped = StopInsideEvaluation(first, 40, 2, &checkpoint, &stop);
      EXPECT_EQ(Steps(checkpoint.state.snapshots), (std::vector<int>{10, 15, 30, 40}));
    } else {
      stopped = first.trainer->Run(
          &stop,
          [&](const Progress& p) {
            if (!p.evaluating && p.step == 25) stop.store(1);
          },
          [&](const Checkpoint& c) { checkpoint = c; });
      EXPECT_EQ(Steps(checkpoint.state.snapshots), (std::vector<int>{10, 15}));
    }
    EXPECT_EQ(stopped.status, RunStatus::kInterrupted);
    Session resumed(given);
    resumed.trainer->Restore(checkpoint);
    const TrainResult result = resumed.trainer->Run(nullptr, {});
    ExpectSameResult(expected, reference.e.registry->values(), result, resumed.e.registry->values());
    ExpectSameSnapshots(*reference.trainer, *resumed.trainer);
  }
}

// A checkpoint whose snapshots do not fit train.snapshot_steps up to its step is refused.
TEST(SnapshotsTest, ACheckpointWithOtherSnapshotsIsRefused) {
  Session first(WithSnapshots(SmallMqar("fixed"), "10,30"));
  std::atomic<int> stop{0};
  Checkpoint checkpoint;
  first.trainer->Run(
      &stop,
      [&](const Progress& p) {
        if (!p.evaluating && p.step == 35) stop.store(1);
      },
      [&](const Checkpoint& c) { checkpoint = c; });
  ASSERT_EQ(Steps(checkpoint.state.snapshots), (std::vector<int>{10, 30}));
  Session other(WithSnapshots(SmallMqar("fixed"), "10,20,30"));
  EXPECT_THROW(other.trainer->Restore(checkpoint), InputError);
  Session none(SmallMqar("fixed"));
  EXPECT_THROW(none.trainer->Restore(checkpoint), InputError);
  Session same(WithSnapshots(SmallMqar("fixed"), "10,30"));
  EXPECT_NO_THROW(same.trainer->Restore(checkpoint));
}

// Bad snapshot options are configuration errors naming the key.
TEST(SnapshotsTest, BadStepsAreRefusedNamingTheKey) {
  for (const auto& [steps, every, expected] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"10,5", "0", "train.snapshot_steps: expected increasing steps; 5 follows 10"},
           {"10,10", "0", "train.snapshot_steps: expected increasing steps"},
           {"0,10", "0", "train.snapshot_steps: expected a comma-separated list of integers in [1, "},
           {"10,61", "0", "train.snapshot_steps: expected steps <= train.steps=60; 61 is beyond the run"},
           {"ten", "0", "train.snapshot_steps: expected a comma-separated list"},
           {"none", "-1", "train.snapshot_every"}}) {
    const OptionSet set = AllOptions();
    Options options(set, WithSnapshots(SmallMqar("fixed"), steps, every));
    try {
      BuildExperiment(options, BuildMode::kConfigOnly);
      ADD_FAILURE() << steps << " / " << every << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace sim
