#include "sim/layers/layer_norm.h"

#include <algorithm>
#include <type_traits>
#include <utility>

#include "sim/core/check.h"
#include "sim/kernels/layer_norm_avx512.h"
#include "sim/kernels/parallel.h"

namespace sim {

namespace {
constexpr Index kChunk = 128;  // columns per parallel chunk
int NumChunks(Index n) { return static_cast<int>((n + kChunk - 1) / kChunk); }
}  // namespace

LayerNorm::LayerNorm(int d_model, ParamRegistry& registry, const std::string& prefix)
    : d_model_(d_model), registry_(&registry) {
  gamma_ = registry.Add({prefix + ".gamma", d_model, 1, InitKind::kOnes, 0.0, false});
  beta_ = registry.Add({prefix + ".beta", d_model, 1, InitKind::kZeros, 0.0, false});
}

void LayerNorm::Forward(const ConstMatRef& x, LayerNormCache& cache, MatRef y) const {
  const Index n = x.cols();
  SIM_CHECK_SHAPE("LayerNorm::Forward", x, "D", d_model_, "n", n);
  SIM_CHECK_SHAPE("LayerNorm::Forward", y, "D", d_model_, "n", n);
  SIM_CHECK(cache.xhat.rows() == d_model_ && cache.xhat.cols() >= n, "LayerNorm::Forward: cache holds ",
            cache.xhat.cols(), " columns, need ", n);
  const auto gamma = std::as_const(*registry_).Value(gamma_).col(0).array();
  const auto beta = std::as_const(*registry_).Value(beta_).col(0).array();
  const Scalar inv_d = Scalar(1) / d_model_;
  ParallelFor(NumChunks(n), [&](int c) {
    const Index start = c * kChunk, len = std::min(kChunk, n - start);
    if constexpr (std::is_same_v<Scalar, float>) {
      if (HasFastLayerNorm()) {  // sim/kernels/layer_norm_avx512.h: the same formulas, vectors of 16
        LayerNormForwardAvx512(AsFloat(x.col(start).data()), x.outerStride(), d_model_, len, AsFloat(gamma.data()),
                               AsFloat(beta.data()), static_cast<float>(kEps), AsFloat(cache.xhat.col(start).data()),
                               cache.xhat.outerStride(), AsFloat(cache.rstd.data() + start),
                               AsFloat(y.col(start).data()), y.outerStride());
        return;
      }
    }
    for (Index j = start; j < start + len; ++j) {
      const Scalar mean = x.col(j).sum() * inv_d;
      auto xhat = cache.xhat.col(j);
      xhat.array() = x.col(j).array() - mean;
      const Scalar var = xhat.squaredNorm() * inv_d;
      const Scalar rstd = Scalar(1) / std::sqrt(var + Scalar(kEps));
      cache.rstd(j) = rstd;
      xhat *= rstd;
      y.col(j).array() = gamma * xhat.array() + beta;
    }
  });
}

void LayerNorm::Backward(const ConstMatRef& d_y, const LayerNormCache& cache, MatRef d_x) const {
  const Index n = d_y.cols();
  SIM_CHECK_SHAPE("LayerNorm::Backward", d_y, "D", d_model_, "n", n);
  SIM_CHECK_SHAPE("LayerNorm::Backward", d_x, "D", d_model_, "n", n);
  const auto gamma = std::as_const(*registry_).Value(gamma_).col(0).array();
  const Scalar inv_d = Scalar(1) / d_model_;
  ParallelFor(NumChunks(n), [&](int c) {
    const Index start = c * kChunk, len = std::min(kChunk, n - start);
    if constexpr (std::is_same_v<Scalar, float>) {
      if (HasFastLayerNorm()) {
        LayerNormBackwardAvx512(AsFloat(d_y.col(start).data()), d_y.outerStride(),
                                AsFloat(cache.xhat.col(start).data()), cache.xhat.outerStride(),
                                AsFloat(cache.rstd.data() + start), d_model_, len, AsFloat(gamma.data()),
                                AsFloat(d_x.col(start).data()), d_x.outerStride());
        return;
      }
    }
    for (Index j = start; j < start + len; ++j) {
      const auto xhat = cache.xhat.col(j).array();
      // g = gamma ⊙ d_y;  d_x += rstd (g - mean(g) - x̂ mean(g ⊙ x̂))
      const Scalar mean_g = (gamma * d_y.col(j).array()).sum() * inv_d;
      const Scalar mean_gx = (gamma * d_y.col(j).array() * xhat).sum() * inv_d;
      d_x.col(j).array() += cache.rstd(j) * (gamma * d_y.col(j).array() - mean_g - xhat * mean_gx);
    }
  });
  // dgamma += rowsum(d_y ⊙ x̂), dbeta += rowsum(d_y): every row in column order (blocks of rows in
  // parallel; the order, and so the bits, do not depend on the thread count).
  MatMap d_gamma = registry_->Grad(gamma_);
  MatMap d_beta = registry_->Grad(beta_);
  constexpr Index kRowBlock = 32;  // full blocks accumulate in registers (fixed size)
  ParallelFor(static_cast<int>((d_model_ + kRowBlock - 1) / kRowBlock), [&](int block) {
    const Index start = block * kRowBlock, len = std::min<Index>(kRowBlock, d_model_ - start);
    if (len == kRowBlock) {
      Eigen::Array<Scalar, kRowBlock, 1> dg = d_gamma.col(0).segment<kRowBlock>(start).array();  // (kRowBlock)
      Eigen::Array<Scalar, kRowBlock, 1> db = d_beta.col(0).segment<kRowBlock>(start).array();   // (kRowBlock)
      for (Index j = 0; j < n; ++j) {
        dg += d_y.col(j).segment<kRowBlock>(start).array() * cache.xhat.col(j).segment<kRowBlock>(start).array();
        db += d_y.col(j).segment<kRowBlock>(start).array();
      }
      d_gamma.col(0).segment<kRowBlock>(start) = dg.matrix();
      d_beta.col(0).segment<kRowBlock>(start) = db.matrix();
      return;
    }
    auto dg = d_gamma.col(0).segment(start, len).array();
    auto db = d_beta.col(0).segment(start, len);
    for (Index j = 0; j < n; ++j) {
      dg += d_y.col(j).segment(start, len).array() * cache.xhat.col(j).segment(start, len).array();
      db += d_y.col(j).segment(start, len);
    }
  });
}

}  // namespace sim
