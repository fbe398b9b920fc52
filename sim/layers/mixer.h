// The sequence-mixer seam: softmax attention now; linear attention and state-space mixers later.
//
// A block is [norm] -> mixer -> residual -> [norm] -> MLP -> residual; the mixer is the only part
// that moves information between positions. Every mixer maps x (D, N) to y (D, N) for a batch of
// shape (B, T), keeps what its backward needs in its own cache, and accumulates into d_x and its
// parameter gradients in Backward.
#pragma once

#include <memory>

#include "sim/core/types.h"

namespace sim {

// Per-call hooks (analyses reach inside through these, never through globals). Absent = no cost.
struct MixerHooks {
  const Scalar* head_gate = nullptr;  // (H) multiplies each head's output; 1 = on, 0 = ablated
};

struct MixerCache {
  virtual ~MixerCache() = default;
  virtual size_t bytes() const = 0;  // memory held, for benchmarks' memory accounting
};

class Mixer {
 public:
  virtual ~Mixer() = default;

  // A cache sized for batches of `shape` (allocated once, reused every step).
  virtual std::unique_ptr<MixerCache> MakeCache(BatchShape shape) const = 0;
  // y = mixer(x), or y += mixer(x) when accumulate.   x, y (D, N)
  virtual void Forward(const ConstMatRef& x, BatchShape bt, const MixerHooks& hooks,
                       MixerCache& cache, MatRef y, bool accumulate) const = 0;
  // Accumulates into d_x (D, N) and the parameter gradients; reads the cache of the last Forward.
  // d_x may be the same matrix as d_y (the residual stream's gradient): implementations read all of
  // d_y before they write d_x.
  virtual void Backward(const ConstMatRef& x, const ConstMatRef& d_y, BatchShape bt,
                        MixerCache& cache, MatRef d_x) const = 0;

  virtual int n_heads() const { return 0; }
  // Attention probabilities of the last Forward, (T, T*B*H): block b*H + h is (T_k, T_q), a column
  // per query. Null for mixers that have none.
  virtual const Mat* AttentionProbs(const MixerCache& cache) const { return nullptr; }
};

}  // namespace sim
