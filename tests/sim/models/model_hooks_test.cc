// The model's analysis hooks in the float build, whose attention runs on the AVX-512 kernels where
// the machine has them (the double-precision checks are model_hooks_grad_test.cc):
//   - an attention edit that scales nothing gives the same bits as no edit; one that moves key 0's
//     mass leaves distributions without mass on key 0 in the edited head only (causal and full);
//   - model.head_mask gives the bits of a hook gate of 0 at those heads, and trains from sim train's
//     options (a bad mask is a config error naming model.head_mask).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/layers/attention_edit.h"
#include "sim/train/metrics.h"

namespace sim {
namespace {

using Given = std::map<std::string, std::string>;

struct HookedModel {
  Experiment e;
  Batch batch;
  std::unique_ptr<Workspace> ws;
  explicit HookedModel(Given given) {
    given.insert({"task.name", "mqar"});
    given.insert({"model.heads", "4"});
    given.insert({"model.layers", "2"});
    const OptionSet set = AllOptions();
    Options options(set, given);
    e = BuildExperiment(options);
    Rng rng = Rng::ForStream(5, "data/train");
    e.task->Sample(0, rng, 8, batch);
    ws = e.model->MakeWorkspace(batch.shape, batch.n_scored());
  }
  double Loss(const ForwardHooks* hooks) { return ForwardLoss(*e.model, *ws, batch, false, nullptr, hooks); }
};

TEST(ModelHooksTest, IdentityEditIsNoEditAndASinkEditMovesMassInOneHead) {
  for (const char* causal : {"true", "false"}) {
    SCOPED_TRACE(std::string("causal=") + causal);
    HookedModel s(Given{{"model.causal", causal}});
    const double plain = s.Loss(nullptr);
    const Mat plain_outputs = s.ws->Outputs();
    KeyScaleEdit identity({.heads = {}, .keys = {0, 2}, .scale = 1.0, .redistribute = true});
    std::vector<const AttentionEdit*> edits = {&identity, &identity};
    ForwardHooks hooks;
    hooks.edits = &edits;
    EXPECT_EQ(s.Loss(&hooks), plain);
    EXPECT_TRUE((s.ws->Outputs().array() == plain_outputs.array()).all());

    KeyScaleEdit sink({.heads = {2}, .keys = {0}, .scale = 0.0, .redistribute = true});
    edits = {&sink, nullptr};
    EXPECT_NE(s.Loss(&hooks), plain);
    const Mat& probs = *s.e.model->AttentionProbs(*s.ws, 0);  // block b*H + h is (T_k, T_q)
    const Index t = s.batch.shape.length;
    for (int b = 0; b < s.batch.shape.batch; ++b)
      for (int h = 0; h < 4; ++h) {
        const auto block = probs.middleCols((b * 4 + h) * t, t);
        for (Index q = 1; q < t; ++q) {
          EXPECT_NEAR(block.col(q).sum(), 1.0, 1e-5);
          if (h == 2)
            EXPECT_EQ(block(0, q), 0.0f);
          else
            EXPECT_GT(block(0, q), 0.0f);
        }
      }
  }
}

TEST(ModelHooksTest, HeadMaskIsAZeroGate) {
  HookedModel masked(Given{{"model.head_mask", "blocks.1:0,3"}});
  HookedModel plain(Given{});
  std::vector<Vec> gates = {Vec::Ones(4), Vec::Ones(4)};
  gates[1](0) = gates[1](3) = 0;
  ForwardHooks hooks;
  hooks.head_gates = &gates;
  EXPECT_EQ(masked.Loss(nullptr), plain.Loss(&hooks));
  // A mask combines with a hook's gates.
  std::vector<Vec> halves = {Vec::Constant(4, 0.5f), Vec::Constant(4, 0.5f)};
  hooks.head_gates = &halves;
  const double both = masked.Loss(&hooks);
  std::vector<Vec> product = halves;
  product[1](0) = product[1](3) = 0;
  hooks.head_gates = &product;
  EXPECT_EQ(both, plain.Loss(&hooks));
}

TEST(ModelHooksTest, BadHeadMasksAreConfigErrors) {
  for (const char* bad : {"blocks.2:0", "blocks.1:4", "layer1:0", "blocks.1:", "blocks.1:x"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW(
        {
          try {
            HookedModel s(Given{{"model.head_mask", bad}});
          } catch (const ConfigError& e) {
            EXPECT_NE(std::string(e.what()).find("model.head_mask"), std::string::npos) << e.what();
            throw;
          }
        },
        ConfigError);
  }
}

}  // namespace
}  // namespace sim
