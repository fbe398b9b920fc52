// Whole-model gradient checks: the loss of a real task batch against every parameter.
#include "sim/models/transformer.h"

#include <gtest/gtest.h>

#include "sim/train/metrics.h"
#include "tasks/linreg.h"
#include "tasks/mqar.h"
#include "tests/testing/grad_check.h"

namespace sim {
namespace {

struct ModelCase {
  std::string name;
  bool vectors;  // linreg (vector inputs, scalar output) instead of mqar
  int layers;
  std::vector<int> heads;
  int d_mlp;
  NormKind norm;
  PosKind pos;
  bool causal;
  Activation act;
  bool bias;
  bool gated;  // head gates with a zero and a one-half
  AttentionKind attention = AttentionKind::kSoftmax;
};

class TransformerGradTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(TransformerGradTest, LossGradientMatchesFiniteDifferences) {
  const ModelCase c = GetParam();
  SCOPED_TRACE(Concat(c.name, " seed=", testing::TestSeed()));
  std::unique_ptr<Task> task;
  if (c.vectors)
    task = std::make_unique<LinregTask>(LinregConfig{3, 4, 0.1, true});
  else
    task = std::make_unique<MqarTask>(MqarConfig{16, 12, 3, 3, 0.01, false});
  ModelConfig mc;
  mc.layers = c.layers;
  mc.heads = c.heads;
  mc.d_model = 8;
  mc.d_mlp = c.d_mlp;
  mc.norm = c.norm;
  mc.pos = c.pos;
  mc.causal = c.causal;
  mc.act = c.act;
  mc.bias = c.bias;
  mc.attention = c.attention;
  mc.ApplyTask(task->info());
  ParamRegistry registry;
  Transformer model(mc, registry);
  registry.Finalize();
  testing::RandomizeParams(registry, testing::TestSeed(), 0.4);

  Batch batch;
  Rng rng(testing::TestSeed() + 1);
  task->Sample(0, rng, 3, batch);
  auto ws = model.MakeWorkspace(batch.shape, batch.n_scored());
  std::vector<Vec> gates;
  ForwardHooks hooks;
  if (c.gated) {
    for (int l = 0; l < c.layers; ++l) gates.push_back(Vec::Ones(mc.heads_in_layer(l)));
    gates[0](0) = 0.0;
    gates.back()(gates.back().size() - 1) = 0.5;
    hooks.head_gates = &gates;
  }
  auto loss = [&] { return ForwardLoss(model, *ws, batch, false, nullptr, c.gated ? &hooks : nullptr); };
  registry.ZeroGrads();
  ForwardLoss(model, *ws, batch, true, nullptr, c.gated ? &hooks : nullptr);
  model.Backward(batch, *ws);
  const Vec grads = registry.grads();
  EXPECT_GT(grads.norm(), 0.0);
  testing::ExpectParamGradientsMatch(registry, grads, loss);
}

INSTANTIATE_TEST_SUITE_P(
    Models, TransformerGradTest,
    ::testing::Values(
        ModelCase{"preln_mlp_causal",
                  false,
                  2,
                  {2},
                  16,
                  NormKind::kPreLn,
                  PosKind::kLearned,
                  true,
                  Activation::kGelu,
                  true,
                  false},
        ModelCase{"attention_only_bidirectional",
                  false,
                  2,
                  {4, 1},
                  0,
                  NormKind::kNone,
                  PosKind::kLearned,
                  false,
                  Activation::kGelu,
                  true,
                  false},
        ModelCase{"preln_no_mlp",
                  false,
                  2,
                  {2},
                  0,
                  NormKind::kPreLn,
                  PosKind::kSinusoidal,
                  true,
                  Activation::kGelu,
                  false,
                  false},
        ModelCase{
            "mlp_no_norm", false, 1, {2}, 12, NormKind::kNone, PosKind::kNone, false, Activation::kRelu, true, false},
        ModelCase{"factored_positions",
                  false,
                  2,
                  {2},
                  0,
                  NormKind::kNone,
                  PosKind::kLearnedFactored,
                  false,
                  Activation::kGelu,
                  false,
                  false},
        ModelCase{"gated_heads",
                  false,
                  2,
                  {4},
                  8,
                  NormKind::kPreLn,
                  PosKind::kNone,
                  true,
                  Activation::kGeluTanh,
                  false,
                  true},
        ModelCase{"vector_input_regression",
                  true,
                  2,
                  {2},
                  16,
                  NormKind::kPreLn,
                  PosKind::kLearned,
                  true,
                  Activation::kGelu,
                  true,
                  false},
        ModelCase{"vector_input_attention_only",
                  true,
                  3,
                  {2, 1, 1},
                  0,
                  NormKind::kNone,
                  PosKind::kSinusoidal,
                  true,
                  Activation::kGelu,
                  false,
                  false},
        // the heads study's theory variant: linear attention only, gated heads
        ModelCase{"linear_attention_theory_shape",
                  true,
                  3,
                  {4, 1, 1},
                  0,
                  NormKind::kNone,
                  PosKind::kNone,
                  true,
                  Activation::kGelu,
                  true,
                  true,
                  AttentionKind::kLinear},
        ModelCase{"linear_attention_preln_mlp_bidirectional",
                  false,
                  2,
                  {2},
                  16,
                  NormKind::kPreLn,
                  PosKind::kLearned,
                  false,
                  Activation::kGelu,
                  true,
                  false,
                  AttentionKind::kLinear}),
    [](const ::testing::TestParamInfo<ModelCase>& info) { return info.param.name; });

}  // namespace
}  // namespace sim
