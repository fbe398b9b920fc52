// model.* options added after runs existed (model.attention, model.pos_std) and model.init's
// schemes, read through sim train's option set:
//   - at their defaults the new keys stay out of the resolved config (existing runs keep their
//     config text, hash and sweep file names); set, they are recorded;
//   - a bad value is a ConfigError naming the key;
//   - the initialization each parameter gets (ParamSpec::init_std): fan_in, gpt2 and heads
//     (../shared/specs/heads.md §4), and model.pos_std overriding the positions' under any scheme.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "sim/cli/experiment.h"
#include "sim/core/error.h"

namespace sim {
namespace {

using Given = std::map<std::string, std::string>;

// The heads study's main model on linreg with d = 8 (inputs of width 9): D = 64, F = 256.
Given HeadsModel(Given extra = {}) {
  Given given = {{"task.name", "linreg"}, {"task.d", "8"},         {"task.points", "4"}, {"model.layers", "3"},
                 {"model.heads", "8"},    {"model.d_model", "64"}, {"model.d_mlp", "4x"}};
  for (const auto& [key, value] : extra) given[key] = value;
  return given;
}

Experiment Build(const Given& given) {
  const OptionSet set = AllOptions();
  Options options(set, given);
  return BuildExperiment(options);
}

std::string Resolved(const Given& given) {
  const OptionSet set = AllOptions();
  Options options(set, given);
  return options.ResolvedIni();
}

// The std each named parameter is drawn with.
double InitStd(const Experiment& e, const std::string& name) {
  return e.registry->spec(e.registry->Find(name)).init_std;
}

TEST(ModelConfigTest, NewKeysStayOutOfTheResolvedConfigAtTheirDefaults) {
  const std::string plain = Resolved(HeadsModel());
  EXPECT_EQ(plain.find("attention = softmax"), std::string::npos) << plain;  // (analysis.attention is another key)
  EXPECT_EQ(plain.find("pos_std"), std::string::npos) << plain;
  EXPECT_EQ(Resolved(HeadsModel({{"model.attention", "softmax"}, {"model.pos_std", "auto"}})), plain);
  const std::string set = Resolved(HeadsModel({{"model.attention", "linear"}, {"model.pos_std", "0.2"}}));
  EXPECT_NE(set.find("attention = linear\n"), std::string::npos) << set;
  EXPECT_NE(set.find("pos_std = 0.2\n"), std::string::npos) << set;
  EXPECT_EQ(Build(HeadsModel({{"model.attention", "linear"}})).model_config.attention, AttentionKind::kLinear);
  EXPECT_EQ(Build(HeadsModel()).model_config.attention, AttentionKind::kSoftmax);
}

TEST(ModelConfigTest, BadValuesNameTheirKey) {
  for (const auto& [key, value] : std::map<std::string, std::string>{{"model.attention", "quadratic"},
                                                                     {"model.pos_std", "-0.1"},
                                                                     {"model.pos_std", "abc"},
                                                                     {"model.init", "x"}}) {
    SCOPED_TRACE(key + "=" + value);
    try {
      Build(HeadsModel({{key, value}}));
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

TEST(ModelConfigTest, InitSchemesAndPositionStd) {
  const double d = 64, f = 256, d_in = 9;
  const Experiment fan_in = Build(HeadsModel());
  EXPECT_EQ(InitStd(fan_in, "embed.in.w"), 1 / std::sqrt(d_in));
  EXPECT_EQ(InitStd(fan_in, "embed.pos"), 1.0);
  EXPECT_EQ(InitStd(fan_in, "blocks.0.attn.wq"), 1 / std::sqrt(d));
  EXPECT_EQ(InitStd(fan_in, "blocks.2.attn.wo"), 1 / std::sqrt(d));
  EXPECT_EQ(InitStd(fan_in, "blocks.1.mlp.w1"), 1 / std::sqrt(d));
  EXPECT_EQ(InitStd(fan_in, "blocks.1.mlp.w2"), 1 / std::sqrt(f));
  EXPECT_EQ(InitStd(fan_in, "head.w"), 1 / std::sqrt(d));

  // heads.md §4: read-in N(0, 1/Din), every other weight N(0, 1/D), positions N(0, 0.2²), biases 0.
  const Experiment heads = Build(HeadsModel({{"model.init", "heads"}}));
  EXPECT_EQ(InitStd(heads, "embed.in.w"), 1 / std::sqrt(d_in));
  EXPECT_EQ(InitStd(heads, "embed.pos"), 0.2);
  for (const char* name : {"blocks.0.attn.wq", "blocks.0.attn.wk", "blocks.0.attn.wv", "blocks.0.attn.wo",
                           "blocks.2.mlp.w1", "blocks.2.mlp.w2", "head.w"})
    EXPECT_EQ(InitStd(heads, name), 1 / std::sqrt(d)) << name;
  for (const char* name :
       {"embed.in.b", "blocks.0.attn.bq", "blocks.0.attn.bv", "blocks.0.attn.bo", "blocks.0.mlp.b1", "head.b"})
    EXPECT_EQ(heads.registry->spec(heads.registry->Find(name)).init, InitKind::kZeros) << name;

  // model.pos_std overrides the scheme's positions only.
  const Experiment fan_in_02 = Build(HeadsModel({{"model.pos_std", "0.2"}}));
  EXPECT_EQ(InitStd(fan_in_02, "embed.pos"), 0.2);
  EXPECT_EQ(InitStd(fan_in_02, "blocks.1.mlp.w2"), 1 / std::sqrt(f));
  EXPECT_EQ(InitStd(Build(HeadsModel({{"model.init", "heads"}, {"model.pos_std", "0.5"}})), "embed.pos"), 0.5);
  EXPECT_EQ(InitStd(Build(HeadsModel({{"model.init", "gpt2"}})), "embed.pos"), 0.02);
  EXPECT_EQ(InitStd(Build(HeadsModel({{"model.init", "gpt2"}, {"model.pos_std", "0.1"}})), "embed.pos"), 0.1);
  // Factored positions take it too.
  const Experiment factored = Build(HeadsModel({{"model.pos", "learned_factored"}, {"model.pos_std", "0.3"}}));
  EXPECT_EQ(InitStd(factored, "embed.pos_offset"), 0.3);
  EXPECT_EQ(InitStd(factored, "embed.pos_segment"), 0.3);
}

}  // namespace
}  // namespace sim
