// The hand-built ictemplate solution (tools/ictemplate_solution.h): through the normal model forward,
// on prompts of the task generator as it is, it answers test_id and test_ood (and the multi-query
// training prompts) correctly; each of its three layers is needed; a model that does not fit is
// refused naming the option.
#include <gtest/gtest.h>

#include "analysis/example_outputs.h"
#include "sim/core/error.h"
#include "tests/testing/analysis_fixtures.h"
#include "tools/ictemplate_solution.h"

namespace sim {
namespace {

using testing::BuildExperimentWith;
using testing::SilenceHead;

struct Built {
  Experiment e;
  IctemplateLayout layout;
};

// The study's ictemplate model (ictemplate_explore.ini's task) with the solution's model options and
// `extra` (task and model options) over them; m pairs, k training queries, templates of length L.
Built BuildSolution(std::map<std::string, std::string> extra, IctemplateScales scales = {}) {
  std::map<std::string, std::string> given = {{"task.name", "ictemplate"},
                                              {"model.pos", "learned_factored"},
                                              {"model.causal", "true"},
                                              {"model.bias", "false"}};
  for (const auto& [key, value] : extra) given[key] = value;
  const int m = std::stoi(given.count("task.pairs") ? given["task.pairs"] : "4");
  const int k = std::stoi(given.count("task.n_queries") ? given["task.n_queries"] : "1");
  const int length = std::stoi(given.count("task.length") ? given["task.length"] : "6");
  const int labels = std::stoi(given.count("task.labels") ? given["task.labels"] : "8");
  Built b;
  b.layout = MakeIctemplateLayout(32, labels, length, (m + k) * (length + 1));
  for (const auto& [key, value] : IctemplateSolutionModelOptions(b.layout)) given.emplace(key, value);
  b.e = BuildExperimentWith(given, {});
  SetIctemplateSolution(b.e.model_config, b.layout, scales, *b.e.registry);
  return b;
}

// Accuracy over every scored position of `prompts` prompts of `split`, in batches, through the
// model's forward (EvaluateExamples: the trainer's evaluation).
double Accuracy(const Experiment& e, const std::string& split, int prompts = 1000) {
  const int s = e.task->SplitIndex(split);
  EXPECT_GE(s, 0) << split;
  Rng rng = Rng::ForStream(7, "ictemplate_solution_test/" + split);
  const int per_batch = 250;
  Batch batch;
  std::unique_ptr<Workspace> ws;
  int correct = 0, scored = 0;
  for (int done = 0; done < prompts; done += per_batch) {
    e.task->Sample(s, rng, per_batch, batch);
    if (!ws) ws = e.model->MakeWorkspace(batch.shape, batch.n_scored());
    correct += EvaluateExamples(*e.model, *ws, batch).n_correct;
    scored += batch.n_scored();
  }
  return static_cast<double>(correct) / scored;
}

TEST(IctemplateSolutionTest, LayoutOfTheStudysSizes) {
  const IctemplateLayout l = MakeIctemplateLayout(32, 8, 6, 56);
  EXPECT_EQ(l.segment, 7);
  EXPECT_EQ(l.n_segments, 8);
  EXPECT_EQ(l.copy_heads, 8);
  EXPECT_EQ(l.width, 32 + 8 + 7 + 8 + 6 + 30 + 8);
  EXPECT_EQ(l.d_model, 128);
  EXPECT_EQ(l.ans + l.labels, l.width);
  EXPECT_EQ(MakeIctemplateLayout(32, 8, 6, 35).d_model, 96);  // one query: 5 segments
}

// The study's setting (m = 4, causal, factored positions): every prompt of both evaluation splits,
// and every query of the 4-query training prompts, answered.
TEST(IctemplateSolutionTest, AnswersTestIdAndTestOodOfTheStudysTask) {
  const Built b = BuildSolution({{"task.n_queries", "4"}});
  EXPECT_EQ(b.e.model_config.d_model, 128);
  EXPECT_EQ(b.e.model_config.layers, 3);
  EXPECT_EQ(b.e.model_config.d_mlp, 0);
  EXPECT_GE(Accuracy(b.e, "test_id"), 0.999);
  EXPECT_GE(Accuracy(b.e, "test_ood"), 0.999);
  EXPECT_GE(Accuracy(b.e, "train", 500), 0.999);
}

// Bidirectional attention and plain learned (absolute) positions work too: the first of a pair then
// reads its partner's offset, and the absolute table holds offset + segment codes.
TEST(IctemplateSolutionTest, BidirectionalAttentionAndAbsolutePositions) {
  const Built b = BuildSolution({{"model.causal", "false"}, {"model.pos", "learned"}});
  EXPECT_GE(Accuracy(b.e, "test_id"), 0.999);
  EXPECT_GE(Accuracy(b.e, "test_ood"), 0.999);
}

TEST(IctemplateSolutionTest, OtherSizes) {
  {
    SCOPED_TRACE("m = 2, length-4 templates (test_id only)");
    const Built b = BuildSolution(
        {{"task.pairs", "2"}, {"task.n_queries", "2"}, {"task.length", "4"}, {"task.templates_train", "3"}});
    EXPECT_GE(Accuracy(b.e, "test_id"), 0.999);
  }
  {
    SCOPED_TRACE("m = 6, length-8 templates, 12 labels");
    const Built b = BuildSolution(
        {{"task.pairs", "6"}, {"task.length", "8"}, {"task.templates_train", "60"}, {"task.labels", "12"}});
    EXPECT_EQ(b.layout.copy_heads, 8);
    EXPECT_GE(Accuracy(b.e, "test_id", 500), 0.999);
    EXPECT_GE(Accuracy(b.e, "test_ood", 500), 0.999);
  }
}

// The margin M is what makes attention hard: at M = 1 the soft choices mix the wrong keys in.
TEST(IctemplateSolutionTest, SmallMarginsAreTooSoft) {
  const Built b = BuildSolution({}, {1.0, 20.0});
  EXPECT_LT(Accuracy(b.e, "test_id", 500), 0.5);
  const Built hard = BuildSolution({}, {4.0, 20.0});
  EXPECT_GE(Accuracy(hard.e, "test_id", 500), 0.999);
}

// Without the parse head, the copy heads or the match head, the model is near chance (1/m = 0.25):
// every layer does a part of the work. (One copy head alone is not needed: the others still tell
// the templates apart, since different templates differ at two offsets or more.)
TEST(IctemplateSolutionTest, EachLayerIsNeeded) {
  for (int layer = 0; layer < 3; ++layer) {
    Built b = BuildSolution({});
    for (int h = 0; h < b.e.model_config.heads_in_layer(layer); ++h) SilenceHead(b.e, layer, h);
    EXPECT_LT(Accuracy(b.e, "test_id", 500), 0.4) << "layer " << layer;
  }
  Built one = BuildSolution({});
  SilenceHead(one.e, 1, 2);
  EXPECT_GE(Accuracy(one.e, "test_id", 500), 0.99) << "copy head of offset 3 silenced";
}

TEST(IctemplateSolutionTest, AModelThatDoesNotFitIsRefusedNamingTheOption) {
  const IctemplateLayout layout = MakeIctemplateLayout(32, 8, 6, 35);
  Experiment e = BuildExperimentWith(
      {{"task.name", "ictemplate"}, {"model.layers", "3"}, {"model.heads", "8"}, {"model.d_mlp", "0"}}, {});
  try {
    SetIctemplateSolution(e.model_config, layout, {}, *e.registry);
    FAIL() << "no error";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("model.d_model: the ictemplate solution needs 96, given 64"),
              std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace sim
