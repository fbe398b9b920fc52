// The regression baselines against known answers:
//   - ridge satisfies its normal equations (XXᵀ + nλI)w = Xy; its spectral prediction is xᵀw;
//   - OLS is the pseudo-inverse solution, interpolates when n < d, and is 0 without examples;
//   - LASSO satisfies the KKT conditions of (1/(2n))‖y − Xᵀw‖² + α‖w‖₁ (scikit-learn's objective) at
//     every α of the grid, including n < d, and is soft-thresholding on an orthogonal design;
//   - the closed-form GD/PtO prediction equals the plain iteration; many small GD steps reach OLS
//     (n > d); PtO with D = I is GD; the preconditioners are D²/max(D²);
//   - tuning picks the known best candidate (mean and median; pure-noise and noise-free prompts);
//   - the risk is normalized by s; the η cap keeps an ill-conditioned test prompt from diverging;
//   - results have the same bits at 1 and 3 threads; the arrays have the documented paths and dims;
//   - the registry entry measures on analysis.icl_risk's test prompts with the model's depth;
//   - a sparse problem (d = 8, s = 2, σ = 0.1): lasso beats ridge at n = 16, ridge beats OLS at n = d.
#include "analysis/regression_baselines.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include <Eigen/QR>
#include <Eigen/SVD>

#include "analysis/icl_regression.h"
#include "sim/cli/experiment.h"
#include "sim/kernels/parallel.h"
#include "tests/testing/random_matrix.h"
#include "tests/testing/sparse_prompts.h"

namespace sim {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

// The test seed: fixed, printed, overridable with SIM_TEST_SEED.
uint64_t Seed() {
  const char* env = std::getenv("SIM_TEST_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : 20261123ULL;
  std::printf("seed %llu (SIM_TEST_SEED)\n", static_cast<unsigned long long>(seed));
  return seed;
}

struct Problem {
  MatrixXd x;  // (d, n)
  VectorXd y;  // (n)
  VectorXd xq;
};
Problem PromptProblem(const RegressionPrompts& r, int p, int n) {
  return {r.examples(p, n).cast<double>(), r.labels(p, n).cast<double>(), r.point(p, n).cast<double>()};
}

const BaselineCurve& Curve(const std::vector<BaselineCurve>& curves, const std::string& name) {
  for (const BaselineCurve& c : curves)
    if (c.name == name) return c;
  throw std::runtime_error("no baseline " + name);
}

TEST(RegressionBaselinesTest, RidgeSatisfiesItsNormalEquations) {
  const RegressionPrompts r = testing::SparsePrompts(8, 2, 0.1, 16, 3, Seed());
  for (int n : {1, 5, 8, 16})
    for (double lambda : {1e-4, 0.1, 10.0}) {
      const Problem pr = PromptProblem(r, 2, n);
      const VectorXd w = RidgeWeights(MakeGram(pr.x, pr.y), lambda);
      MatrixXd a = pr.x * pr.x.transpose();
      a.diagonal().array() += n * lambda;
      const VectorXd residual = a * w - pr.x * pr.y;
      EXPECT_LT(residual.norm(), 1e-10 * (pr.x * pr.y).norm()) << "n " << n << " lambda " << lambda;
      const SpectralFit fit = MakeSpectralFit(MakeGram(pr.x, pr.y), VectorXd::Ones(8), pr.xq);
      EXPECT_NEAR(RidgePredict(fit, lambda), w.dot(pr.xq), 1e-9 * (1 + std::abs(w.dot(pr.xq))));
    }
}

TEST(RegressionBaselinesTest, OlsIsThePseudoInverseSolutionAndInterpolatesBelowD) {
  const RegressionPrompts r = testing::SparsePrompts(8, 2, 0.1, 16, 2, Seed());
  for (int n : {1, 3, 7, 8, 12, 16}) {
    const Problem pr = PromptProblem(r, 1, n);
    const VectorXd w = OlsWeights(pr.x, pr.y);
    const MatrixXd xt = pr.x.transpose();  // (n, d)
    const Eigen::JacobiSVD<MatrixXd> svd(xt, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const VectorXd pinv = svd.solve(pr.y);
    EXPECT_LT((w - pinv).norm(), 1e-8 * (1 + pinv.norm())) << "n " << n;
    if (n < 8) {
      EXPECT_LT((xt * w - pr.y).norm(), 1e-10 * pr.y.norm()) << "interpolates, n " << n;
      // Minimum norm: no component in the null space of Xᵀ, i.e. w lies in the span of the examples.
      const VectorXd coef = pr.x.colPivHouseholderQr().solve(w);
      EXPECT_LT((pr.x * coef - w).norm(), 1e-10 * w.norm()) << "n " << n;
    }
  }
  EXPECT_EQ(OlsWeights(MatrixXd(8, 0), VectorXd(0)), VectorXd::Zero(8));
}

TEST(RegressionBaselinesTest, LassoSatisfiesTheKktConditionsAlongThePath) {
  const RegressionPrompts r = testing::SparsePrompts(8, 2, 0.1, 16, 24, Seed());
  int support_checks = 0;
  for (int p = 0; p < r.count; ++p)
    for (int n : {2, 4, 6, 8, 11, 16}) {
      const Problem pr = PromptProblem(r, p, n);
      const RegressionGram gram = MakeGram(pr.x, pr.y);
      VectorXd w = VectorXd::Zero(8);
      for (double alpha : {1.0, 0.3, 0.1, 0.03, 0.01, 0.001, 0.0001}) {
        const LassoFit fit = Lasso(gram, alpha, w);
        ASSERT_TRUE(fit.converged) << "p " << p << " n " << n << " alpha " << alpha << " gap " << fit.gap;
        w = fit.w;
        // From the raw examples, not the Gram form: X(y − Xᵀw)/n.
        const VectorXd grad = pr.x * (pr.y - pr.x.transpose() * w) / n;
        for (int j = 0; j < 8; ++j) {
          if (w(j) != 0) {
            EXPECT_NEAR(grad(j), alpha * (w(j) > 0 ? 1 : -1), 1e-7 * alpha + 1e-12) << "p " << p << " n " << n;
            ++support_checks;
          } else {
            EXPECT_LE(std::abs(grad(j)), alpha * (1 + 1e-7) + 1e-12) << "p " << p << " n " << n;
          }
        }
        EXPECT_LE(LassoGap(gram, alpha, w), 1e-10 * gram.yy + 1e-14);
      }
    }
  EXPECT_GT(support_checks, 100);  // the equality condition was exercised
}

TEST(RegressionBaselinesTest, LassoOnAnOrthogonalDesignIsSoftThresholding) {
  const int d = 8, n = 16;
  // X = √n Q_dᵀ with Q orthogonal: XXᵀ/n = I, so the minimizer is soft(Xy/n, α) coordinate-wise.
  const MatrixXd q = MatrixXd(testing::RandomMat(n, n, Seed()).cast<double>()).householderQr().householderQ();
  const MatrixXd x = std::sqrt(static_cast<double>(n)) * q.leftCols(d).transpose();
  const VectorXd y = x.transpose() * (VectorXd(d) << 2, -1, 0.5, 0, 0.05, -0.2, 0, 1).finished() +
                     0.1 * q.col(d);  // plus a residual orthogonal to the design
  const RegressionGram gram = MakeGram(x, y);
  ASSERT_LT((gram.g - MatrixXd::Identity(d, d)).norm(), 1e-12);
  for (double alpha : {1.0, 0.3, 0.1, 0.03}) {
    const VectorXd w = Lasso(gram, alpha, VectorXd::Zero(d)).w;
    for (int j = 0; j < d; ++j) {
      const double b = gram.b(j), soft = b > alpha ? b - alpha : b < -alpha ? b + alpha : 0.0;
      EXPECT_NEAR(w(j), soft, 1e-12) << "alpha " << alpha << " j " << j;
    }
  }
}

TEST(RegressionBaselinesTest, ClosedFormGradientDescentEqualsTheIteration) {
  const RegressionPrompts r = testing::SparsePrompts(8, 2, 0.1, 16, 2, Seed());
  for (int n : {1, 4, 8, 16}) {
    const Problem pr = PromptProblem(r, 0, n);
    const RegressionGram gram = MakeGram(pr.x, pr.y);
    for (const VectorXd& p :
         {VectorXd(VectorXd::Ones(8)), PtoDiagPreconditioner(gram.b), PtoShiftPreconditioner(gram.b, 3.0)}) {
      const SpectralFit fit = MakeSpectralFit(gram, p, pr.xq);
      for (int steps : {0, 1, 2, 10, 50})
        for (double eta : {0.01, 0.3, 1.0, 3.0}) {  // 3.0 diverges on most prompts: the formula still holds
          const double iterated = GdWeights(gram, p, eta, steps).dot(pr.xq);
          EXPECT_NEAR(GdPredict(fit, eta, steps), iterated, 1e-9 * (1 + std::abs(iterated)))
              << "n " << n << " steps " << steps << " eta " << eta;
        }
    }
  }
}

TEST(RegressionBaselinesTest, ManySmallGradientStepsReachLeastSquares) {
  const RegressionPrompts r = testing::SparsePrompts(8, 2, 0.5, 16, 1, Seed());
  const Problem pr = PromptProblem(r, 0, 16);
  const RegressionGram gram = MakeGram(pr.x, pr.y);
  const VectorXd ols = OlsWeights(pr.x, pr.y);
  const double lambda_max = MakeSpectralFit(gram, VectorXd::Ones(8), pr.xq).lambda_max;
  const VectorXd w = GdWeights(gram, VectorXd::Ones(8), 0.5 / lambda_max, 20000);
  EXPECT_LT((w - ols).norm(), 1e-8 * ols.norm());
  EXPECT_GT((GdWeights(gram, VectorXd::Ones(8), 0.5 / lambda_max, 3) - ols).norm(), 1e-3);  // not for few steps
}

TEST(RegressionBaselinesTest, PreconditionersAreNormalizedSquaresAndDEqualsIdentityIsGd) {
  const VectorXd r_hat = (VectorXd(4) << 0.5, -2.0, 0.0, 1.0).finished();
  EXPECT_TRUE(PtoDiagPreconditioner(r_hat).isApprox((VectorXd(4) << 0.0625, 1.0, 0.0, 0.25).finished()));
  EXPECT_TRUE(PtoShiftPreconditioner(r_hat, 1.0).isApprox((VectorXd(4) << 2.25 / 9, 1.0, 1.0 / 9, 4.0 / 9).finished()));
  EXPECT_EQ(PtoDiagPreconditioner(VectorXd::Zero(4)), VectorXd::Ones(4));
  // D = I (c = 0): PtO is plain GD, w_{t+1} = w_t − η(G w_t − b), step for step.
  const RegressionPrompts r = testing::SparsePrompts(8, 2, 0.1, 16, 1, Seed());
  const Problem pr = PromptProblem(r, 0, 6);
  const RegressionGram gram = MakeGram(pr.x, pr.y);
  const VectorXd p = PtoShiftPreconditioner(gram.b, 0.0);
  EXPECT_EQ(p, VectorXd::Ones(8));
  VectorXd w = VectorXd::Zero(8);
  for (int t = 0; t < 10; ++t) w -= 0.2 * (gram.g * w - gram.b);
  EXPECT_EQ(GdWeights(gram, p, 0.2, 10), w);
}

TEST(RegressionBaselinesTest, SelectionTakesTheLowestMeanOrMedianAndTheFirstOnTies) {
  // 5 prompts x 3 candidates. Candidate 0: one outlier, lowest median; candidate 1: lowest mean;
  // candidate 2: NaN on one prompt (counts as +infinity).
  const std::vector<double> errors = {1,   2, NAN,  //
                                      1,   2, 0,    //
                                      1,   2, 0,    //
                                      1,   2, 0,    //
                                      100, 2, 0};
  EXPECT_EQ(SelectCandidate(errors, 5, 3, Selection::kMean), 1);
  EXPECT_EQ(SelectCandidate(errors, 5, 3, Selection::kMedian), 2);
  EXPECT_EQ(SelectCandidate({1, 1, 2, 3, 3, 2}, 2, 3, Selection::kMean), 0);  // tie: first
  // An even count: the median is the mean of the two middle values (2.5 against 3, not 5 against 3).
  EXPECT_EQ(SelectCandidate({0, 3, 0, 3, 5, 3, 5, 3}, 4, 2, Selection::kMedian), 0);
}

TEST(RegressionBaselinesTest, TuningPicksTheKnownBestOnPureNoiseAndNoiseFreePrompts) {
  const uint64_t seed = Seed();
  BaselineOptions options;
  // Labels are pure noise (w* = 0, f = 0): the best predictor is 0, so the strongest ridge, the
  // largest α (it sets w = 0; the first of the tied ones) and the smallest η win at every n.
  RegressionPrompts noise_val = testing::SparsePrompts(8, 2, 0.5, 16, 256, seed, "validation");
  RegressionPrompts noise_test = testing::SparsePrompts(8, 2, 0.5, 16, 64, seed, "test");
  for (RegressionPrompts* r : {&noise_val, &noise_test}) {
    r->y -= r->f;  // y = σε
    r->f.setZero();
    r->w.setZero();
  }
  const std::vector<BaselineCurve> noise = RegressionBaselines(noise_val, noise_test, options);
  for (int n = 1; n <= 16; ++n) {
    EXPECT_EQ(Curve(noise, "ridge").best_hparam[n], 100.0) << "n " << n;
    EXPECT_EQ(Curve(noise, "lasso").best_hparam[n], 1.0) << "n " << n;
    EXPECT_NEAR(Curve(noise, "gd/T10").best_hparam[n], 1e-3, 1e-15) << "n " << n;
    EXPECT_NEAR(Curve(noise, "pto_shift/T10").best_hparam[2 * n + 1], 1e-3, 1e-15) << "n " << n;  // (c, eta)
  }
  // Noise-free labels with n > d: the least regularization wins (ridge λ = 1e-4, lasso α = 1e-4).
  const RegressionPrompts clean_val = testing::SparsePrompts(8, 2, 0.0, 16, 256, seed, "clean validation");
  const RegressionPrompts clean_test = testing::SparsePrompts(8, 2, 0.0, 16, 64, seed, "clean test");
  const std::vector<BaselineCurve> clean = RegressionBaselines(clean_val, clean_test, options);
  for (int n = 10; n <= 16; ++n) {
    EXPECT_NEAR(Curve(clean, "ridge").best_hparam[n], 1e-4, 1e-18) << "n " << n;
    EXPECT_NEAR(Curve(clean, "lasso").best_hparam[n], 1e-4, 1e-18) << "n " << n;
    EXPECT_LT(Curve(clean, "ols").risk_by_n[n], 1e-8) << "n " << n;
  }
}

TEST(RegressionBaselinesTest, RiskIsTheMeanSquaredErrorOverS) {
  const uint64_t seed = Seed();
  BaselineOptions options;
  options.per_prompt = true;
  RegressionPrompts val = testing::SparsePrompts(8, 2, 0.1, 16, 64, seed, "validation");
  RegressionPrompts test = testing::SparsePrompts(8, 2, 0.1, 16, 48, seed, "test");
  const std::vector<BaselineCurve> two = RegressionBaselines(val, test, options);
  // n = 0: every baseline predicts 0, so the risk is mean f² / s exactly.
  double f2 = 0;
  for (int p = 0; p < test.count; ++p) f2 += static_cast<double>(test.point_target(p, 0)) * test.point_target(p, 0);
  for (const BaselineCurve& c : two) {
    EXPECT_NEAR(c.risk_by_n[0], f2 / test.count / 2, 1e-12) << c.name;
    double mean = 0;  // the per-prompt risks average to risk_by_n
    for (int p = 0; p < test.count; ++p) mean += c.risk_by_prompt[12 * test.count + p];
    EXPECT_NEAR(mean / test.count, c.risk_by_n[12], 1e-12) << c.name;
  }
  // The same prompts declared with s = 4: the same choices, half the risk.
  val.s = test.s = 4;
  const std::vector<BaselineCurve> four = RegressionBaselines(val, test, options);
  for (size_t i = 0; i < two.size(); ++i)
    for (int n = 0; n <= 16; ++n) EXPECT_NEAR(four[i].risk_by_n[n], two[i].risk_by_n[n] / 2, 1e-15) << two[i].name;
}

TEST(RegressionBaselinesTest, TheStepSizeCapKeepsAnIllConditionedPromptFromDiverging) {
  // One prompt whose first feature is 30x larger than the rest: λ_max ≈ 900 ≫ 2/η for the η that
  // well-conditioned validation prompts choose.
  const uint64_t seed = Seed();
  const RegressionPrompts val = testing::SparsePrompts(8, 2, 0.1, 16, 256, seed, "validation");
  RegressionPrompts test = testing::SparsePrompts(8, 2, 0.1, 16, 32, seed, "test");
  for (int i = 0; i <= 16; ++i) {
    const Index col = test.column(5, i);
    test.x(0, col) *= 30;
    test.f(col) = test.w.col(5).dot(test.x.col(col));
    test.y(col) = test.f(col);
  }
  BaselineOptions capped, uncapped;
  uncapped.eta_cap = false;
  const std::vector<BaselineCurve> with_cap = RegressionBaselines(val, test, capped);
  const std::vector<BaselineCurve> without = RegressionBaselines(val, test, uncapped);
  for (const char* name : {"gd/T50", "pto_shift/T10"}) {
    EXPECT_GT(Curve(without, name).risk_by_n[16], 1e6) << name << " diverges without the cap";
    EXPECT_LT(Curve(with_cap, name).risk_by_n[16], 1.0) << name << " stays bounded with it";
  }
  // One prompt directly: η = 1 for 50 steps on that prompt.
  const Problem pr = PromptProblem(test, 5, 16);
  const SpectralFit fit = MakeSpectralFit(MakeGram(pr.x, pr.y), VectorXd::Ones(8), pr.xq);
  ASSERT_GT(fit.lambda_max, 100.0);
  EXPECT_GT(std::abs(GdPredict(fit, 1.0, 50)), 1e20);
  const double capped_prediction = GdPredict(fit, CappedEta(1.0, fit.lambda_max), 50);
  EXPECT_LT(std::abs(capped_prediction), 10 * (1 + std::abs(test.point_target(5, 16))));
  EXPECT_EQ(CappedEta(0.001, fit.lambda_max), 0.001);  // a small η is left alone
}

TEST(RegressionBaselinesTest, SameBitsAtAnyThreadCount) {
  const uint64_t seed = Seed();
  const RegressionPrompts val = testing::SparsePrompts(8, 2, 0.1, 10, 96, seed, "validation");
  const RegressionPrompts test = testing::SparsePrompts(8, 2, 0.1, 10, 80, seed, "test");
  BaselineOptions options;
  options.per_prompt = true;
  const int before = NumThreads();
  SetNumThreads(1);
  const std::vector<BaselineCurve> one = RegressionBaselines(val, test, options);
  SetNumThreads(3);
  const std::vector<BaselineCurve> three = RegressionBaselines(val, test, options);
  SetNumThreads(before);
  ASSERT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].risk_by_n, three[i].risk_by_n) << one[i].name;
    EXPECT_EQ(one[i].risk_by_prompt, three[i].risk_by_prompt) << one[i].name;
    for (size_t k = 0; k < one[i].best_hparam.size(); ++k)
      EXPECT_TRUE(one[i].best_hparam[k] == three[i].best_hparam[k] ||
                  (std::isnan(one[i].best_hparam[k]) && std::isnan(three[i].best_hparam[k])));
  }
}

TEST(RegressionBaselinesTest, ArraysHaveTheDocumentedPathsAndDims) {
  const uint64_t seed = Seed();
  const RegressionPrompts val = testing::SparsePrompts(8, 2, 0.1, 6, 32, seed, "validation");
  const RegressionPrompts test = testing::SparsePrompts(8, 2, 0.1, 6, 16, seed, "test");
  BaselineOptions options;
  options.layers = 4;
  const std::vector<BaselineCurve> curves = RegressionBaselines(val, test, options);
  std::vector<std::string> names;
  for (const BaselineCurve& c : curves) names.push_back(c.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ols", "ridge", "lasso", "gd/T3", "gd/T10", "gd/T50", "pto_diag/T3",
                                             "pto_diag/T10", "pto_shift/T3", "pto_shift/T10"}));
  const std::vector<AnalysisArray> arrays = BaselineArrays(curves, "baselines", test, options);
  const auto find = [&](const std::string& path) -> const AnalysisArray& {
    for (const AnalysisArray& a : arrays)
      if (a.path == path) return a;
    throw std::runtime_error("no array " + path);
  };
  EXPECT_EQ(find("baselines/ridge/risk_by_n").dims, (std::vector<uint64_t>{7}));
  EXPECT_EQ(find("baselines/ridge/risk_by_n").string_attrs.at("dims"), "n");
  EXPECT_EQ(find("baselines/ridge/best_hparam").string_attrs.at("hparams"), "lambda");
  EXPECT_EQ(find("baselines/pto_shift/T3/best_hparam").dims, (std::vector<uint64_t>{7, 2}));
  EXPECT_EQ(find("baselines/pto_shift/T3/best_hparam").string_attrs.at("dims"), "n,hparam");
  EXPECT_EQ(find("baselines/pto_shift/T3/best_hparam").string_attrs.at("hparams"), "c,eta");
  EXPECT_EQ(find("baselines/gd/T50/risk_by_n").number_attrs.at("steps"), 50);
  EXPECT_EQ(find("baselines/ols/risk_by_n").data, Curve(curves, "ols").risk_by_n);
  for (const AnalysisArray& a : arrays) EXPECT_NE(a.path, "baselines/ols/best_hparam");
}

TEST(RegressionBaselinesTest, OnASparseProblemLassoBeatsRidgeAndRidgeAvoidsTheInterpolationSpike) {
  const uint64_t seed = Seed();
  const RegressionPrompts val = testing::SparsePrompts(8, 2, 0.1, 16, 512, seed, "validation");
  const RegressionPrompts test = testing::SparsePrompts(8, 2, 0.1, 16, 1024, seed, "test");
  const std::vector<BaselineCurve> curves = RegressionBaselines(val, test, BaselineOptions{});
  const BaselineCurve &ols = Curve(curves, "ols"), &ridge = Curve(curves, "ridge"), &lasso = Curve(curves, "lasso");
  EXPECT_LT(lasso.risk_by_n[16], ridge.risk_by_n[16]);
  EXPECT_LT(ridge.risk_by_n[8], ols.risk_by_n[8]);
  EXPECT_GT(ols.risk_by_n[8], 10 * ols.risk_by_n[16]);  // the spike at n = d
  EXPECT_LT(WindowMean(lasso.risk_by_n, RiskWindow{4, 8}), WindowMean(ridge.risk_by_n, RiskWindow{4, 8}));
  EXPECT_EQ(lasso.unconverged_fits, 0);
}

// The registry entry on a sparse_linreg run: the test prompts are analysis.icl_risk's (so n = 0, where
// every baseline predicts 0, gives mean f² / s over exactly those prompts), L is the model's layer
// count, and a task without regression prompts or a one-layer model is refused with the reason.
Experiment BuildRegression(const std::string& task, int layers) {
  std::map<std::string, std::string> given = {
      {"task.name", task}, {"model.layers", std::to_string(layers)}, {"model.d_model", "16"}};
  if (task == "sparse_linreg") given.insert({{"task.d", "4"}, {"task.s", "2"}, {"task.points", "8"}});
  const OptionSet set = AllOptions();
  Options options(set, given);
  return BuildExperiment(options);
}

AnalysisOptions EntryOptions(const std::string& layers) {
  return AnalysisOptions({{"analysis.baselines", "true"},
                          {"analysis.baselines.validation_prompts", "64"},
                          {"analysis.baselines.layers", layers},
                          {"analysis.baselines.eta_cap", "true"},
                          {"analysis.baselines.eta_selection", "mean"},
                          {"analysis.baselines.per_prompt", "false"},
                          {"eval.seed", "7"},
                          {"analysis.icl_risk.prompts", "48"}});
}

TEST(RegressionBaselinesTest, TheRegistryEntryUsesTheIclRiskTestPromptsAndTheModelsDepth) {
  const Experiment e = BuildRegression("sparse_linreg", 3);
  AnalysisInputs in;
  in.model = e.model.get();
  in.task = e.task.get();
  ASSERT_EQ(BaselinesApplies(in, EntryOptions("auto")), "");
  const std::vector<AnalysisArray> arrays = BaselinesAnalysis(in, EntryOptions("auto"));
  const RegressionPrompts test = DrawIclPrompts(*e.task, "test", 48, 7);
  double f2 = 0;
  for (int p = 0; p < test.count; ++p) f2 += static_cast<double>(test.point_target(p, 0)) * test.point_target(p, 0);
  bool found = false;
  for (const AnalysisArray& a : arrays) {
    EXPECT_EQ(a.path.rfind("baselines/", 0), 0u) << a.path;
    EXPECT_NE(a.path, "baselines/gd/T3/risk_by_n");  // L = 3: T = 2
    if (a.path != "baselines/gd/T2/risk_by_n") continue;
    found = true;
    ASSERT_EQ(a.dims, (std::vector<uint64_t>{9}));
    EXPECT_NEAR(a.data[0], f2 / test.count / 2, 1e-12);
    EXPECT_EQ(a.number_attrs.at("validation_prompts"), 64);
    EXPECT_EQ(a.number_attrs.at("layers"), 3);
  }
  EXPECT_TRUE(found);
  const Experiment shallow = BuildRegression("sparse_linreg", 1);
  in.model = shallow.model.get();
  in.task = shallow.task.get();
  EXPECT_NE(BaselinesApplies(in, EntryOptions("auto")).find("analysis.baselines.layers"), std::string::npos);
  EXPECT_EQ(BaselinesApplies(in, EntryOptions("3")), "");
  const Experiment other = BuildRegression("mqar", 2);
  in.model = other.model.get();
  in.task = other.task.get();
  EXPECT_NE(BaselinesApplies(in, EntryOptions("auto")), "");
}

}  // namespace
}  // namespace sim
