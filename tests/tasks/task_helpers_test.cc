// tasks/task_helpers against their definitions: the readout pool's training draws (one rng.Below(N)
// per example, or the whole pool in order), its fixed-split batches (padded with unscored copies),
// and the multi-query rules shared by icqa and ictemplate.
#include "tasks/task_helpers.h"

#include <gtest/gtest.h>

#include "tasks/icqa.h"
#include "tasks/ictemplate.h"
#include "tasks/task_registry.h"

namespace sim {
namespace {

// Three instances of L = 2 tokens, OUT = 9.
ReadoutPool SmallPool() {
  ReadoutPool pool(2, 9);
  const int32_t instances[3][2] = {{1, 2}, {3, 4}, {5, 6}};
  for (int i = 0; i < 3; ++i) pool.Add(instances[i], static_cast<int32_t>(10 + i));
  return pool;
}

TEST(ReadoutPoolTest, InstancesAreStoredInOrder) {
  const ReadoutPool pool = SmallPool();
  EXPECT_EQ(pool.size(), 3);
  EXPECT_EQ(pool.tokens(), (std::vector<int32_t>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(pool.labels(), (std::vector<int32_t>{10, 11, 12}));
}

TEST(ReadoutPoolTest, TrainingDrawsOneBelowPerExample) {
  const ReadoutPool pool = SmallPool();
  Rng rng = Rng::ForStream(7, "test"), oracle = Rng::ForStream(7, "test");
  Batch batch;
  pool.SampleTrain(rng, 5, /*whole_in_order=*/false, batch);
  ASSERT_EQ(batch.labels.size(), 5u);
  for (int b = 0; b < 5; ++b) {
    const int i = static_cast<int>(oracle.Below(3));
    EXPECT_EQ(batch.tokens[b * 3 + 0], 2 * i + 1);
    EXPECT_EQ(batch.tokens[b * 3 + 1], 2 * i + 2);
    EXPECT_EQ(batch.tokens[b * 3 + 2], 9) << "OUT";
    EXPECT_EQ(batch.scored[b], b * 3 + 2) << "read out at OUT";
    EXPECT_EQ(batch.labels[b], 10 + i);
  }
  EXPECT_EQ(rng.Below(1000), oracle.Below(1000)) << "the same draws as the oracle, no more";
}

TEST(ReadoutPoolTest, WholeBatchInOrderDrawsNothing) {
  const ReadoutPool pool = SmallPool();
  Rng rng = Rng::ForStream(7, "test"), untouched = Rng::ForStream(7, "test");
  Batch batch;
  pool.SampleTrain(rng, 3, /*whole_in_order=*/true, batch);
  EXPECT_EQ(batch.tokens, (std::vector<int32_t>{1, 2, 9, 3, 4, 9, 5, 6, 9}));
  EXPECT_EQ(batch.labels, (std::vector<int32_t>{10, 11, 12}));
  EXPECT_EQ(rng.Below(1000), untouched.Below(1000));
}

TEST(ReadoutPoolTest, FixedBatchesArePaddedWithUnscoredCopies) {
  const ReadoutPool pool = SmallPool();
  Batch batch;
  pool.SampleFixed("test", 1, 2, 4, batch);
  EXPECT_EQ(batch.tokens, (std::vector<int32_t>{3, 4, 9, 5, 6, 9, 3, 4, 9, 3, 4, 9}));
  EXPECT_EQ(batch.scored, (std::vector<int32_t>{2, 5}));
  EXPECT_EQ(batch.labels, (std::vector<int32_t>{11, 12}));
  EXPECT_THROW(pool.SampleFixed("test", 2, 2, 4, batch), InternalError) << "past the pool's end";
  EXPECT_THROW(pool.SampleFixed("test", 0, 3, 2, batch), InternalError) << "more than the batch holds";
}

// icqa and ictemplate read task.n_queries alike: more queries than pairs is one error, and more than
// one query per training prompt needs causal attention.
TEST(MultiQueryTest, IcqaAndIctemplateShareTheRules) {
  OptionSet set;
  DeclareTaskOptions(set);
  for (const char* task : {"icqa", "ictemplate"}) {
    Options too_many(set, {{"task.name", task}, {"task.pairs", "2"}, {"task.n_queries", "3"}});
    EXPECT_EQ(MakeTask(too_many), nullptr) << task;
    ASSERT_EQ(too_many.errors().size(), 1u) << task;
    EXPECT_NE(too_many.errors()[0].find("task.n_queries: must be <= task.pairs=2 (distinct queries) (given '3')"),
              std::string::npos)
        << too_many.errors()[0];
    Options multi(set, {{"task.name", task}, {"task.pairs", "3"}, {"task.n_queries", "2"}});
    const std::unique_ptr<Task> made = MakeTask(multi);
    ASSERT_NE(made, nullptr) << task;
    EXPECT_TRUE(made->info().requires_causal) << task;
    EXPECT_NE(made->info().causal_reason.find("task.n_queries > 1"), std::string::npos) << task;
    Options single(set, {{"task.name", task}, {"task.pairs", "3"}});
    EXPECT_FALSE(MakeTask(single)->info().requires_causal) << task;
  }
}

}  // namespace
}  // namespace sim
