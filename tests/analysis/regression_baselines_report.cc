// The P2-PtO numbers (spec heads.md §9) from the baselines alone, no model: every baseline tuned per n
// on validation prompts and measured on test prompts drawn here (tests/testing/sparse_prompts.h, the
// spec's prior), printed with the wall time of the whole computation. Information, not a test.
//
// Example:
//   build/tests/regression_baselines_report --noise 0.1 --threads 1
//   build/tests/regression_baselines_report --noise 0.5 --median   # η, c tuned on the validation median
// Options: --d 8 --s 2 --noise 0.1 --n_max 16 --test 4096 --validation 1024 --layers 3 --threads 1
//          --seed 1 --median --no_cap --per_n
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "analysis/icl_regression.h"
#include "analysis/regression_baselines.h"
#include "sim/kernels/parallel.h"
#include "tests/testing/sparse_prompts.h"

namespace {

const sim::BaselineCurve* Find(const std::vector<sim::BaselineCurve>& curves, const std::string& name) {
  for (const sim::BaselineCurve& c : curves)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  int d = 8, s = 2, n_max = 16, test_count = 4096, validation_count = 1024, threads = 1;
  double noise = 0.1;
  unsigned long long seed = 1;
  bool per_n = false;
  sim::BaselineOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--d")
      d = std::atoi(next());
    else if (arg == "--s")
      s = std::atoi(next());
    else if (arg == "--noise")
      noise = std::atof(next());
    else if (arg == "--n_max")
      n_max = std::atoi(next());
    else if (arg == "--test")
      test_count = std::atoi(next());
    else if (arg == "--validation")
      validation_count = std::atoi(next());
    else if (arg == "--layers")
      options.layers = std::atoi(next());
    else if (arg == "--threads")
      threads = std::atoi(next());
    else if (arg == "--seed")
      seed = std::strtoull(next(), nullptr, 10);
    else if (arg == "--median")
      options.eta_selection = sim::Selection::kMedian;
    else if (arg == "--no_cap")
      options.eta_cap = false;
    else if (arg == "--per_n")
      per_n = true;
    else {
      std::fprintf(stderr, "unknown option %s (see the banner of tests/analysis/regression_baselines_report.cc)\n",
                   arg.c_str());
      return 2;
    }
  }
  sim::SetNumThreads(threads);
  const sim::RegressionPrompts validation =
      sim::testing::SparsePrompts(d, s, noise, n_max, validation_count, seed, "validation");
  const sim::RegressionPrompts test = sim::testing::SparsePrompts(d, s, noise, n_max, test_count, seed, "test");
  const auto start = std::chrono::steady_clock::now();
  const std::vector<sim::BaselineCurve> curves = sim::RegressionBaselines(validation, test, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("d=%d s=%d noise=%g n_max=%d test=%d validation=%d L=%d threads=%d eta_cap=%s eta_selection=%s\n", d, s,
              noise, n_max, test_count, validation_count, options.layers, threads, options.eta_cap ? "1.9" : "off",
              options.eta_selection == sim::Selection::kMean ? "mean" : "median");
  std::printf("wall time of RegressionBaselines: %.2f s\n", seconds);
  const int lo = d / 2, hi = d;  // the window W
  const auto window = [&](const std::string& name) {
    return sim::WindowMean(Find(curves, name)->risk_by_n, sim::RiskWindow{lo, hi});
  };
  const auto last = [&](const std::string& name) { return Find(curves, name)->risk_by_n[n_max]; };
  std::printf("%-16s %12s %12s\n", "baseline", "mean W risk", "risk n=n_max");
  for (const sim::BaselineCurve& c : curves)  // ols never in a mean over W (its spike at n = d)
    std::printf("%-16s %12.4f %12.5f\n", c.name.c_str(), c.name == "ols" ? NAN : window(c.name), last(c.name));
  std::printf("lasso fits that hit max_sweeps: %d\n", Find(curves, "lasso")->unconverged_fits);
  std::printf("\nP2-PtO (W = %d..%d):\n", lo, hi);
  for (int t : {options.layers - 1, 10}) {
    const std::string ts = "/T" + std::to_string(t);
    const double gd = window("gd" + ts), diag = window("pto_diag" + ts), shift = window("pto_shift" + ts);
    std::printf("  T=%d: gd %.4f  pto_diag %.4f  pto_shift %.4f  -> PtO < GD: %s\n", t, gd, diag, shift,
                std::min(diag, shift) < gd ? "yes" : "no");
  }
  for (const char* name : {"pto_diag/T10", "pto_shift/T10"})
    std::printf("  %s vs ridge: W %.4f vs %.4f (%s); at n=%d %.5f vs %.5f, ratio %.3f\n", name, window(name),
                window("ridge"), window(name) < window("ridge") ? "below" : "not below", n_max, last(name),
                last("ridge"), last(name) / last("ridge"));
  if (per_n) {
    std::printf("\nrisk by n (best hyperparameters in brackets):\n");
    for (const sim::BaselineCurve& c : curves) {
      std::printf("%-16s", c.name.c_str());
      for (int n = 0; n <= n_max; ++n) std::printf(" %8.4f", c.risk_by_n[n]);
      std::printf("\n");
      const size_t k = c.hparams.size();
      for (size_t h = 0; h < k; ++h) {
        std::printf("  %-14s", c.hparams[h].c_str());
        for (int n = 0; n <= n_max; ++n) std::printf(" %8.2g", c.best_hparam[n * k + h]);
        std::printf("\n");
      }
    }
  }
  return 0;
}
