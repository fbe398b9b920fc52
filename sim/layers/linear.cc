#include "sim/layers/linear.h"

#include <utility>

#include "sim/core/check.h"
#include "sim/core/parallel.h"

namespace sim {

Linear::Linear(const LinearConfig& config, ParamRegistry& registry, const std::string& prefix,
               const std::string& weight_name, const std::string& bias_name)
    : cfg_(config), registry_(&registry) {
  SIM_CHECK(config.in > 0 && config.out > 0, "Linear ", prefix, ": sizes (", config.out, ", ",
            config.in, ")");
  w_ = registry.Add({prefix + "." + weight_name, config.out, config.in, InitKind::kNormal,
                     config.init_std, config.decay});
  if (config.bias) b_ = registry.Add({prefix + "." + bias_name, config.out, 1, InitKind::kZeros, 0.0, false});
}

void Linear::Forward(const ConstMatRef& x, MatRef y, bool accumulate) const {
  SIM_CHECK_SHAPE("Linear::Forward", x, "in", cfg_.in, "n", y.cols());
  SIM_CHECK_SHAPE("Linear::Forward", y, "out", cfg_.out, "n", x.cols());
  // y = b (broadcast) then y += W x: the bias costs no extra pass over y.
  if (b_ >= 0 && !accumulate) {
    y.colwise() = std::as_const(*registry_).Value(b_).col(0);
    Gemm(registry_->Value(w_), Op::kN, x, Op::kN, y, true);
  } else {
    Gemm(registry_->Value(w_), Op::kN, x, Op::kN, y, accumulate);
    if (b_ >= 0) y.colwise() += registry_->Value(b_).col(0);
  }
}

void Linear::BackwardParams(const ConstMatRef& x, const ConstMatRef& d_y) const {
  SIM_CHECK_SHAPE("Linear::Backward", d_y, "out", cfg_.out, "n", x.cols());
  // y = W x + b  =>  dW += d_y xᵀ, db += rowsum(d_y)
  Gemm(d_y, Op::kN, x, Op::kT, registry_->Grad(w_), true);
  if (b_ >= 0) RowSum(d_y, registry_->Grad(b_).col(0), true);
}

void Linear::Backward(const ConstMatRef& x, const ConstMatRef& d_y, MatRef d_x,
                      bool accumulate_dx) const {
  BackwardParams(x, d_y);
  SIM_CHECK_SHAPE("Linear::Backward", d_x, "in", cfg_.in, "n", x.cols());
  // d_x (+)= Wᵀ d_y
  Gemm(registry_->Value(w_), Op::kT, d_y, Op::kN, d_x, accumulate_dx);
}

}  // namespace sim
