// The model's analysis hooks in double precision (sim/models/transformer.h ForwardHooks):
//   - the gradient of the loss with respect to each head's gate, against central differences, at
//     gates of 1 and at arbitrary gates, with and without model.head_mask (masked heads: 0);
//   - model.head_mask trains a pruned model: the same loss as a hook gate of 0 there, and no
//     gradient reaches a masked head's value rows;
//   - an attention edit that scales nothing changes nothing; one that moves mass off key 0 leaves
//     every column a distribution with no mass on key 0 (for the edited heads only); Backward
//     refuses an edited Forward;
//   - with linear attention (model.attention = linear) the same hooks: gate gradients against
//     central differences (also under a mask), and edits of the weights, which are the layer's
//     scaled scores (Kᵀ Q / √Dh / n_q), not probabilities.
#include <gtest/gtest.h>

#include "sim/layers/attention_edit.h"
#include "sim/models/transformer.h"
#include "sim/train/metrics.h"
#include "tasks/mqar.h"
#include "tests/testing/grad_check.h"

namespace sim {
namespace {

struct Model {
  std::unique_ptr<Task> task = std::make_unique<MqarTask>(MqarConfig{16, 12, 3, 3, 0.01, false});
  ModelConfig config;
  ParamRegistry registry;
  std::unique_ptr<Transformer> model;
  Batch batch;
  std::unique_ptr<Workspace> ws;

  explicit Model(std::vector<std::vector<int>> head_mask = {}, AttentionKind attention = AttentionKind::kSoftmax) {
    config.layers = 2;
    config.heads = {2, 4};
    config.d_model = 8;
    config.d_mlp = 16;
    config.head_mask = std::move(head_mask);
    config.attention = attention;
    config.ApplyTask(task->info());
    model = std::make_unique<Transformer>(config, registry);
    registry.Finalize();
    testing::RandomizeParams(registry, testing::TestSeed(), 0.4);
    Rng rng(testing::TestSeed() + 1);
    task->Sample(0, rng, 3, batch);
    ws = model->MakeWorkspace(batch.shape, batch.n_scored());
  }
  double Loss(const ForwardHooks* hooks) { return ForwardLoss(*model, *ws, batch, false, nullptr, hooks); }
  // dL/dg for every layer's gates, at `gates` (null: no gate hook).
  std::vector<Vec> GateGradients(std::vector<Vec>* gates) {
    std::vector<Vec> grads = {Vec::Zero(2), Vec::Zero(4)};
    ForwardHooks hooks;
    hooks.head_gates = gates;
    hooks.head_gate_grads = &grads;
    registry.ZeroGrads();
    ForwardLoss(*model, *ws, batch, true, nullptr, &hooks);
    model->Backward(batch, *ws);
    return grads;
  }
};

void ExpectGateGradientsMatch(Model& m, std::vector<Vec> gates, const std::vector<std::vector<int>>& masked) {
  std::vector<Vec> at = gates;
  const std::vector<Vec> analytic = m.GateGradients(&at);
  ForwardHooks hooks;
  hooks.head_gates = &gates;
  for (int l = 0; l < 2; ++l) {
    for (Index h = 0; h < gates[l].size(); ++h) {
      const bool is_masked = !masked.empty() && std::count(masked[l].begin(), masked[l].end(), h) > 0;
      const double saved = gates[l](h), eps = 1e-5;
      gates[l](h) = saved + eps;
      const double plus = m.Loss(&hooks);
      gates[l](h) = saved - eps;
      const double minus = m.Loss(&hooks);
      gates[l](h) = saved;
      const double numeric = (plus - minus) / (2 * eps);
      if (is_masked) {
        EXPECT_EQ(analytic[l](h), 0.0) << "masked head " << l << "." << h;
        EXPECT_NEAR(numeric, 0.0, 1e-9) << "masked head " << l << "." << h;
        continue;
      }
      EXPECT_NEAR(analytic[l](h), numeric, 1e-6 * std::max(1.0, std::abs(numeric)))
          << "layer " << l << " head " << h << " seed " << testing::TestSeed();
    }
  }
}

TEST(ModelHooksGradTest, GateGradientsMatchFiniteDifferences) {
  Model m;
  ExpectGateGradientsMatch(m, {Vec::Ones(2), Vec::Ones(4)}, {});
  Vec g1(4);
  g1 << 0.3, -1.2, 0.0, 2.0;
  ExpectGateGradientsMatch(m, {Vec::Constant(2, 0.7), g1}, {});
  // No gate hook is the same as gates of 1.
  std::vector<Vec> ones = {Vec::Ones(2), Vec::Ones(4)};
  const std::vector<Vec> at_ones = m.GateGradients(&ones), without = m.GateGradients(nullptr);
  for (int l = 0; l < 2; ++l) EXPECT_TRUE((at_ones[l].array() == without[l].array()).all());
}

TEST(ModelHooksGradTest, GateGradientsUnderAHeadMask) {
  const std::vector<std::vector<int>> masked = {{}, {1, 3}};
  Model m(masked);
  ExpectGateGradientsMatch(m, {Vec::Ones(2), Vec::Ones(4)}, masked);
  Vec g1(4);
  g1 << 0.3, -1.2, 0.5, 2.0;
  ExpectGateGradientsMatch(m, {Vec::Constant(2, 0.7), g1}, masked);
}

TEST(ModelHooksGradTest, HeadMaskIsAGateOfZeroAndStopsTheHeadsGradients) {
  Model masked(std::vector<std::vector<int>>{{1}, {}});
  Model plain;
  std::vector<Vec> gates = {Vec::Ones(2), Vec::Ones(4)};
  gates[0](1) = 0.0;
  ForwardHooks hooks;
  hooks.head_gates = &gates;
  EXPECT_EQ(masked.Loss(nullptr), plain.Loss(&hooks));
  masked.registry.ZeroGrads();
  ForwardLoss(*masked.model, *masked.ws, masked.batch, true, nullptr);
  masked.model->Backward(masked.batch, *masked.ws);
  // Head 1 of layer 0 is rows 4..7 of Wv (Dh = 4): no gradient reaches them; head 0's rows get one.
  const MatMap d_wv = masked.registry.Grad(masked.registry.Find("blocks.0.attn.wv"));
  EXPECT_EQ(d_wv.middleRows(4, 4).cwiseAbs().maxCoeff(), 0.0);
  EXPECT_GT(d_wv.middleRows(0, 4).cwiseAbs().maxCoeff(), 0.0);
  // The mask must name heads the layer has.
  ModelConfig bad = masked.config;
  bad.head_mask = {{2}, {}};
  ASSERT_FALSE(bad.Problems().empty());
  EXPECT_EQ(bad.Problems().front().key, "model.head_mask");
}

TEST(ModelHooksGradTest, AttentionEdits) {
  Model m;
  const double plain = m.Loss(nullptr);
  // Scaling key 0 by 1 changes no bit.
  KeyScaleEdit identity({.heads = {}, .keys = {0}, .scale = 1.0, .redistribute = true});
  std::vector<const AttentionEdit*> edits = {&identity, &identity};
  ForwardHooks hooks;
  hooks.edits = &edits;
  EXPECT_EQ(m.Loss(&hooks), plain);
  // Key 0's mass moved to the other keys, in head 1 of layer 1 only.
  KeyScaleEdit sink({.heads = {1}, .keys = {0}, .query_begin = 1, .scale = 0.0, .redistribute = true});
  edits = {nullptr, &sink};
  const double edited = m.Loss(&hooks);
  EXPECT_NE(edited, plain);
  const Mat& probs = *m.model->AttentionProbs(*m.ws, 1);  // (T, T*B*H), block b*H + h is (T_k, T_q)
  const Index t = m.batch.shape.length;
  for (int b = 0; b < m.batch.shape.batch; ++b)
    for (int h = 0; h < 4; ++h) {
      const auto block = probs.middleCols((b * 4 + h) * t, t);
      for (Index q = 1; q < t; ++q) {
        EXPECT_NEAR(block.col(q).sum(), 1.0, 1e-12);
        if (h == 1)
          EXPECT_EQ(block(0, q), 0.0);
        else
          EXPECT_GT(block(0, q), 0.0);
      }
    }
  // Edited forwards have no backward.
  ForwardLoss(*m.model, *m.ws, m.batch, true, nullptr, &hooks);
  EXPECT_THROW(m.model->Backward(m.batch, *m.ws), InternalError);
}

TEST(ModelHooksGradTest, LinearAttentionGateGradientsMatchFiniteDifferences) {
  Model m({}, AttentionKind::kLinear);
  ExpectGateGradientsMatch(m, {Vec::Ones(2), Vec::Ones(4)}, {});
  Vec g1(4);
  g1 << 0.3, -1.2, 0.0, 2.0;
  ExpectGateGradientsMatch(m, {Vec::Constant(2, 0.7), g1}, {});
  const std::vector<std::vector<int>> masked = {{}, {1, 3}};
  Model pruned(masked, AttentionKind::kLinear);
  ExpectGateGradientsMatch(pruned, {Vec::Ones(2), Vec::Ones(4)}, masked);
}

TEST(ModelHooksGradTest, LinearAttentionEditsTheWeights) {
  Model m({}, AttentionKind::kLinear);
  Model softmax;
  const double plain = m.Loss(nullptr);
  EXPECT_NE(plain, softmax.Loss(nullptr));  // the same parameters, other weights
  // The captured weights are linear attention's: zero past the query (causal), and not
  // distributions (some query's weights do not sum to 1).
  const Mat probs = *m.model->AttentionProbs(*m.ws, 1);  // (T, T*B*H), block b*H + h is (T_k, T_q)
  const Index t = m.batch.shape.length;
  double largest_gap = 0;
  for (Index block = 0; block < probs.cols() / t; ++block)
    for (Index q = 0; q < t; ++q) {
      largest_gap = std::max(largest_gap, std::abs(probs.middleCols(block * t, t).col(q).sum() - 1.0));
      for (Index k = q + 1; k < t; ++k) EXPECT_EQ(probs(k, block * t + q), 0.0);
    }
  EXPECT_GT(largest_gap, 1e-3);
  // Scaling key 0 by 1 changes no bit.
  KeyScaleEdit identity({.heads = {}, .keys = {0}, .scale = 1.0, .redistribute = true});
  std::vector<const AttentionEdit*> edits = {&identity, &identity};
  ForwardHooks hooks;
  hooks.edits = &edits;
  EXPECT_EQ(m.Loss(&hooks), plain);
  // Key 0's weight set to 0 in head 1 of layer 1 only (no redistribution: the weights are not a
  // distribution); the other weights are unchanged.
  KeyScaleEdit zero({.heads = {1}, .keys = {0}, .scale = 0.0, .redistribute = false});
  edits = {nullptr, &zero};
  EXPECT_NE(m.Loss(&hooks), plain);
  const Mat& edited = *m.model->AttentionProbs(*m.ws, 1);
  for (int b = 0; b < m.batch.shape.batch; ++b)
    for (int h = 0; h < 4; ++h) {
      const Index at = (b * 4 + h) * t;
      for (Index q = 0; q < t; ++q)
        for (Index k = 0; k <= q; ++k) {
          if (h == 1 && k == 0)
            EXPECT_EQ(edited(k, at + q), 0.0);
          else
            EXPECT_EQ(edited(k, at + q), probs(k, at + q));
        }
    }
  ForwardLoss(*m.model, *m.ws, m.batch, true, nullptr, &hooks);
  EXPECT_THROW(m.model->Backward(m.batch, *m.ws), InternalError);
}

}  // namespace
}  // namespace sim
