#include "sim/kernels/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace sim {
namespace {

// Every item runs exactly once, whatever the thread count, across many jobs and restarts (a worker
// that starts late must still see the stop request: this once deadlocked).
TEST(ThreadPoolTest, EveryItemRunsExactlyOnce) {
  ThreadPool& pool = ThreadPool::Global();
  for (int round = 0; round < 100; ++round) {
    pool.SetThreads(1 + round % 3);
    for (int job = 0; job < 20; ++job) {
      const int n = 1 + (job * 7) % 40;
      std::vector<std::atomic<int>> hits(n);
      pool.Run(n, [&](int i) {
        volatile double x = 0;
        for (int k = 0; k < (i % 5) * 200; ++k) x = x + k;  // uneven items
        hits[i].fetch_add(1);
      });
      for (int i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "round " << round << " job " << job << " item " << i;
    }
  }
  pool.SetThreads(1);
}

TEST(ThreadPoolTest, ThreadIndicesAreInRangeAndNestedRunsAreSerial) {
  ThreadPool& pool = ThreadPool::Global();
  pool.SetThreads(2);
  std::atomic<int> bad{0}, inner{0};
  pool.Run(64, [&](int i) {
    const int t = ThreadPool::ThreadIndex();
    if (t < 0 || t >= 2) bad.fetch_add(1);
    pool.Run(3, [&](int) {
      if (ThreadPool::ThreadIndex() != t) bad.fetch_add(1);  // nested: on the same thread
      inner.fetch_add(1);
    });
  });
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(inner.load(), 64 * 3);
  pool.SetThreads(1);
}

}  // namespace
}  // namespace sim
