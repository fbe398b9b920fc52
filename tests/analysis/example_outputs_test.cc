// Per-example evaluation outputs (analysis/example_outputs.h) are the trainer's numbers, split by
// position and example: the per-position losses summed in order over S give ForwardLoss's mean bit
// for bit (with and without head gates, for class and scalar outputs), the correct positions its
// count, the trainer's evaluation (EvaluateBatch) the same mean to rounding of its loss·S / S, and
// the per-example means recombine into the batch mean. head_ablation's per-example output is paired:
// a silent head changes no example's loss.
#include "analysis/example_outputs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "analysis/analyses.h"
#include "analysis/head_analyses.h"
#include "sim/cli/experiment.h"
#include "tests/testing/analysis_fixtures.h"
#include "sim/train/metrics.h"

namespace sim {
namespace {

using testing::Named;

Experiment Build(std::map<std::string, std::string> given) {
  return testing::BuildExperimentWith(std::move(given),
                                      {{"model.layers", "2"}, {"model.heads", "2,4"}, {"model.d_model", "16"}});
}

ProbeOptions Probe(int examples) {
  ProbeOptions p;
  p.split = 1;
  p.examples = examples;
  p.seed = 3;
  return p;
}

// Checks every promise of EvaluateExamples on one model and batch, with `hooks` (or none).
void ExpectTheTrainersNumbers(const Experiment& e, const Batch& batch, const ForwardHooks* hooks) {
  auto ws = e.model->MakeWorkspace(batch.shape, batch.n_scored());
  const ExampleOutputs o = EvaluateExamples(*e.model, *ws, batch, hooks);
  int n_correct = 0;
  const double loss = ForwardLoss(*e.model, *ws, batch, false, &n_correct, hooks);
  const int n_scored = batch.n_scored();
  ASSERT_EQ(static_cast<int>(o.loss.size()), n_scored);
  double total = 0;  // in column order, as the loss function sums
  for (double l : o.loss) total += l;
  EXPECT_EQ(total / n_scored, loss) << "the per-position losses give ForwardLoss's mean bit for bit";
  EXPECT_EQ(o.mean_loss, loss);

  MetricSums sums;  // the trainer's evaluation of one batch
  EvaluateBatch(*e.model, *ws, *e.task, batch, sums, hooks);
  EXPECT_DOUBLE_EQ(sums.Means().at("loss"), o.mean_loss);

  double recombined = 0;  // per-example means, weighted by their positions
  int positions = 0;
  for (int b = 0; b < batch.shape.batch; ++b) {
    if (o.example_scored[b] == 0) {
      EXPECT_TRUE(std::isnan(o.example_loss[b])) << b;
      continue;
    }
    recombined += o.example_loss[b] * o.example_scored[b];
    positions += o.example_scored[b];
  }
  EXPECT_EQ(positions, n_scored);
  EXPECT_NEAR(recombined / n_scored, loss, 1e-12 * std::abs(loss));
  for (int s = 0; s < n_scored; ++s) EXPECT_EQ(o.example[s], batch.scored[s] / batch.shape.length) << s;

  if (batch.output == OutputKind::kClasses) {
    int correct = 0;
    for (uint8_t c : o.correct) correct += c;
    EXPECT_EQ(correct, n_correct);
    EXPECT_EQ(o.n_correct, n_correct);
    EXPECT_EQ(sums.Means().at("accuracy"), static_cast<double>(n_correct) / n_scored);
    double accurate = 0;
    for (int b = 0; b < batch.shape.batch; ++b)
      if (o.example_scored[b] > 0) accurate += o.example_accuracy[b] * o.example_scored[b];
    EXPECT_NEAR(accurate, n_correct, 1e-9);
  } else {
    EXPECT_TRUE(o.correct.empty());
    for (double a : o.example_accuracy) EXPECT_TRUE(std::isnan(a));
    EXPECT_DOUBLE_EQ(sums.Means().at("mse"), o.mean_loss);
  }
}

TEST(ExampleOutputsTest, ClassOutputsAreTheTrainersLossAndAccuracyPerPosition) {
  const Experiment e = Build({{"task.name", "mqar"}});
  const Batch batch = DrawProbe(*e.task, Probe(24));
  ASSERT_EQ(batch.output, OutputKind::kClasses);
  ExpectTheTrainersNumbers(e, batch, nullptr);
  std::vector<Vec> gates = {Vec::Ones(2), Vec::Ones(4)};
  gates[1](2) = 0;  // layer 1, head 2 off
  gates[0](0) = 0.5;
  ForwardHooks hooks;
  hooks.head_gates = &gates;
  ExpectTheTrainersNumbers(e, batch, &hooks);
}

TEST(ExampleOutputsTest, ScalarOutputsAreTheTrainersSquaredErrorPerPosition) {
  const Experiment e = Build({{"task.name", "linreg"}, {"task.points", "5"}});
  const Batch batch = DrawProbe(*e.task, Probe(16));
  ASSERT_EQ(batch.output, OutputKind::kScalar);
  ExpectTheTrainersNumbers(e, batch, nullptr);
  std::vector<Vec> gates = {Vec::Ones(2), Vec::Zero(4)};  // layer 1 off entirely
  ForwardHooks hooks;
  hooks.head_gates = &gates;
  ExpectTheTrainersNumbers(e, batch, &hooks);
}

TEST(ExampleOutputsTest, HeadAblationPerExampleLossesArePaired) {
  Experiment e = Build({{"task.name", "mqar"}});
  // Head 1 of layer 0 reads nothing into the residual stream: ablating it changes no example.
  const int dh = 16 / 2;
  e.registry->Value(e.registry->Find("blocks.0.attn.wo")).middleCols(dh, dh).setZero();
  const int examples = 20;
  const std::vector<AnalysisArray> plain = HeadAblation(*e.model, *e.task, Probe(examples));
  const std::vector<AnalysisArray> a = HeadAblation(*e.model, *e.task, Probe(examples), /*per_example=*/true);
  for (const AnalysisArray& p : plain) {  // the same bits (NaN where a layer lacks the head)
    const std::vector<double>& with = Named(a, p.path).data;
    ASSERT_EQ(with.size(), p.data.size()) << p.path;
    EXPECT_EQ(std::memcmp(with.data(), p.data.data(), with.size() * sizeof(double)), 0) << p.path << " unchanged";
  }
  const AnalysisArray& base = Named(a, "head_ablation/example_loss");
  const AnalysisArray& delta = Named(a, "head_ablation/example_delta_loss");
  ASSERT_EQ(base.dims, (std::vector<uint64_t>{static_cast<uint64_t>(examples)}));
  ASSERT_EQ(delta.dims, (std::vector<uint64_t>{2, 4, static_cast<uint64_t>(examples)}));
  EXPECT_EQ(delta.string_attrs.at("dims"), "layer,head,example");
  const std::vector<double>& mean_delta = Named(a, "head_ablation/delta_loss").data;
  for (int head = 0; head < 8; ++head) {  // [l, h] flattened, H = 4
    const bool present = head % 4 < (head < 4 ? 2 : 4);
    double sum = 0;
    for (int b = 0; b < examples; ++b) {
      const double d = delta.data[static_cast<size_t>(head) * examples + b];
      if (!present) {
        EXPECT_TRUE(std::isnan(d));
        continue;
      }
      if (head == 1) {
        EXPECT_EQ(d, 0.0) << "the silent head, example " << b;
      }
      sum += d;
    }
    // mqar scores the same number of positions in every example: the mean of the example deltas is
    // the mean delta.
    if (present) {
      EXPECT_NEAR(sum / examples, mean_delta[head], 1e-9) << head;
    }
  }
  double base_mean = 0;
  for (double l : base.data) base_mean += l / examples;
  EXPECT_NEAR(base_mean, Named(a, "head_ablation/base_loss").data[0], 1e-9);
}

}  // namespace
}  // namespace sim
