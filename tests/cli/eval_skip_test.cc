// eval.skip: evaluation splits the trainer leaves out have no curves and no final metrics, training is
// unchanged bit for bit, and a name that is not an evaluation split (or the early stop's split) is
// exit 2 naming the key.
#include <gtest/gtest.h>

#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

const std::string kRun =
    " --task.name=ft_key_value_set --task.train_size=100 --model.layers=1 --model.d_model=16 --model.heads=2 "
    "--train.steps=6 --train.batch=8 --train.eval_every=3 --eval.size=32 --eval.batch=32 ";

TEST(EvalSkipTest, SkippedSplitsHaveNoCurvesAndTrainingIsUnchanged) {
  ScratchDir dir;
  const std::string all = dir.File("all.h5"), skip = dir.File("skip.h5");
  Result r = RunSim("train --out " + Quote(all) + kRun);
  ASSERT_EQ(r.code, 0) << r.output;
  r = RunSim("train --out " + Quote(skip) + kRun + "--eval.skip=trainset");
  ASSERT_EQ(r.code, 0) << r.output;
  sim::H5Reader a(all), b(skip);
  EXPECT_TRUE(a.Exists("/curves/trainset_accuracy"));
  EXPECT_FALSE(b.Exists("/curves/trainset_accuracy"));
  EXPECT_FALSE(b.Exists("/final/trainset"));
  EXPECT_EQ(a.Doubles("/curves/test_accuracy"), b.Doubles("/curves/test_accuracy"));
  EXPECT_EQ(a.Doubles("/params/blocks.0.attn.wq"), b.Doubles("/params/blocks.0.attn.wq"));
}

TEST(EvalSkipTest, NamesThatAreNotEvaluationSplitsExitTwo) {
  ScratchDir dir;
  for (const auto& [flag, part] : std::vector<std::pair<std::string, std::string>>{
           {"--eval.skip=nothing", "'nothing' is not an evaluation split of task 'ft_key_value_set'"},
           {"--eval.skip=train", "'train' is not an evaluation split"},
           {"--eval.skip=test --train.target_metric=accuracy", "'test' is train.target_split"}}) {
    const Result r = RunSim("train --out " + Quote(dir.File("x.h5")) + kRun + flag);
    EXPECT_EQ(r.code, 2) << flag << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, "eval.skip")) << r.output;
    EXPECT_TRUE(Contains(r.output, part)) << flag << "\n" << r.output;
    EXPECT_FALSE(fs::exists(dir.File("x.h5")));
  }
}

}  // namespace
