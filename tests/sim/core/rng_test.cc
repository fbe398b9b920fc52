#include "sim/core/rng.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace sim {
namespace {

TEST(RngTest, SameStreamSameDraws) {
  Rng a = Rng::ForStream(7, "data/train"), b = Rng::ForStream(7, "data/train");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.NextU64(), b.NextU64());
}

TEST(RngTest, PurposesAndSeedsGiveDifferentStreams) {
  Rng train = Rng::ForStream(7, "data/train"), test = Rng::ForStream(7, "eval/test");
  Rng other_seed = Rng::ForStream(8, "data/train");
  EXPECT_NE(train.key(), test.key());
  EXPECT_NE(train.key(), other_seed.key());
  std::set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    seen.insert(train.NextU64());
    seen.insert(test.NextU64());
  }
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(RngTest, PositionRestoresTheStream) {
  Rng a = Rng::ForStream(3, "x");
  for (int i = 0; i < 17; ++i) a.NextU64();
  Rng b(a.key(), a.position());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.NextU64(), b.NextU64());
}

TEST(RngTest, UniformAndNormalMoments) {
  Rng rng = Rng::ForStream(1, "moments");
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0;
  for (int i = 0; i < n; ++i) {
    const double u = rng.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    su += u;
    const double z = rng.Normal();
    sn += z;
    sn2 += z * z;
  }
  EXPECT_NEAR(su / n, 0.5, 0.005);
  EXPECT_NEAR(sn / n, 0.0, 0.01);
  EXPECT_NEAR(sn2 / n, 1.0, 0.02);
}

TEST(RngTest, BelowIsUniformAndInRange) {
  Rng rng = Rng::ForStream(2, "below");
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 70000; ++i) {
    const uint64_t v = rng.Below(7);
    ASSERT_LT(v, 7u);
    ++counts[v];
  }
  for (int c : counts) EXPECT_NEAR(c, 10000, 400);
}

TEST(RngTest, SampleWithoutReplacementGivesDistinctValues) {
  Rng rng = Rng::ForStream(4, "sample");
  std::vector<int> scratch, out(5);
  for (int trial = 0; trial < 100; ++trial) {
    rng.SampleWithoutReplacement(9, 5, scratch, out.data());
    std::set<int> distinct(out.begin(), out.end());
    EXPECT_EQ(distinct.size(), 5u);
    for (int v : out) EXPECT_TRUE(v >= 0 && v < 9);
  }
}

}  // namespace
}  // namespace sim
