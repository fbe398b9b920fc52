// LoRA (sim/train/lora.h) against central differences in double: a whole model with adapters on
// wq and wv (and on the MLP and readout), the loss of a real task batch, the gradients of A and B
// that AddAdapterGrads derives from the merged weight's, the gradient of the base weight W0 (left in
// the slot's gradient), and of every other parameter.
#include "sim/train/lora.h"

#include <gtest/gtest.h>

#include "sim/models/transformer.h"
#include "sim/train/metrics.h"
#include "tasks/mqar.h"
#include "tests/testing/grad_check.h"

namespace sim {
namespace {

struct LoraCase {
  std::string name;
  std::vector<std::string> targets;
  int rank;
  double alpha;
  int n_targets;  // weights the patterns match
};
void PrintTo(const LoraCase& c, std::ostream* os) { *os << c.name; }

class LoraGradTest : public ::testing::TestWithParam<LoraCase> {};

TEST_P(LoraGradTest, AdapterAndBaseGradientsMatchFiniteDifferences) {
  const LoraCase c = GetParam();
  SCOPED_TRACE(Concat(c.name, " seed=", testing::TestSeed()));
  MqarTask task(MqarConfig{16, 12, 3, 3, 0.01, false});
  ModelConfig mc;
  mc.layers = 2;
  mc.heads = {2};
  mc.d_model = 8;
  mc.d_mlp = 16;
  mc.ApplyTask(task.info());
  ParamRegistry registry;
  Transformer model(mc, registry);
  LoraConfig lc;
  lc.targets = c.targets;
  lc.rank = c.rank;
  lc.alpha = c.alpha;
  LoraAdapters lora(lc, registry);
  registry.Finalize();
  // Random values everywhere, B included (with B = 0 the gradient of A would be 0 and check nothing).
  testing::RandomizeParams(registry, testing::TestSeed(), 0.4);
  lora.CaptureBase();
  ASSERT_EQ(static_cast<int>(lora.targets().size()), c.n_targets);

  Batch batch;
  Rng rng(testing::TestSeed() + 1);
  task.Sample(0, rng, 3, batch);
  auto ws = model.MakeWorkspace(batch.shape, batch.n_scored());
  // The loss as a function of W0, A, B and the other parameters: merge, then forward.
  auto loss = [&] {
    lora.Merge();
    return ForwardLoss(model, *ws, batch, false, nullptr);
  };
  lora.Merge();
  registry.ZeroGrads();
  ForwardLoss(model, *ws, batch, true, nullptr);
  model.Backward(batch, *ws);
  lora.AddAdapterGrads();
  const Vec grads = registry.grads();

  std::vector<bool> is_target(registry.size(), false);
  for (int k = 0; k < static_cast<int>(lora.targets().size()); ++k) {
    const LoraAdapters::Target& t = lora.targets()[k];
    is_target[t.weight] = true;
    for (ParamId id : {t.a, t.b}) EXPECT_GT(grads.segment(registry.offset(id), registry.numel(id)).norm(), 0.0);
    // dL/dW0 is the merged weight's gradient, left in the slot.
    testing::ExpectGradientMatches(registry.name(t.weight) + " (W0)", lora.base(k).data(),
                                   grads.data() + registry.offset(t.weight), registry.numel(t.weight), loss);
  }
  // A, B and every parameter that is not a target (a target's slot is rewritten by the merge).
  for (ParamId id = 0; id < registry.size(); ++id) {
    if (is_target[id]) continue;
    testing::ExpectGradientMatches(registry.name(id), registry.values().data() + registry.offset(id),
                                   grads.data() + registry.offset(id), registry.numel(id), loss);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Targets, LoraGradTest,
    ::testing::Values(LoraCase{"wq_wv_rank2", {"blocks.*.attn.wq", "blocks.*.attn.wv"}, 2, 2.0, 4},
                      // scale alpha/r = 3.5, adapters on non-square weights (MLP (F, D) and (D, F))
                      LoraCase{"mlp_rank3_scaled", {"blocks.*.mlp.w1", "blocks.*.mlp.w2"}, 3, 10.5, 4},
                      // the readout (C, D) and the token table (D, V): any 2-D parameter
                      LoraCase{"head_and_embedding", {"head.w", "embed.tok"}, 1, 0.5, 2}),
    [](const ::testing::TestParamInfo<LoraCase>& info) { return info.param.name; });

}  // namespace
}  // namespace sim
