// The loss and parameter gradients of one training batch, computed in chunks of examples.
//
// A chunk of Bc examples runs forward, loss and backward on its own, so what its forward pass writes is
// read back while it is still in the core's cache; with a whole batch of a small model at once the
// activations (megabytes per layer) leave the cache between one product and the next. Chunks are
// independent work items: with several threads they run concurrently, each on its thread's own
// workspace. Chunk 0 accumulates into the registry's gradients, chunk c > 0 into a buffer of its own,
// and the buffers are added to the registry's in chunk order, so the bits depend on the chunk size
// (train.chunk, part of the config) and never on the thread count:
//
//   loss   = Σ_c (Σ_{s in chunk c} l_s) / S          (S: the batch's scored positions)
//   dL/dθ  = ((g_0 + g_1) + g_2) + ...,  g_c = dL_c/dθ with L_c = Σ_{s in chunk c} l_s / S
//
// One chunk (Bc = B) is the whole-batch forward, loss and backward, on the batch itself.
#pragma once

#include <memory>
#include <vector>

#include "sim/data/batch.h"
#include "sim/models/transformer.h"
#include "sim/params/param_registry.h"

namespace sim {

class BatchGradients {
 public:
  // For batches of `shape` with at most max_scored_per_example scored positions per example, in chunks
  // of chunk_examples, which must divide shape.batch. Make it after setting the thread count.
  BatchGradients(const Transformer& model, ParamRegistry& registry, BatchShape shape, int max_scored_per_example,
                 int chunk_examples);

  // The mean loss over the scored positions of `batch` (of the constructor's shape); leaves its
  // gradient in registry.grads(), overwriting what was there.
  double Compute(const Batch& batch);

  int n_chunks() const { return n_chunks_; }
  int chunk_examples() const { return chunk_examples_; }
  // Memory of the workspaces, chunk batches and gradient buffers.
  size_t bytes() const;

 private:
  const Transformer* model_;
  ParamRegistry* registry_;
  BatchShape shape_;
  int chunk_examples_;
  int n_chunks_;
  std::vector<std::unique_ptr<Workspace>> workspaces_;  // one per thread (one in all when unchunked)
  std::vector<Batch> chunks_;                           // (n_chunks) the chunks' examples
  std::vector<Vec> chunk_grads_;                        // (n_chunks - 1) of (total_size): g_1, g_2, ...
  std::vector<double> chunk_losses_;                    // (n_chunks)
};

}  // namespace sim
