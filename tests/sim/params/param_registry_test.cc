#include "sim/params/param_registry.h"

#include <gtest/gtest.h>

#include "sim/core/error.h"
#include "sim/core/glob.h"

namespace sim {
namespace {

ParamRegistry MakeRegistry() {
  ParamRegistry r;
  r.Add({"embed.tok", 4, 10, InitKind::kNormal, 1.0, true});
  r.Add({"blocks.0.attn.wq", 4, 4, InitKind::kNormal, 0.5, true});
  r.Add({"blocks.0.attn.bq", 4, 1, InitKind::kZeros, 0.0, false});
  r.Add({"blocks.1.attn.wq", 4, 4, InitKind::kNormal, 0.5, true});
  r.Add({"head.w", 2, 4, InitKind::kNormal, 0.5, true});
  r.Finalize();
  return r;
}

TEST(GlobTest, Patterns) {
  EXPECT_TRUE(GlobMatch("blocks.*.attn.wq", "blocks.0.attn.wq"));
  EXPECT_TRUE(GlobMatch("blocks.*.attn.wq", "blocks.12.attn.wq"));
  EXPECT_FALSE(GlobMatch("blocks.*.attn.wq", "blocks.0.attn.wk"));
  EXPECT_TRUE(GlobMatch("*", "anything"));
  EXPECT_TRUE(GlobMatch("head.?", "head.w"));
  EXPECT_FALSE(GlobMatch("head.?", "head.wx"));
  EXPECT_TRUE(GlobMatch("embed.tok", "embed.tok"));
}

TEST(ParamRegistryTest, FlatBuffersAndMaps) {
  ParamRegistry r = MakeRegistry();
  EXPECT_EQ(r.total_size(), 40 + 16 + 4 + 16 + 8);
  r.Value(r.Find("blocks.0.attn.bq"))(2, 0) = 7.0f;
  EXPECT_EQ(r.values()(r.offset(r.Find("blocks.0.attn.bq")) + 2), 7.0f);
  EXPECT_EQ(r.Match("blocks.*.attn.wq").size(), 2u);
  EXPECT_THROW(r.Add({"late", 1, 1}), InternalError);
}

TEST(ParamRegistryTest, GroupRulesFreezeTrainableAndMultipliers) {
  ParamRegistry r = MakeRegistry();
  ParamGroupRules rules;
  rules.freeze = {"embed.tok"};
  rules.lr_mult = {{"blocks.*.attn.wq", 4.0}};
  rules.Apply(r);
  EXPECT_FALSE(r.group(r.Find("embed.tok")).trainable);
  EXPECT_TRUE(r.group(r.Find("head.w")).trainable);
  EXPECT_EQ(r.group(r.Find("blocks.1.attn.wq")).lr_mult, 4.0);
  EXPECT_EQ(r.group(r.Find("head.w")).lr_mult, 1.0);
  EXPECT_EQ(r.group(r.Find("blocks.0.attn.bq")).decay_mult, 0.0) << "biases are not decayed by default";
  EXPECT_EQ(r.group(r.Find("head.w")).decay_mult, 1.0);
  EXPECT_EQ(r.trainable_size(), r.total_size() - 40);

  ParamRegistry only = MakeRegistry();
  ParamGroupRules subset;
  subset.trainable = {"blocks.*.attn.wq", "head.*"};
  subset.Apply(only);
  EXPECT_EQ(only.trainable_size(), 16 + 16 + 8);
}

// The fine-tuning model's attention and its neighbours (weights 4x4, biases and gains 4x1).
ParamRegistry MakeAttentionRegistry() {
  ParamRegistry r;
  for (const char* x : {"q", "k", "v", "o"}) {
    r.Add({std::string("blocks.0.attn.w") + x, 4, 4, InitKind::kNormal, 0.5, true});
    r.Add({std::string("blocks.0.attn.b") + x, 4, 1, InitKind::kZeros, 0.0, false});
  }
  r.Add({"lora.blocks.0.attn.wv.a", 2, 4, InitKind::kNormal, 0.5, false});
  r.Add({"lora.blocks.0.attn.wq.b", 4, 2, InitKind::kZeros, 0.0, false});
  r.Add({"blocks.0.norm1.gamma", 4, 1, InitKind::kOnes, 0.0, false});
  r.Add({"blocks.0.mlp.w1", 8, 4, InitKind::kNormal, 0.5, true});
  r.Add({"head.b", 2, 1, InitKind::kZeros, 0.0, false});
  r.Finalize();
  return r;
}

TEST(ParamRegistryTest, AttentionProjectionOfNames) {
  EXPECT_EQ(AttentionProjection("blocks.3.attn.wv"), 'v');
  EXPECT_EQ(AttentionProjection("blocks.3.attn.bv"), 'v');
  EXPECT_EQ(AttentionProjection("lora.blocks.3.attn.wv.b"), 'v');
  EXPECT_EQ(AttentionProjection("blocks.0.attn.wq"), 'q');
  EXPECT_EQ(AttentionProjection("blocks.0.attn.bk"), 'k');
  EXPECT_EQ(AttentionProjection("blocks.0.attn.wo"), 'o');
  EXPECT_EQ(AttentionProjection("blocks.0.attn.wvx"), 0);
  EXPECT_EQ(AttentionProjection("blocks.0.attn.gate"), 0);
  EXPECT_EQ(AttentionProjection("blocks.0.mlp.w1"), 0);
  EXPECT_EQ(AttentionProjection("head.w"), 0);
  EXPECT_TRUE(IsValueParam("lora.blocks.0.attn.wv.a"));
  EXPECT_FALSE(IsValueParam("blocks.0.attn.wo"));
  EXPECT_TRUE(IsQueryOrKeyParam("blocks.0.attn.bk"));
  EXPECT_FALSE(IsQueryOrKeyParam("blocks.0.attn.bv"));
}

TEST(ParamRegistryTest, LrRatioScalesTheValueParametersOnTopOfLrMult) {
  ParamRegistry r = MakeAttentionRegistry();
  ParamGroupRules rules;
  rules.lr_mult = {{"blocks.0.attn.wv", 2.0}, {"blocks.0.attn.wq", 3.0}};
  rules.lr_ratio = 4.0;
  rules.Apply(r);
  EXPECT_EQ(r.group(r.Find("blocks.0.attn.wv")).lr_mult, 8.0);
  EXPECT_EQ(r.group(r.Find("blocks.0.attn.bv")).lr_mult, 4.0);
  EXPECT_EQ(r.group(r.Find("lora.blocks.0.attn.wv.a")).lr_mult, 4.0);
  EXPECT_EQ(r.group(r.Find("blocks.0.attn.wq")).lr_mult, 3.0);
  for (const char* name : {"blocks.0.attn.wk", "blocks.0.attn.bq", "blocks.0.attn.bo", "blocks.0.attn.wo",
                           "lora.blocks.0.attn.wq.b", "blocks.0.norm1.gamma", "blocks.0.mlp.w1", "head.b"})
    EXPECT_EQ(r.group(r.Find(name)).lr_mult, name == std::string("blocks.0.attn.wq") ? 3.0 : 1.0) << name;
}

TEST(ParamRegistryTest, LrRatioValueAnd1dIsTheReleasedOptimizersGrouping) {
  ParamRegistry r = MakeAttentionRegistry();
  ParamGroupRules rules;
  rules.lr_ratio = 2.0;
  rules.lr_ratio_value_and_1d = true;
  rules.decay_mult = {{"head.b", 0.5}};
  rules.Apply(r);
  // Value parameters, and every 1-D parameter but the query's and key's (with weight decay 0).
  for (const char* name : {"blocks.0.attn.wv", "blocks.0.attn.bv", "lora.blocks.0.attn.wv.a", "blocks.0.attn.bo",
                           "blocks.0.norm1.gamma", "head.b"})
    EXPECT_EQ(r.group(r.Find(name)).lr_mult, 2.0) << name;
  EXPECT_EQ(r.group(r.Find("head.b")).decay_mult, 0.0);
  for (const char* name : {"blocks.0.attn.wq", "blocks.0.attn.bq", "blocks.0.attn.wk", "blocks.0.attn.bk",
                           "blocks.0.attn.wo", "blocks.0.mlp.w1", "lora.blocks.0.attn.wq.b"})
    EXPECT_EQ(r.group(r.Find(name)).lr_mult, 1.0) << name;
}

TEST(ParamRegistryTest, LrRatioWithoutValueParametersIsAnError) {
  ParamRegistry r = MakeRegistry();
  ParamGroupRules rules;
  rules.lr_ratio = 4.0;
  try {
    rules.Apply(r);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("optim.lr_ratio = 4"), std::string::npos) << e.what();
  }
  ParamGroupRules one;  // λ = 1 is the default: nothing to scale, no error
  one.lr_ratio = 1.0;
  EXPECT_NO_THROW(one.Apply(r));
}

TEST(ParamRegistryTest, PatternMatchingNothingIsAnError) {
  ParamRegistry r = MakeRegistry();
  ParamGroupRules rules;
  rules.freeze = {"embed.tokens"};
  try {
    rules.Apply(r);
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("optim.freeze: pattern 'embed.tokens' matches no parameter"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace sim
