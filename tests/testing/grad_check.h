// Finite-difference gradient checking for the double-precision build (sim_core_f64).
//
// Central differences (f(x+eps) - f(x-eps)) / 2eps against the analytic gradient, element by
// element, with relative error |a - n| / max(|a|, |n|, floor): relative where gradients are large,
// absolute below the floor (Ceres' ExpectClose). At most max_elements entries per tensor are checked,
// chosen by a seeded stream; the worst element is reported with its index and both values.
// Layer checks use the projection loss L = <R, y> with a fixed random R, so one backward with d_y = R
// checks every output at once.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/core/types.h"
#include "sim/params/param_registry.h"
#include "tests/testing/random_matrix.h"

static_assert(std::is_same_v<sim::Scalar, double>, "gradient checks build against sim_core_f64");

namespace sim::testing {

// The test seed: fixed, printed by each test, overridable with SIM_TEST_SEED.
inline uint64_t TestSeed() {
  const char* env = std::getenv("SIM_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 20261123ULL;
}

struct GradCheckOptions {
  double eps = 1e-5;
  double tol = 1e-6;
  double floor = 1e-3;
  int max_elements = 64;
};

struct GradCheckReport {
  double worst_error = 0.0;
  Index worst_index = -1;
  double analytic = 0.0;
  double numeric = 0.0;
  int checked = 0;
};

// Checks `analytic` (n values) against central differences of `loss` w.r.t. x[0..n).
inline GradCheckReport CheckGradient(Scalar* x, const Scalar* analytic, Index n, const std::function<double()>& loss,
                                     const GradCheckOptions& opt, uint64_t seed) {
  GradCheckReport report;
  std::vector<Index> indices;
  if (n <= opt.max_elements) {
    for (Index i = 0; i < n; ++i) indices.push_back(i);
  } else {
    Rng rng(seed);
    for (int k = 0; k < opt.max_elements; ++k) indices.push_back(static_cast<Index>(rng.Below(n)));
  }
  for (Index i : indices) {
    const Scalar saved = x[i];
    x[i] = saved + opt.eps;
    const double plus = loss();
    x[i] = saved - opt.eps;
    const double minus = loss();
    x[i] = saved;
    const double numeric = (plus - minus) / (2 * opt.eps);
    const double a = analytic[i];
    const double error = std::abs(a - numeric) / std::max({std::abs(a), std::abs(numeric), opt.floor});
    ++report.checked;
    if (error > report.worst_error || report.worst_index < 0) {
      report.worst_error = error;
      report.worst_index = i;
      report.analytic = a;
      report.numeric = numeric;
    }
  }
  return report;
}

// EXPECTs that the gradient of `loss` w.r.t. x matches `analytic`; `label` names the tensor.
inline void ExpectGradientMatches(const std::string& label, Scalar* x, const Scalar* analytic, Index n,
                                  const std::function<double()>& loss, const GradCheckOptions& opt = {}) {
  const GradCheckReport r = CheckGradient(x, analytic, n, loss, opt, TestSeed() ^ std::hash<std::string>{}(label));
  EXPECT_LT(r.worst_error, opt.tol) << label << ": worst relative error " << r.worst_error << " at element "
                                    << r.worst_index << " (analytic " << r.analytic << ", numeric " << r.numeric << ", "
                                    << r.checked << " elements checked)";
}

// Checks every parameter of `registry` whose gradient `grads` (flat, as registry.grads()) holds.
inline void ExpectParamGradientsMatch(ParamRegistry& registry, const Vec& grads, const std::function<double()>& loss,
                                      const GradCheckOptions& opt = {}) {
  for (ParamId id = 0; id < registry.size(); ++id) {
    const Index offset = registry.offset(id);
    ExpectGradientMatches(registry.name(id), registry.values().data() + offset, grads.data() + offset,
                          registry.numel(id), loss, opt);
  }
}

// Fills every parameter with N(0, scale^2) (norm gains around 1), so checks do not sit at special points.
inline void RandomizeParams(ParamRegistry& registry, uint64_t seed, double scale = 0.5) {
  Rng rng(seed);
  for (ParamId id = 0; id < registry.size(); ++id) {
    MatMap v = registry.Value(id);
    const bool gain = registry.spec(id).init == InitKind::kOnes;
    for (Index i = 0; i < v.size(); ++i) v.data()[i] = (gain ? 1.0 : 0.0) + scale * rng.Normal();
  }
}

}  // namespace sim::testing
