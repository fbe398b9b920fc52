// What a run trained is recorded: every /params/<name> carries trainable, lr (after every multiplier)
// and weight_decay; analysis.finetune writes the subset, mode, λ and the resolved optimizer groups
// (../specs/finetune.md §9); optim.lr_ratio scales the value parameters' learning rate.
#include <gtest/gtest.h>

#include "sim/core/glob.h"
#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

const std::string kTiny = " --train.eval_every=10 --eval.size=64 --eval.batch=64 --train.batch=16 --train.lr=0.002";

void Train(const std::string& out, int steps, const std::string& extra) {
  const Result r = RunSim("train --config " + Quote(kQuickstart) + " --out " + Quote(out) +
                          " --train.steps=" + std::to_string(steps) + kTiny + " " + extra);
  ASSERT_EQ(r.code, 0) << r.output;
}

TEST(FinetuneRecordTest, ParamsCarryTheirTrainableFlagLrAndWeightDecay) {
  ScratchDir dir;
  const std::string run = dir.File("run.h5");
  Train(run, 2,
        "--optim.trainable=blocks.*.attn.wq,blocks.*.attn.wv,blocks.*.attn.bv,head.* --optim.lr_ratio=4 "
        "--train.weight_decay=0.1 --optim.lr_mult=blocks.0.attn.wq:0.5");
  sim::H5Reader in(run);
  EXPECT_EQ(in.AttrInt("/params/blocks.0.attn.wv", "trainable"), 1);
  EXPECT_DOUBLE_EQ(in.AttrDouble("/params/blocks.0.attn.wv", "lr"), 0.008);
  EXPECT_DOUBLE_EQ(in.AttrDouble("/params/blocks.0.attn.bv", "lr"), 0.008);
  EXPECT_DOUBLE_EQ(in.AttrDouble("/params/blocks.0.attn.wq", "lr"), 0.001);
  EXPECT_DOUBLE_EQ(in.AttrDouble("/params/blocks.1.attn.wq", "lr"), 0.002);
  EXPECT_DOUBLE_EQ(in.AttrDouble("/params/blocks.0.attn.wv", "weight_decay"), 0.1);
  EXPECT_DOUBLE_EQ(in.AttrDouble("/params/blocks.0.attn.bv", "weight_decay"), 0.0);
  EXPECT_EQ(in.AttrInt("/params/blocks.0.attn.wk", "trainable"), 0);
  EXPECT_DOUBLE_EQ(in.AttrDouble("/params/blocks.0.attn.wk", "lr"), 0.0);
  EXPECT_EQ(in.AttrInt("/params/embed.tok", "trainable"), 0);
}

TEST(FinetuneRecordTest, TheAnalysisRecordsSubsetModeLambdaAndGroups) {
  ScratchDir dir;
  const std::string run = dir.File("run.h5");
  Train(run, 2,
        "--optim.trainable=blocks.*.attn.wq,blocks.*.attn.wv,head.* --optim.lr_ratio=4 --analysis.finetune=true");
  sim::H5Reader in(run);
  EXPECT_EQ(in.AttrString("/analysis/finetune", "trainable_subset"), "q,v");
  EXPECT_EQ(in.AttrString("/analysis/finetune", "mode"), "full");
  EXPECT_EQ(in.AttrString("/analysis/finetune", "lr_ratio_scope"), "value_only");
  EXPECT_EQ(in.Doubles("/analysis/finetune/lr_ratio"), std::vector<double>{4.0});
  // 2 layers of Wq and Wv (64x64) and the head (128 classes x 64, and its bias).
  EXPECT_EQ(in.Doubles("/analysis/finetune/n_trainable"), std::vector<double>{4 * 64 * 64 + 128 * 64 + 128});
  const std::vector<double> groups = in.Doubles("/analysis/finetune/lr_groups");
  const std::vector<std::string> names = sim::SplitList(in.AttrString("/analysis/finetune/lr_groups", "names"), ',');
  const std::vector<std::string> labels = sim::SplitList(in.AttrString("/analysis/finetune/lr_groups", "groups"), ',');
  ASSERT_EQ(groups.size(), 3 * names.size());
  ASSERT_EQ(labels.size(), names.size());
  int checked = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "blocks.1.attn.wv") {
      EXPECT_EQ(labels[i], "v");
      EXPECT_DOUBLE_EQ(groups[3 * i], 0.002 * 4);
      EXPECT_EQ(groups[3 * i + 2], 1.0);
      ++checked;
    }
    if (names[i] == "blocks.1.attn.wk") {
      EXPECT_EQ(labels[i], "k");
      EXPECT_EQ(groups[3 * i], 0.0) << "frozen";
      EXPECT_EQ(groups[3 * i + 2], 0.0);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 2);
  // sim analyze adds it to a run that did not ask for it, with the same content.
  const std::string later = dir.File("later.h5");
  Train(later, 2, "--optim.trainable=blocks.*.attn.wq,blocks.*.attn.wv,head.* --optim.lr_ratio=4");
  const Result r = RunSim("analyze " + Quote(later) + " --analysis.finetune=true");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(sim::H5Reader(later).Doubles("/analysis/finetune/lr_groups"), groups);
}

// λ changes only how fast the value parameters move: with only Wq and Wv trainable, λ = 4 gives
// another Wv than λ = 1 after the same steps, while the frozen parameters stay bit-identical.
TEST(FinetuneRecordTest, LrRatioChangesTheValueUpdatesOnly) {
  ScratchDir dir;
  const std::string one = dir.File("one.h5"), four = dir.File("four.h5");
  const std::string subset = "--optim.trainable=blocks.*.attn.wv ";
  Train(one, 3, subset);
  Train(four, 3, subset + "--optim.lr_ratio=4");
  sim::H5Reader a(one), b(four);
  EXPECT_NE(a.Doubles("/params/blocks.0.attn.wv"), b.Doubles("/params/blocks.0.attn.wv"));
  EXPECT_EQ(a.Doubles("/params/blocks.0.attn.wq"), b.Doubles("/params/blocks.0.attn.wq"));
  EXPECT_EQ(a.Doubles("/params/head.w"), b.Doubles("/params/head.w"));
}

TEST(FinetuneRecordTest, BadLrRatioOptionsExitTwo) {
  ScratchDir dir;
  for (const auto& [flag, part] :
       std::vector<std::pair<std::string, std::string>>{{"--optim.lr_ratio=0", "optim.lr_ratio"},
                                                        {"--optim.lr_ratio=abc", "optim.lr_ratio"},
                                                        {"--optim.lr_ratio_scope=all", "optim.lr_ratio_scope"}}) {
    const Result r =
        RunSim("train --config " + Quote(kQuickstart) + " --out " + Quote(dir.File("x.h5")) + kTiny + " " + flag);
    EXPECT_EQ(r.code, 2) << flag << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, part)) << flag << "\n" << r.output;
  }
}

}  // namespace
