// Stop signals at every phase of a run, the failures 9, 11 and 12 of the adversarial campaign: inside
// a huge evaluation, before the first evaluation, during the final analysis and the final write, and
// twice in a row. Each ends with exit 75 and a checkpoint that resumes to the uninterrupted result, or
// with a complete result; never with the default action, a stale .tmp or lost training.
//
// Phases too short to hit are held open by the test-only SIM_TEST_PAUSE_BEFORE=<point> of
// sim/cli/run_training.cc, which announces "test pause before <point>" and waits for a signal.
#include <sys/resource.h>

#include <cstring>

#include "cli_helpers.h"
#include "sim/io/run_file.h"

namespace sim_test {
namespace {

// About a second of training; analysis.attention makes the final analysis part of the result.
const char* kShortRun =
    "[task]\nname = mqar\nvocab = 64\nlength = 32\npairs = 6\nqueries = 6\n"
    "[model]\nlayers = 2\nheads = 2\nd_model = 32\nd_mlp = 0\n"
    "[train]\nsteps = 120\neval_every = 40\nbatch = 32\nlr = 3e-3\ntarget_metric = none\n"
    "[eval]\nsize = 200\nbatch = 100\n"
    "[analysis]\nattention = true\n";

std::map<std::string, std::vector<double>> Datasets(const std::string& path) {
  sim::H5Reader h5(path);
  std::map<std::string, std::vector<double>> out;
  CollectDatasets(h5, "/", out);
  return out;
}

// Every dataset (curves, final, params, analysis) and the result attributes, bit for bit.
void ExpectSameResults(const std::string& a, const std::string& b) {
  const auto da = Datasets(a), db = Datasets(b);
  ASSERT_EQ(da.size(), db.size());
  for (const auto& [path, values] : da) {
    ASSERT_TRUE(db.count(path)) << path;
    ASSERT_EQ(values.size(), db.at(path).size()) << path;
    EXPECT_EQ(std::memcmp(values.data(), db.at(path).data(), values.size() * sizeof(double)), 0) << path;
  }
  sim::H5Reader ha(a), hb(b);
  for (const char* attr : {"status", "config"}) EXPECT_EQ(ha.AttrString("/", attr), hb.AttrString("/", attr)) << attr;
  for (const char* attr : {"steps_done", "target_step", "seed"})
    EXPECT_EQ(ha.AttrInt("/", attr), hb.AttrInt("/", attr)) << attr;
}

class SignalsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = dir_.File("short.ini");
    WriteText(config_, kShortRun);
    ref_ = dir_.File("ref.h5");
    out_ = dir_.File("run.h5");
  }

  void Reference() {
    const Result r = RunSim("train --config " + Quote(config_) + " --out " + Quote(ref_) + " --quiet");
    ASSERT_EQ(r.code, 0) << r.output;
  }

  // Signals the run held at `point` (SIM_TEST_PAUSE_BEFORE) `times` times; returns its exit code.
  int SignalAtPause(const std::string& point, int sig, int times) {
    ::setenv("SIM_TEST_PAUSE_BEFORE", point.c_str(), 1);
    Child child({"train", "--config", config_, "--out", out_, "--checkpoint-every", "0"}, dir_.File("stdout.txt"));
    ::unsetenv("SIM_TEST_PAUSE_BEFORE");
    EXPECT_TRUE(child.WaitFor("test pause before " + point, 60.0)) << child.stderr_text();
    for (int i = 0; i < times; ++i) child.Signal(sig);
    const int code = child.Wait();
    stderr_ = child.stderr_text();
    return code;
  }

  // The rerun resumes from the checkpoint at the last step and ends like the reference.
  void ResumeAtTheEndGivesTheReference() {
    const Result resumed = RunSim("train --config " + Quote(config_) + " --out " + Quote(out_));
    ASSERT_EQ(resumed.code, 0) << resumed.output;
    EXPECT_TRUE(Contains(resumed.output, "at step 120")) << "resumes at the end, no training from scratch:\n"
                                                         << resumed.output;
    EXPECT_FALSE(fs::exists(out_ + ".ckpt"));
    ExpectSameResults(ref_, out_);
  }

  ScratchDir dir_;
  std::string config_, ref_, out_, stderr_;
};

// Item 9: eval.size at its maximum (1e8 examples). Evaluation data is generated batch by batch, so
// memory stays small, and SIGTERM inside the evaluation checkpoints at its step and exits 75.
TEST_F(SignalsTest, SigtermInsideAHugeEvaluationCheckpointsAndExits75) {
  Child child({"train", "--config", kQuickstart, "--out", out_, "--eval.size=100000000", "--train.eval_every=2",
               "--train.steps=10", "--train.target_metric=none", "--checkpoint-every", "0"},
              dir_.File("stdout.txt"));
  // A progress line once an evaluation has run for a second.
  ASSERT_TRUE(child.WaitFor("step 2/10  evaluating test: batch ", 60.0)) << child.stderr_text();
  child.Signal(SIGTERM);
  EXPECT_EQ(child.Wait(), 75) << child.stderr_text();
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  EXPECT_LT(usage.ru_maxrss, 1024L * 1024L) << "peak resident set, KiB: bounded by eval.batch, not eval.size";
  ASSERT_TRUE(fs::exists(out_ + ".ckpt"));
  sim::H5Reader ckpt(out_ + ".ckpt");
  EXPECT_EQ(ckpt.AttrInt("/", "step"), 2) << "the checkpoint is at the evaluation's step";
  EXPECT_EQ(ckpt.AttrInt("/", "last_eval_step"), -1) << "and before it: a resumed run redoes it";
  ASSERT_TRUE(fs::exists(out_));
  EXPECT_FALSE(fs::exists(out_ + ".tmp"));
  const sim::RunRecord record = sim::ReadRunFile(out_);
  EXPECT_EQ(record.status, "interrupted");
  EXPECT_EQ(record.steps_done, 2);
}

// Item 11: SIGTERM before the first evaluation. The result has an evaluation at the interruption step,
// so /curves is not empty and readers (sim info, analysis.plot) take the file.
TEST_F(SignalsTest, SigtermBeforeTheFirstEvaluationStillGivesCurves) {
  Child child({"train", "--config", kQuickstart, "--out", out_, "--train.steps=1000000", "--train.eval_every=1000000",
               "--train.target_metric=none", "--eval.size=100", "--checkpoint-every", "0"},
              dir_.File("stdout.txt"));
  // Off a terminal, the first progress line comes after 10 s, long before step 1000000.
  ASSERT_TRUE(child.WaitFor("/1000000", 60.0)) << child.stderr_text();
  child.Signal(SIGTERM);
  ASSERT_EQ(child.Wait(), 75) << child.stderr_text();
  const sim::RunRecord record = sim::ReadRunFile(out_);
  EXPECT_EQ(record.status, "interrupted");
  std::map<std::string, std::vector<double>> curves;
  for (size_t i = 0; i < record.curve_names.size(); ++i) curves[record.curve_names[i]] = record.curves[i];
  ASSERT_TRUE(curves.count("step")) << "empty /curves";
  EXPECT_EQ(curves["step"], (std::vector<double>{static_cast<double>(record.steps_done)}));
  ASSERT_TRUE(curves.count("test_accuracy"));
  EXPECT_EQ(curves["test_accuracy"].at(0), record.final_metrics.at("test").at("accuracy"));
  const Result info = RunSim("info " + Quote(out_));
  EXPECT_EQ(info.code, 0) << info.output;
}

// Item 12: SIGTERM during the final analysis: a checkpoint at the last step, exit 75, a result marked
// interrupted; the rerun resumes at the end, redoes the analysis and writes the reference result.
TEST_F(SignalsTest, SigtermDuringTheFinalAnalysisKeepsTheTraining) {
  Reference();
  EXPECT_EQ(SignalAtPause("analysis", SIGTERM, 1), 75) << stderr_;
  ASSERT_TRUE(fs::exists(out_ + ".ckpt")) << stderr_;
  EXPECT_EQ(sim::H5Reader(out_ + ".ckpt").AttrInt("/", "step"), 120);
  EXPECT_FALSE(fs::exists(out_ + ".tmp"));
  EXPECT_FALSE(fs::exists(out_ + ".ckpt.tmp"));
  EXPECT_EQ(sim::ReadRunFile(out_).status, "interrupted");
  ResumeAtTheEndGivesTheReference();
}

// The impatient user: SIGTERM twice, and SIGINT twice, change nothing of the above.
TEST_F(SignalsTest, SigtermTwiceDuringTheFinalAnalysis) {
  Reference();
  EXPECT_EQ(SignalAtPause("analysis", SIGTERM, 2), 75) << stderr_;
  EXPECT_FALSE(fs::exists(out_ + ".tmp"));
  ResumeAtTheEndGivesTheReference();
}

TEST_F(SignalsTest, SigintTwiceDuringTheFinalAnalysis) {
  Reference();
  EXPECT_EQ(SignalAtPause("analysis", SIGINT, 2), 75) << stderr_;
  EXPECT_FALSE(fs::exists(out_ + ".tmp"));
  ResumeAtTheEndGivesTheReference();
}

// Item 12: SIGTERM (twice) during the final write: the write finishes; the run is complete (exit 0,
// no checkpoint left, nothing to resume), and its file is the reference's.
TEST_F(SignalsTest, SigtermDuringTheFinalWriteFinishesIt) {
  Reference();
  EXPECT_EQ(SignalAtPause("write", SIGTERM, 2), 0) << stderr_;
  EXPECT_TRUE(Contains(stderr_, "stop signal during the final write")) << stderr_;
  EXPECT_FALSE(fs::exists(out_ + ".tmp"));
  EXPECT_FALSE(fs::exists(out_ + ".ckpt"));
  ExpectSameResults(ref_, out_);
}

// SIGTERM twice during training: one checkpoint, exit 75, and the resumed run is the reference.
TEST_F(SignalsTest, SigtermTwiceDuringTrainingResumesBitIdentical) {
  Reference();
  {
    Child child({"train", "--config", config_, "--out", out_, "--checkpoint-every", "0"}, dir_.File("stdout.txt"));
    ASSERT_TRUE(child.WaitFor("step 40/120", 60.0)) << child.stderr_text();
    child.Signal(SIGTERM);
    child.Signal(SIGTERM);
    ASSERT_EQ(child.Wait(), 75) << child.stderr_text();
  }
  ASSERT_TRUE(fs::exists(out_ + ".ckpt"));
  EXPECT_FALSE(fs::exists(out_ + ".tmp"));
  EXPECT_EQ(sim::ReadRunFile(out_).status, "interrupted");
  const Result resumed = RunSim("train --config " + Quote(config_) + " --out " + Quote(out_));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_TRUE(Contains(resumed.output, "resuming from")) << resumed.output;
  ExpectSameResults(ref_, out_);
}

}  // namespace
}  // namespace sim_test
