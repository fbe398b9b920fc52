// The ictemplate_solution program (tools/ictemplate_solution_main.cc): the run file it writes is
// one that sim analyze and sim train --train.init_from load, with the constructed accuracy; options
// that do not fit are refused with exit code 2 naming the option.
#include <gtest/gtest.h>

#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

const std::string kDepth = std::string(SIM_SOURCE_DIR) + "/experiments/depth/";
const std::string kConfigs = " --config " + Quote(kDepth + "base.ini") + " --config " +
                             Quote(kDepth + "ictemplate_explore.ini") +
                             " --train.threads=1 --eval.size=400 --eval.batch=200";

Result RunTool(const std::string& args) {
  return RunCommand(std::string(ICTEMPLATE_SOLUTION_BINARY) + " " + args + " 2>&1");
}

double Final(const std::string& path, const std::string& split) {
  return sim::H5Reader(path).Doubles("/final/" + split + "/accuracy").at(0);
}

TEST(IctemplateSolutionCliTest, RunFileLoadsInSimAnalyzeAndSimTrain) {
  ScratchDir dir;
  const std::string solution = dir.File("solution.h5"), trained = dir.File("trained.h5");
  const Result made = RunTool(kConfigs + " --out " + Quote(solution));
  ASSERT_EQ(made.code, 0) << made.output;
  EXPECT_NE(made.output.find("note: model.d_model = 128 (the config file's 64"), std::string::npos) << made.output;
  EXPECT_GE(Final(solution, "test_id"), 0.99);
  EXPECT_GE(Final(solution, "test_ood"), 0.99);
  {
    sim::H5Reader in(solution);
    EXPECT_EQ(in.AttrString("/", "status"), "complete");
    EXPECT_NE(in.AttrString("/", "config").find("d_model = 128"), std::string::npos);
    EXPECT_TRUE(in.Exists("/params/blocks.2.attn.wq"));
    EXPECT_TRUE(in.Exists("/params/embed.pos_segment"));
  }

  const Result analyzed = RunSim("analyze " + Quote(solution) + " --analysis.attention=true");
  ASSERT_EQ(analyzed.code, 0) << analyzed.output;
  EXPECT_TRUE(sim::H5Reader(solution).Exists("/analysis/attention"));

  // The printed model options make sim train build the same model; 0 steps evaluates the weights.
  const std::string marker = "(give them to sim train --train.init_from=" + solution + "):";
  const size_t at = made.output.find(marker);
  ASSERT_NE(at, std::string::npos) << made.output;
  const std::string model_flags =
      made.output.substr(at + marker.size(), made.output.find('\n', at) - at - marker.size());
  const Result train = RunSim("train" + kConfigs + model_flags +
                              " --train.steps=0 --train.init_from=" + Quote(solution) + " --out " + Quote(trained));
  ASSERT_EQ(train.code, 0) << train.output;
  EXPECT_GE(Final(trained, "test_id"), 0.99);
  EXPECT_GE(Final(trained, "test_ood"), 0.99);
}

TEST(IctemplateSolutionCliTest, OptionsThatDoNotFitAreRefused) {
  ScratchDir dir;
  const std::string out = dir.File("x.h5");
  Result r = RunTool(kConfigs + " --model.d_model=64 --out " + Quote(out));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("error: model.d_model: the ictemplate solution needs 128, given 64"), std::string::npos)
      << r.output;
  r = RunTool(kConfigs + " --task.name=icqa --out " + Quote(out));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("task.name: the solution is for ictemplate, given icqa"), std::string::npos) << r.output;
  r = RunTool(kConfigs + " --model.pos=sinusoidal --out " + Quote(out));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("model.pos"), std::string::npos) << r.output;
  r = RunTool(kConfigs);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--out RUN.h5 is required"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
