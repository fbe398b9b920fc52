// The fine-tuning study's tasks through the sim executable: a bad task option is a user mistake
// (exit code 2, the key, what is expected and what was given named, nothing written), and a short
// run of each task completes with its metrics.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;
namespace fs = std::filesystem;

const char kTinyModel[] =
    "--model.layers=1 --model.heads=2 --model.d_model=16 --train.steps=2 --train.batch=4 --train.eval_every=2 "
    "--eval.size=8 --train.threads=1";

Result Train(const ScratchDir& dir, const std::string& task, const std::string& extra) {
  return RunSim("train --task.name=" + task + " " + kTinyModel + " --out " + Quote(dir.File("run.h5")) + " " + extra);
}

TEST(FtTasksCliTest, BadTaskOptionsExitTwoNamingTheKey) {
  const struct {
    std::string task, extra, expect;
  } cases[] = {
      {"lm_mixture", "--task.mix_text=0 --task.mix_mqar=0 --task.mix_copy=0", "task.mix_text"},
      {"lm_mixture", "--task.vocab=8", "task.vocab: must be in [16, 1048576] (given '8')"},
      {"ft_key_value_set", "--task.pairs=7", "task.pairs: must be even (half the values in S), given 7"},
      {"ft_value_perm", "--task.classes=3", "task.pairs: must be a multiple of task.classes = 3"},
      {"ft_majority", "--task.indicators=0", "task.indicators"},
      {"ft_chain_valid", "--task.corruption=swap", "task.corruption"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.task + " " + c.extra);
    ScratchDir dir;
    const Result r = Train(dir, c.task, c.extra);
    EXPECT_EQ(r.code, 2) << r.output;
    EXPECT_TRUE(Contains(r.output, c.expect)) << r.output;
    EXPECT_TRUE(Contains(r.output, "error: ")) << r.output;
    EXPECT_FALSE(Contains(r.output, "internal error")) << r.output;
    EXPECT_TRUE(fs::is_empty(dir.path())) << "files left in " << dir.path();
  }
}

TEST(FtTasksCliTest, EachTaskTrainsAndReportsItsMetrics) {
  const struct {
    std::string task, metric;
  } cases[] = {{"lm_mixture", "acc_mqar="},
               {"ft_majority", "trainset: accuracy="},
               {"ft_key_value_set", "trainset: accuracy="},
               {"ft_chain_valid", "trainset: accuracy="},
               {"ft_value_perm", "trainset: accuracy="}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.task);
    ScratchDir dir;
    const Result r = Train(dir, c.task, "--task.train_size=40 --task.length=32");
    if (c.task == "lm_mixture") {  // no pool: task.train_size is not its option
      const Result lm = Train(dir, c.task, "--task.length=32");
      EXPECT_EQ(lm.code, 0) << lm.output;
      EXPECT_TRUE(Contains(lm.output, c.metric)) << lm.output;
      EXPECT_EQ(r.code, 2) << "task.train_size belongs to the ft_* tasks: " << r.output;
      continue;
    }
    EXPECT_EQ(r.code, 0) << r.output;
    EXPECT_TRUE(Contains(r.output, c.metric)) << r.output;
    EXPECT_TRUE(fs::exists(dir.File("run.h5")));
  }
}

}  // namespace
