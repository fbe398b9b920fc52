// The engine's worker threads: ParallelFor over independent work items, with the calling thread
// taking part.
//
// Why not OpenMP: an OpenMP parallel region ends in a barrier that waits for every thread of the
// team, so on a shared machine one descheduled thread stalls every region (2-thread training ran
// far slower than 1 thread beside another busy process: docs/benchmarks.md#thread-pool). Here items
// are claimed dynamically, so whoever is running does the work, the caller never waits for a thread
// that has not started, and idle workers spin only briefly before sleeping on a futex. Which thread
// runs an item never changes the result: items are fixed by the caller, whatever the thread count.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace sim {

class ThreadPool {
 public:
  // The process-wide pool.
  static ThreadPool& Global();

  ~ThreadPool();

  // Total threads including the caller (>= 1). Starts or stops workers; not during Run.
  void SetThreads(int threads);
  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(i) for every i in [0, n) and returns when all have run. Items run concurrently, each
  // exactly once. Not re-entrant: a nested call runs its items on the calling thread.
  template <typename Fn>
  void Run(int n, const Fn& fn) {
    Run(
        n, [](const void* f, int i) { (*static_cast<const Fn*>(f))(i); }, &fn);
  }

  // Index of the calling thread in [0, threads()): 0 for the caller of Run, 1.. for workers. For
  // per-thread scratch buffers.
  static int ThreadIndex();

  // True while a Run is spreading items over the threads: called from an item, a nested Run would
  // run on the calling thread alone while the other threads may be busy with their own items.
  bool running() const { return running_.load(std::memory_order_acquire); }

 private:
  using Trampoline = void (*)(const void* fn, int i);
  void Run(int n, Trampoline call, const void* fn);
  void WorkerLoop(int index, uint32_t seen);
  // Claims and runs items of generation `gen`; returns how many it ran.
  int Work(uint32_t gen);
  void StopWorkers();

  std::vector<std::thread> workers_;
  // ticket = generation << 32 | next item. Index kClosed means "no items to claim".
  std::atomic<uint64_t> ticket_{0};
  std::atomic<int> done_{0};
  std::atomic<int> sleepers_{0};
  // Bumped whenever the ticket opens a new generation or workers must stop; sleeping workers wait on
  // it (a futex word).
  std::atomic<int> epoch_{0};
  std::atomic<bool> stop_{false};
  // The current job; rewritten only while the ticket is closed.
  std::atomic<Trampoline> call_{nullptr};
  std::atomic<const void*> fn_{nullptr};
  std::atomic<int> n_{0};
  std::atomic<bool> running_{false};
};

}  // namespace sim
