#include "sim/train/batch_gradients.h"

#include <algorithm>
#include <optional>

#include "sim/core/check.h"
#include "sim/kernels/parallel.h"
#include "sim/train/metrics.h"

namespace sim {

namespace {
// Gradient entries per parallel item when the chunks' buffers are added up.
constexpr Index kMinReduceEntries = 1 << 14;
}  // namespace

BatchGradients::BatchGradients(const Transformer& model, ParamRegistry& registry, BatchShape shape,
                               int max_scored_per_example, int chunk_examples)
    : model_(&model), registry_(&registry), shape_(shape), chunk_examples_(chunk_examples) {
  SIM_CHECK(chunk_examples >= 1 && shape.batch % chunk_examples == 0, "BatchGradients: chunks of ", chunk_examples,
            " examples do not divide a batch of ", shape.batch);
  n_chunks_ = shape.batch / chunk_examples;
  const BatchShape chunk_shape{chunk_examples, shape.length};
  const int workspaces = n_chunks_ == 1 ? 1 : NumThreads();
  for (int i = 0; i < workspaces; ++i)
    workspaces_.push_back(model.MakeWorkspace(chunk_shape, chunk_examples * max_scored_per_example));
  if (n_chunks_ > 1) {
    chunks_.resize(n_chunks_);
    chunk_grads_.assign(n_chunks_ - 1, Vec::Zero(registry.total_size()));
  }
  chunk_losses_.assign(n_chunks_, 0.0);
}

double BatchGradients::Compute(const Batch& batch) {
  SIM_CHECK(batch.shape.batch == shape_.batch && batch.shape.length == shape_.length,
            "BatchGradients: batch (B=", batch.shape.batch, ", T=", batch.shape.length, "), made for (B=", shape_.batch,
            ", T=", shape_.length, ")");
  registry_->ZeroGrads();
  if (n_chunks_ == 1) {
    Workspace& ws = *workspaces_[0];
    const double loss = ForwardLoss(*model_, ws, batch, /*with_grad=*/true, nullptr);
    model_->Backward(batch, ws);
    return loss;
  }
  SIM_CHECK(static_cast<int>(workspaces_.size()) >= NumThreads(), "BatchGradients: made for ", workspaces_.size(),
            " threads, running on ", NumThreads());
  const Index batch_scored = batch.n_scored();
  ParallelFor(n_chunks_, [&](int c) {
    Batch& chunk = chunks_[c];
    chunk.CopyExamples(batch, c * chunk_examples_, chunk_examples_);
    std::optional<ParamRegistry::ScopedGradBuffer> into_own_buffer;
    if (c > 0) {
      chunk_grads_[c - 1].setZero();
      into_own_buffer.emplace(*registry_, chunk_grads_[c - 1].data());
    }
    chunk_losses_[c] = 0.0;
    if (chunk.n_scored() == 0) return;  // nothing scored: no loss, zero gradient
    Workspace& ws = *workspaces_[ThreadIndex()];
    chunk_losses_[c] = ForwardLoss(*model_, ws, chunk, /*with_grad=*/true, nullptr, nullptr, batch_scored);
    model_->Backward(chunk, ws);
  });
  // g = ((g_0 + g_1) + g_2) + ..., element by element, blocks of entries in parallel.
  Vec& grads = registry_->grads();
  const Index total = grads.size();
  ParallelFor(static_cast<int>((total + kMinReduceEntries - 1) / kMinReduceEntries), [&](int b) {
    const Index begin = b * kMinReduceEntries, len = std::min(kMinReduceEntries, total - begin);
    auto dst = grads.segment(begin, len);
    for (const Vec& g : chunk_grads_) dst += g.segment(begin, len);
  });
  double loss = 0.0;
  for (double l : chunk_losses_) loss += l;
  return loss;
}

size_t BatchGradients::bytes() const {
  size_t n = 0;
  for (const auto& ws : workspaces_) n += ws->bytes();
  for (const Vec& g : chunk_grads_) n += g.size() * sizeof(Scalar);
  for (const Batch& b : chunks_)
    n += b.tokens.capacity() * sizeof(int32_t) + b.vectors.size() * sizeof(Scalar) +
         b.scored.capacity() * sizeof(int32_t) + b.labels.capacity() * sizeof(int32_t) +
         b.values.capacity() * sizeof(Scalar) + b.clean_values.capacity() * sizeof(Scalar) +
         b.groups.capacity() * sizeof(int32_t);
  return n;
}

}  // namespace sim
