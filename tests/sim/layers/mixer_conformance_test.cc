// The mixer contract (sim/layers/mixer.h) in the float build, for every registered mixer (and with
// linear attention, for mixers that read model.attention): the same bits at 1, 2 and 3 threads,
// forward and backward (input and parameter gradients), on shapes large enough that the products
// and per-(example, head) loops split into parallel items. The double-precision half of the suite
// (gradients, causality, ...) is mixer_conformance_grad_test.cc;
// chunked = whole batch at the model level is tests/sim/train/batch_gradients_test.cc, no allocation
// in a step tests/testing/no_alloc_test.cc, PyTorch parity tests/parity/torch_parity_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sim/kernels/parallel.h"
#include "sim/layers/mixer.h"
#include "sim/params/param_registry.h"
#include "tests/testing/random_matrix.h"

namespace sim {
namespace {

struct Outputs {
  Mat y, d_x;  // (D, N)
  Vec grads;
};

Outputs RunMixer(const MixerEntry& entry, const MixerArgs& args, BatchShape bt, int threads) {
  SetNumThreads(threads);
  ParamRegistry registry;
  auto mixer = entry.make(args, registry, "blocks.0." + entry.param_name);
  registry.Finalize();
  for (ParamId id = 0; id < registry.size(); ++id)
    registry.Value(id) = testing::RandomMat(registry.Value(id).rows(), registry.Value(id).cols(), 10 + id, 0.2);
  const Mat x = testing::RandomMat(args.d_model, bt.tokens(), 1);
  const Mat d_y = testing::RandomMat(args.d_model, bt.tokens(), 2);
  auto cache = mixer->MakeCache(bt);
  Outputs out;
  out.y.resize(args.d_model, bt.tokens());
  mixer->Forward(x, bt, {}, *cache, out.y, false);
  registry.ZeroGrads();
  out.d_x = Mat::Zero(args.d_model, bt.tokens());
  mixer->Backward(x, d_y, bt, *cache, out.d_x);
  out.grads = registry.grads();
  SetNumThreads(1);
  return out;
}

bool SameBits(const Mat& a, const Mat& b) {
  return a.size() == b.size() && std::equal(a.data(), a.data() + a.size(), b.data());
}

TEST(MixerConformanceFloatTest, SameBitsAtOneTwoAndThreeThreads) {
  for (const MixerEntry& entry : MixerRegistry()) {
    std::vector<AttentionKind> kinds = {AttentionKind::kSoftmax};
    if (entry.reads_attention) kinds.push_back(AttentionKind::kLinear);
    for (const AttentionKind kind : kinds)
      for (const bool causal : {true, false}) {
        MixerArgs args;
        args.d_model = 64;
        args.n_heads = 4;
        args.causal = causal;
        args.attention = kind;
        args.init_std = args.init_std_out = 0.1;
        if (!entry.problem(args).empty()) continue;
        const BatchShape bt{8, 64};
        SCOPED_TRACE(entry.name + (kind == AttentionKind::kLinear ? " linear" : "") +
                     (causal ? " causal" : " bidirectional"));
        const Outputs one = RunMixer(entry, args, bt, 1);
        ASSERT_TRUE(one.y.allFinite() && one.d_x.allFinite() && one.grads.allFinite());
        for (int threads : {2, 3}) {
          const Outputs many = RunMixer(entry, args, bt, threads);
          EXPECT_TRUE(SameBits(many.y, one.y)) << threads << " threads: forward";
          EXPECT_TRUE(SameBits(many.d_x, one.d_x)) << threads << " threads: d_x";
          EXPECT_TRUE(SameBits(many.grads, one.grads)) << threads << " threads: parameter gradients";
        }
      }
  }
}

}  // namespace
}  // namespace sim
