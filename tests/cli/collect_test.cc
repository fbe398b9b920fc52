// sim collect's summary columns beyond the final metrics: n_params, and every scalar under /analysis
// (a time series of a scalar at its last step), with aggregates over the seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

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
    "[analysis]\nhead_ablation = true\nprobe = 32\n"
    "[sweep]\nmodel.layers = 1, 2\nseed = 0, 1\n";

// The run files of the sweep in `dir`, by index (manifest.tsv: index, hash, file, ...).
std::vector<std::string> RunFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::istringstream in(ReadText(dir + "/manifest.tsv"));
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    const size_t a = line.find('\t'), b = line.find('\t', a + 1), c = line.find('\t', b + 1);
    files.push_back(dir + "/" + line.substr(b + 1, c - b - 1));
  }
  return files;
}

std::vector<std::string> Columns(const sim::H5Reader& h5, const std::string& group) {
  std::vector<std::string> names;
  std::istringstream in(h5.AttrString(group, "columns"));
  for (std::string name; std::getline(in, name, ',');) names.push_back(name);
  return names;
}

TEST(CollectTest, ScalarAnalysesAndParameterCountsBecomeColumns) {
  ScratchDir dir;
  const std::string sweep = dir.File("sweep.ini"), out = dir.File("runs"), summary = dir.File("summary.h5");
  WriteText(sweep, kSweep);
  const Result all = RunSim("sweep --config " + Quote(sweep) + " --out-dir " + Quote(out) + " --all --quiet");
  ASSERT_EQ(all.code, 0) << all.output;
  const std::vector<std::string> files = RunFiles(out);
  ASSERT_EQ(files.size(), 4u);
  {  // Run 0 gains a time series: a scalar per step (a column: its last value), its step axis and a
     // [step, layer] series (no column: not a scalar at the last step).
    sim::H5Writer h5(files[0], sim::H5Writer::Edit::kEdit);
    const double value[] = {0.5, 0.25, 0.125}, matrix[] = {1, 2, 3, 4, 5, 6};
    const int32_t step[] = {10, 20, 30};
    h5.Doubles("/analysis/series/value", value, {3});
    h5.AttrString("/analysis/series/value", "dims", "step");
    h5.Ints("/analysis/series/step", step, {3});
    h5.Doubles("/analysis/series/per_layer", matrix, {3, 2});
    h5.AttrString("/analysis/series/per_layer", "dims", "step,layer");
    h5.Close();
  }
  const Result collect = RunSim("collect " + Quote(out) + " --out " + Quote(summary));
  ASSERT_EQ(collect.code, 0) << collect.output;

  sim::H5Reader h5(summary);
  const std::vector<std::string> columns = Columns(h5, "/runs");
  for (const char* name : {"n_params", "analysis/chance", "analysis/head_ablation/base_loss",
                           "analysis/head_ablation/base_accuracy", "analysis/series/value"})
    EXPECT_NE(std::find(columns.begin(), columns.end(), name), columns.end()) << name;
  for (const char* name : {"analysis/series/step", "analysis/series/per_layer", "analysis/head_ablation/delta_loss"})
    EXPECT_EQ(std::find(columns.begin(), columns.end(), name), columns.end()) << name << " is not a scalar";
  EXPECT_EQ(columns.back(), "file");

  const std::vector<double> n_params = h5.Doubles("/runs/n_params");
  const std::vector<double> base_loss = h5.Doubles("/runs/analysis/head_ablation/base_loss");
  const std::vector<double> series = h5.Doubles("/runs/analysis/series/value");
  ASSERT_EQ(n_params.size(), 4u);
  for (size_t i = 0; i < files.size(); ++i) {
    const sim::H5Reader run(files[i]);
    int64_t counted = 0;  // every element of /params
    for (const std::string& name : run.List("/params")) {
      int64_t n = 1;
      for (uint64_t d : run.Shape("/params/" + name)) n *= static_cast<int64_t>(d);
      counted += n;
    }
    EXPECT_EQ(n_params[i], counted) << files[i];
    EXPECT_EQ(n_params[i], run.AttrInt("/", "n_params")) << files[i];
    EXPECT_EQ(base_loss[i], run.Doubles("/analysis/head_ablation/base_loss").at(0)) << files[i];
  }
  EXPECT_LT(n_params[0], n_params[2]) << "two layers have more parameters than one";
  EXPECT_EQ(series[0], 0.125) << "a time series gives its value at the last step";
  for (size_t i = 1; i < 4; ++i) EXPECT_TRUE(std::isnan(series[i])) << "runs without the dataset: NaN";

  // Aggregates over the seeds, one row per depth: n_params of the configuration, and the statistics
  // of the /analysis scalars like those of the final metrics.
  const std::vector<std::string> agg = Columns(h5, "/aggregate");
  EXPECT_EQ(std::find(agg.begin(), agg.end(), "n_params") - std::find(agg.begin(), agg.end(), "n_runs"), 1);
  const std::vector<double> agg_params = h5.Doubles("/aggregate/n_params");
  const std::vector<double> mean = h5.Doubles("/aggregate/analysis/head_ablation/base_loss_mean");
  const std::vector<double> count = h5.Doubles("/aggregate/analysis/series/value_count");
  ASSERT_EQ(agg_params.size(), 2u);
  EXPECT_EQ(agg_params[0], n_params[0]);
  EXPECT_EQ(agg_params[1], n_params[2]);
  EXPECT_NEAR(mean[0], (base_loss[0] + base_loss[1]) / 2, 1e-12);
  EXPECT_NEAR(mean[1], (base_loss[2] + base_loss[3]) / 2, 1e-12);
  EXPECT_EQ(count[0], 1);
  EXPECT_EQ(count[1], 0);
}

}  // namespace
