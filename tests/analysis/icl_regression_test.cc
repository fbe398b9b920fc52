// The in-context regression analyses on models whose answer is known by construction:
//   - risk by n is the model's squared error against the noise-free target over s, per group n,
//     exactly as computed by hand from Forward's outputs;
//   - a silent head (zero output projection) has importance exactly 0 and share 0; the masking
//     importance of every other head equals its masked window risk minus the full one;
//   - the pruned model keeps block 0 whole and only the top head of later blocks (the reverse
//     prune the opposite), and its head_mask text, given as model.head_mask, reproduces its risk;
//   - probes: the embedding of an x position holds x alone, so it predicts nothing about r̂ (R² ≈ 0)
//     and its prediction of y is no better than 0 (risk ≈ E⟨w*, x⟩²/s = 1);
//   - the same prompts for every run: DrawIclPrompts depends on eval.seed only.
#include "analysis/icl_regression.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sim/cli/experiment.h"
#include "tests/testing/analysis_fixtures.h"

namespace sim {
namespace {

using testing::Named;
using testing::SilenceHead;

Experiment Build(std::map<std::string, std::string> given) {
  return testing::BuildExperimentWith(std::move(given), {{"task.name", "sparse_linreg"},
                                                         {"task.d", "4"},
                                                         {"task.s", "2"},
                                                         {"task.points", "8"},
                                                         {"task.noise", "0.1"},
                                                         {"model.layers", "3"},
                                                         {"model.heads", "2,4,2"},
                                                         {"model.d_model", "16"}});
}

TEST(IclRegressionTest, RiskByNIsTheErrorAgainstTheCleanTargetPerGroup) {
  Experiment e = Build({});
  const RegressionPrompts prompts = DrawIclPrompts(*e.task, "test", 300, 3);
  const std::vector<double> risk = ModelRiskByN(*e.model, *e.task, prompts, nullptr);
  ASSERT_EQ(risk.size(), 9u);
  Batch batch;
  e.task->RegressionBatch(prompts, 0, prompts.count, batch);
  auto ws = e.model->MakeWorkspace(batch.shape, batch.n_scored());
  e.model->Forward(batch, *ws);
  std::vector<double> sum(9, 0.0), count(9, 0.0);
  for (int j = 0; j < batch.n_scored(); ++j) {
    const double err = ws->Outputs()(0, j) - batch.clean_values[j];
    sum[batch.groups[j]] += err * err;
    count[batch.groups[j]] += 1;
  }
  for (int n = 0; n <= 8; ++n) {
    ASSERT_EQ(count[n], 300) << n;  // interleaved: one prediction per n per prompt
    // float outputs: the analysis runs 256 prompts per Forward, this one 300, so rounding differs.
    EXPECT_NEAR(risk[n], sum[n] / count[n] / 2, 1e-5 * risk[n]) << n;
  }
}

TEST(IclRegressionTest, SilentHeadHasZeroImportanceAndPrunesAreShapedAsSpecified) {
  Experiment e = Build({});
  SilenceHead(e, 1, 2);
  const RegressionPrompts prompts = DrawIclPrompts(*e.task, "test", 256, 3);
  const RiskWindow w = ParseRiskWindow("auto", 4, 8);
  EXPECT_EQ(w.lo, 2);
  EXPECT_EQ(w.hi, 4);
  const std::vector<AnalysisArray> a = IclRisk(*e.model, *e.task, prompts, w);
  const AnalysisArray& importance = Named(a, "icl_risk/importance");
  const AnalysisArray& masked = Named(a, "icl_risk/masked_window_risk");
  const double full = Named(a, "icl_risk/window_risk").data[0];
  ASSERT_EQ(importance.dims, (std::vector<uint64_t>{3, 4}));
  EXPECT_EQ(importance.data[1 * 4 + 2], 0.0);
  EXPECT_EQ(Named(a, "icl_risk/share").data[1 * 4 + 2], 0.0);
  EXPECT_TRUE(std::isnan(importance.data[0 * 4 + 3]));  // block 0 has 2 heads
  for (size_t i = 0; i < importance.data.size(); ++i) {
    if (!std::isnan(importance.data[i])) {
      EXPECT_DOUBLE_EQ(importance.data[i], masked.data[i] - full);
    }
  }

  const HeadMasking m = MaskHeads(*e.model, *e.task, prompts, w);
  EXPECT_EQ(m.prune_gates[0], Vec::Ones(2));
  EXPECT_EQ(m.prune_gates[1].sum(), 1);
  EXPECT_EQ(m.prune_gates[1](m.top1[1]), 1);
  EXPECT_EQ(m.prune_gates[2].sum(), 1);
  EXPECT_EQ(m.reverse_gates[0].sum(), 1);
  EXPECT_EQ(m.reverse_gates[1], Vec::Ones(4));
  EXPECT_NE(m.top1[1], 2);  // the silent head is never the most important

  // The pruned model through model.head_mask: the same risk as through the gates.
  const std::string mask = HeadMaskText(m.prune_gates);
  EXPECT_EQ(mask.rfind("blocks.1:", 0), 0u) << mask;
  Experiment pruned = Build({{"model.head_mask", mask}});
  for (ParamId id = 0; id < e.registry->size(); ++id)
    pruned.registry->Value(pruned.registry->Find(e.registry->name(id))) = e.registry->Value(id);
  const std::vector<double> via_gates = ModelRiskByN(*e.model, *e.task, prompts, &m.prune_gates);
  const std::vector<double> via_mask = ModelRiskByN(*pruned.model, *pruned.task, prompts, nullptr);
  for (size_t n = 0; n < via_gates.size(); ++n) EXPECT_DOUBLE_EQ(via_gates[n], via_mask[n]) << n;
  EXPECT_EQ(Named(a, "icl_risk/prune/risk_by_n").string_attrs.at("head_mask"), mask);
}

TEST(IclRegressionTest, EmbeddingProbeKnowsNothingAboutTheContext) {
  Experiment e = Build({});
  const RegressionPrompts fit = DrawIclPrompts(*e.task, "train", 2000, 3);
  const RegressionPrompts test = DrawIclPrompts(*e.task, "test", 1000, 3);
  const std::vector<AnalysisArray> a =
      IclProbe(*e.model, *e.task, fit, test, ParseRiskWindow("auto", 4, 8), 1e-3, nullptr);
  const AnalysisArray& rhat = Named(a, "icl_probe/rhat_r2");
  ASSERT_EQ(rhat.dims, (std::vector<uint64_t>{4}));
  EXPECT_LT(std::abs(rhat.data[0]), 0.05);
  // y from x alone: E[f²] / s = E‖w*‖² / s = 1 (w*'s non-zeros are N(0, 1)); 3000+ test points.
  EXPECT_NEAR(Named(a, "icl_probe/y_risk").data[0], 1.0, 0.15);
}

TEST(IclRegressionTest, PromptsDependOnEvalSeedOnly) {
  Experiment a = Build({{"train.seed", "1"}});
  Experiment b = Build({{"train.seed", "2"}});
  const RegressionPrompts pa = DrawIclPrompts(*a.task, "test", 16, 7);
  const RegressionPrompts pb = DrawIclPrompts(*b.task, "test", 16, 7);
  const RegressionPrompts pc = DrawIclPrompts(*b.task, "test", 16, 8);
  EXPECT_EQ(pa.x, pb.x);
  EXPECT_EQ(pa.y, pb.y);
  EXPECT_NE(pa.x, pc.x);
}

TEST(IclRegressionTest, WindowTextIsCheckedAgainstTheTask) {
  EXPECT_EQ(ParseRiskWindow("3..5", 8, 16).lo, 3);
  EXPECT_THROW(ParseRiskWindow("5..3", 8, 16), ConfigError);
  EXPECT_THROW(ParseRiskWindow("2..17", 8, 16), ConfigError);
  EXPECT_THROW(ParseRiskWindow("four", 8, 16), ConfigError);
}

}  // namespace
}  // namespace sim
