// sim analyze end to end: analyses added to finished run files give the bits the same analyses give
// inside sim train, leave everything else in the file as it was, are skipped when present, survive a
// kill at any moment, and bad requests exit 2 with a reason.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "cli_helpers.h"
#include "sim/io/hdf5_file.h"

namespace sim_test {
namespace {

// A tiny icqa run (it has mechanism measures) with an early-stop target, so steps_to applies.
const char* kIcqa =
    "[task]\nname = icqa\npairs = 3\n"
    "[model]\nlayers = 2\nheads = 2\nd_model = 16\nd_mlp = 0\nnorm = none\n"
    "[train]\nsteps = 30\neval_every = 10\nbatch = 16\ntarget_metric = accuracy\n"
    "[eval]\nsize = 64\nbatch = 64\n"
    "[analysis]\nprobe = 16\n";

std::string Train(const ScratchDir& dir, const std::string& name, const std::string& extra = "",
                  const char* ini = kIcqa) {
  const std::string config = dir.File(name + ".ini"), out = dir.File(name + ".h5");
  WriteText(config, ini);
  const Result r = RunSim("train --config " + Quote(config) + " --out " + Quote(out) + " --quiet " + extra);
  EXPECT_EQ(r.code, 0) << r.output;
  return out;
}

std::map<std::string, std::vector<double>> Datasets(const std::string& path) {
  std::map<std::string, std::vector<double>> d;
  sim::H5Reader h5(path);
  CollectDatasets(h5, "/", d);
  return d;
}

// Every attribute of `object` as text (strings as they are, numbers and int arrays printed).
std::map<std::string, std::string> Attrs(const std::string& path, const std::string& object) {
  sim::H5Reader h5(path);
  std::map<std::string, std::string> attrs;
  for (const char* name : {"format", "status", "config", "version", "created", "options", "engine_version",
                           "probe_split", "split", "positions", "curve", "metric", "dims"})
    if (h5.HasAttr(object, name)) attrs[name] = h5.AttrString(object, name);
  for (const char* name : {"format_version", "seed", "steps_done", "target_step", "threads", "chunk", "n_params"})
    if (h5.HasAttr(object, name)) attrs[name] = std::to_string(h5.AttrInt(object, name));
  for (const char* name : {"wall_seconds", "probe_examples", "target"}) {
    if (!h5.HasAttr(object, name)) continue;
    try {
      attrs[name] = std::to_string(h5.AttrDouble(object, name));
    } catch (const sim::InputError&) {  // a string (the probe's target)
      attrs[name] = h5.AttrString(object, name);
    }
  }
  for (const char* name : {"tokens", "step"})
    if (h5.HasAttr(object, name))
      for (int64_t t : h5.AttrInts(object, name)) attrs[name] += std::to_string(t) + ",";
  return attrs;
}

std::vector<std::string> AnalysisPaths(const std::map<std::string, std::vector<double>>& datasets) {
  std::vector<std::string> paths;
  for (const auto& [path, values] : datasets)
    if (path.rfind("/analysis/", 0) == 0) paths.push_back(path);
  return paths;
}

TEST(AnalyzeTest, AddingAnAnalysisLaterGivesTheBitsOfRunningItInTraining) {
  ScratchDir dir;
  const std::string during = Train(dir, "during", "--analysis.attention=true");
  const std::string later = Train(dir, "later");
  ASSERT_FALSE(Datasets(later).count("/analysis/attention"));
  const Result r = RunSim("analyze " + Quote(later) + " --analysis.attention=true");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "added attention")) << r.output;
  const auto a = Datasets(during), b = Datasets(later);
  const std::vector<std::string> paths = AnalysisPaths(a);
  EXPECT_EQ(paths, AnalysisPaths(b));
  for (const char* p : {"/analysis/attention", "/analysis/mech/icqa_partner_mass", "/analysis/mech/icqa_match_mass",
                        "/analysis/steps_to_target"})
    EXPECT_TRUE(a.count(p)) << p;
  for (const std::string& p : paths) {
    ASSERT_EQ(a.at(p).size(), b.at(p).size()) << p;
    EXPECT_EQ(0, std::memcmp(a.at(p).data(), b.at(p).data(), a.at(p).size() * sizeof(double))) << p;
    EXPECT_EQ(Attrs(during, p), Attrs(later, p)) << p;
  }
  const auto record = Attrs(later, "/analysis/attention");
  EXPECT_EQ(record.at("options"), "analysis.attention = true\nanalysis.probe = 16\neval.seed = 0\n");
  EXPECT_EQ(record.at("probe_split"), "test");
  EXPECT_EQ(record.at("probe_examples"), std::to_string(16.0));
  EXPECT_FALSE(record.at("engine_version").empty());
}

// The generic head and stream analyses, added later, give the bits they give inside sim train.
TEST(AnalyzeTest, GenericAnalysesGiveTheSameBitsLaterAsInTraining) {
  ScratchDir dir;
  const std::string all =
      "--analysis.head_ablation=true --analysis.head_grad_importance=true --analysis.sinks=true "
      "--analysis.residual_probe=true";
  const std::string during = Train(dir, "during", all);
  const std::string later = Train(dir, "later");
  const Result r = RunSim("analyze " + Quote(later) + " " + all);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto a = Datasets(during), b = Datasets(later);
  EXPECT_EQ(AnalysisPaths(a), AnalysisPaths(b));
  for (const char* p : {"/analysis/head_ablation/delta_loss", "/analysis/head_ablation/share",
                        "/analysis/head_grad_importance/importance", "/analysis/sinks/first_mass",
                        "/analysis/sinks/entropy", "/analysis/probe/accuracy"}) {
    ASSERT_TRUE(a.count(p) && b.count(p)) << p;
    ASSERT_EQ(a.at(p).size(), b.at(p).size()) << p;
    EXPECT_EQ(0, std::memcmp(a.at(p).data(), b.at(p).data(), a.at(p).size() * sizeof(double))) << p;
  }
  EXPECT_EQ(a.at("/analysis/head_ablation/delta_loss").size(), 4u);  // [2 layers, 2 heads]
  EXPECT_EQ(a.at("/analysis/probe/accuracy").size(), 3u);            // after the embedding and each layer
}

// Parameter snapshots give time series. sim train with snapshots and analyses, and sim analyze on
// the same run trained with snapshots but without them, give the same bits; each dataset of an
// analysis of the parameters gains a leading step axis (snapshot steps, then the final step), whose
// last entry is, bit for bit, the analysis of a run without snapshots (which keeps today's layout:
// no step axis, no step datasets); steps_to, of the curves alone, is not stacked.
TEST(AnalyzeTest, SnapshotsGiveTimeSeriesWithTheSameBitsInTrainAndAnalyze) {
  ScratchDir dir;
  const std::string all =
      "--analysis.attention=true --analysis.head_ablation=true --analysis.head_grad_importance=true "
      "--analysis.sinks=true --analysis.residual_probe=true";
  const std::string during = Train(dir, "during", "--train.snapshot_steps=10,20 " + all);
  const std::string later = Train(dir, "later", "--train.snapshot_steps=10,20");
  const std::string plain = Train(dir, "plain", all);
  const Result r = RunSim("analyze " + Quote(later) + " " + all);
  ASSERT_EQ(r.code, 0) << r.output;
  const auto a = Datasets(during), b = Datasets(later), p = Datasets(plain);
  EXPECT_EQ(AnalysisPaths(a), AnalysisPaths(b));
  for (const std::string& path : AnalysisPaths(a)) {
    ASSERT_EQ(a.at(path).size(), b.at(path).size()) << path;
    EXPECT_EQ(0, std::memcmp(a.at(path).data(), b.at(path).data(), a.at(path).size() * sizeof(double))) << path;
    EXPECT_EQ(Attrs(during, path), Attrs(later, path)) << path;
  }
  const int64_t steps_done = sim::H5Reader(during).AttrInt("/", "steps_done");
  std::vector<int64_t> steps;
  for (int64_t s : {10, 20})
    if (s < steps_done) steps.push_back(s);
  steps.push_back(steps_done);
  std::string step_list;
  for (int64_t s : steps) step_list += std::to_string(s) + ",";
  const std::vector<double> step_values(steps.begin(), steps.end());

  sim::H5Reader series(during), single(plain);
  for (const std::string& path : AnalysisPaths(p)) {
    ASSERT_TRUE(a.count(path)) << path;
    EXPECT_FALSE(single.HasAttr(path, "step")) << path;
    if (path == "/analysis/steps_to_target" || path == "/analysis/chance") {
      EXPECT_EQ(a.at(path), p.at(path)) << path << " does not depend on the parameters";
      EXPECT_FALSE(series.HasAttr(path, "step")) << path;
      continue;
    }
    const size_t n = p.at(path).size();
    ASSERT_EQ(a.at(path).size(), steps.size() * n) << path;
    EXPECT_EQ(0, std::memcmp(a.at(path).data() + (steps.size() - 1) * n, p.at(path).data(), n * sizeof(double)))
        << path << ": the last entry is the analysis of /params";
    std::vector<uint64_t> shape = single.Shape(path);
    shape.insert(shape.begin(), steps.size());
    EXPECT_EQ(series.Shape(path), shape) << path;
    const std::string dims = single.HasAttr(path, "dims") ? "step," + single.AttrString(path, "dims") : "step";
    EXPECT_EQ(series.AttrString(path, "dims"), dims) << path;
    EXPECT_EQ(Attrs(during, path).at("step"), step_list) << path;
  }
  // The groups carry their steps as a dataset; /analysis/attention is a dataset (attribute only).
  std::vector<std::string> extra;
  for (const std::string& path : AnalysisPaths(a))
    if (!p.count(path)) extra.push_back(path);
  EXPECT_EQ(extra, (std::vector<std::string>{"/analysis/head_ablation/step", "/analysis/head_grad_importance/step",
                                             "/analysis/mech/step", "/analysis/probe/step", "/analysis/sinks/step"}));
  for (const std::string& path : extra) EXPECT_EQ(a.at(path), step_values) << path;
}

TEST(AnalyzeTest, EverythingElseInTheFileStaysAsItWas) {
  ScratchDir dir;
  const std::string run = Train(dir, "run");
  const auto before = Datasets(run);
  const auto root_before = Attrs(run, "/");
  std::map<std::string, std::map<std::string, std::string>> attrs_before;
  for (const auto& [path, values] : before) attrs_before[path] = Attrs(run, path);
  const Result r = RunSim("analyze " + Quote(run) + " --analysis.attention=true");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto after = Datasets(run);
  EXPECT_GT(after.size(), before.size());
  for (const auto& [path, values] : before) {
    ASSERT_TRUE(after.count(path)) << path;
    EXPECT_EQ(0, std::memcmp(values.data(), after.at(path).data(), values.size() * sizeof(double))) << path;
    EXPECT_EQ(attrs_before[path], Attrs(run, path)) << path;
  }
  EXPECT_EQ(root_before, Attrs(run, "/"));
  for (const auto& entry : fs::directory_iterator(dir.path()))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << "no temporary file left: " << entry.path();
}

TEST(AnalyzeTest, PresentAnalysesAreSkippedUnlessForcedOrTheirOptionsChanged) {
  ScratchDir dir;
  const std::string run = Train(dir, "run", "--analysis.attention=true");
  const auto mtime = fs::last_write_time(run);
  const Result again = RunSim("analyze " + Quote(run) + " --analysis.attention=true");
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_TRUE(Contains(again.output, "already present attention, steps_to")) << again.output;
  EXPECT_EQ(fs::last_write_time(run), mtime) << "nothing to do: the file is not rewritten";
  const Result forced = RunSim("analyze " + Quote(run) + " --force");
  ASSERT_EQ(forced.code, 0) << forced.output;
  EXPECT_TRUE(Contains(forced.output, "added attention, steps_to"))
      << "the run's own config selects attention: " << forced.output;
  const Result probe = RunSim("analyze " + Quote(run) + " --analysis.probe=8");
  ASSERT_EQ(probe.code, 0) << probe.output;
  EXPECT_TRUE(Contains(probe.output, "added attention; already present steps_to")) << probe.output;
  EXPECT_EQ(Datasets(run).count("/analysis/mech/icqa_partner_mass"), 1u);
  EXPECT_EQ(Attrs(run, "/analysis/attention").at("probe_examples"), std::to_string(8.0));
}

TEST(AnalyzeTest, StepsToAnyCurveOfAFinishedRun) {
  ScratchDir dir;
  const std::string run = Train(dir, "run", "--train.target_metric=none");
  EXPECT_FALSE(Datasets(run).count("/analysis/steps_to_target"));
  const Result missing = RunSim("analyze " + Quote(run) + " --analysis.steps_to=0.1");
  EXPECT_EQ(missing.code, 2) << missing.output;
  EXPECT_TRUE(Contains(missing.output, "steps_to does not apply: no curve to threshold")) << missing.output;
  const Result typo = RunSim("analyze " + Quote(run) + " --analysis.steps_to.curve=test_acuracy");
  EXPECT_EQ(typo.code, 2) << typo.output;
  EXPECT_TRUE(Contains(typo.output, "did you mean 'test_accuracy'")) << typo.output;
  const Result r = RunSim("analyze " + Quote(run) + " --analysis.steps_to=0.0 --analysis.steps_to.curve=test_accuracy");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Datasets(run).at("/analysis/steps_to_target"), std::vector<double>{10});
  EXPECT_EQ(Attrs(run, "/analysis/steps_to_target").at("curve"), "test_accuracy");
}

TEST(AnalyzeTest, BadRequestsExit2WithTheReason) {
  ScratchDir dir;
  const std::string run = Train(dir, "run");
  const Result unknown = RunSim("analyze " + Quote(run) + " --analysis.atention=true");
  EXPECT_EQ(unknown.code, 2) << unknown.output;
  EXPECT_TRUE(Contains(unknown.output, "did you mean 'analysis.attention'")) << unknown.output;
  const Result option = RunSim("analyze " + Quote(run) + " --analysis.steps_to.curv=test_loss");
  EXPECT_EQ(option.code, 2) << option.output;
  EXPECT_TRUE(Contains(option.output, "'analysis.steps_to.curve'")) << option.output;
  const Result model = RunSim("analyze " + Quote(run) + " --model.layers=3");
  EXPECT_EQ(model.code, 2) << "the model comes from the file: " << model.output;

  const std::string text = dir.File("notes.h5");
  WriteText(text, "not HDF5\n");
  EXPECT_EQ(RunSim("analyze " + Quote(text) + " --analysis.attention=true").code, 2);
  const std::string bytes = ReadText(run), truncated = dir.File("truncated.h5");
  WriteText(truncated, bytes.substr(0, bytes.size() / 2));
  const Result cut = RunSim("analyze " + Quote(truncated) + " --analysis.attention=true");
  EXPECT_EQ(cut.code, 2) << cut.output;

  const Result applies = RunSim("analyze " + Quote(run) + " --analysis.steps_to.curve=control_accuracy");
  EXPECT_EQ(applies.code, 2) << applies.output;
  EXPECT_TRUE(Contains(applies.output,
                       "analysis steps_to does not apply: analysis.steps_to.curve = control_accuracy "
                       "does not start with a split of task 'icqa'"))
      << applies.output;
  EXPECT_EQ(ReadText(run), bytes) << "failed requests leave the files alone";
}

// A linear-attention model (model.attention = linear) has attention weights that are not
// probabilities: sinks (masses, entropy) refuses it with exit 2 and the reason; head ablation runs.
TEST(AnalyzeTest, SinksRefuseLinearAttention) {
  ScratchDir dir;
  const std::string run = Train(dir, "linear", "--train.target_metric=none --model.attention=linear");
  const std::string bytes = ReadText(run);
  const Result sinks = RunSim("analyze " + Quote(run) + " --analysis.sinks=true");
  EXPECT_EQ(sinks.code, 2) << sinks.output;
  EXPECT_TRUE(Contains(sinks.output, "analysis sinks does not apply: model.attention = linear")) << sinks.output;
  EXPECT_EQ(ReadText(run), bytes) << "a refused analysis leaves the file alone";
  const Result ablation = RunSim("analyze " + Quote(run) + " --analysis.head_ablation=true");
  ASSERT_EQ(ablation.code, 0) << ablation.output;
  EXPECT_EQ(Datasets(run).count("/analysis/head_ablation/delta_loss"), 1u);
}

TEST(AnalyzeTest, ADirectoryIsAnalyzedJAtATimeAndRerunsDoOnlyWhatIsMissing) {
  ScratchDir dir;
  const std::string sweep = dir.File("sweep.ini"), out = dir.File("runs");
  WriteText(sweep, std::string(kIcqa) + "[sweep]\nseed = 0..2\n");
  const Result s = RunSim("sweep --config " + Quote(sweep) + " --out-dir " + Quote(out) + " --all --jobs 2 --quiet");
  ASSERT_EQ(s.code, 0) << s.output;
  const Result c = RunSim("collect " + Quote(out) + " --out " + Quote(out + "/summary.h5"));
  ASSERT_EQ(c.code, 0) << c.output;
  const Result r = RunSim("analyze " + Quote(out) + " --analysis.attention=true --jobs 2", "2>&1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "[3/3] done")) << r.output;
  int analyzed = 0;
  for (const auto& entry : fs::directory_iterator(out))
    if (entry.path().filename().string().rfind("run-", 0) == 0 && entry.path().extension() == ".h5") {
      EXPECT_TRUE(Datasets(entry.path().string()).count("/analysis/attention")) << entry.path();
      ++analyzed;
    }
  EXPECT_EQ(analyzed, 3);
  const Result again = RunSim("analyze " + Quote(out) + " --analysis.attention=true");
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(std::count(again.output.begin(), again.output.end(), '\n'), 3) << again.output;
  EXPECT_FALSE(Contains(again.output, "added")) << again.output;
}

// Killed at any moment (here: whenever the kill lands), the original file is intact, byte for byte.
TEST(AnalyzeTest, AKilledAnalysisLeavesTheFileIntact) {
  ScratchDir dir;
  const std::string run = Train(dir, "run");
  const std::string bytes = ReadText(run);
  for (int delay_ms : {0, 30, 120}) {
    Child child({"analyze", run, "--analysis.attention=true", "--analysis.probe=20000"}, dir.File("out.txt"));
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    child.Signal(SIGKILL);
    child.Wait();
    EXPECT_EQ(ReadText(run), bytes) << "killed after " << delay_ms << " ms";
  }
  const Result info = RunSim("info " + Quote(run));
  EXPECT_EQ(info.code, 0) << info.output;
}

}  // namespace
}  // namespace sim_test
