// Attention analyses against attention patterns known in closed form: with Wq = 0 every score is 0,
// so full attention is uniform (1/T on every key) and causal attention puts 1/(q+1) on each key
// k <= q. Every mechanism measurement then has an exact expected value.
#include "analysis/attention_analysis.h"

#include <gtest/gtest.h>

#include <cmath>

#include "analysis/analyses.h"
#include "analysis/steps_to.h"
#include "sim/cli/experiment.h"
#include "tests/testing/analysis_fixtures.h"
#include "tasks/task_registry.h"

namespace sim {
namespace {

using testing::Named;

Experiment Build(std::map<std::string, std::string> given) {
  return testing::BuildExperimentWith(std::move(given),
                                      {{"model.bias", "false"}, {"model.d_mlp", "0"}, {"model.norm", "none"}});
}

// Scores q.k vanish when Wq = 0, whatever the inputs: attention becomes uniform over the visible keys.
void ZeroQueries(Experiment& e) {
  for (int l = 0; l < e.model->n_layers(); ++l)
    e.registry->Value(e.registry->Find("blocks." + std::to_string(l) + ".attn.wq")).setZero();
}

Experiment Icqa(const std::string& causal) {
  Experiment e = Build({{"task.name", "icqa"},
                        {"task.pairs", "6"},
                        {"model.layers", "2"},
                        {"model.heads", "2,1"},
                        {"model.d_model", "8"},
                        {"model.causal", causal}});
  ZeroQueries(e);
  return e;
}

ProbeOptions Probe(int examples = 64, int split = 1) {
  ProbeOptions p;
  p.split = split;
  p.examples = examples;
  p.seed = 5;
  return p;
}

TEST(AttentionAnalysisTest, MapsAreAveragedProbabilitiesWithMissingHeadsNaNAndRoleLabels) {
  Experiment e = Icqa("false");
  const AnalysisArray a = AttentionMaps(*e.model, *e.task, Probe());
  const int t = 13;
  ASSERT_EQ(a.dims, (std::vector<uint64_t>{2, 2, t, t}));
  for (int l = 0; l < 2; ++l)
    for (int h = 0; h < 2; ++h)
      for (int q = 0; q < t; ++q)
        for (int k = 0; k < t; ++k) {
          const double w = a.data[((l * 2 + h) * t + q) * t + k];
          if (l == 1 && h == 1) {
            EXPECT_TRUE(std::isnan(w)) << "layer 1 has one head";
          } else {
            EXPECT_NEAR(w, 1.0 / t, 1e-6);
          }
        }
  EXPECT_EQ(a.number_attrs.at("probe_examples"), 64);
  EXPECT_EQ(a.string_attrs.at("split"), "test");
  EXPECT_EQ(a.string_attrs.at("positions"), "q1,a1,q2,a2,q3,a3,q4,a4,q5,a5,q6,a6,q*");
  EXPECT_EQ(a.int_array_attrs.at("tokens").size(), static_cast<size_t>(t));
  // The probe is a fixed held-out batch: the same maps again.
  EXPECT_EQ(AttentionMaps(*e.model, *e.task, Probe()).int_array_attrs.at("tokens"), a.int_array_attrs.at("tokens"));
}

TEST(AttentionAnalysisTest, IcqaMeasuresUnderUniformFullAttention) {
  Experiment e = Icqa("false");
  const std::vector<AnalysisArray> m = MechanismMeasures(*e.model, *e.task, Probe(), TaskMeasures(e.task->info().name));
  const double u = 1.0 / 13;
  const AnalysisArray& partner = Named(m, "mech/icqa_partner_mass");
  ASSERT_EQ(partner.dims, (std::vector<uint64_t>{2, 2}));
  for (double v : partner.data) EXPECT_NEAR(v, u, 1e-6);
  for (double v : Named(m, "mech/icqa_readout_qJ_mass").data) EXPECT_NEAR(v, u, 1e-6);
  const AnalysisArray& match = Named(m, "mech/icqa_match_mass");
  ASSERT_EQ(match.dims, (std::vector<uint64_t>{2, 1}));
  EXPECT_NEAR(match.data[0], 2 * u, 1e-6) << "the pair q_J, a_J";
  EXPECT_NEAR(match.data[1], u, 1e-6) << "a_J alone";
  EXPECT_EQ(Named(m, "mech/icqa_match_mass").string_attrs.at("split"), "test");
}

// Causal attention tells the two copy directions apart: q_j (position 2j) cannot see a_j, and a_j
// (position 2j+1) puts 1/(2j+2) on q_j.
TEST(AttentionAnalysisTest, IcqaPartnerDirectionsUnderUniformCausalAttention) {
  Experiment e = Icqa("true");
  const std::vector<AnalysisArray> m = MechanismMeasures(*e.model, *e.task, Probe(), TaskMeasures(e.task->info().name));
  double a_to_q = 0;
  for (int j = 0; j < 6; ++j) a_to_q += 1.0 / (2 * j + 2) / 6;
  const AnalysisArray& partner = Named(m, "mech/icqa_partner_mass");
  for (int h = 0; h < 2; ++h) {
    EXPECT_NEAR(partner.data[h], 0.0, 1e-7) << "q_j -> a_j is in the future";
    EXPECT_NEAR(partner.data[2 + h], a_to_q, 1e-6) << "a_j -> q_j";
  }
  const AnalysisArray& match = Named(m, "mech/icqa_match_mass");
  EXPECT_NEAR(match.data[0], 2.0 / 13, 1e-6) << "the readout is last: it sees every key";
}

TEST(AttentionAnalysisTest, TemplateMeasuresUnderUniformFullAttention) {
  Experiment e = Build({{"task.name", "template"},
                        {"task.length", "6"},
                        {"task.templates", "8"},
                        {"model.layers", "1"},
                        {"model.heads", "2"},
                        {"model.d_model", "8"},
                        {"model.causal", "false"}});
  ZeroQueries(e);
  const int test_id = 2;  // splits: train, trainset (a fixed pool), test_id, test_ood
  const std::vector<AnalysisArray> m =
      MechanismMeasures(*e.model, *e.task, Probe(64, test_id), TaskMeasures(e.task->info().name));
  const double u = 1.0 / 7;  // six content positions and OUT
  const AnalysisArray& same = Named(m, "mech/template_same_token_mass");
  ASSERT_EQ(same.dims, (std::vector<uint64_t>{2, 2}));
  for (int h = 0; h < 2; ++h) {
    EXPECT_NEAR(same.data[h], 2 * u, 1e-6) << "every symbol occurs twice: itself and its partner";
    EXPECT_NEAR(same.data[2 + h], u, 1e-6) << "the partner alone";
  }
  const AnalysisArray& top2 = Named(m, "mech/template_out_top2_mass");
  for (int h = 0; h < 2; ++h) {
    EXPECT_NEAR(top2.data[h], 2 * u, 1e-6);
    EXPECT_GE(top2.data[2 + h], 0.0);
    EXPECT_LE(top2.data[2 + h], 1.0);
  }
  EXPECT_EQ(AttentionMaps(*e.model, *e.task, Probe(8, test_id)).string_attrs.at("positions"), "x1,x2,x3,x4,x5,x6,OUT");
}

TEST(AttentionAnalysisTest, TasksWithoutMechanismsGetNone) {
  Experiment e = Build({{"task.name", "mqar"}, {"model.d_model", "8"}, {"model.heads", "2"}});
  EXPECT_TRUE(MechanismMeasures(*e.model, *e.task, Probe(8), TaskMeasures(e.task->info().name)).empty());
}

TEST(StepsToTargetTest, FirstEvaluationAtTheThresholdInTheMetricsDirection) {
  const std::vector<std::string> names = {"step", "train_loss", "test_accuracy", "test_loss"};
  const std::vector<std::vector<double>> curves = {
      {100, 200, 300, 400}, {2, 1, 0.5, 0.4}, {0.2, 0.85, 0.95, 0.9}, {2, 1.2, 0.3, 0.5}};
  std::vector<AnalysisArray> a = StepsToTarget(names, curves, "test", "accuracy", 0.9);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].path, "steps_to_target");
  EXPECT_EQ(a[0].data, std::vector<double>{300});
  EXPECT_EQ(a[0].string_attrs.at("curve"), "test_accuracy");
  EXPECT_EQ(a[0].number_attrs.at("target"), 0.9);
  EXPECT_EQ(StepsToTarget(names, curves, "test", "loss", 1.2)[0].data, std::vector<double>{200}) << "lower is better";
  EXPECT_EQ(StepsToTarget(names, curves, "test", "accuracy", 0.99)[0].data, std::vector<double>{-1}) << "never";
  EXPECT_TRUE(StepsToTarget(names, curves, "control", "accuracy", 0.9).empty()) << "no such curve";
  EXPECT_TRUE(StepsToTarget(names, curves, "test", "accuracy", NAN).empty()) << "analysis.steps_to = none";
}

}  // namespace
}  // namespace sim
