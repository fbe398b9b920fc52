#include "sim/layers/mlp.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <unsupported/Eigen/SpecialFunctions>

#include "sim/core/check.h"
#include "sim/kernels/gelu_avx512.h"
#include "sim/kernels/gemm.h"

namespace sim {

namespace {

// a = act(h) on a block.
void ApplyActivation(Activation act, const ConstMatRef& h, MatRef a) {
  constexpr Scalar kInvSqrt2 = Scalar(0.70710678118654752440);
  constexpr Scalar kSqrt2OverPi = Scalar(0.79788456080286535588);
  switch (act) {
    case Activation::kGelu:  // x Φ(x) = x/2 (1 + erf(x/√2))
      if constexpr (std::is_same_v<Scalar, float>) {
        if (HasFastGelu()) {  // column by column (the block's columns are contiguous)
          for (Index j = 0; j < h.cols(); ++j)
            GeluForwardAvx512(AsFloat(h.col(j).data()), AsFloat(a.col(j).data()), h.rows());
          break;
        }
      }
      a.array() = Scalar(0.5) * h.array() * (Scalar(1) + (h.array() * kInvSqrt2).erf());
      break;
    case Activation::kGeluTanh:  // x/2 (1 + tanh(√(2/π) (x + 0.044715 x³)))
      a.array() = Scalar(0.5) * h.array() *
                  (Scalar(1) + (kSqrt2OverPi * (h.array() + Scalar(0.044715) * h.array().cube())).tanh());
      break;
    case Activation::kRelu:
      a.array() = h.array().max(Scalar(0));
      break;
  }
}

// d_h = d_a ⊙ act'(h), in place on d_h (which holds d_a on entry).
void ActivationBackward(Activation act, const ConstMatRef& h, MatRef d_h) {
  constexpr Scalar kInvSqrt2 = Scalar(0.70710678118654752440);
  constexpr Scalar kInvSqrt2Pi = Scalar(0.39894228040143267794);
  constexpr Scalar kSqrt2OverPi = Scalar(0.79788456080286535588);
  switch (act) {
    case Activation::kGelu:  // d/dx x Φ(x) = Φ(x) + x φ(x)
      if constexpr (std::is_same_v<Scalar, float>) {
        if (HasFastGelu()) {
          for (Index j = 0; j < h.cols(); ++j)
            GeluBackwardAvx512(AsFloat(h.col(j).data()), AsFloat(d_h.col(j).data()), h.rows());
          break;
        }
      }
      d_h.array() *= Scalar(0.5) * (Scalar(1) + (h.array() * kInvSqrt2).erf()) +
                     h.array() * kInvSqrt2Pi * (Scalar(-0.5) * h.array().square()).exp();
      break;
    case Activation::kGeluTanh: {
      // u = √(2/π)(x + 0.044715 x³):  d/dx = ½(1 + tanh u) + ½ x (1 - tanh² u) √(2/π)(1 + 3·0.044715 x²)
      // tanh u of one column at a time, in this thread's buffer (grown once: no allocation per step).
      static thread_local Eigen::Array<Scalar, Eigen::Dynamic, 1> t_buffer;  // (>= F)
      if (t_buffer.size() < h.rows()) t_buffer.resize(h.rows());
      for (Index j = 0; j < h.cols(); ++j) {
        auto hj = h.col(j).array();
        auto t = t_buffer.head(h.rows());
        t = (kSqrt2OverPi * (hj + Scalar(0.044715) * hj.cube())).tanh();
        d_h.col(j).array() *= Scalar(0.5) * (Scalar(1) + t) + Scalar(0.5) * hj * (Scalar(1) - t.square()) *
                                                                  kSqrt2OverPi *
                                                                  (Scalar(1) + Scalar(3 * 0.044715) * hj.square());
      }
      break;
    }
    case Activation::kRelu:
      d_h.array() *= (h.array() > Scalar(0)).template cast<Scalar>();
      break;
  }
}

}  // namespace

Mlp::Mlp(const MlpConfig& config, ParamRegistry& registry, const std::string& prefix)
    : cfg_(config),
      fc1_({config.d_model, config.d_hidden, config.bias, config.init_std_in, true}, registry, prefix, "w1", "b1"),
      fc2_({config.d_hidden, config.d_model, config.bias, config.init_std_out, true}, registry, prefix, "w2", "b2") {}

void Mlp::Forward(const ConstMatRef& x, MlpCache& cache, MatRef y, bool accumulate) const {
  const Index n = x.cols();
  SIM_CHECK_SHAPE("Mlp::Forward", x, "D", cfg_.d_model, "n", n);
  SIM_CHECK_SHAPE("Mlp::Forward cache", cache.h, "F", cfg_.d_hidden, "n", n);
  // h = W1 x + b1, and a = act(h) on each tile of h as soon as the product has written it.
  const auto activate = [&](MatRef h_block, Index row0, Index col0) {
    ApplyActivation(cfg_.act, h_block, cache.a.block(row0, col0, h_block.rows(), h_block.cols()));
  };
  fc1_.Forward(x, cache.h, false, TilePass(activate));
  fc2_.Forward(cache.a, y, accumulate);
}

void Mlp::Backward(const ConstMatRef& x, const ConstMatRef& d_y, MlpCache& cache, MatRef d_x) const {
  const Index n = x.cols();
  SIM_CHECK_SHAPE("Mlp::Backward", d_y, "D", cfg_.d_model, "n", n);
  // y = W2 a + b2  =>  dW2 += d_y aᵀ, db2 += rowsum(d_y), d_a = W2ᵀ d_y (into d_h)
  // a = act(h)  =>  d_h = d_a ⊙ act'(h), on each tile of d_a as soon as the product has written it.
  const auto differentiate = [&](MatRef d_block, Index row0, Index col0) {
    ActivationBackward(cfg_.act, cache.h.block(row0, col0, d_block.rows(), d_block.cols()), d_block);
  };
  fc2_.Backward(cache.a, d_y, cache.d_h, /*accumulate_dx=*/false, TilePass(differentiate));
  // h = W1 x + b1  =>  dW1 += d_h xᵀ, db1 += rowsum(d_h), d_x += W1ᵀ d_h
  fc1_.Backward(x, cache.d_h, d_x);
}

}  // namespace sim
