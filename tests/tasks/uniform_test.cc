// uniform against its definition: token inputs with class labels by default; with task.d_in > 0,
// vector inputs of that width with N(0, 1) entries and scalar N(0, 1) targets (sim bench's heads
// model), scored at every position or the last; the new key stays out of existing configs.
#include "tasks/uniform.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sim/cli/experiment.h"

namespace sim {
namespace {

std::unique_ptr<Task> Make(std::map<std::string, std::string> given) {
  given["task.name"] = "uniform";
  const OptionSet set = AllOptions();
  Options options(set, given);
  std::unique_ptr<Task> task = MakeUniform(options);
  options.ThrowIfErrors();
  return task;
}

TEST(UniformTest, TokensByDefaultAndTheNewKeyStaysOutOfTheConfig) {
  const std::unique_ptr<Task> task = Make({{"task.vocab", "7"}, {"task.classes", "3"}});
  EXPECT_EQ(task->info().input, InputKind::kTokens);
  EXPECT_EQ(task->info().output, OutputKind::kClasses);
  EXPECT_EQ(task->info().vocab, 7);
  const OptionSet set = AllOptions();
  Options options(set, {{"task.name", "uniform"}});
  EXPECT_EQ(options.ResolvedIni().find("d_in"), std::string::npos) << options.ResolvedIni();
}

TEST(UniformTest, VectorInputsWithScalarNormalTargets) {
  const std::unique_ptr<Task> task = Make({{"task.d_in", "9"}, {"task.length", "33"}});
  const TaskInfo& info = task->info();
  EXPECT_EQ(info.input, InputKind::kVectors);
  EXPECT_EQ(info.d_in, 9);
  EXPECT_EQ(info.output, OutputKind::kScalar);
  EXPECT_EQ(info.length, 33);
  Batch batch;
  Rng rng(4);
  task->Sample(0, rng, 64, batch);
  batch.Validate(1);
  ASSERT_EQ(batch.vectors.rows(), 9);
  ASSERT_EQ(batch.vectors.cols(), 64 * 33);
  EXPECT_EQ(batch.n_scored(), 64 * 33);
  ASSERT_EQ(batch.values.size(), static_cast<size_t>(64 * 33));
  // N(0, 1): mean and variance over 19008 entries within a few standard errors.
  const double n = batch.vectors.size(), mean = batch.vectors.cast<double>().sum() / n;
  const double var = (batch.vectors.cast<double>().array() - mean).square().sum() / n;
  EXPECT_NEAR(mean, 0.0, 4 / std::sqrt(n));
  EXPECT_NEAR(var, 1.0, 0.05);
  double target_sq = 0;
  for (Scalar v : batch.values) target_sq += static_cast<double>(v) * v;
  EXPECT_NEAR(target_sq / batch.values.size(), 1.0, 0.1);

  const std::unique_ptr<Task> last = Make({{"task.d_in", "3"}, {"task.length", "5"}, {"task.score", "last"}});
  Batch one;
  last->Sample(0, rng, 4, one);
  EXPECT_EQ(one.scored, (std::vector<int32_t>{4, 9, 14, 19}));
}

}  // namespace
}  // namespace sim
