#include "sim/config/options.h"

#include <cmath>

#include <gtest/gtest.h>

#include "sim/cli/experiment.h"
#include "sim/core/error.h"

namespace sim {
namespace {

TEST(OptionsTest, DefaultsAndGivenValuesResolve) {
  const OptionSet set = AllOptions();
  Options options(set, {{"model.layers", "3"}});
  EXPECT_EQ(options.Int("model.layers", 1, 10), 3);
  EXPECT_EQ(options.Raw("model.d_model"), "64");
  EXPECT_TRUE(options.errors().empty());
}

TEST(OptionsTest, BadValuesAreCollectedNotThrownOneByOne) {
  const OptionSet set = AllOptions();
  Options options(set, {{"model.layers", "zero"}, {"train.lr", "-1"}});
  options.Int("model.layers", 1, 10);
  options.Double("train.lr", 0, 1);
  ASSERT_EQ(options.errors().size(), 2u);
  EXPECT_NE(options.errors()[0].find("model.layers: expected an integer"), std::string::npos);
  EXPECT_NE(options.errors()[0].find("given 'zero'"), std::string::npos);
  EXPECT_NE(options.errors()[1].find("train.lr: must be in [0, 1]"), std::string::npos);
  EXPECT_THROW(options.ThrowIfErrors(), ConfigError);
}

TEST(OptionsTest, TaskOptionsFollowTheActiveTask) {
  const OptionSet set = AllOptions();
  Options mqar(set, {{"task.name", "mqar"}});
  EXPECT_EQ(mqar.Raw("task.vocab"), "64");
  Options linreg(set, {{"task.name", "linreg"}, {"task.vocab", "10"}});
  ASSERT_EQ(linreg.errors().size(), 1u);
  EXPECT_NE(linreg.errors()[0].find("task.vocab: not an option of task 'linreg'"), std::string::npos)
      << linreg.errors()[0];
}

TEST(OptionsTest, ResolvedIniListsActiveOptionsBySection) {
  const OptionSet set = AllOptions();
  Options options(set, {{"task.name", "linreg"}, {"model.layers", "3"}});
  const std::string ini = options.ResolvedIni();
  EXPECT_NE(ini.find("[task]\nname = linreg\n"), std::string::npos) << ini;
  EXPECT_NE(ini.find("d = 5"), std::string::npos);
  EXPECT_EQ(ini.find("vocab"), std::string::npos) << "another task's options are not active";
  EXPECT_NE(ini.find("[model]\nlayers = 3\n"), std::string::npos);
}

// String trims what a command line can carry around a value (--train.target_split=' test'), and
// OptionalString is the one reading of "none" as "not set".
TEST(OptionsTest, StringTrimsAndOptionalStringMapsNoneToEmpty) {
  const OptionSet set = AllOptions();
  Options options(set, {{"train.target_split", " test\t"},
                        {"train.target_metric", " none "},
                        {"train.init_from", ""},
                        {"analysis.steps_to", "none"}});
  EXPECT_EQ(options.String("train.target_split"), "test");
  EXPECT_EQ(options.OptionalString("train.target_split"), "test");
  EXPECT_EQ(options.OptionalString("train.target_metric"), "");
  EXPECT_EQ(options.OptionalString("train.init_from"), "");
  const TrainConfig train = ReadTrainConfig(options);
  EXPECT_EQ(train.target_split, "test");
  EXPECT_EQ(train.target_metric, "");
  EXPECT_EQ(train.init_from, "");
  EXPECT_TRUE(std::isnan(ReadAnalysisConfig(options).steps_to));
  EXPECT_TRUE(options.errors().empty()) << options.errors().front();
}

TEST(OptionsTest, ClosestKeySuggestion) {
  const OptionSet set = AllOptions();
  EXPECT_EQ(set.Closest("model.layrs"), "model.layers");
  EXPECT_EQ(set.Closest("train.stpes"), "train.steps");
  EXPECT_EQ(set.Closest("task.vocabulary"), "task.vocab");
}

// Keys match exactly: a prefix of a key is unknown, and the message names up to three nearest keys
// (nearest first), what was given and where.
TEST(OptionsTest, RequireDeclaredIsExactAndNamesNearestKeys) {
  const OptionSet set = AllOptions();
  EXPECT_NO_THROW(set.RequireDeclared("model.layers", ""));
  EXPECT_NO_THROW(set.RequireDeclared("task.n_queries", "")) << "a task's own key is declared";
  try {
    set.RequireDeclared("model.layer", " in sweep.ini:3");
    ADD_FAILURE() << "no ConfigError for a prefix";
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("unknown option 'model.layer' in sweep.ini:3; did you mean 'model.layers'", 0), 0u)
        << message;
  }
  EXPECT_EQ(NearestNames("out-di", {"config", "out-dir", "list", "out-dir", "count"}),
            (std::vector<std::string>{"out-dir"}));
  EXPECT_EQ(NearestNames("abcd", {"abcx", "abyy", "azzz", "abcz", "wwww"}),
            (std::vector<std::string>{"abcx", "abcz", "abyy"}));
  EXPECT_EQ(NearestNames("abcd", {"abcx", "abcdefgh", "azzz"}), (std::vector<std::string>{"abcdefgh", "abcx"}))
      << "completions first, whatever their distance";
  EXPECT_EQ(NearestNames("train.s", set.Keys()),
            (std::vector<std::string>{"train.seed", "train.steps", "train.schedule"}));
  EXPECT_EQ(NearestNames("x", {}), std::vector<std::string>{});
  EXPECT_EQ(DidYouMean("abcd", {"abcx", "abcz", "abyy"}), "; did you mean 'abcx', 'abcz' or 'abyy'?");
  EXPECT_EQ(DidYouMean("abcd", {"abcx"}), "; did you mean 'abcx'?");
  EXPECT_EQ(DidYouMean("abcd", {}), "");
}

TEST(OptionsTest, HeadsPerLayerAndMlpMultiplier) {
  const OptionSet set = AllOptions();
  Options options(set, {{"model.layers", "3"}, {"model.heads", "8,1,1"}, {"model.d_mlp", "2x"}});
  const ModelConfig c = ReadModelConfig(options);
  EXPECT_TRUE(options.errors().empty());
  EXPECT_EQ(c.heads, (std::vector<int>{8, 1, 1}));
  EXPECT_EQ(c.d_mlp, 128);
  Options bad(set, {{"model.layers", "2"}, {"model.heads", "8,1,1"}});
  ReadModelConfig(bad);
  ASSERT_FALSE(bad.errors().empty());
  EXPECT_NE(bad.errors()[0].find("one per layer"), std::string::npos) << bad.errors()[0];
}

}  // namespace
}  // namespace sim
