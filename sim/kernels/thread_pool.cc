#include "sim/kernels/thread_pool.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>

namespace sim {

namespace {
constexpr uint32_t kClosed = 0xFFFFFFFFu;
// Spin iterations (each a pause) before an idle worker sleeps: about 20-50 microseconds, enough to
// catch the next region of a training step without burning a shared core for long.
constexpr int kSpinIterations = 4000;

thread_local int t_thread_index = 0;

inline uint32_t Generation(uint64_t ticket) { return static_cast<uint32_t>(ticket >> 32); }
inline uint32_t Item(uint64_t ticket) { return static_cast<uint32_t>(ticket); }
inline uint64_t Ticket(uint32_t gen, uint32_t item) { return static_cast<uint64_t>(gen) << 32 | item; }

// Sleeps while *word == expected (a futex; std::atomic<int>::wait in libstdc++ 12 lost wake-ups here:
// a stop request deadlocked in a stress test).
inline void FutexWait(std::atomic<int>& word, int expected) {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

inline void FutexWakeAll(std::atomic<int>& word) {
  syscall(SYS_futex, reinterpret_cast<int*>(&word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}
}  // namespace

ThreadPool& ThreadPool::Global() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() { StopWorkers(); }

int ThreadPool::ThreadIndex() { return t_thread_index; }

void ThreadPool::StopWorkers() {
  stop_.store(true);
  ticket_.fetch_add(Ticket(1, 0));  // a new generation: spinning workers see it
  epoch_.fetch_add(1);              // sleeping ones are woken
  FutexWakeAll(epoch_);
  for (std::thread& w : workers_) w.join();
  workers_.clear();
  stop_.store(false);
}

void ThreadPool::SetThreads(int threads) {
  if (threads < 1) threads = 1;
  if (threads == this->threads()) return;
  StopWorkers();
  const uint32_t gen = Generation(ticket_.load()) + 1;
  ticket_.store(Ticket(gen, kClosed));
  // Workers start from the generation current now, not when they first run: a worker scheduled late
  // must still see every later generation change, the stop request included.
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i, gen] { WorkerLoop(i, gen); });
}

int ThreadPool::Work(uint32_t gen) {
  int ran = 0;
  uint64_t t = ticket_.load(std::memory_order_acquire);
  for (;;) {
    if (Generation(t) != gen || Item(t) == kClosed) return ran;
    // n_, call_ and fn_ belong to this generation if the claim below succeeds: they are only
    // rewritten while the ticket is closed, and a closed ticket makes the compare-exchange fail.
    const int n = n_.load(std::memory_order_relaxed);
    if (static_cast<int>(Item(t)) >= n) return ran;
    const Trampoline call = call_.load(std::memory_order_relaxed);
    const void* fn = fn_.load(std::memory_order_relaxed);
    if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    call(fn, static_cast<int>(Item(t)));
    ++ran;
    done_.fetch_add(1, std::memory_order_acq_rel);
    t = ticket_.load(std::memory_order_acquire);
  }
}

void ThreadPool::WorkerLoop(int index, uint32_t seen) {
  t_thread_index = index;
  for (;;) {
    // Wait for a new generation: spin briefly, then sleep.
    uint64_t t = ticket_.load(std::memory_order_acquire);
    for (int spin = 0; Generation(t) == seen && spin < kSpinIterations; ++spin) {
      CpuRelax();
      t = ticket_.load(std::memory_order_acquire);
    }
    while (Generation(t) == seen) {
      sleepers_.fetch_add(1);
      const int epoch = epoch_.load(std::memory_order_acquire);
      t = ticket_.load(std::memory_order_acquire);
      if (Generation(t) == seen) FutexWait(epoch_, epoch);
      sleepers_.fetch_sub(1);
      t = ticket_.load(std::memory_order_acquire);
    }
    if (stop_.load()) return;
    seen = Generation(t);
    Work(seen);
  }
}

void ThreadPool::Run(int n, Trampoline call, const void* fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1 || running_.exchange(true)) {
    for (int i = 0; i < n; ++i) call(fn, i);
    return;
  }
  // The ticket is closed (the previous job ended so): set up the job, then open a new generation.
  const uint32_t gen = Generation(ticket_.load()) + 1;
  call_.store(call, std::memory_order_relaxed);
  fn_.store(fn, std::memory_order_relaxed);
  n_.store(n, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  ticket_.store(Ticket(gen, 0), std::memory_order_release);
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  if (sleepers_.load() > 0) FutexWakeAll(epoch_);
  Work(gen);
  while (done_.load(std::memory_order_acquire) < n) CpuRelax();  // items still running on workers
  ticket_.store(Ticket(gen, kClosed), std::memory_order_release);
  running_.store(false);
}

}  // namespace sim
