// The analysis registry's contract (analysis/analyses.h): names, keys, outputs, hash-stable options,
// and analysis/ free of task types (tasks offer their measures through the task registry).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "analysis/analyses.h"
#include "sim/cli/experiment.h"

namespace sim {
namespace {

// Keys that run files and sweep names already carry: listed in every resolved config.
const std::set<std::string> kLegacyKeys = {"analysis.attention", "analysis.probe", "analysis.steps_to"};

TEST(AnalysisRegistryTest, EntriesAreCompleteAndTheirNewKeysStayOutOfExistingConfigs) {
  std::set<std::string> names;
  for (const AnalysisEntry& e : AnalysisRegistry()) {
    EXPECT_TRUE(names.insert(e.name).second) << e.name << " twice";
    EXPECT_FALSE(e.summary.empty()) << e.name;
    ASSERT_TRUE(e.declare && e.read && e.applies && e.run) << e.name;
    ASSERT_FALSE(e.outputs.empty()) << e.name;
    OptionSet own;
    e.declare(own);
    EXPECT_TRUE(own.Has("analysis." + e.name)) << e.name << " is selected by analysis." << e.name;
    for (const OptionDecl& d : own.decls()) {
      EXPECT_FALSE(d.help.empty()) << d.key;
      const bool own_key = d.key == "analysis." + e.name || d.key.rfind("analysis." + e.name + ".", 0) == 0;
      EXPECT_TRUE(own_key || kLegacyKeys.count(d.key)) << d.key << " is not under analysis." << e.name;
      EXPECT_TRUE(d.omit_at_default || kLegacyKeys.count(d.key))
          << d.key << ": a new key must be omit_at_default, or every existing sweep changes its file names";
    }
  }
  EXPECT_TRUE(FindAnalysis("attention") && FindAnalysis("steps_to"));
  EXPECT_EQ(FindAnalysis("atention"), nullptr);
}

TEST(AnalysisRegistryTest, AnOptionAtItsDefaultIsNotInTheResolvedConfig) {
  const OptionSet set = AllOptions();
  Options defaults(set, {});
  const std::string ini = defaults.ResolvedIni();
  EXPECT_NE(ini.find("[analysis]\nattention = false\nprobe = 256\nsteps_to = 0.9\n\n"), std::string::npos) << ini;
  EXPECT_EQ(ini.find("steps_to.curve"), std::string::npos) << ini;
  Options set_curve(set, {{"analysis.steps_to.curve", "test_loss"}});
  EXPECT_NE(set_curve.ResolvedIni().find("steps_to.curve = test_loss\n"), std::string::npos);
}

TEST(AnalysisRegistryTest, SelectionRecordsEachAnalysisOptions) {
  const OptionSet set = AllOptions();
  Options options(set, {{"analysis.attention", "true"}, {"analysis.probe", "32"}});
  const AnalysisConfig c = ReadAnalysisConfig(options);
  ASSERT_TRUE(options.errors().empty()) << options.errors().front();
  ASSERT_EQ(c.selected.size(), 2u) << "attention, and steps_to by default";
  EXPECT_EQ(c.selected[0].entry->name, "attention");
  EXPECT_TRUE(c.selected[0].requested);
  EXPECT_EQ(c.selected[0].options.Recorded(), "analysis.attention = true\nanalysis.probe = 32\neval.seed = 0\n");
  EXPECT_EQ(c.selected[1].entry->name, "steps_to");
  EXPECT_FALSE(c.selected[1].requested) << "selected by its default: skipped quietly where it does not apply";
  Options bad(set, {{"analysis.attention", "maybe"}});
  ReadAnalysisConfig(bad);
  EXPECT_EQ(bad.errors().size(), 1u);
}

TEST(AnalysisRegistryTest, AnalysesIncludeNoTaskHeaders) {
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SIM_SOURCE_DIR) + "/analysis")) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str().find("#include \"tasks/"), std::string::npos)
        << entry.path() << ": a task offers its measures through the task registry (TaskEntry::measures)";
  }
}

}  // namespace
}  // namespace sim
