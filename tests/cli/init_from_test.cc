// train.init_from / train.init_params: a run starts from another run's parameters (fine-tuning, a
// curriculum stage), all of them or a glob-selected subset; bad files and mismatched models are
// rejected before training with the key named.
#include <gtest/gtest.h>

#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

const std::string kSmall = " --train.eval_every=10 --eval.size=64 --eval.batch=64 --train.batch=16";

// Trains the quickstart model for `steps` steps into `out` with extra options; expects success.
void Train(const std::string& out, int steps, const std::string& extra) {
  const Result r = RunSim("train --config " + Quote(kQuickstart) + " --out " + Quote(out) +
                          " --train.steps=" + std::to_string(steps) + kSmall + " " + extra);
  ASSERT_EQ(r.code, 0) << r.output;
}

std::vector<double> Param(const std::string& path, const std::string& name) {
  return sim::H5Reader(path).Doubles("/params/" + name);
}

TEST(InitFromTest, ZeroStepsFromARunReproducesItsParameters) {
  ScratchDir dir;
  const std::string a = dir.File("a.h5"), b = dir.File("b.h5");
  Train(a, 20, "--train.seed=1");
  Train(b, 0, "--train.seed=2 --train.init_from=" + Quote(a));
  for (const std::string name :
       {"embed.tok", "embed.pos", "blocks.0.attn.wq", "blocks.1.attn.wv", "blocks.0.norm1.gamma", "head.w", "head.b"})
    EXPECT_EQ(Param(a, name), Param(b, name)) << name;
}

// A source with parameter snapshots gives its final parameters (/params), not a snapshot's; the new
// run has no snapshots of its own unless it asks.
TEST(InitFromTest, ASourceWithSnapshotsGivesItsFinalParameters) {
  ScratchDir dir;
  const std::string a = dir.File("a.h5"), b = dir.File("b.h5");
  Train(a, 20, "--train.seed=1 --train.snapshot_steps=5,10");
  Train(b, 0, "--train.seed=2 --train.init_from=" + Quote(a));
  for (const std::string name : {"embed.tok", "blocks.0.attn.wq", "head.w"}) {
    EXPECT_EQ(Param(a, name), Param(b, name)) << name;
    EXPECT_NE(sim::H5Reader(a).Doubles("/snapshots/10/params/" + name), Param(b, name)) << name;
  }
  EXPECT_FALSE(sim::H5Reader(b).Exists("/snapshots"));
}

TEST(InitFromTest, OnlyTheSelectedParametersAreLoaded) {
  ScratchDir dir;
  const std::string a = dir.File("a.h5"), b = dir.File("b.h5"), fresh = dir.File("fresh.h5");
  Train(a, 20, "--train.seed=1");
  Train(b, 0, "--train.seed=2 --train.init_from=" + Quote(a) + " --train.init_params='blocks.*.attn.*'");
  Train(fresh, 0, "--train.seed=2");
  EXPECT_EQ(Param(a, "blocks.0.attn.wq"), Param(b, "blocks.0.attn.wq"));
  EXPECT_EQ(Param(a, "blocks.1.attn.wo"), Param(b, "blocks.1.attn.wo"));
  EXPECT_NE(Param(a, "embed.tok"), Param(b, "embed.tok"));
  EXPECT_EQ(Param(fresh, "embed.tok"), Param(b, "embed.tok")) << "unselected parameters keep the seed's init";
  EXPECT_EQ(Param(fresh, "head.w"), Param(b, "head.w"));
}

TEST(InitFromTest, ContinuingFromARunChangesTheTraining) {
  ScratchDir dir;
  const std::string a = dir.File("a.h5"), b = dir.File("b.h5"), c = dir.File("c.h5");
  Train(a, 20, "");
  Train(b, 20, "--train.init_from=" + Quote(a));
  Train(c, 20, "");
  EXPECT_NE(Param(b, "blocks.0.attn.wq"), Param(c, "blocks.0.attn.wq"));
  EXPECT_TRUE(Contains(sim::H5Reader(b).AttrString("/", "config"), "init_from = " + a));
}

// A run with `extra` options starting from `source` ("" = a 2-step run of the quickstart model)
// fails with exit code 2, a message containing `parts`, and no result file.
void ExpectRejected(const std::string& extra, std::string source, std::initializer_list<std::string> parts) {
  ScratchDir dir;
  const std::string out = dir.File("out.h5");
  if (source.empty()) {
    source = dir.File("a.h5");
    Train(source, 2, "");
  }
  const Result r = RunSim("train --config " + Quote(kQuickstart) + " --out " + Quote(out) + kSmall + " " + extra +
                          " --train.init_from=" + Quote(source));
  EXPECT_EQ(r.code, 2) << r.output;
  for (const std::string& part : parts) EXPECT_TRUE(Contains(r.output, part)) << part << "\n" << r.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST(InitFromTest, BadSourcesAreRejectedBeforeTraining) {
  ExpectRejected("--model.d_model=32", "", {"train.init_from", "parameter embed.tok is [128, 64], expected [128, 32]"});
  ExpectRejected("--train.init_params=nothing.*", "", {"train.init_from", "no parameter matches train.init_params"});
  ExpectRejected("", "/nonexistent/run.h5", {"train.init_from", "/nonexistent/run.h5", "no such file"});
  ExpectRejected("", kQuickstart, {"train.init_from", kQuickstart, "not an HDF5 file"});
}

// Options without parameters that change the computation must be the source run's: the message
// names the key and both values.
TEST(InitFromTest, AModelComputingDifferentlyFromTheSourceIsRejected) {
  ExpectRejected("--model.causal=false", "",
                 {"train.init_from", "model.causal = false here, true in the source", "set them as the source"});
  ExpectRejected("--model.act=relu --model.pos=sinusoidal", "",
                 {"model.pos = sinusoidal here, learned in the source", "model.act = relu here, gelu in the source"});
}

// A run of another task whose readout has another shape keeps its fresh readout (a new head for its
// own classes) and loads everything else. seqclass over 16 tokens of length 6 (plus its OUT token)
// has the inputs of uniform over 17 tokens of length 7, with 4 classes instead of 3.
TEST(InitFromTest, AnotherTasksReadoutStartsFresh) {
  ScratchDir dir;
  const std::string a = dir.File("a.h5"), b = dir.File("b.h5"), fresh = dir.File("fresh.h5");
  const std::string model = " --model.layers=1 --model.d_model=16 --model.heads=2" + kSmall;
  const std::string seqclass = " --task.name=seqclass --task.vocab=16 --task.length=6 --task.classes=4";
  const std::string uniform = " --task.name=uniform --task.vocab=17 --task.length=7 --task.classes=3";
  Result r = RunSim("train --out " + Quote(a) + seqclass + model + " --train.steps=10 --train.seed=1");
  ASSERT_EQ(r.code, 0) << r.output;
  r = RunSim("train --out " + Quote(b) + uniform + model +
             " --train.steps=0 --train.seed=2 --train.init_from=" + Quote(a));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "head.w, head.b start fresh")) << r.output;
  for (const std::string name : {"embed.tok", "embed.pos", "blocks.0.attn.wv", "norm_f.gamma"})
    EXPECT_EQ(Param(a, name), Param(b, name)) << name;
  r = RunSim("train --out " + Quote(fresh) + uniform + model + " --train.steps=0 --train.seed=2");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Param(b, "head.w"), Param(fresh, "head.w")) << "the readout is the seed's fresh init";
  // Asked for explicitly, the source's readout is still an error (a shape mismatch).
  r = RunSim("train --out " + Quote(dir.File("c.h5")) + uniform + model +
             " --train.steps=0 --train.init_params=head.* --train.init_from=" + Quote(a));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "parameter head.w is")) << r.output;
}

}  // namespace
