#include "sim/layers/linear.h"

#include <utility>

#include "sim/core/check.h"
#include "sim/kernels/gemm.h"

namespace sim {

Linear::Linear(const LinearConfig& config, ParamRegistry& registry, const std::string& prefix,
               const std::string& weight_name, const std::string& bias_name)
    : cfg_(config), registry_(&registry) {
  SIM_CHECK(config.in > 0 && config.out > 0, "Linear ", prefix, ": sizes (", config.out, ", ", config.in, ")");
  w_ = registry.Add(
      {prefix + "." + weight_name, config.out, config.in, InitKind::kNormal, config.init_std, config.decay});
  if (config.bias) b_ = registry.Add({prefix + "." + bias_name, config.out, 1, InitKind::kZeros, 0.0, false});
}

void Linear::Forward(const ConstMatRef& x, MatRef y, bool accumulate, const TilePass& then) const {
  SIM_CHECK_SHAPE("Linear::Forward", x, "in", cfg_.in, "n", y.cols());
  SIM_CHECK_SHAPE("Linear::Forward", y, "out", cfg_.out, "n", x.cols());
  const ConstMatRef w = registry_->Value(w_);
  if (b_ < 0) {
    Gemm(w, Op::kN, x, Op::kN, y, accumulate, TilePass(), then);
    return;
  }
  // The bias goes in without a separate pass over y: y = b + W x, added by the GEMM kernels as they store
  // y; or, when accumulating, y += W x, then y += b inside Gemm's tiles.
  const auto bias = std::as_const(*registry_).Value(b_).col(0);  // (out)
  const auto add_bias_then = [&](MatRef block, Index row0, Index col0) {
    block.colwise() += bias.segment(row0, block.rows());
    if (then) then(block, row0, col0);
  };
  if (accumulate)
    Gemm(w, Op::kN, x, Op::kN, y, true, TilePass(), TilePass(add_bias_then));
  else
    GemmBias(w, Op::kN, x, Op::kN, bias, y, then);
}

void Linear::BackwardParams(const ConstMatRef& x, const ConstMatRef& d_y) const {
  SIM_CHECK_SHAPE("Linear::Backward", d_y, "out", cfg_.out, "n", x.cols());
  // y = W x + b  =>  dW += d_y xᵀ, db += rowsum(d_y)
  Gemm(d_y, Op::kN, x, Op::kT, registry_->Grad(w_), true);
  if (b_ >= 0) RowSum(d_y, registry_->Grad(b_).col(0), true);
}

void Linear::Backward(const ConstMatRef& x, const ConstMatRef& d_y, MatRef d_x, bool accumulate_dx,
                      const TilePass& then) const {
  BackwardParams(x, d_y);
  SIM_CHECK_SHAPE("Linear::Backward", d_x, "in", cfg_.in, "n", x.cols());
  // d_x (+)= Wᵀ d_y
  Gemm(registry_->Value(w_), Op::kT, d_y, Op::kN, d_x, accumulate_dx, TilePass(), then);
}

}  // namespace sim
