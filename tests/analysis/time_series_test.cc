// Time series over parameter snapshots (analysis/time_series.h): the stacking layout, and the runner
// running an analysis on each snapshot of a real model and on its final parameters.
#include "analysis/time_series.h"

#include <gtest/gtest.h>

#include "analysis/analyses.h"
#include "sim/cli/experiment.h"

namespace sim {
namespace {

// One result of a made-up analysis with a group output "g" (a [2] array with dims, a scalar without)
// and a dataset output "d" ([1, 2]), values offset by `v`.
std::vector<AnalysisArray> Result(double v) {
  AnalysisArray vec{"g/vec", {2}, {v, v + 1}};
  vec.string_attrs["dims"] = "head";
  vec.number_attrs["probe_examples"] = v;
  AnalysisArray scalar{"g/base", {}, {v}};
  AnalysisArray d{"d", {1, 2}, {v, -v}};
  d.string_attrs["dims"] = "layer,head";
  return {vec, scalar, d};
}

const AnalysisArray& Find(const std::vector<AnalysisArray>& arrays, const std::string& path) {
  for (const AnalysisArray& a : arrays)
    if (a.path == path) return a;
  ADD_FAILURE() << "no " << path;
  static const AnalysisArray none;
  return none;
}

TEST(TimeSeriesTest, StackingAddsALeadingStepAxisAndTheSteps) {
  const std::vector<AnalysisArray> out = StackOverSteps({10, 20, 30}, {Result(1), Result(2), Result(3)}, {"g", "d"});
  const AnalysisArray& vec = Find(out, "g/vec");
  EXPECT_EQ(vec.dims, (std::vector<uint64_t>{3, 2}));
  EXPECT_EQ(vec.data, (std::vector<double>{1, 2, 2, 3, 3, 4}));
  EXPECT_EQ(vec.string_attrs.at("dims"), "step,head");
  EXPECT_EQ(vec.int_array_attrs.at("step"), (std::vector<int64_t>{10, 20, 30}));
  EXPECT_EQ(vec.number_attrs.at("probe_examples"), 3) << "attributes of the final parameters' result";
  const AnalysisArray& scalar = Find(out, "g/base");
  EXPECT_EQ(scalar.dims, (std::vector<uint64_t>{3}));
  EXPECT_EQ(scalar.string_attrs.at("dims"), "step");
  const AnalysisArray& d = Find(out, "d");
  EXPECT_EQ(d.dims, (std::vector<uint64_t>{3, 1, 2}));
  EXPECT_EQ(d.data, (std::vector<double>{1, -1, 2, -2, 3, -3}));
  EXPECT_EQ(d.string_attrs.at("dims"), "step,layer,head");
  const AnalysisArray& step = Find(out, "g/step");
  EXPECT_EQ(step.dims, (std::vector<uint64_t>{3}));
  EXPECT_EQ(step.data, (std::vector<double>{10, 20, 30}));
  EXPECT_EQ(step.string_attrs.at("dims"), "step");
  for (const AnalysisArray& a : out) EXPECT_NE(a.path, "d/step") << "a dataset output has its steps as attribute";
  EXPECT_EQ(out.size(), 4u);
}

TEST(TimeSeriesTest, ResultsThatDifferBetweenStepsAreAnInternalError) {
  std::vector<AnalysisArray> other = Result(2);
  other[0].dims = {1};
  other[0].data = {2};
  EXPECT_THROW(StackOverSteps({1, 2}, {Result(1), other}, {"g"}), InternalError);
  std::vector<AnalysisArray> fewer = Result(2);
  fewer.pop_back();
  EXPECT_THROW(StackOverSteps({1, 2}, {Result(1), fewer}, {"g"}), InternalError);
}

// The runner on a real model: the sinks analysis over two snapshots and the final parameters equals,
// slice by slice, the analysis run on each parameter set alone; the registry holds the final
// parameters afterwards; a snapshot at the final step is not repeated; an analysis that does not read
// the parameters (steps_to) is not stacked.
TEST(TimeSeriesTest, TheRunnerRunsOnEachSnapshotAndTheFinalParameters) {
  const OptionSet set = AllOptions();
  Options options(set, {{"task.name", "mqar"},
                        {"task.vocab", "32"},
                        {"task.length", "16"},
                        {"task.pairs", "4"},
                        {"task.queries", "4"},
                        {"model.d_model", "16"},
                        {"model.heads", "2"},
                        {"model.d_mlp", "0"},
                        {"analysis.sinks", "true"},
                        {"analysis.probe", "8"}});
  Experiment e = BuildExperiment(options);
  const SelectedAnalysis* sinks = nullptr;
  for (const SelectedAnalysis& a : e.analysis.selected)
    if (a.entry->name == "sinks") sinks = &a;
  ASSERT_NE(sinks, nullptr);
  const Vec final_values = e.registry->values();
  std::vector<ParamSnapshot> snapshots;
  for (int step : {10, 20, 50}) snapshots.push_back({step, final_values * static_cast<Scalar>(step / 10.0 - 0.5)});
  const std::vector<std::string> no_curve_names;
  const std::vector<std::vector<double>> no_curves;
  const std::vector<ParamSnapshot> no_snapshots;

  AnalysisInputs in = AnalysisInputsOf(e, no_curve_names, no_curves, snapshots, 50);
  ASSERT_EQ(WhyNotApplies(*sinks, e.analysis, in), "");
  const std::vector<AnalysisArray> series = RunAnalysis(*sinks, in);
  EXPECT_TRUE(e.registry->values() == final_values);

  const std::vector<Vec> alone_values = {snapshots[0].values, snapshots[1].values, final_values};
  std::vector<std::vector<AnalysisArray>> alone;
  for (const Vec& values : alone_values) {
    e.registry->values() = values;
    AnalysisInputs one = AnalysisInputsOf(e, no_curve_names, no_curves, no_snapshots, 50);
    WhyNotApplies(*sinks, e.analysis, one);
    alone.push_back(RunAnalysis(*sinks, one));
  }
  const AnalysisArray& mass = Find(series, "sinks/first_mass");
  const AnalysisArray& mass_final = Find(alone.back(), "sinks/first_mass");
  ASSERT_EQ(mass.dims.size(), mass_final.dims.size() + 1);
  EXPECT_EQ(mass.dims[0], 3u) << "snapshots 10, 20, and the final parameters (step 50, not twice)";
  EXPECT_EQ(mass.int_array_attrs.at("step"), (std::vector<int64_t>{10, 20, 50}));
  EXPECT_EQ(mass.string_attrs.at("dims"), "step," + mass_final.string_attrs.at("dims"));
  const size_t n = mass_final.data.size();
  for (size_t s = 0; s < 3; ++s) {
    const std::vector<double> slice(mass.data.begin() + s * n, mass.data.begin() + (s + 1) * n);
    EXPECT_EQ(slice, Find(alone[s], "sinks/first_mass").data) << "step slice " << s;
  }
  EXPECT_NE(Find(alone[0], "sinks/first_mass").data, mass_final.data) << "the snapshots differ";
  EXPECT_EQ(Find(series, "sinks/step").data, (std::vector<double>{10, 20, 50}));
  EXPECT_EQ(Find(series, "sinks").string_attrs.count("options"), 1u) << "the record attributes";
  EXPECT_FALSE(FindAnalysis("steps_to")->reads_params);
}

}  // namespace
}  // namespace sim
