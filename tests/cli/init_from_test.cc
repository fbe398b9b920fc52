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

}  // namespace
