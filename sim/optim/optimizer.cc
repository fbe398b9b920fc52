#include "sim/optim/optimizer.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "sim/core/check.h"
#include "sim/kernels/parallel.h"

namespace sim {

Optimizer::Optimizer(const OptimizerConfig& config, ParamRegistry& registry) : cfg_(config), registry_(&registry) {
  SIM_CHECK(registry.finalized(), "Optimizer: registry not finalized");
  m_ = Vec::Zero(registry.total_size());
  if (cfg_.kind == OptimizerKind::kAdamW) v_ = Vec::Zero(registry.total_size());
  constexpr Index kChunk = 1 << 15;
  for (ParamId id = 0; id < registry.size(); ++id)
    for (Index i = 0; i < registry.numel(id); i += kChunk)
      chunks_.push_back({id, registry.offset(id) + i, std::min(kChunk, registry.numel(id) - i)});
}

void Optimizer::Step(double lr) {
  ++t_;
  Vec& values = registry_->values();
  const Vec& grads = registry_->grads();
  const double bias1 = 1.0 - std::pow(cfg_.beta1, static_cast<double>(t_));
  const double bias2 = 1.0 - std::pow(cfg_.beta2, static_cast<double>(t_));
  ParallelFor(static_cast<int>(chunks_.size()), [&](int c) {
    const ParamId id = chunks_[c].id;
    const ParamGroupSettings& group = registry_->group(id);
    if (!group.trainable) return;
    const Index offset = chunks_[c].start, n = chunks_[c].size;
    auto p = values.segment(offset, n).array();
    auto g = grads.segment(offset, n).array();
    auto m = m_.segment(offset, n).array();
    const Scalar lr_p = static_cast<Scalar>(lr * group.lr_mult);
    const Scalar wd = static_cast<Scalar>(cfg_.weight_decay * group.decay_mult);
    if (cfg_.kind == OptimizerKind::kAdamW) {
      auto v = v_.segment(offset, n).array();
      const Scalar b1 = static_cast<Scalar>(cfg_.beta1), b2 = static_cast<Scalar>(cfg_.beta2);
      const Scalar step = static_cast<Scalar>(lr * group.lr_mult / bias1);
      const Scalar inv_sqrt_bias2 = static_cast<Scalar>(1.0 / std::sqrt(bias2));
      const Scalar eps = static_cast<Scalar>(cfg_.eps);
      if (wd != 0) p *= Scalar(1) - lr_p * wd;
      m = b1 * m + (Scalar(1) - b1) * g;
      v = b2 * v + (Scalar(1) - b2) * g.square();
      p -= step * m / (v.sqrt() * inv_sqrt_bias2 + eps);
    } else {
      const Scalar mu = static_cast<Scalar>(cfg_.momentum);
      if (wd != 0)
        m = mu * m + g + wd * p;
      else
        m = mu * m + g;
      p -= lr_p * m;
    }
  });
}

namespace {

// Σ x[i]² in double over a contiguous array. With float and AVX-512: eight floats at a time widened
// to double, four accumulators of eight lanes (32 entries per round), then the lanes added in a
// fixed order; each square is exact in double, so only the order of the additions differs from a
// serial loop. Otherwise Eigen's (serial) reduction. The order depends on n only: the same bits
// whatever the thread count.
double SumOfSquares(const Scalar* x, Index n) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Scalar, float>) {
    const float* xf = AsFloat(x);
    __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
    Index i = 0;
    for (; i + 32 <= n; i += 32)
      for (int a = 0; a < 4; ++a) {
        const __m512d v = _mm512_cvtps_pd(_mm256_loadu_ps(xf + i + 8 * a));
        acc[a] = _mm512_fmadd_pd(v, v, acc[a]);
      }
    for (int a = 0; i < n; i += 8, a = (a + 1) % 4) {  // the rest, eight at a time, the last masked
      const __mmask8 lanes = static_cast<__mmask8>(n - i >= 8 ? 0xFF : (1u << (n - i)) - 1);
      const __m512d v = _mm512_cvtps_pd(_mm256_maskz_loadu_ps(lanes, xf + i));
      acc[a] = _mm512_fmadd_pd(v, v, acc[a]);
    }
    return _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(acc[0], acc[1]), _mm512_add_pd(acc[2], acc[3])));
  }
#endif
  return Eigen::Map<const Vec>(x, n).template cast<double>().squaredNorm();
}

}  // namespace

double GradNorm(const ParamRegistry& registry) {
  // Each parameter's squared norm on its own (in parallel), then summed in parameter order: the same
  // bits as one serial pass, with any thread count.
  static thread_local std::vector<double> squares;  // grows once: no allocation after the first step
  if (squares.size() < static_cast<size_t>(registry.size())) squares.resize(registry.size());
  double* const out = squares.data();  // this thread's buffer (inside the items, `squares` is the worker's)
  ParallelFor(registry.size(), [&](int id) {
    out[id] = registry.group(id).trainable
                  ? SumOfSquares(registry.grads().data() + registry.offset(id), registry.numel(id))
                  : 0.0;
  });
  double sum = 0.0;
  for (ParamId id = 0; id < registry.size(); ++id)
    if (registry.group(id).trainable) sum += out[id];
  return std::sqrt(sum);
}

double ClipGradNorm(ParamRegistry& registry, double max_norm) {
  const double norm = GradNorm(registry);
  if (max_norm > 0 && norm > max_norm) {
    const Scalar scale = static_cast<Scalar>(max_norm / (norm + 1e-6));
    ParallelFor(registry.size(), [&](int id) {
      if (registry.group(id).trainable) registry.grads().segment(registry.offset(id), registry.numel(id)) *= scale;
    });
  }
  return norm;
}

}  // namespace sim
