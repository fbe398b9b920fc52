// After warm-up, a training step (sample, forward, loss, backward, clip, optimizer step) performs no
// heap allocation. malloc, calloc, realloc and the aligned variants are interposed for this binary
// and counted while a step runs; operator new goes through malloc in libstdc++, Eigen's aligned
// allocations through malloc or posix_memalign.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "sim/cli/experiment.h"
#include "sim/kernels/parallel.h"
#include "sim/layers/mixer.h"
#include "sim/layers/losses.h"
#include "sim/optim/optimizer.h"
#include "sim/train/batch_gradients.h"
#include "sim/train/metrics.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};
void Count() {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  Count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t size) {
  Count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, size_t n) {
  Count();
  return __libc_realloc(p, n);
}
int posix_memalign(void** out, size_t alignment, size_t n) {
  Count();
  *out = __libc_memalign(alignment, n);
  return *out != nullptr ? 0 : 12;
}
void* aligned_alloc(size_t alignment, size_t n) {
  Count();
  return __libc_memalign(alignment, n);
}
void* memalign(size_t alignment, size_t n) {
  Count();
  return __libc_memalign(alignment, n);
}
}

namespace sim {
namespace {

struct StepCase {
  std::string name;  // the test's name suffix
  std::map<std::string, std::string> options;
  int threads;
  int chunks;  // chunks per batch that train.chunk (auto unless given) makes
};

// gtest prints a parameter it has no printer for as raw bytes (here: the map's pointers), and
// ctest's test names would carry them; print the case's name instead.
void PrintTo(const StepCase& c, std::ostream* os) { *os << c.name; }

class NoAllocTest : public ::testing::TestWithParam<StepCase> {};

TEST_P(NoAllocTest, TrainingStepAllocatesNothingAfterWarmUp) {
  const OptionSet set = AllOptions();
  std::map<std::string, std::string> given = GetParam().options;
  given["train.threads"] = std::to_string(GetParam().threads);
  Options options(set, given);
  Experiment e = BuildExperiment(options);
  SetNumThreads(GetParam().threads);
  const TaskInfo& info = e.task->info();
  BatchGradients gradients(*e.model, *e.registry, {e.train.batch, info.length}, info.max_scored_per_example,
                           e.train.chunk);
  EXPECT_EQ(gradients.n_chunks(), GetParam().chunks);
  Optimizer optimizer(e.train.optimizer, *e.registry);
  Rng rng = Rng::ForStream(1, "data/train");
  Batch batch;
  auto step = [&] {
    e.task->Sample(0, rng, e.train.batch, batch);
    gradients.Compute(batch);
    if (e.lora) e.lora->AddAdapterGrads();
    ClipGradNorm(*e.registry, 1.0);
    optimizer.Step(1e-3);
    if (e.lora) e.lora->Merge();
  };
  // Warm-up: first touch of every buffer. With chunks spread over 2 threads, each thread grows its own
  // scratch the first time it runs a chunk (once); ten steps of 4-8 chunks give every thread some.
  for (int i = 0; i < 10; ++i) step();
  g_allocations = 0;
  g_counting = true;
  for (int i = 0; i < 20; ++i) step();  // with 2 threads, items land on varying threads
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0) << "heap allocations during 20 training steps after warm-up";
  // The counter works: a deliberate allocation is seen.
  g_counting = true;
  void* p = std::malloc(64);
  g_counting = false;
  std::free(p);
  EXPECT_EQ(g_allocations.load(), 1);
}

INSTANTIATE_TEST_SUITE_P(
    Steps, NoAllocTest,
    ::testing::Values(
        StepCase{"mqar_d64_1thread",
                 {{"task.name", "mqar"}, {"model.d_model", "64"}, {"model.heads", "4"}, {"train.batch", "32"}},
                 1,
                 4},
        StepCase{"mqar_d128_2threads",
                 {{"task.name", "mqar"}, {"model.d_model", "128"}, {"model.heads", "4"}, {"train.batch", "32"}},
                 2,
                 4},
        StepCase{"linreg_sgd_2threads",
                 {{"task.name", "linreg"}, {"model.norm", "none"}, {"model.d_mlp", "0"}, {"train.optimizer", "sgd"}},
                 2,
                 4},
        StepCase{"mlp_gelu_tanh_2threads",
                 {{"task.name", "mqar"}, {"model.d_model", "64"}, {"model.d_mlp", "256"}, {"model.act", "gelu_tanh"}},
                 2,
                 8},
        StepCase{"mlp_relu_1thread",
                 {{"task.name", "mqar"}, {"model.d_model", "64"}, {"model.d_mlp", "256"}, {"model.act", "relu"}},
                 1,
                 8},
        // products whose column tiles share one packed A (its buffer grows in warm-up only)
        StepCase{
            "mlp_d128_f512_2threads", {{"task.name", "mqar"}, {"model.d_model", "128"}, {"model.d_mlp", "512"}}, 2, 8},
        // LoRA adapters (sim/train/lora.h): their gradients and the merge, as the trainer's step does
        StepCase{"mqar_lora_2threads",
                 {{"task.name", "mqar"},
                  {"model.d_model", "64"},
                  {"model.heads", "4"},
                  {"train.batch", "32"},
                  {"lora.targets", "blocks.*.attn.wq,blocks.*.attn.wv"}},
                 2,
                 4},
        // the whole batch in one pass (no chunks), 2 threads inside each product
        StepCase{"mqar_whole_batch_2threads",
                 {{"task.name", "mqar"}, {"model.d_model", "64"}, {"model.d_mlp", "256"}, {"train.chunk", "64"}},
                 2,
                 1}),
    [](const ::testing::TestParamInfo<StepCase>& info) { return info.param.name; });

// Every registered mixer (sim/layers/mixer_registry.cc), in chunks on 2 threads and whole on 2 threads;
// mixers that read model.attention also with linear attention.
std::vector<StepCase> MixerCases() {
  std::vector<StepCase> cases;
  for (const MixerEntry& m : MixerRegistry()) {
    std::vector<std::string> kinds = {"softmax"};
    if (m.reads_attention) kinds.push_back("linear");
    for (const std::string& kind : kinds) {
      std::map<std::string, std::string> options = {{"task.name", "mqar"},
                                                    {"model.d_model", "64"},
                                                    {"model.heads", "4"},
                                                    {"train.batch", "32"},
                                                    {"model.mixer", m.name}};
      const std::string name = "mixer_" + m.name + (kind == "softmax" ? "" : "_" + kind);
      if (kind != "softmax") options["model.attention"] = kind;
      cases.push_back({name + "_chunks_2threads", options, 2, 4});
      std::map<std::string, std::string> whole = options;
      whole["train.chunk"] = "32";
      cases.push_back({name + "_whole_batch_2threads", whole, 2, 1});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Mixers, NoAllocTest, ::testing::ValuesIn(MixerCases()),
                         [](const ::testing::TestParamInfo<StepCase>& info) { return info.param.name; });

}  // namespace
}  // namespace sim

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
