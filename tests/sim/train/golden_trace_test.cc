// A 20-step training-loss trace compared with a checked-in golden file (tests/golden/), so a change
// that moves the numbers (a new kernel, a changed initialization, a reordered stream) is noticed.
// The tolerance is 1e-4 relative: float rounding differs between CPUs (AVX-512 vs AVX2 builds), real
// changes are far larger. Regenerate deliberately with SIM_UPDATE_GOLDEN=1 and review the diff.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sim/cli/experiment.h"
#include "sim/optim/optimizer.h"
#include "sim/train/metrics.h"

namespace sim {
namespace {

std::vector<double> LossTrace(const std::map<std::string, std::string>& given, int steps) {
  const OptionSet set = AllOptions();
  Options options(set, given);
  Experiment e = BuildExperiment(options);
  const TaskInfo& info = e.task->info();
  auto ws = e.model->MakeWorkspace({e.train.batch, info.length}, e.train.batch * info.max_scored_per_example);
  Optimizer optimizer(e.train.optimizer, *e.registry);
  Rng rng = Rng::ForStream(e.train.seed, "data/train");
  Batch batch;
  std::vector<double> trace;
  for (int step = 0; step < steps; ++step) {
    e.task->Sample(0, rng, e.train.batch, batch);
    trace.push_back(ForwardLoss(*e.model, *ws, batch, true, nullptr));
    e.registry->ZeroGrads();
    e.model->Backward(batch, *ws);
    ClipGradNorm(*e.registry, e.train.clip);
    optimizer.Step(e.train.schedule.At(step));
  }
  return trace;
}

void CompareWithGolden(const std::string& name, const std::vector<double>& trace) {
  const std::string path = std::string(SIM_SOURCE_DIR) + "/tests/golden/" + name + ".txt";
  const char* update = std::getenv("SIM_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream out(path);
    out.precision(10);
    for (double v : trace) out << v << "\n";
    GTEST_FAIL() << "rewrote " << path << "; unset SIM_UPDATE_GOLDEN and review the diff";
  }
  std::ifstream in(path);
  ASSERT_TRUE(in) << "missing golden file " << path << " (create it with SIM_UPDATE_GOLDEN=1)";
  std::vector<double> golden;
  for (double v; in >> v;) golden.push_back(v);
  ASSERT_EQ(golden.size(), trace.size()) << path;
  for (size_t i = 0; i < trace.size(); ++i)
    EXPECT_NEAR(trace[i], golden[i], 1e-4 * std::abs(golden[i])) << name << " step " << i;
}

TEST(GoldenTraceTest, MqarPreLnMlp) {
  CompareWithGolden("mqar_preln_mlp", LossTrace({{"task.name", "mqar"},
                                                 {"task.vocab", "32"},
                                                 {"task.length", "16"},
                                                 {"task.pairs", "4"},
                                                 {"task.queries", "4"},
                                                 {"model.d_model", "32"},
                                                 {"model.heads", "2"},
                                                 {"train.batch", "16"},
                                                 {"train.lr", "3e-3"},
                                                 {"train.warmup", "5"}},
                                                20));
}

TEST(GoldenTraceTest, LinregAttentionOnly) {
  CompareWithGolden("linreg_attention_only", LossTrace({{"task.name", "linreg"},
                                                        {"task.d", "3"},
                                                        {"task.points", "6"},
                                                        {"model.d_model", "16"},
                                                        {"model.heads", "2"},
                                                        {"model.norm", "none"},
                                                        {"model.d_mlp", "0"},
                                                        {"train.batch", "16"},
                                                        {"train.optimizer", "sgd"},
                                                        {"train.lr", "0.01"}},
                                                       20));
}

}  // namespace
}  // namespace sim
