// Classical baselines for in-context (sparse) linear regression (heads study, spec heads.md §7-§9):
// least squares, ridge, LASSO, T steps of gradient descent, and the explicit preprocess-then-optimize
// algorithm (PtO: GD preconditioned by the in-context correlation r̂ = Xy/n), each fitted on a
// prompt's first n examples and scored at the point a causal model predicts next
// (RegressionPrompts::point(p, n), the query when n = n_max), against its noise-free target.
//
// Every hyperparameter is tuned per n on a validation prompt set (the candidate with the lowest
// validation risk; ties go to the first in grid order) and the risk is measured on a separate test
// set, normalized by s = E‖w*‖²: risk(n) = mean over test prompts of (ŷ − f)² / s.
//
// Estimators, in the column layout of RegressionPrompts: X (d, n), column i is example i; y (n);
// G = XXᵀ/n (d, d), b = Xy/n = r̂ (d). All arithmetic is double precision.
//   ols        least squares, the minimum-norm solution when n < d; ŵ = 0 when n = 0
//   ridge      ŵ = (XXᵀ + nλI)⁻¹ Xy = (G + λI)⁻¹ b, λ ∈ 10^{-4, -3.5, ..., 2} (13 values)
//   lasso      minimizes (1/(2n))‖y − Xᵀw‖² + α‖w‖₁ (scikit-learn's Lasso objective, no intercept) by
//              cyclic coordinate descent with an active-set finish (see Lasso), to a duality gap
//              ≤ 1e-12·‖y‖²/n or a verified exact solution; α ∈ {1, 0.3, 0.1, 0.03, 0.01, 0.001,
//              0.0001}, solved in that order, each warm-started from the previous
//   gd/T<k>    w_{t+1} = w_t − η (G w_t − b) from w_0 = 0, k steps, k ∈ {L−1, 10, 50}
//   pto_diag/T<k>   w_{t+1} = w_t − η P (G w_t − b), P = D²/max(D²), D = diag(|r̂|), k ∈ {L−1, 10}
//   pto_shift/T<k>  the same with D = I + c·diag(|r̂|), c ∈ 10^{-1, -0.5, ..., 3} (9 values)
// η ∈ 10^{-3, -2.75, ..., 1} (17 values) for every GD-type baseline.
//
// Step-size safety (spec §8), both available, applied to the GD-type baselines only (ridge, lasso and
// ols cannot diverge):
//   - the cap (BaselineOptions::eta_cap, on by default): each prompt runs with
//     η_p = min(η, 1.9/λ_max(P^{1/2} G P^{1/2})), so every step contracts (|1 − η_p λ| < 1) and no test
//     prompt can diverge, whatever η the validation set chose; best_hparam records the nominal η;
//   - median tuning (BaselineOptions::eta_selection = kMedian): η (and c) minimize the validation
//     median of the per-prompt risk instead of its mean.
//
// GD and PtO are evaluated in closed form: with M = P^{1/2} G P^{1/2} = U diag(λ) Uᵀ, T steps give
// ŷ = Σ_i z_i c_i (1 − (1 − ηλ_i)^T)/λ_i with c = Uᵀ P^{1/2} b and z = Uᵀ P^{1/2} x_q, so one
// eigen-decomposition per prompt, n and preconditioner serves every η and T (and, for P = I, every
// ridge λ: ŷ = Σ_i z_i c_i / (λ_i + λ)). GdWeights is the plain iteration they are tested against.
//
// Example:
//   BaselineOptions options;  options.layers = 3;
//   std::vector<BaselineCurve> curves = RegressionBaselines(validation, test, options);
//   std::vector<AnalysisArray> arrays = BaselineArrays(curves, "baselines", test, options);
//   // baselines/ridge/risk_by_n, baselines/gd/T2/best_hparam, ...
#pragma once

#include <string>
#include <vector>

#include <Eigen/Core>

#include "analysis/analyses.h"
#include "sim/data/regression_prompts.h"
#include "sim/io/run_file.h"

namespace sim {

// ---- One prompt: sufficient statistics and estimators --------------------------------------------

// The sufficient statistics of n examples: G = XXᵀ/n (d, d), b = Xy/n (d), yy = ‖y‖²/n. n = 0 gives
// zeros.
struct RegressionGram {
  Eigen::MatrixXd g;  // (d, d)
  Eigen::VectorXd b;  // (d) r̂
  double yy = 0.0;
  int n = 0;
};
RegressionGram MakeGram(const Eigen::MatrixXd& x, const Eigen::VectorXd& y);  // x (d, n), y (n)

// Least squares on x (d, n), y (n): the minimum-norm minimizer of ‖y − Xᵀw‖ (the pseudo-inverse
// solution), 0 when n = 0.
Eigen::VectorXd OlsWeights(const Eigen::MatrixXd& x, const Eigen::VectorXd& y);

// Ridge with λ scaled by n: (G + λI)⁻¹ b. Requires λ > 0 or a nonsingular G.
Eigen::VectorXd RidgeWeights(const RegressionGram& gram, double lambda);

struct LassoFit {
  Eigen::VectorXd w;  // (d)
  int sweeps = 0;     // coordinate-descent sweeps over all d coordinates
  double gap = 0.0;   // duality gap at the end, in units of the objective
  bool converged = false;
};
// LASSO by cyclic coordinate descent on the Gram form, from `start` (d): minimizes
// (1/(2n))‖y − Xᵀw‖² + α‖w‖₁ = ½wᵀGw − bᵀw + ½yy + α‖w‖₁. Stops when the duality gap is
// ≤ tolerance·max(yy, 1e-300), or when an active-set step from a sweep that left the signs unchanged
// gives a point satisfying every KKT condition (the exact minimizer, up to rounding: plain coordinate
// descent needs 10^4-10^6 sweeps on designs with n near d and small α), or after max_sweeps.
LassoFit Lasso(const RegressionGram& gram, double alpha, const Eigen::VectorXd& start, double tolerance = 1e-12,
               int max_sweeps = 100000);
// Its duality gap at w (scikit-learn's, divided by n): ½q(1 + s²) + α‖w‖₁ − s(yy − bᵀw), with
// q = ‖y − Xᵀw‖²/n and the dual point s·(y − Xᵀw), s = min(1, α/‖b − Gw‖∞).
double LassoGap(const RegressionGram& gram, double alpha, const Eigen::VectorXd& w);

// `steps` steps of preconditioned gradient descent on ½wᵀGw − bᵀw from w_0 = 0:
// w_{t+1} = w_t − η diag(p) (G w_t − b); p = ones is plain GD. The plain iteration: the reference for
// the closed form below.
Eigen::VectorXd GdWeights(const RegressionGram& gram, const Eigen::VectorXd& p, double eta, int steps);

// PtO preconditioners (the diagonal of P, (d)), spec §7: D = diag(|r̂|) and D = I + c·diag(|r̂|),
// P = D²/max(D²). r̂ = 0 gives P = I (b = 0 then, so every iterate is 0 anyway).
Eigen::VectorXd PtoDiagPreconditioner(const Eigen::VectorXd& r_hat);
Eigen::VectorXd PtoShiftPreconditioner(const Eigen::VectorXd& r_hat, double c);

// The preconditioned problem in the eigenbasis of M = P^{1/2} G P^{1/2} = U diag(λ) Uᵀ, for the
// predictions at x_q of every η, T and ridge λ at O(d) each.
struct SpectralFit {
  Eigen::VectorXd lambda;  // (d) eigenvalues of M, ascending
  Eigen::VectorXd coef;    // (d) z_i c_i: (Uᵀ P^{1/2} x_q)_i (Uᵀ P^{1/2} b)_i
  double lambda_max = 0.0;
  mutable Eigen::ArrayXd scratch;  // (d) GdPredict's running sums (a fit is used by one thread)
};
SpectralFit MakeSpectralFit(const RegressionGram& gram, const Eigen::VectorXd& p, const Eigen::VectorXd& x_query);
// x_qᵀ w_T of GdWeights(gram, p, eta, steps).
double GdPredict(const SpectralFit& fit, double eta, int steps);
// x_qᵀ RidgeWeights(gram, lambda) (a fit made with p = ones).
double RidgePredict(const SpectralFit& fit, double lambda);
// The capped step size min(η, 1.9/λ_max): every mode then contracts. λ_max = 0 leaves η.
double CappedEta(double eta, double lambda_max);
constexpr double kEtaCapFactor = 1.9;

// ---- Tuning and evaluation over prompt sets ------------------------------------------------------

enum class Selection { kMean, kMedian };

struct BaselineOptions {
  int layers = 3;                              // L: GD and PtO run T = L − 1 steps, and 10 (and 50 for GD)
  bool eta_cap = true;                         // per prompt η ≤ 1.9/λ_max for the GD-type baselines
  Selection eta_selection = Selection::kMean;  // validation statistic for the GD-type baselines' η, c
  bool per_prompt = false;                     // keep every test prompt's risk (BaselineCurve::risk_by_prompt)
};

struct BaselineCurve {
  std::string name;                     // "ols", "ridge", "lasso", "gd/T2", "pto_diag/T10", "pto_shift/T2", ...
  std::vector<std::string> hparams;     // tuned hyperparameters, e.g. {"c", "eta"}; empty for ols
  std::vector<double> risk_by_n;        // [n_max+1] test risk (normalized by s) at n = 0..n_max
  std::vector<double> validation_risk;  // [n_max+1] the chosen candidate's validation mean risk
  std::vector<double> best_hparam;      // [n_max+1, hparams.size()] row-major; NaN at n = 0 (nothing to tune)
  std::vector<double> risk_by_prompt;   // [n_max+1, P_test] row-major, when BaselineOptions::per_prompt
  int unconverged_fits = 0;             // lasso: test and validation fits that hit max_sweeps
};

// Every baseline tuned per n on `validation` and measured on `test` (same d, n_max and s; s > 0).
// Deterministic: the same result for any thread count (work is cut by prompt, sums run in order).
std::vector<BaselineCurve> RegressionBaselines(const RegressionPrompts& validation, const RegressionPrompts& test,
                                               const BaselineOptions& options);

// The candidate a validation set picks: errors (P, K) row-major, row p = one prompt's error for each
// of K candidates; the candidate with the smallest mean (or median) over prompts, the first on ties;
// non-finite values count as +infinity.
int SelectCandidate(const std::vector<double>& errors, int prompts, int candidates, Selection selection);

// The curves as arrays below `prefix`: <prefix>/<name>/risk_by_n [n_max+1] (dims "n"),
// <prefix>/<name>/best_hparam [n_max+1] (dims "n") or [n_max+1, k] (dims "n,hparam"), attribute
// `hparams` naming them (none for ols), <prefix>/<name>/validation_risk [n_max+1], and with
// per_prompt <prefix>/<name>/risk_by_prompt [n_max+1, P] (dims "n,prompt").
std::vector<AnalysisArray> BaselineArrays(const std::vector<BaselineCurve>& curves, const std::string& prefix,
                                          const RegressionPrompts& test, const BaselineOptions& options);

// Registry entry analysis.baselines (regression tasks, Task::DrawRegression): every baseline tuned on
// analysis.baselines.validation_prompts prompts of the task's "val" split and measured on the test
// prompts of analysis.icl_risk (DrawIclPrompts: analysis.icl_risk.prompts of "test" under
// eval.seed), so the model's risk_by_n and the baselines' share their prompts. Reads no parameters:
// L is the model's layer count unless analysis.baselines.layers says otherwise.
void DeclareBaselinesOptions(OptionSet& set);
bool ReadBaselinesOptions(Options& options);
std::string BaselinesApplies(const AnalysisInputs& in, const AnalysisOptions& options);
std::vector<AnalysisArray> BaselinesAnalysis(const AnalysisInputs& in, const AnalysisOptions& options);

}  // namespace sim
