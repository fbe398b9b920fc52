// Faults a careful user meets: a disk that fills up while results or checkpoints are written. The
// full disk is a file-size limit (`ulimit -f`, with SIGXFSZ ignored so writes fail with EFBIG, as
// they fail with ENOSPC on a full disk) on the sim process alone. What must hold: a clear message,
// exit code 74, no temporary file left, the last good checkpoint kept, and the same command
// completing the run once there is room (docs/reliability.md).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "sim/io/hdf5_file.h"
#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

// Runs sim with every file it writes limited to `kib` KiB.
Result RunSimWithFileLimit(int kib, const std::string& args) {
  return RunSim(args, "2>&1", "ulimit -f " + std::to_string(kib) + "; trap '' XFSZ; ");
}

bool LeavesNoTemporaryFile(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir))
    if (Contains(entry.path().filename().string(), ".tmp")) return false;
  return true;
}

TEST(ReliabilityTest, FullDiskAtTheResultFileExits74AndLeavesNothing) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5");
  const Result r = RunSimWithFileLimit(
      60, "train --config " + Quote(kQuickstart) + " --train.steps=20 --train.eval_every=10 --out " + Quote(out));
  EXPECT_EQ(r.code, 74) << r.output;
  EXPECT_TRUE(Contains(r.output, "error: " + out + ".tmp")) << r.output;
  EXPECT_TRUE(Contains(r.output, "File too large")) << r.output;
  EXPECT_TRUE(Contains(r.output, "rerun the same command")) << r.output;
  EXPECT_FALSE(Contains(r.output, "internal error")) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(LeavesNoTemporaryFile(dir.path()));
}

// A run stopped by SIGTERM has a checkpoint; resumed on a full disk it fails to write its result
// (exit 74) and keeps the checkpoint; resumed with room it completes from that checkpoint.
TEST(ReliabilityTest, FullDiskKeepsTheLastCheckpointAndTheRunResumes) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5");
  const std::vector<std::string> args = {"train",
                                         "--config",
                                         kQuickstart,
                                         "--out",
                                         out,
                                         "--train.steps=400",
                                         "--train.eval_every=50",
                                         "--train.target_metric=none",
                                         "--eval.size=100"};
  {
    Child child(args, dir.File("stdout.txt"));
    ASSERT_TRUE(child.WaitFor("step ", 20.0)) << child.stderr_text();
    child.Signal(SIGTERM);
    ASSERT_EQ(child.Wait(), 75) << child.stderr_text();
  }
  const std::string checkpoint = out + ".ckpt";
  ASSERT_TRUE(fs::exists(checkpoint));
  const std::string before = ReadText(checkpoint);
  std::string command;
  for (const std::string& a : args) command += Quote(a) + " ";
  // Room for nothing new: the result file cannot be written (the checkpoint is only read).
  const Result full = RunSimWithFileLimit(8, command);
  EXPECT_EQ(full.code, 74) << full.output;
  EXPECT_FALSE(Contains(full.output, "internal error")) << full.output;
  ASSERT_TRUE(fs::exists(checkpoint)) << "the last good checkpoint must be kept";
  EXPECT_EQ(ReadText(checkpoint), before);
  EXPECT_TRUE(LeavesNoTemporaryFile(dir.path()));
  const Result resumed = RunSim(command);
  EXPECT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_TRUE(Contains(resumed.output, "resum")) << resumed.output;
  sim::H5Reader h5(out);
  EXPECT_EQ(h5.AttrString("/", "status"), "complete");
  EXPECT_EQ(h5.AttrInt("/", "steps_done"), 400);
}

}  // namespace
