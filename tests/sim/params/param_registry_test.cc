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
