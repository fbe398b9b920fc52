#include "sim/train/trainer.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sim/cli/experiment.h"

namespace sim {
namespace {

struct RunOutput {
  TrainResult result;
  Vec params;
};

RunOutput Train(std::map<std::string, std::string> given, const std::atomic<int>* stop = nullptr) {
  const OptionSet set = AllOptions();
  Options options(set, given);
  Experiment e = BuildExperiment(options);
  Trainer trainer(e.train, *e.task, *e.model, *e.registry);
  RunOutput out;
  out.result = trainer.Run(stop, {});
  out.params = e.registry->values();
  return out;
}

double Final(const TrainResult& r, const std::string& split, const std::string& metric) {
  return r.final_metrics.at(split).at(metric);
}

std::map<std::string, std::string> SmallMqar() {
  return {{"task.name", "mqar"},  {"task.vocab", "32"},    {"task.length", "16"},  {"task.pairs", "4"},
          {"task.queries", "4"},  {"model.d_model", "32"}, {"model.heads", "2"},   {"model.d_mlp", "0"},
          {"train.steps", "400"}, {"train.lr", "3e-3"},    {"train.warmup", "50"}, {"train.eval_every", "100"},
          {"eval.size", "500"}};
}

// mqar: loss falls far below the chance baseline (ln of 16 possible values) and recall is learned.
TEST(TrainerTest, MqarLearns) {
  const RunOutput out = Train(SmallMqar());
  EXPECT_EQ(out.result.status, RunStatus::kComplete);
  EXPECT_LT(Final(out.result, "test", "loss"), 0.2 * std::log(16.0));
  EXPECT_GT(Final(out.result, "test", "accuracy"), 0.9);
}

// linreg: the last position's error falls well below the zero predictor's.
TEST(TrainerTest, LinregLearns) {
  const RunOutput out = Train({{"task.name", "linreg"},
                               {"task.d", "3"},
                               {"task.points", "8"},
                               {"model.d_model", "32"},
                               {"model.heads", "2"},
                               {"model.layers", "2"},
                               {"train.steps", "600"},
                               {"train.lr", "2e-3"},
                               {"train.warmup", "50"},
                               {"train.eval_every", "200"},
                               {"eval.size", "500"}});
  EXPECT_EQ(out.result.status, RunStatus::kComplete);
  EXPECT_LT(Final(out.result, "test", "mse_last_ratio"), 0.3);
}

// The heads study's theory variant (../shared/specs/heads.md §4): linear attention only, no MLP, no
// LayerNorm, no positions, 8 heads in layer 1 and one in each later layer. It builds from sim
// train's options and trains a few steps to finite parameters and losses. (It is a polynomial of
// degree 3^L in its input, so its losses at init are large: this checks the plumbing, not learning.)
TEST(TrainerTest, LinearAttentionTheoryVariantTrains) {
  const RunOutput out = Train({{"task.name", "linreg"},
                               {"task.d", "8"},
                               {"task.points", "8"},
                               {"model.d_model", "64"},
                               {"model.layers", "3"},
                               {"model.heads", "8,1,1"},
                               {"model.d_mlp", "0"},
                               {"model.norm", "none"},
                               {"model.pos", "none"},
                               {"model.attention", "linear"},
                               {"model.init", "heads"},
                               {"train.steps", "20"},
                               {"train.lr", "1e-4"},
                               {"train.clip", "1"},
                               {"train.eval_every", "10"},
                               {"eval.size", "64"}});
  EXPECT_EQ(out.result.status, RunStatus::kComplete);
  EXPECT_TRUE(out.params.allFinite());
  for (size_t i = 0; i < out.result.curves.size(); ++i)
    for (double v : out.result.curves[i]) EXPECT_TRUE(std::isfinite(v)) << out.result.curve_names[i];
  EXPECT_TRUE(std::isfinite(Final(out.result, "test", "mse_last_ratio")));
}

TEST(TrainerTest, SameSeedSameBitsDifferentSeedDifferentResults) {
  std::map<std::string, std::string> given = SmallMqar();
  given["train.steps"] = "60";
  given["train.eval_every"] = "20";
  const RunOutput a = Train(given), b = Train(given);
  ASSERT_EQ(a.result.curve_names, b.result.curve_names);
  for (size_t i = 0; i < a.result.curves.size(); ++i)
    for (size_t k = 0; k < a.result.curves[i].size(); ++k)
      EXPECT_EQ(std::memcmp(&a.result.curves[i][k], &b.result.curves[i][k], sizeof(double)), 0)
          << a.result.curve_names[i] << "[" << k << "]";
  EXPECT_TRUE(a.params == b.params);
  given["train.seed"] = "1";
  const RunOutput c = Train(given);
  EXPECT_FALSE(a.params == c.params);
  EXPECT_NE(a.result.curves[1], c.result.curves[1]) << "train_loss curves differ across seeds";
}

TEST(TrainerTest, ThreadCountDoesNotChangeTheBits) {
  std::map<std::string, std::string> given = SmallMqar();
  given["train.steps"] = "30";
  given["train.eval_every"] = "10";
  given["model.d_mlp"] = "64";
  const RunOutput one = Train(given);
  given["train.threads"] = "2";
  const RunOutput two = Train(given);
  EXPECT_TRUE(one.params == two.params);
  EXPECT_EQ(one.result.curves, two.result.curves);
}

TEST(TrainerTest, EarlyStopAtTarget) {
  std::map<std::string, std::string> given = SmallMqar();
  given["train.steps"] = "5000";
  given["train.eval_every"] = "50";
  given["train.target_metric"] = "accuracy";
  given["train.target_value"] = "0.5";
  const RunOutput out = Train(given);
  EXPECT_EQ(out.result.status, RunStatus::kComplete);
  EXPECT_GT(out.result.target_step, 0);
  EXPECT_EQ(out.result.steps_done, out.result.target_step);
  EXPECT_LT(out.result.steps_done, 5000);
  EXPECT_GE(Final(out.result, "test", "accuracy"), 0.5);
}

TEST(TrainerTest, StopFlagInterruptsAtAStepBoundary) {
  std::atomic<int> stop{1};
  const RunOutput out = Train(SmallMqar(), &stop);
  EXPECT_EQ(out.result.status, RunStatus::kInterrupted);
  EXPECT_EQ(out.result.steps_done, 0);
  EXPECT_FALSE(out.result.final_metrics.empty()) << "an interrupted run still reports where it stood";
}

TEST(TrainerTest, NonFiniteLossMarksTheRunDiverged) {
  std::map<std::string, std::string> given = SmallMqar();
  given["train.lr"] = "1e6";
  given["train.clip"] = "0";
  given["train.optimizer"] = "sgd";
  given["train.steps"] = "200";
  const RunOutput out = Train(given);
  EXPECT_EQ(out.result.status, RunStatus::kDiverged);
  EXPECT_LT(out.result.steps_done, 200);
}

TEST(TrainerTest, CurvesHaveEqualLengthAndExpectedNames) {
  std::map<std::string, std::string> given = SmallMqar();
  given["train.steps"] = "50";
  given["train.eval_every"] = "20";  // evaluations at 20, 40 and the last step, 50
  const RunOutput out = Train(given);
  const auto& names = out.result.curve_names;
  for (const char* expected : {"step", "train_loss", "lr", "test_loss", "test_accuracy"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  for (const auto& c : out.result.curves) EXPECT_EQ(c.size(), 3u);
  EXPECT_EQ(out.result.curves[0], (std::vector<double>{20, 40, 50}));
}

// The evaluation set is the same for every training seed (eval.seed), so runs compare on equal data.
TEST(TrainerTest, EvaluationSetIsIndependentOfTheTrainingSeed) {
  const OptionSet set = AllOptions();
  std::map<std::string, std::string> given = SmallMqar();
  given["train.steps"] = "0";
  Options o1(set, given);
  Experiment e1 = BuildExperiment(o1);
  given["train.seed"] = "5";
  Options o2(set, given);
  Experiment e2 = BuildExperiment(o2);
  e2.registry->values() = e1.registry->values();  // same weights, different training seed
  Trainer t1(e1.train, *e1.task, *e1.model, *e1.registry), t2(e2.train, *e2.task, *e2.model, *e2.registry);
  EXPECT_EQ(t1.EvaluateAll(), t2.EvaluateAll());
}

// train.chunk = auto is resolved once, by BuildExperiment (ResolveAutoChunk); the trainer takes the
// resolved value and refuses an unresolved one instead of applying the rule a second time.
TEST(TrainerConfigTest, ChunkIsResolvedOnceBeforeTheTrainer) {
  const OptionSet set = AllOptions();
  Options options(set, SmallMqar());
  Experiment e = BuildExperiment(options);
  EXPECT_EQ(e.train.chunk, AutoChunkExamples(e.train.batch, e.task->info().length, e.model_config.d_model));
  TrainConfig unresolved = e.train;
  unresolved.chunk = 0;
  EXPECT_THROW(Trainer(unresolved, *e.task, *e.model, *e.registry), InternalError);
  ResolveAutoChunk(unresolved, e.task->info().length, e.model_config.d_model);
  EXPECT_EQ(unresolved.chunk, e.train.chunk);
  TrainConfig given = e.train;
  given.chunk = 4;
  ResolveAutoChunk(given, e.task->info().length, e.model_config.d_model);
  EXPECT_EQ(given.chunk, 4) << "a given chunk is kept";
}

// train.target_split is checked with the other options (all problems at once, with the task's
// splits listed), not again when the trainer starts.
TEST(TrainerConfigTest, BadTargetSplitIsReportedWithTheOtherProblems) {
  const OptionSet set = AllOptions();
  std::map<std::string, std::string> given = SmallMqar();
  given["train.target_metric"] = "accuracy";
  given["train.target_split"] = "tset";
  given["train.lr"] = "-1";
  Options options(set, given);
  try {
    BuildExperiment(options);
    ADD_FAILURE() << "no ConfigError";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("train.target_split: not an evaluation split of task 'mqar' (splits: test)"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("given 'tset'"), std::string::npos) << message;
    EXPECT_NE(message.find("train.lr"), std::string::npos) << message;
  }
}

}  // namespace
}  // namespace sim
