// How much memory a training run needs, estimated from its configuration before anything big is
// allocated, and how much the machine can give; `sim train` refuses a run that cannot fit (instead
// of ending in std::bad_alloc or being killed by the kernel without a word).
//
// The estimate adds up what the engine allocates (sizes as in the code that allocates them):
//   parameters      values + gradients                        2·P                    (ParamRegistry)
//   optimizer       AdamW moments m, v (SGD: m)                2·P (1·P)              (Optimizer)
//   chunk gradients one buffer per chunk after the first       (B/Bc - 1)·P           (BatchGradients)
//   train workspace per workspace (1, or train.threads when the batch has several chunks), for
//                   Bc = train.chunk examples of T positions, N = Bc·T tokens, S = Bc·max_scored:
//                   stream (L+1)·D·N, d_stream and d_branch 2·D·N,
//                   per layer: ln1 + ln1_out 2·D·N + N, attention cache 9·D·N + H·T·N (q, k, v, heads,
//                   gated, d_heads, d_q, d_k, d_v, probs), with an MLP mid D·N + h, a, d_h 3·F·N
//                   + ln2 + ln2_out 2·D·N + N; readout (5·D + 2·C)·S
//   eval workspace  the same for one evaluation batch, plus the transposed probabilities that an
//                   analysis may ask for (H·T·N per layer)
//   data            the training batch, the chunks' copies and every fixed evaluation batch:
//                   tokens (4 bytes) or vectors (Din scalars) per position, 8 bytes per scored one
//   snapshots       parameter snapshots (train.snapshot_steps), held by the trainer and copied into
//                   each checkpoint: 2·P per snapshot
//   base            the executable, its libraries and thread stacks: 32 MiB
// in units of sizeof(Scalar) bytes, P = parameters. It counts allocated bytes; the resident peak is
// lower where buffers are never written (an evaluation touches no backward scratch), so the
// estimate errs high: docs/reliability.md lists how it compares with measured peaks.
#pragma once

#include <cstdint>
#include <string>

#include "sim/data/task.h"
#include "sim/models/model_config.h"
#include "sim/train/train_config.h"

namespace sim {

struct MemoryEstimate {
  uint64_t parameters = 0;  // bytes of each part
  uint64_t optimizer = 0;
  uint64_t chunk_gradients = 0;
  uint64_t train_workspaces = 0;
  uint64_t eval_workspace = 0;
  uint64_t data = 0;
  uint64_t snapshots = 0;
  uint64_t base = 0;
  uint64_t total() const {
    return parameters + optimizer + chunk_gradients + train_workspaces + eval_workspace + data + snapshots + base;
  }
  // "1.2 GiB (parameters 10 MiB, optimizer ..., ...)".
  std::string Describe() const;
};

// `model` with the task applied (ModelConfig::ApplyTask), `train` with train.chunk resolved,
// `n_params` the parameter count (ParamRegistry::total_size before Finalize, which allocates).
MemoryEstimate EstimateTrainingMemory(const ModelConfig& model, const TrainConfig& train, const TaskInfo& task,
                                      uint64_t n_params);

struct AvailableMemory {
  uint64_t bytes = 0;  // 0 when unknown
  std::string source;  // "MemAvailable in /proc/meminfo", "cgroup memory.max", "ulimit -v", ...
};

// What this process may still allocate: the least of MemAvailable (/proc/meminfo), the cgroup's
// limit minus its usage (cgroup v2 memory.max, or v1 memory.limit_in_bytes), and the address-space
// limit (RLIMIT_AS, ulimit -v) minus the current size. bytes = 0 when none of these can be read.
AvailableMemory QueryAvailableMemory();

// "1.5 GiB", "12.0 MiB", "800 KiB".
std::string FormatBytes(uint64_t bytes);

}  // namespace sim
