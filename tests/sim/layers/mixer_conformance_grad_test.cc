// The mixer contract (sim/layers/mixer.h), checked in double precision for every registered mixer:
// a mixer gets these tests by being in the registry (sim/layers/mixer_registry.cc).
//   - Backward against central differences, for the input and every parameter, with the projection
//     loss L = <R, y> (tests/testing/grad_check.h);
//   - Backward accumulates into d_x, and gives the same d_x when d_x is d_y itself (the residual
//     stream's gradient is passed as both);
//   - Forward with accumulate adds exactly what it would write;
//   - causality, for mixers that say they are causal: output t is unchanged when inputs after t change;
//   - examples do not mix: changing one example changes no other example's output;
//   - head gates, where supported: an all-ones gate is the same as none.
// Each mixer runs over argument sets (causal and bidirectional, with and without biases, 1-4 heads,
// and for mixers that read model.attention each set again with linear attention); sets its
// `problem` rejects are not built, and every mixer must accept at least one.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sim/layers/mixer.h"
#include "sim/params/param_registry.h"
#include "tests/testing/grad_check.h"

namespace sim {
namespace {

struct ConformanceCase {
  std::string mixer;
  MixerArgs args;
  int batch = 2, length = 5;
};

std::string CaseName(const ConformanceCase& c) {
  return Concat(c.mixer, c.args.attention == AttentionKind::kLinear ? "_linear" : "", "_D", c.args.d_model, "_H",
                c.args.n_heads, c.args.causal ? "_causal" : "_bidirectional", c.args.bias ? "_bias" : "_nobias", "_B",
                c.batch, "_T", c.length);
}

void PrintTo(const ConformanceCase& c, std::ostream* os) { *os << CaseName(c); }

// Every registered mixer with every argument set it accepts (and each with linear attention, for
// mixers that read model.attention).
std::vector<ConformanceCase> Cases() {
  std::vector<ConformanceCase> cases;
  for (const MixerEntry& entry : MixerRegistry()) {
    std::vector<AttentionKind> kinds = {AttentionKind::kSoftmax};
    if (entry.reads_attention) kinds.push_back(AttentionKind::kLinear);
    for (const AttentionKind kind : kinds)
      for (const auto& [d, h, causal, bias, batch, length] :
           std::vector<std::tuple<int, int, bool, bool, int, int>>{{8, 2, true, true, 2, 5},
                                                                   {8, 2, false, true, 2, 5},
                                                                   {6, 3, true, false, 3, 4},
                                                                   {8, 1, false, false, 1, 6},
                                                                   {8, 4, true, true, 2, 7}}) {
        ConformanceCase c;
        c.mixer = entry.name;
        c.args.d_model = d;
        c.args.n_heads = h;
        c.args.causal = causal;
        c.args.bias = bias;
        c.args.attention = kind;
        c.args.init_std = 0.5;
        c.args.init_std_out = 0.5;
        c.batch = batch;
        c.length = length;
        if (entry.problem(c.args).empty()) cases.push_back(c);
      }
  }
  return cases;
}

TEST(MixerConformanceTest, EveryMixerAcceptsSomeArguments) {
  for (const MixerEntry& entry : MixerRegistry()) {
    int accepted = 0;
    for (const ConformanceCase& c : Cases()) accepted += c.mixer == entry.name;
    EXPECT_GT(accepted, 0) << entry.name << " rejects every argument set of the conformance suite";
    EXPECT_FALSE(entry.param_name.empty()) << entry.name;
    EXPECT_TRUE(entry.problem && entry.causal && entry.flops_per_token && entry.make) << entry.name;
  }
}

// A mixer built from a case, its parameters randomized, and inputs.
struct Built {
  ParamRegistry registry;
  std::unique_ptr<Mixer> mixer;
  std::unique_ptr<MixerCache> cache;
  BatchShape bt;
  Mat x;  // (D, N)
  Vec gate;

  explicit Built(const ConformanceCase& c) {
    const MixerEntry* entry = FindMixer(c.mixer);
    mixer = entry->make(c.args, registry, "blocks.0." + entry->param_name);
    registry.Finalize();
    testing::RandomizeParams(registry, testing::TestSeed());
    bt = {c.batch, c.length};
    x = testing::RandomMat(c.args.d_model, bt.tokens(), testing::TestSeed() + 1);
    cache = mixer->MakeCache(bt);
  }
  Mat Forward(const Mat& input, const MixerHooks& hooks = {}) {
    Mat y(input.rows(), input.cols());
    mixer->Forward(input, bt, hooks, *cache, y, false);
    return y;
  }
};

class MixerConformanceGradTest : public ::testing::TestWithParam<ConformanceCase> {};

TEST_P(MixerConformanceGradTest, ParametersAreNamedUnderTheirPrefix) {
  Built b(GetParam());
  const std::string prefix = "blocks.0." + FindMixer(GetParam().mixer)->param_name + ".";
  ASSERT_GT(b.registry.size(), 0);
  for (ParamId id = 0; id < b.registry.size(); ++id)
    EXPECT_EQ(b.registry.name(id).rfind(prefix, 0), 0u) << b.registry.name(id);
}

TEST_P(MixerConformanceGradTest, BackwardMatchesFiniteDifferences) {
  SCOPED_TRACE(Concat(CaseName(GetParam()), " seed=", testing::TestSeed()));
  Built b(GetParam());
  const Mat r = testing::RandomMat(b.x.rows(), b.x.cols(), testing::TestSeed() + 2);
  auto loss = [&] { return (r.array() * b.Forward(b.x).array()).sum(); };
  b.registry.ZeroGrads();
  loss();
  Mat d_x = Mat::Zero(b.x.rows(), b.x.cols());
  b.mixer->Backward(b.x, r, b.bt, *b.cache, d_x);
  const Vec grads = b.registry.grads();
  testing::ExpectGradientMatches("x", b.x.data(), d_x.data(), b.x.size(), loss);
  testing::ExpectParamGradientsMatch(b.registry, grads, loss);

  // Backward accumulates into d_x; d_x may be d_y itself.
  const Mat start = testing::RandomMat(b.x.rows(), b.x.cols(), testing::TestSeed() + 3);
  Mat accumulated = start;
  b.Forward(b.x);
  b.mixer->Backward(b.x, r, b.bt, *b.cache, accumulated);
  EXPECT_LT((accumulated - start - d_x).cwiseAbs().maxCoeff(), 1e-12) << "Backward must add to d_x";
  Mat in_place = r;
  b.Forward(b.x);
  b.mixer->Backward(b.x, in_place, b.bt, *b.cache, in_place);
  EXPECT_LT((in_place - r - d_x).cwiseAbs().maxCoeff(), 1e-12) << "Backward with d_x the same matrix as d_y";
}

TEST_P(MixerConformanceGradTest, ForwardAccumulateAddsWhatItWouldWrite) {
  Built b(GetParam());
  const Mat y = b.Forward(b.x);
  Mat sum = testing::RandomMat(b.x.rows(), b.x.cols(), 11);
  const Mat start = sum;
  b.mixer->Forward(b.x, b.bt, {}, *b.cache, sum, true);
  EXPECT_LT((sum - start - y).cwiseAbs().maxCoeff(), 1e-12);
}

TEST_P(MixerConformanceGradTest, CausalMixersDoNotSeeTheFuture) {
  const ConformanceCase& c = GetParam();
  if (!FindMixer(c.mixer)->causal(c.args)) {
    // A mixer that says it is not causal must really mix in both directions: output 0 depends on
    // input T-1 (else it should say it is causal, and tasks that need causality could use it).
    Built b(c);
    const Mat y = b.Forward(b.x);
    Mat changed = b.x;
    changed.col(c.length - 1).array() += 1.0;
    EXPECT_GT((b.Forward(changed).col(0) - y.col(0)).cwiseAbs().maxCoeff(), 1e-9);
    return;
  }
  Built b(c);
  const Mat y = b.Forward(b.x);
  for (int t = 0; t + 1 < c.length; ++t) {
    Mat changed = b.x;
    for (int e = 0; e < c.batch; ++e)
      for (int s = t + 1; s < c.length; ++s)
        changed.col(e * c.length + s) = testing::RandomMat(c.args.d_model, 1, 100 + s);
    const Mat y_changed = b.Forward(changed);
    for (int e = 0; e < c.batch; ++e)
      for (int s = 0; s <= t; ++s)
        EXPECT_TRUE((y_changed.col(e * c.length + s).array() == y.col(e * c.length + s).array()).all())
            << "output at t=" << s << " of example " << e << " changed when inputs after t=" << t << " changed";
  }
}

TEST_P(MixerConformanceGradTest, ExamplesDoNotMix) {
  const ConformanceCase& c = GetParam();
  if (c.batch < 2) return;
  Built b(c);
  const Mat y = b.Forward(b.x);
  Mat changed = b.x;
  changed.middleCols(0, c.length) = testing::RandomMat(c.args.d_model, c.length, 99);  // example 0
  const Mat y_changed = b.Forward(changed);
  EXPECT_TRUE((y_changed.rightCols(y.cols() - c.length).array() == y.rightCols(y.cols() - c.length).array()).all());
}

TEST_P(MixerConformanceGradTest, AllOnesHeadGateIsNoGate) {
  const ConformanceCase& c = GetParam();
  const MixerEntry* entry = FindMixer(c.mixer);
  if (!entry->Supports(MixerHook::kHeadGate)) return;
  Built b(c);
  ASSERT_EQ(b.mixer->n_heads(), c.args.n_heads);
  const Mat y = b.Forward(b.x);
  const Vec ones = Vec::Ones(c.args.n_heads);
  MixerHooks hooks;
  hooks.head_gate = ones.data();
  EXPECT_TRUE((b.Forward(b.x, hooks).array() == y.array()).all());
}

INSTANTIATE_TEST_SUITE_P(Registry, MixerConformanceGradTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<ConformanceCase>& info) { return CaseName(info.param); });

}  // namespace
}  // namespace sim
