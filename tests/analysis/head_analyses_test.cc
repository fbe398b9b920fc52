// The generic head and stream analyses on models whose answer is known by construction:
//   - a head whose output projection is zero carries nothing: ablating it changes no loss, its gate
//     gradient is exactly 0, and the other head of its layer takes the whole ablation share;
//   - probabilities with all mass on key 0 are a sink: first_mass 1, top-1 position 0, entropy 0;
//     uniform causal attention has the closed-form values;
//   - a ridge probe recovers a linear target (R² near 1, accuracy 1) and finds nothing in noise;
//   - with linear attention (model.attention = linear) the head analyses apply and a silent head is
//     still silent, while sinks (masses and entropy of probabilities) and a task's mechanism
//     measures refuse, saying why.
#include "analysis/head_analyses.h"

#include <gtest/gtest.h>

#include <cmath>

#include "analysis/attention_analysis.h"
#include "analysis/residual_probe.h"
#include "sim/cli/experiment.h"
#include "tests/testing/analysis_fixtures.h"

namespace sim {
namespace {

using testing::Named;
using testing::SilenceHead;

Experiment Build(std::map<std::string, std::string> given) {
  return testing::BuildExperimentWith(
      std::move(given),
      {{"task.name", "mqar"}, {"model.layers", "2"}, {"model.heads", "2,4"}, {"model.d_model", "16"}});
}

ProbeOptions Probe(int examples = 64) {
  ProbeOptions p;
  p.split = 1;
  p.examples = examples;
  p.seed = 5;
  return p;
}

TEST(HeadAnalysesTest, AblationOfASilentHeadChangesNothingAndItsNeighbourTakesTheShare) {
  Experiment e = Build({});
  SilenceHead(e, 0, 1);
  const std::vector<AnalysisArray> a = HeadAblation(*e.model, *e.task, Probe());
  const AnalysisArray& delta = Named(a, "head_ablation/delta_loss");
  ASSERT_EQ(delta.dims, (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(delta.string_attrs.at("dims"), "layer,head");
  EXPECT_EQ(delta.data[1], 0.0);           // layer 0, head 1: silent
  EXPECT_NE(delta.data[0], 0.0);           // layer 0, head 0
  EXPECT_TRUE(std::isnan(delta.data[2]));  // layer 0 has 2 heads of 4
  EXPECT_TRUE(std::isnan(delta.data[3]));
  for (int h = 0; h < 4; ++h) EXPECT_FALSE(std::isnan(delta.data[4 + h]));
  const AnalysisArray& share = Named(a, "head_ablation/share");
  EXPECT_EQ(share.data[0], 1.0);
  EXPECT_EQ(share.data[1], 0.0);
  EXPECT_EQ(Named(a, "head_ablation/share_entropy").data[0], 0.0);
  EXPECT_GT(Named(a, "head_ablation/share_entropy").data[1], 0.0);
  // Keeping only the silent head is removing the other one.
  EXPECT_EQ(Named(a, "head_ablation/keep_one_delta_loss").data[1], delta.data[0]);
  EXPECT_EQ(Named(a, "head_ablation/delta_accuracy").data[1], 0.0);
}

TEST(HeadAnalysesTest, GradientImportanceOfASilentHeadIsZero) {
  Experiment e = Build({});
  SilenceHead(e, 1, 2);
  const std::vector<AnalysisArray> a = HeadGradImportance(*e.model, *e.task, Probe(16));
  const AnalysisArray& importance = Named(a, "head_grad_importance/importance");
  ASSERT_EQ(importance.dims, (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(importance.data[4 + 2], 0.0);
  for (int h : {0, 1, 3}) EXPECT_GT(importance.data[4 + h], 0.0);
  for (int h : {0, 1}) EXPECT_GT(importance.data[h], 0.0);
  const AnalysisArray& normalized = Named(a, "head_grad_importance/importance_normalized");
  double norm = 0;
  for (int h = 0; h < 4; ++h) norm += normalized.data[4 + h] * normalized.data[4 + h];
  EXPECT_NEAR(norm, 1.0, 1e-9);
}

std::vector<AnalysisArray> NoMeasures(const Task&, const AttentionCapture&) { return {}; }

TEST(HeadAnalysesTest, LinearAttentionGetsHeadAnalysesButNotProbabilityAnalyses) {
  Experiment e = Build({{"model.attention", "linear"}});
  SilenceHead(e, 0, 1);
  AnalysisInputs in;
  in.model = e.model.get();
  in.task = e.task.get();
  in.probe = Probe(16);
  EXPECT_EQ(HeadGatesApply(in, {}), "");
  const std::vector<AnalysisArray> ablation = HeadAblation(*e.model, *e.task, Probe(16));
  EXPECT_EQ(Named(ablation, "head_ablation/delta_loss").data[1], 0.0);
  EXPECT_NE(Named(ablation, "head_ablation/delta_loss").data[0], 0.0);
  const std::vector<AnalysisArray> grads = HeadGradImportance(*e.model, *e.task, Probe(16));
  EXPECT_EQ(Named(grads, "head_grad_importance/importance").data[1], 0.0);
  EXPECT_GT(Named(grads, "head_grad_importance/importance").data[0], 0.0);

  const std::string sinks = AttentionProbsApply(in, {});
  EXPECT_NE(sinks.find("model.attention = linear"), std::string::npos) << sinks;
  EXPECT_NE(sinks.find("not probabilities"), std::string::npos) << sinks;
  EXPECT_EQ(AttentionApplies(in, {}), "") << "attention maps of linear weights apply";
  in.task_measures = NoMeasures;
  const std::string measures = AttentionApplies(in, {});
  EXPECT_NE(measures.find("mechanism measures"), std::string::npos) << measures;
  // The same model with softmax attention gets both.
  Experiment softmax = Build({});
  in.model = softmax.model.get();
  EXPECT_EQ(AttentionProbsApply(in, {}), "");
  EXPECT_EQ(AttentionApplies(in, {}), "");
}

TEST(HeadAnalysesTest, SinkStatisticsOfKnownPatterns) {
  const int t = 5, batch = 2, heads = 2;
  Mat probs = Mat::Zero(t, t * batch * heads);
  for (int b = 0; b < batch; ++b) {
    probs.middleCols((b * heads + 0) * t, t).row(0).setOnes();  // head 0: every query on key 0
    for (int q = 0; q < t; ++q)                                 // head 1: uniform causal
      probs.middleCols((b * heads + 1) * t, t).col(q).head(q + 1).setConstant(1.0f / (q + 1));
  }
  const LayerSinkStats s = SinkStatsOfLayer(probs, t, batch, heads);
  EXPECT_DOUBLE_EQ(s.first_mass[0], 1.0);
  EXPECT_EQ(s.top1_position[0], 0);
  EXPECT_DOUBLE_EQ(s.top1_mass[0], 1.0);
  EXPECT_DOUBLE_EQ(s.entropy[0], 0.0);
  // Queries 1..4 of uniform causal attention: key 0 gets 1/(q+1), the mean entropy is mean log(q+1).
  const double first = (1.0 / 2 + 1.0 / 3 + 1.0 / 4 + 1.0 / 5) / 4;
  EXPECT_NEAR(s.first_mass[1], first, 1e-6);
  EXPECT_EQ(s.top1_position[1], 0);
  EXPECT_NEAR(s.entropy[1], (std::log(2.0) + std::log(3.0) + std::log(4.0) + std::log(5.0)) / 4, 1e-6);
}

TEST(HeadAnalysesTest, SinkStatisticsOfAModel) {
  Experiment e = Build({{"model.causal", "true"}});
  const std::vector<AnalysisArray> a = SinkStatistics(*e.model, *e.task, Probe(8));
  const AnalysisArray& first = Named(a, "sinks/first_mass");
  ASSERT_EQ(first.dims, (std::vector<uint64_t>{2, 4}));
  EXPECT_TRUE(std::isnan(first.data[3]));
  for (int i : {0, 1, 4, 5, 6, 7}) {
    EXPECT_GT(first.data[i], 0.0);
    EXPECT_LE(first.data[i], 1.0);
  }
}

TEST(HeadAnalysesTest, RidgeProbeFindsALinearTargetAndNothingInNoise) {
  Rng rng(3);
  const auto random = [&](int rows, int cols) {
    Eigen::MatrixXd m(rows, cols);
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.Normal();
    return m;
  };
  const Eigen::MatrixXd w = random(1, 8);
  ProbeSplit linear;
  linear.fit_x = random(8, 200);
  linear.select_x = random(8, 100);
  linear.test_x = random(8, 100);
  linear.fit_y = w * linear.fit_x;
  linear.select_y = w * linear.select_x;
  linear.test_y = w * linear.test_x;
  double lambda = 0;
  EXPECT_GT(FitRidgeProbe(linear, false, &lambda), 0.999);
  ProbeSplit noise = linear;
  noise.fit_y = random(1, 200);
  noise.select_y = random(1, 100);
  noise.test_y = random(1, 100);
  EXPECT_LT(FitRidgeProbe(noise, false, &lambda), 0.1);
  // Classes: the label is which of three features is largest (linear in the features).
  ProbeSplit classes = linear;
  for (auto [x, y] : {std::pair{&classes.fit_x, &classes.fit_y}, std::pair{&classes.select_x, &classes.select_y},
                      std::pair{&classes.test_x, &classes.test_y}}) {
    *y = Eigen::MatrixXd::Zero(3, x->cols());
    for (Index j = 0; j < x->cols(); ++j) {
      Index label;
      x->col(j).head(3).maxCoeff(&label);
      (*y)(label, j) = 1;
    }
  }
  EXPECT_GT(FitRidgeProbe(classes, true, &lambda), 0.8);
}

TEST(HeadAnalysesTest, ResidualProbeOfAModel) {
  Experiment e = Build({});
  const std::vector<AnalysisArray> a = ResidualProbe(*e.model, *e.task, Probe(64));
  const AnalysisArray& accuracy = Named(a, "probe/accuracy");
  ASSERT_EQ(accuracy.dims, (std::vector<uint64_t>{3}));
  for (double v : accuracy.data) {
    EXPECT_GE(v, 0.0);
    EXPECT_LE(v, 1.0);
  }
  EXPECT_EQ(accuracy.string_attrs.at("target"), "label");
}

}  // namespace
}  // namespace sim
