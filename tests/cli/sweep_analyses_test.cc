// Analysis options do not name runs (sim/cli/run_training.h ResultDeterminingConfig): a sweep that
// selects an analysis finds the runs it made before complete, keeps their file names and training
// bits, and adds the analysis to them, with --all and with --index; asked again, it has nothing to do.
#include <gtest/gtest.h>

#include "sim/io/hdf5_file.h"
#include "sim/io/run_file.h"
#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

const char* kSweep =
    "[task]\nname = mqar\nvocab = 32\nlength = 16\npairs = 4\nqueries = 4\n"
    "[model]\nlayers = 1\nheads = 2\nd_model = 16\nd_mlp = 0\n"
    "[train]\nsteps = 20\neval_every = 20\nbatch = 16\n"
    "[eval]\nsize = 64\nbatch = 64\n"
    "[sweep]\nseed = 0, 1\n";

// `sim sweep --list`'s file names.
std::vector<std::string> Files(const std::string& sweep, const std::string& flags = "") {
  const Result list = RunSim("sweep --config " + Quote(sweep) + " --list " + flags);
  EXPECT_EQ(list.code, 0) << list.output;
  std::vector<std::string> files;
  std::istringstream in(list.output);
  for (std::string line; std::getline(in, line);) {
    const size_t a = line.find('\t'), b = line.find('\t', a + 1);
    if (a != std::string::npos) files.push_back(line.substr(a + 1, b - a - 1));
  }
  return files;
}

// Every parameter's bytes, in name order.
std::vector<std::vector<float>> Params(const std::string& path) {
  const sim::H5Reader h5(path);
  std::vector<std::vector<float>> values;
  for (const std::string& name : h5.List("/params")) values.push_back(h5.Floats("/params/" + name));
  return values;
}

TEST(SweepAnalysesTest, ASweepThatSelectsAnAnalysisAddsItToItsCompleteRuns) {
  ScratchDir dir;
  const std::string sweep = dir.File("sweep.ini"), out = dir.File("runs");
  WriteText(sweep, kSweep);
  const std::string base = "sweep --config " + Quote(sweep) + " --out-dir " + Quote(out);
  ASSERT_EQ(RunSim(base + " --all --quiet").code, 0);
  const std::vector<std::string> files = Files(sweep);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(Files(sweep, "--analysis.head_ablation=true --analysis.probe=16"), files) << "the same names";
  const std::vector<std::vector<float>> params = Params(out + "/" + files[1]);

  const Result all = RunSim(base + " --all --analysis.head_ablation=true --analysis.probe=16");
  ASSERT_EQ(all.code, 0) << all.output;
  EXPECT_TRUE(Contains(all.output, "2 runs, 0 already complete, 2 to run")) << all.output;
  for (const std::string& file : files) {
    const sim::H5Reader h5(out + "/" + file);
    EXPECT_TRUE(h5.Exists("/analysis/head_ablation/delta_loss")) << file;
    EXPECT_EQ(h5.AttrString("/analysis/head_ablation", "options"),
              "analysis.head_ablation = true\nanalysis.head_ablation.per_example = false\n"
              "analysis.probe = 16\neval.seed = 0\n");
    EXPECT_EQ(h5.AttrString("/", "status"), "complete");
  }
  EXPECT_EQ(Params(out + "/" + files[1]), params) << "not trained again";

  const Result again = RunSim(base + " --all --analysis.head_ablation=true --analysis.probe=16");
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_TRUE(Contains(again.output, "2 runs, 2 already complete, 0 to run")) << again.output;

  // One run (a SLURM task): --index adds what that run lacks, keeping what it has.
  const Result one = RunSim(base + " --index 0 --analysis.sinks=true --analysis.probe=16", "2>&1");
  ASSERT_EQ(one.code, 0) << one.output;
  EXPECT_TRUE(Contains(one.output, "added sinks")) << one.output;
  const sim::H5Reader h5(out + "/" + files[0]);
  EXPECT_TRUE(h5.Exists("/analysis/sinks/first_mass"));
  EXPECT_TRUE(h5.Exists("/analysis/head_ablation/delta_loss"));
}

}  // namespace
