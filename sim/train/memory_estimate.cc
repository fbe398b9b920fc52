#include "sim/train/memory_estimate.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "sim/core/error.h"
#include "sim/core/types.h"

namespace sim {

namespace {

constexpr uint64_t kScalar = sizeof(Scalar);
constexpr uint64_t kBase = 32ull << 20;

// Bytes of Transformer::MakeWorkspace for `examples` examples, plus `probs_copies` extra copies of
// every layer's attention probabilities (the eval workspace's transposed view).
uint64_t WorkspaceBytes(const ModelConfig& m, uint64_t examples, uint64_t max_scored_per_example, int probs_copies) {
  const uint64_t d = m.d_model, t = m.max_len, n = examples * t, s = examples * max_scored_per_example;
  const bool pre_ln = m.norm == NormKind::kPreLn;
  uint64_t floats = (m.layers + 1) * d * n + d * n + (pre_ln ? d * n : 0);  // stream, d_stream, d_branch
  for (int l = 0; l < m.layers; ++l) {
    if (pre_ln) floats += 2 * d * n + n;  // ln1 xhat, rstd, ln1_out
    // Every mixer is counted as attention: 9 (D, N) buffers and (T, T) probabilities per (b, h).
    const uint64_t heads = m.mixer_entry(l).has_heads ? static_cast<uint64_t>(m.heads_in_layer(l)) : 1;
    floats += 9 * d * n + (1 + probs_copies) * heads * t * n + 2 * t * t;
    if (m.d_mlp > 0) {
      floats += d * n + 3 * static_cast<uint64_t>(m.d_mlp) * n;
      if (pre_ln) floats += 2 * d * n + n;
    }
  }
  floats += (5 * d + 2 * static_cast<uint64_t>(m.n_classes) + 1) * s;  // readout
  return floats * kScalar;
}

// Bytes of `examples` examples of a batch.
uint64_t BatchBytes(const ModelConfig& m, uint64_t examples, uint64_t max_scored_per_example) {
  const uint64_t per_position = m.input == InputKind::kVectors ? static_cast<uint64_t>(m.d_in) * kScalar : 4;
  return examples * (m.max_len * per_position + max_scored_per_example * 8);
}

// The first number in the text of a file, or -1.
long double ReadNumber(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return -1;
  try {
    return std::stold(word);
  } catch (...) {
    return -1;
  }
}

// The process's cgroup v2 directory (from /proc/self/cgroup "0::/path"), or "".
std::string CgroupV2Dir() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3);
  return "";
}

}  // namespace

std::string FormatBytes(uint64_t bytes) {
  char text[32];
  if (bytes >= (1ull << 30))
    std::snprintf(text, sizeof text, "%.1f GiB", bytes / double(1ull << 30));
  else if (bytes >= (1ull << 20))
    std::snprintf(text, sizeof text, "%.1f MiB", bytes / double(1ull << 20));
  else
    std::snprintf(text, sizeof text, "%llu KiB", static_cast<unsigned long long>((bytes + 1023) / 1024));
  return text;
}

std::string MemoryEstimate::Describe() const {
  return Concat(FormatBytes(total()), " (parameters and gradients ", FormatBytes(parameters), ", optimizer state ",
                FormatBytes(optimizer), ", chunk gradients ", FormatBytes(chunk_gradients), ", training workspace ",
                FormatBytes(train_workspaces), ", evaluation workspace ", FormatBytes(eval_workspace), ", data ",
                FormatBytes(data), snapshots > 0 ? ", snapshots " + FormatBytes(snapshots) : std::string(), ", base ",
                FormatBytes(base), ")");
}

MemoryEstimate EstimateTrainingMemory(const ModelConfig& model, const TrainConfig& train, const TaskInfo& task,
                                      uint64_t n_params) {
  MemoryEstimate e;
  const uint64_t p = n_params * kScalar;
  const uint64_t scored = std::max(task.max_scored_per_example, 1);
  e.parameters = 2 * p;
  e.optimizer = (train.optimizer.kind == OptimizerKind::kAdamW ? 2 : 1) * p;
  const uint64_t chunk = std::max(train.chunk, 1);
  const uint64_t n_chunks = std::max<uint64_t>(train.batch / chunk, 1);
  e.chunk_gradients = (n_chunks - 1) * p;
  const uint64_t workspaces = n_chunks == 1 ? 1 : static_cast<uint64_t>(std::max(train.threads, 1));
  e.train_workspaces = workspaces * WorkspaceBytes(model, chunk, scored, 0);
  // Trainer: eval.size in batches of at most eval.batch, evened out.
  const uint64_t eval_batches = (static_cast<uint64_t>(train.eval.size) + train.eval.batch - 1) / train.eval.batch;
  const uint64_t eval_batch = (static_cast<uint64_t>(train.eval.size) + eval_batches - 1) / eval_batches;
  e.eval_workspace = WorkspaceBytes(model, eval_batch, scored, 1);
  e.data = 2 * BatchBytes(model, train.batch, scored);  // the batch and its chunks' copies
  for (size_t split = 1; split < task.splits.size(); ++split) {
    if (!task.evaluated(static_cast<int>(split)) || train.eval.Skips(task.splits[split])) continue;
    const uint64_t fixed = task.split_size(static_cast<int>(split));
    // A fixed pool is held whole; a split drawn from its stream (fixed or fresh) is generated one
    // evaluation batch at a time into a scratch batch (sim/train/trainer.h).
    const uint64_t examples = fixed > 0 ? (fixed + eval_batch - 1) / eval_batch * eval_batch : eval_batch;
    e.data += BatchBytes(model, examples, scored);
  }
  e.snapshots = 2 * train.snapshot_steps.size() * p;
  e.base = kBase;
  return e;
}

AvailableMemory QueryAvailableMemory() {
  AvailableMemory best;
  auto consider = [&](long double bytes, const std::string& source) {
    if (bytes < 0) return;
    const uint64_t b = static_cast<uint64_t>(bytes);
    if (best.source.empty() || b < best.bytes) best = {b, source};
  };
  {
    std::ifstream in("/proc/meminfo");
    std::string key;
    long double kib = 0;
    std::string unit;
    while (in >> key >> kib) {
      std::getline(in, unit);
      if (key == "MemAvailable:") consider(kib * 1024, "MemAvailable in /proc/meminfo");
    }
  }
  const std::string v2 = CgroupV2Dir();
  if (!v2.empty()) {
    const long double limit = ReadNumber(v2 + "/memory.max"), used = ReadNumber(v2 + "/memory.current");
    if (limit >= 0 && used >= 0) consider(std::max<long double>(limit - used, 0), "the cgroup limit (memory.max)");
  }
  {
    const long double limit = ReadNumber("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    const long double used = ReadNumber("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    if (limit >= 0 && used >= 0 && limit < (1ull << 62))
      consider(std::max<long double>(limit - used, 0), "the cgroup limit (memory.limit_in_bytes)");
  }
  rlimit as{};
  if (::getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    std::ifstream in("/proc/self/status");
    std::string key;
    long double vm_kib = -1;
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmSize:", 0) == 0) vm_kib = std::stold(line.substr(7));
    if (vm_kib >= 0)
      consider(std::max<long double>(as.rlim_cur - vm_kib * 1024, 0), "the address-space limit (ulimit -v)");
  }
  return best;
}

}  // namespace sim
