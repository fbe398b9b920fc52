#include "sim/io/run_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "sim/core/error.h"
#include "sim/io/checkpoint_file.h"
#include "sim/io/hdf5_file.h"

namespace sim {
namespace {

class RunFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/attnsim_runfile_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

ParamRegistry SmallRegistry() {
  ParamRegistry r;
  r.Add({"embed.tok", 3, 5, InitKind::kNormal, 1.0, true});
  r.Add({"head.b", 4, 1, InitKind::kZeros, 0.0, false});
  r.Finalize();
  for (Index i = 0; i < r.total_size(); ++i) r.values()(i) = 0.5f * i;
  return r;
}

RunRecord SmallRecord() {
  RunRecord rec;
  rec.config = "[task]\nname = mqar\n";
  rec.seed = 42;
  rec.status = "complete";
  rec.steps_done = 20;
  rec.target_step = -1;
  rec.chunk = 16;
  rec.curve_names = {"step", "train_loss", "test_accuracy"};
  rec.curves = {{10, 20}, {1.5, 0.5}, {0.25, 0.75}};
  rec.final_metrics["test"]["accuracy"] = 0.75;
  rec.final_metrics["train"]["loss"] = 0.5;
  return rec;
}

TEST_F(RunFileTest, RoundTripAndDocumentedLayout) {
  const std::string path = dir_ + "/run.h5";
  ParamRegistry r = SmallRegistry();
  WriteRunFile(path, SmallRecord(), r);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  const RunRecord back = ReadRunFile(path);
  EXPECT_EQ(back.config, SmallRecord().config);
  EXPECT_EQ(back.seed, 42u);
  EXPECT_EQ(back.status, "complete");
  EXPECT_EQ(back.chunk, 16);
  EXPECT_EQ(back.final_metrics.at("test").at("accuracy"), 0.75);
  // Curves come back in name order; check by name.
  for (size_t i = 0; i < back.curve_names.size(); ++i) {
    const auto& rec = SmallRecord();
    const auto it = std::find(rec.curve_names.begin(), rec.curve_names.end(), back.curve_names[i]);
    ASSERT_NE(it, rec.curve_names.end());
    EXPECT_EQ(back.curves[i], rec.curves[it - rec.curve_names.begin()]);
  }
  H5Reader in(path);
  EXPECT_EQ(in.AttrString("/", "format"), "attnsim.run");
  EXPECT_EQ(in.AttrInt("/", "format_version"), 1);
  EXPECT_EQ(in.Shape("/params/embed.tok"), (std::vector<uint64_t>{5, 3})) << "(D, V) stored as [V, D]";
  EXPECT_EQ(in.Shape("/params/head.b"), (std::vector<uint64_t>{4}));
  EXPECT_EQ(in.Shape("/final/test/accuracy"), (std::vector<uint64_t>{}));
  // Column-major (3, 5) unchanged in memory = C-order [5, 3]: element [v][d] is value(d, v).
  const std::vector<float> tok = in.Floats("/params/embed.tok");
  EXPECT_EQ(tok[1 * 3 + 2], r.Value(0)(2, 1));

  ParamRegistry loaded = SmallRegistry();
  loaded.values().setZero();
  ReadParams(path, loaded);
  EXPECT_TRUE(loaded.values() == r.values());
}

TEST_F(RunFileTest, IdenticalContentGivesIdenticalDatasetsAndParams) {
  ParamRegistry r = SmallRegistry();
  WriteRunFile(dir_ + "/a.h5", SmallRecord(), r);
  WriteRunFile(dir_ + "/b.h5", SmallRecord(), r);
  H5Reader a(dir_ + "/a.h5"), b(dir_ + "/b.h5");
  EXPECT_EQ(a.Floats("/params/embed.tok"), b.Floats("/params/embed.tok"));
  EXPECT_EQ(a.Doubles("/curves/train_loss"), b.Doubles("/curves/train_loss"));
}

TEST_F(RunFileTest, ForeignAndMissingFilesAreRejectedWithReasons) {
  try {
    ReadRunFile(dir_ + "/missing.h5");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no such file"), std::string::npos) << e.what();
  }
  {
    FILE* f = std::fopen((dir_ + "/text.h5").c_str(), "w");
    std::fputs("not hdf5\n", f);
    std::fclose(f);
  }
  try {
    ReadRunFile(dir_ + "/text.h5");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an HDF5 file"), std::string::npos) << e.what();
  }
  {
    H5Writer w(dir_ + "/foreign.h5");
    w.Scalar("/x", 1.0);
    w.Close();
  }
  try {
    ReadRunFile(dir_ + "/foreign.h5");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not an attnsim run file"), std::string::npos) << e.what();
  }
}

TEST_F(RunFileTest, WriteFailureLeavesNoFile) {
  ParamRegistry r = SmallRegistry();
  EXPECT_THROW(WriteRunFile(dir_ + "/no/such/dir/run.h5", SmallRecord(), r), InputError);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/no/such/dir/run.h5"));
}

// Snapshots (train.snapshot_steps) are stored as /snapshots/<step>/params/<name> with the layout of
// /params and their steps in /snapshots@steps; they read back bit for bit, and /params stays the
// final parameters. A run without snapshots has no /snapshots group. The checkpoint carries them too.
TEST_F(RunFileTest, SnapshotsRoundTripInRunFilesAndCheckpoints) {
  ParamRegistry r = SmallRegistry();
  std::vector<ParamSnapshot> snapshots;
  for (int step : {5, 10}) {
    ParamSnapshot snap{step, r.values()};
    snap.values *= static_cast<Scalar>(step);  // differs from /params and from each other
    snapshots.push_back(snap);
  }
  const std::string path = dir_ + "/run.h5", plain = dir_ + "/plain.h5";
  WriteRunFile(path, SmallRecord(), r, snapshots);
  WriteRunFile(plain, SmallRecord(), r);
  {
    H5Reader in(path);
    EXPECT_EQ(in.AttrInts("/snapshots", "steps"), (std::vector<int64_t>{5, 10}));
    EXPECT_EQ(in.List("/snapshots/10/params"), (std::vector<std::string>{"embed.tok", "head.b"}));
    EXPECT_EQ(in.Shape("/snapshots/5/params/embed.tok"), (std::vector<uint64_t>{5, 3}));
    EXPECT_EQ(in.AttrInts("/snapshots/5/params/embed.tok", "engine_shape"), (std::vector<int64_t>{3, 5}));
    EXPECT_FALSE(H5Reader(plain).Exists("/snapshots"));
  }
  const std::vector<ParamSnapshot> back = ReadSnapshots(path, r);
  ASSERT_EQ(back.size(), 2u);
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].step, snapshots[i].step);
    EXPECT_TRUE(back[i].values == snapshots[i].values) << "step " << back[i].step;
  }
  EXPECT_TRUE(ReadSnapshots(plain, r).empty());
  ParamRegistry loaded = SmallRegistry();
  loaded.values().setZero();
  ReadParams(path, loaded);
  EXPECT_TRUE(loaded.values() == r.values()) << "/params are the final parameters, not a snapshot";

  Checkpoint c;
  c.params = c.moment1 = c.moment2 = r.values();
  c.eval_rng_positions = {3};
  c.state.snapshots = snapshots;
  const std::string ckpt = dir_ + "/run.h5.ckpt";
  WriteCheckpoint(ckpt, "[task]\n", c);
  const Checkpoint c_back = ReadCheckpoint(ckpt, nullptr);
  ASSERT_EQ(c_back.state.snapshots.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(c_back.state.snapshots[i].step, snapshots[i].step);
    EXPECT_TRUE(c_back.state.snapshots[i].values == snapshots[i].values);
  }
  c.state.snapshots.clear();
  WriteCheckpoint(ckpt, "[task]\n", c);
  EXPECT_TRUE(ReadCheckpoint(ckpt, nullptr).state.snapshots.empty());
  EXPECT_FALSE(H5Reader(ckpt).Exists("/snapshots"));
}

TEST_F(RunFileTest, ParamShapeMismatchNamesTheParameter) {
  ParamRegistry r = SmallRegistry();
  WriteRunFile(dir_ + "/run.h5", SmallRecord(), r);
  ParamRegistry other;
  other.Add({"embed.tok", 3, 6, InitKind::kNormal, 1.0, true});
  other.Finalize();
  try {
    ReadParams(dir_ + "/run.h5", other);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("parameter embed.tok is [5, 3], expected [6, 3]"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sim
