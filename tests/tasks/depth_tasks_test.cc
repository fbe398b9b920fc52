// The depth study's tasks against their definitions (../specs/depth.md §3), with brute-force oracles.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "tasks/icqa.h"
#include "tasks/ictemplate.h"
#include "tasks/seqclass.h"
#include "tasks/template_task.h"
#include "tasks/templates.h"

namespace sim {
namespace {

// The equality pattern of a token sequence, symbols numbered by first occurrence.
Template Pattern(const int32_t* tokens, int n) {
  Template p(n);
  std::map<int32_t, int> symbol;
  for (int i = 0; i < n; ++i) {
    auto it = symbol.find(tokens[i]);
    if (it == symbol.end()) it = symbol.emplace(tokens[i], static_cast<int>(symbol.size())).first;
    p[i] = it->second;
  }
  return p;
}

TEST(TemplatesTest, PairingsAreTheFifteenPerfectMatchings) {
  const std::vector<Template> six = PairingTemplates(6);
  ASSERT_EQ(six.size(), 15u);
  std::set<Template> distinct(six.begin(), six.end());
  EXPECT_EQ(distinct.size(), 15u);
  for (const Template& t : six) {
    std::vector<int> count(3, 0);
    for (int s : t) ++count[s];
    EXPECT_EQ(count, (std::vector<int>{2, 2, 2}));
    EXPECT_EQ(Pattern(t.data(), 6), t) << "symbols numbered by first occurrence";
  }
  EXPECT_EQ(PairingTemplates(4).size(), 3u);
  EXPECT_EQ(PairingTemplates(8).size(), 105u);
}

TEST(SeqclassTest, PoolIsDistinctLabelledAndEvaluatedWhole) {
  SeqclassTask task({32, 6, 4, 100, 3});
  const TaskInfo& info = task.info();
  EXPECT_EQ(info.length, 7);
  EXPECT_EQ(info.vocab, 33);
  EXPECT_DOUBLE_EQ(info.chance, 0.25);
  std::set<std::vector<int32_t>> seqs;
  for (int i = 0; i < 100; ++i)
    seqs.insert(std::vector<int32_t>(task.sequences().begin() + i * 6, task.sequences().begin() + (i + 1) * 6));
  EXPECT_EQ(seqs.size(), 100u);
  // The trainset split is the pool, in order, padded with unscored copies.
  Batch batch;
  task.SampleFixed(1, 96, 4, 8, batch);
  batch.Validate(4);
  ASSERT_EQ(batch.n_scored(), 4);
  for (int b = 0; b < 4; ++b) {
    EXPECT_EQ(batch.tokens[b * 7 + 6], 32) << "OUT";
    for (int t = 0; t < 6; ++t) EXPECT_EQ(batch.tokens[b * 7 + t], task.sequences()[(96 + b) * 6 + t]);
    EXPECT_EQ(batch.labels[b], task.labels()[96 + b]);
    EXPECT_EQ(batch.scored[b], b * 7 + 6);
  }
  // Training batches come from the pool with their labels; a full batch is the pool in order.
  Rng rng = Rng::ForStream(0, "data/train");
  task.Sample(0, rng, 50, batch);
  for (int b = 0; b < 50; ++b) {
    const std::vector<int32_t> seq(batch.tokens.begin() + b * 7, batch.tokens.begin() + b * 7 + 6);
    bool found = false;
    for (int i = 0; i < 100 && !found; ++i)
      if (std::equal(seq.begin(), seq.end(), task.sequences().begin() + i * 6)) {
        found = true;
        EXPECT_EQ(batch.labels[b], task.labels()[i]);
      }
    EXPECT_TRUE(found) << "training example " << b << " is not in the pool";
  }
  task.Sample(0, rng, 100, batch);
  EXPECT_TRUE(std::equal(task.labels().begin(), task.labels().end(), batch.labels.begin()));
  // Another seed is another dataset; the same seed the same.
  EXPECT_NE(SeqclassTask({32, 6, 4, 100, 4}).sequences(), task.sequences());
  EXPECT_EQ(SeqclassTask({32, 6, 4, 100, 3}).labels(), task.labels());
}

TEST(IcqaTest, TargetIsTheAnswerBoundToTheQuery) {
  IcqaTask task({32, 16, 6, 1});
  EXPECT_EQ(task.info().length, 13);
  EXPECT_DOUBLE_EQ(task.info().chance, 1.0 / 6);
  EXPECT_FALSE(task.info().requires_causal);
  EXPECT_EQ(task.info().position_labels,
            (std::vector<std::string>{"q1", "a1", "q2", "a2", "q3", "a3", "q4", "a4", "q5", "a5", "q6", "a6", "q*"}));
  Rng rng = Rng::ForStream(1, "eval/test");
  Batch batch;
  task.Sample(1, rng, 200, batch);
  batch.Validate(16);
  ASSERT_EQ(batch.n_scored(), 200);
  std::vector<int> answer_counts(6, 0);
  for (int b = 0; b < 200; ++b) {
    const int32_t* t = batch.tokens.data() + b * 13;
    std::set<int32_t> qs, as;
    std::map<int32_t, int32_t> bound;
    for (int j = 0; j < 6; ++j) {
      EXPECT_LT(t[2 * j], 32);
      EXPECT_GE(t[2 * j + 1], 32);
      EXPECT_LT(t[2 * j + 1], 48);
      qs.insert(t[2 * j]);
      as.insert(t[2 * j + 1]);
      bound[t[2 * j]] = t[2 * j + 1] - 32;
    }
    EXPECT_EQ(qs.size(), 6u) << "questions distinct";
    EXPECT_EQ(as.size(), 6u) << "answers distinct: chance is 1/m";
    EXPECT_EQ(batch.scored[b], b * 13 + 12) << "read out at q*";
    ASSERT_TRUE(bound.count(t[12]));
    EXPECT_EQ(batch.labels[b], bound[t[12]]);
    for (int j = 0; j < 6; ++j) answer_counts[j] += t[2 * j] == t[12];
  }
  for (int c : answer_counts) EXPECT_GT(c, 15) << "the queried pair is uniform over the m pairs";
}

TEST(IcqaTest, MultiQueryTrainingAndPaddedSingleQueryEvaluation) {
  IcqaTask task({32, 16, 6, 4});
  EXPECT_EQ(task.info().length, 16);
  EXPECT_TRUE(task.info().requires_causal);
  ASSERT_EQ(task.info().position_labels.size(), 16u);
  EXPECT_EQ(task.info().position_labels[12], "q*1");
  EXPECT_EQ(task.info().position_labels[15], "q*4");
  Rng rng = Rng::ForStream(2, "data/train");
  Batch train, test;
  task.Sample(0, rng, 20, train);
  ASSERT_EQ(train.n_scored(), 80);
  for (int b = 0; b < 20; ++b) {
    std::set<int32_t> asked;
    for (int i = 0; i < 4; ++i) asked.insert(train.tokens[b * 16 + 12 + i]);
    EXPECT_EQ(asked.size(), 4u) << "distinct queries";
  }
  task.Sample(1, rng, 20, test);
  ASSERT_EQ(test.n_scored(), 20);
  for (int b = 0; b < 20; ++b)
    for (int t = 13; t < 16; ++t) EXPECT_EQ(test.tokens[b * 16 + t], 48) << "PAD after the single query";
}

TEST(TemplateTest, InstancesFollowTheirTemplateAndSplitsAreHeldOut) {
  TemplateTask task({24, 8, 6, 8, 2000, 5});
  const TaskInfo& info = task.info();
  ASSERT_EQ(info.splits, (std::vector<std::string>{"train", "trainset", "test_id", "test_ood"}));
  EXPECT_EQ(info.split_size(1), 2000);
  EXPECT_EQ(task.templates().size(), 8u);
  EXPECT_EQ(info.position_labels, (std::vector<std::string>{"x1", "x2", "x3", "x4", "x5", "x6", "OUT"}));
  std::set<Template> distinct(task.templates().begin(), task.templates().end());
  EXPECT_EQ(distinct.size(), 8u);
  auto label_of = [&](const int32_t* instance) {
    const Template p = Pattern(instance, 6);
    const auto it = std::find(task.templates().begin(), task.templates().end(), p);
    return it == task.templates().end() ? -1 : static_cast<int>(it - task.templates().begin());
  };
  for (int split : {0, 2, 3}) {
    Rng rng = Rng::ForStream(7, "split" + std::to_string(split));
    Batch batch;
    task.Sample(split, rng, 300, batch);
    batch.Validate(8);
    for (int b = 0; b < 300; ++b) {
      const int32_t* t = batch.tokens.data() + b * 7;
      EXPECT_EQ(t[6], 32) << "OUT";
      EXPECT_EQ(batch.labels[b], label_of(t)) << "label = the template of the instance";
      for (int i = 0; i < 6; ++i) {
        if (split == 3) {
          EXPECT_GE(t[i], 24) << "test_ood uses held-out tokens only";
        } else {
          EXPECT_LT(t[i], 24);
        }
      }
      if (split == 2) {
        EXPECT_FALSE(task.InPool(t, batch.labels[b])) << "test_id excludes the training pool";
      }
      if (split == 0) {
        EXPECT_TRUE(task.InPool(t, batch.labels[b]));
      }
    }
  }
}

TEST(IctemplateTest, TargetIsTheLabelOfTheSegmentWithTheQuerysTemplate) {
  IctemplateTask task({32, 8, 4, 6, 10, 1});
  EXPECT_EQ(task.info().length, 35);
  const std::vector<std::string>& roles = task.info().position_labels;
  ASSERT_EQ(roles.size(), 35u);
  EXPECT_EQ(roles[0], "x1.1");
  EXPECT_EQ(roles[6], "y1");
  EXPECT_EQ(roles[28], "x*.1");
  EXPECT_EQ(roles[34], "OUT");
  EXPECT_EQ(task.train_pool().size(), 10u);
  EXPECT_EQ(task.test_pool().size(), 5u);
  for (const Template& t : task.test_pool())
    EXPECT_EQ(std::find(task.train_pool().begin(), task.train_pool().end(), t), task.train_pool().end());
  for (int split : {1, 2}) {
    const std::vector<Template>& pool = split == 2 ? task.test_pool() : task.train_pool();
    Rng rng = Rng::ForStream(3, "split" + std::to_string(split));
    Batch batch;
    task.Sample(split, rng, 200, batch);
    batch.Validate(8);
    for (int b = 0; b < 200; ++b) {
      const int32_t* t = batch.tokens.data() + b * 35;
      std::set<Template> used;
      std::set<int32_t> labels;
      int target = -1;
      const Template query = Pattern(t + 28, 6);
      EXPECT_EQ(t[34], 40) << "OUT";
      for (int j = 0; j < 4; ++j) {
        const Template p = Pattern(t + 7 * j, 6);
        EXPECT_NE(std::find(pool.begin(), pool.end(), p), pool.end()) << "segment from the split's pool";
        used.insert(p);
        labels.insert(t[7 * j + 6]);
        if (p == query) target = t[7 * j + 6] - 32;
      }
      EXPECT_EQ(used.size(), 4u) << "distinct templates";
      EXPECT_EQ(labels.size(), 4u) << "distinct labels";
      EXPECT_EQ(batch.labels[b], target);
    }
  }
}

// task.pad_to: the same prompts (same random stream use, same targets and scored positions),
// followed by PAD tokens up to the given length.
TEST(IctemplateTest, PaddedPromptsAreTheNaturalOnesFollowedByPad) {
  IctemplateTask natural({32, 8, 2, 6, 10, 2, 0}), padded({32, 8, 2, 6, 10, 2, 56});
  ASSERT_EQ(natural.info().length, 28);
  ASSERT_EQ(padded.info().length, 56);
  ASSERT_EQ(padded.info().position_labels.size(), 56u);
  EXPECT_EQ(padded.info().position_labels[27], "OUT2");
  EXPECT_EQ(padded.info().position_labels[28], "PAD");
  const int32_t pad = 32 + 8 + 1;
  for (int split : {0, 1, 2}) {
    Rng rng_a = Rng::ForStream(5, "s"), rng_b = Rng::ForStream(5, "s");
    Batch a, b;
    natural.Sample(split, rng_a, 50, a);
    padded.Sample(split, rng_b, 50, b);
    b.Validate(8);
    EXPECT_EQ(a.labels, b.labels) << split;
    ASSERT_EQ(a.scored.size(), b.scored.size()) << split;
    for (size_t i = 0; i < a.scored.size(); ++i) {
      EXPECT_EQ(a.scored[i] / 28, b.scored[i] / 56) << "same example";
      EXPECT_EQ(a.scored[i] % 28, b.scored[i] % 56) << "same position within the prompt";
    }
    for (int e = 0; e < 50; ++e)
      for (int t = 0; t < 56; ++t) {
        const int32_t token = b.tokens[e * 56 + t];
        if (t < 28)
          EXPECT_EQ(token, a.tokens[e * 28 + t]) << split << " " << e << " " << t;
        else
          EXPECT_EQ(token, pad) << split << " " << e << " " << t;
      }
  }
}

}  // namespace
}  // namespace sim
