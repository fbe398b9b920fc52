// Sparse linear-regression prompts for tests and the baseline report, filled directly (the task that
// fills RegressionPrompts for the engine is tasks/sparse_linreg; this stand-in keeps the tests of
// analysis/ free of tasks/). The prior of Garg et al.'s SparseLinearRegression (spec heads.md §3):
// w ~ N(0, I_d), then all but s uniformly chosen coordinates set to 0; x ~ N(0, I_d);
// y = ⟨w, x⟩ + σ ε, ε ~ N(0, 1); f = ⟨w, x⟩.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "sim/core/rng.h"
#include "sim/data/regression_prompts.h"

namespace sim::testing {

// `count` prompts from the stream `purpose` under `seed` (distinct purposes or seeds: unrelated prompts).
inline RegressionPrompts SparsePrompts(int d, int s, double noise, int n_max, int count, uint64_t seed,
                                       std::string_view purpose = "sparse_prompts") {
  RegressionPrompts r;
  r.d = d;
  r.s = s;
  r.noise = noise;
  r.n_max = n_max;
  r.count = count;
  r.x.resize(d, static_cast<Index>(count) * r.stride());
  r.y.resize(r.x.cols());
  r.f.resize(r.x.cols());
  r.w.setZero(d, count);
  Rng rng = Rng::ForStream(seed, purpose);
  std::vector<int> scratch, support(s);
  for (int p = 0; p < count; ++p) {
    Eigen::VectorXd w(d);
    for (int j = 0; j < d; ++j) w(j) = rng.Normal();
    rng.SampleWithoutReplacement(d, s, scratch, support.data());
    for (int j : support) r.w(j, p) = static_cast<Scalar>(w(j));
    for (int i = 0; i <= n_max; ++i) {
      const Index col = r.column(p, i);
      for (int j = 0; j < d; ++j) r.x(j, col) = static_cast<Scalar>(rng.Normal());
      const double f = r.w.col(p).cast<double>().dot(r.x.col(col).cast<double>());
      r.f(col) = static_cast<Scalar>(f);
      r.y(col) = static_cast<Scalar>(f + noise * rng.Normal());
    }
  }
  return r;
}

}  // namespace sim::testing
