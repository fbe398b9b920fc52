#include "tasks/mqar.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "tasks/task_registry.h"

namespace sim {
namespace {

MqarConfig SmallConfig() { return MqarConfig{32, 24, 5, 4, 0.01, false}; }

// Every scored position holds a queried key, and its label is the value that key was paired with
// in the context (a brute-force oracle over the example).
TEST(MqarTest, LabelsAreTheValuesBoundToQueriedKeys) {
  MqarTask task(SmallConfig());
  Rng rng = Rng::ForStream(1, "data/train");
  Batch batch;
  task.Sample(0, rng, 50, batch);
  batch.Validate(task.info().n_classes);
  const int t_len = 24, k = 5;
  ASSERT_EQ(batch.n_scored(), 50 * 4);
  for (int j = 0; j < batch.n_scored(); ++j) {
    const int col = batch.scored[j], b = col / t_len, t = col % t_len;
    const int32_t* tokens = batch.tokens.data() + b * t_len;
    ASSERT_GE(t, 2 * k) << "queries sit after the context";
    ASSERT_EQ((t - 2 * k) % 2, 0) << "queries sit at even offsets of the query region";
    std::map<int32_t, int32_t> bound;
    for (int i = 0; i < k; ++i) bound[tokens[2 * i]] = tokens[2 * i + 1];
    ASSERT_TRUE(bound.count(tokens[t])) << "a queried token must be a key of the context";
    EXPECT_EQ(batch.labels[j], bound[tokens[t]]);
  }
}

TEST(MqarTest, KeysAndValuesComeFromTheirHalvesAndAreDistinct) {
  MqarTask task(SmallConfig());
  Rng rng = Rng::ForStream(2, "data/train");
  Batch batch;
  task.Sample(0, rng, 50, batch);
  for (int b = 0; b < 50; ++b) {
    const int32_t* tokens = batch.tokens.data() + b * 24;
    std::set<int32_t> keys, values;
    for (int i = 0; i < 5; ++i) {
      EXPECT_GE(tokens[2 * i], 1);
      EXPECT_LT(tokens[2 * i], 16);
      EXPECT_GE(tokens[2 * i + 1], 16);
      EXPECT_LT(tokens[2 * i + 1], 32);
      keys.insert(tokens[2 * i]);
      values.insert(tokens[2 * i + 1]);
    }
    EXPECT_EQ(keys.size(), 5u);
    EXPECT_EQ(values.size(), 5u);
    // Each queried key appears once in the query region; the rest of it is filler 0.
    int queried = 0;
    std::set<int32_t> asked;
    for (int t = 10; t < 24; ++t) {
      if (tokens[t] == 0) continue;
      ++queried;
      EXPECT_TRUE(asked.insert(tokens[t]).second) << "key queried twice";
    }
    EXPECT_EQ(queried, 4);
  }
}

// The power law p(g) ∝ (g+1)^(a-1) puts queries near the start of the query region.
TEST(MqarTest, QuerySlotsFavourTheStartOfTheQueryRegion) {
  MqarTask task(MqarConfig{64, 64, 4, 1, 0.01, false});
  Rng rng = Rng::ForStream(3, "data/train");
  Batch batch;
  task.Sample(0, rng, 4000, batch);
  int first = 0, last = 0;
  for (int col : batch.scored) {
    const int slot = (col % 64 - 8) / 2;  // 28 slots
    first += slot == 0;
    last += slot == 27;
  }
  // p(0)/p(27) = 28^0.99 ≈ 27; with 4000 draws the first slot is hit far more often.
  EXPECT_GT(first, 10 * std::max(last, 1));
}

TEST(MqarTest, TestStreamIsHeldOutFromTrainingStream) {
  MqarTask task(SmallConfig());
  Rng train = Rng::ForStream(0, "data/train"), test = Rng::ForStream(0, "eval/test");
  Batch a, b;
  task.Sample(0, train, 200, a);
  task.Sample(1, test, 200, b);
  std::set<std::vector<int32_t>> train_examples;
  for (int i = 0; i < 200; ++i)
    train_examples.insert(std::vector<int32_t>(a.tokens.begin() + i * 24, a.tokens.begin() + (i + 1) * 24));
  for (int i = 0; i < 200; ++i)
    EXPECT_FALSE(
        train_examples.count(std::vector<int32_t>(b.tokens.begin() + i * 24, b.tokens.begin() + (i + 1) * 24)));
}

TEST(MqarTest, SameStreamSameBatch) {
  MqarTask task(SmallConfig());
  Rng r1 = Rng::ForStream(5, "data/train"), r2 = Rng::ForStream(5, "data/train");
  Batch a, b;
  task.Sample(0, r1, 10, a);
  task.Sample(0, r2, 10, b);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.scored, b.scored);
}

// A bad size is reported once: the relations between sizes (pairs <= vocab/2 - 1, ...) are checked
// only when every size read cleanly, so no message quotes the fallback of a value the user mistyped.
TEST(MqarTest, BadSizeIsOneErrorWithoutRelationsOfFallbacks) {
  OptionSet set;
  DeclareTaskOptions(set);
  Options options(set, {{"task.name", "mqar"}, {"task.vocab", "sixty-four"}});
  EXPECT_EQ(MakeMqar(options), nullptr);
  ASSERT_EQ(options.errors().size(), 1u) << options.errors().front();
  EXPECT_NE(options.errors()[0].find("task.vocab: expected an integer"), std::string::npos) << options.errors()[0];
  EXPECT_NE(options.errors()[0].find("given 'sixty-four'"), std::string::npos) << options.errors()[0];
}

}  // namespace
}  // namespace sim
