#include "analysis/regression_baselines.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Eigenvalues>
#include <Eigen/QR>

#include "analysis/icl_regression.h"
#include "sim/core/check.h"
#include "sim/core/rng.h"
#include "sim/kernels/parallel.h"

namespace sim {

using Eigen::MatrixXd;
using Eigen::VectorXd;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// The grids (spec §8). Lasso's α are solved in this (descending) order, each warm-started from the
// previous solution.
std::vector<double> LogGrid(double lo_exponent, double step, int count) {
  std::vector<double> grid;
  for (int k = 0; k < count; ++k) grid.push_back(std::pow(10.0, lo_exponent + step * k));
  return grid;
}
const std::vector<double>& RidgeLambdas() {
  static const std::vector<double> grid = LogGrid(-4, 0.5, 13);  // 1e-4 .. 1e2
  return grid;
}
const std::vector<double>& LassoAlphas() {
  static const std::vector<double> grid = {1, 0.3, 0.1, 0.03, 0.01, 0.001, 0.0001};
  return grid;
}
const std::vector<double>& Etas() {
  static const std::vector<double> grid = LogGrid(-3, 0.25, 17);  // 1e-3 .. 1e1
  return grid;
}
const std::vector<double>& ShiftCs() {
  static const std::vector<double> grid = LogGrid(-1, 0.5, 9);  // 0.1 .. 1e3
  return grid;
}

// Prompts per parallel work item (a rule on shapes only: the same items for any thread count).
constexpr int kPromptsPerItem = 16;

enum class Kind { kOls, kRidge, kLasso, kGd, kPtoDiag, kPtoShift };

// One reported baseline: its candidates (hyperparameter tuples) occupy columns [offset, offset + K)
// of a prompt's error row.
struct Family {
  Kind kind;
  int steps = 0;  // GD-type: T
  std::string name;
  std::vector<std::string> hparams;
  std::vector<std::vector<double>> candidates;
  int offset = 0;
  bool eta_tuned = false;
};

std::vector<Family> MakeFamilies(int layers) {
  std::vector<Family> families;
  families.push_back({Kind::kOls, 0, "ols", {}, {{}}});
  Family ridge{Kind::kRidge, 0, "ridge", {"lambda"}, {}};
  for (double l : RidgeLambdas()) ridge.candidates.push_back({l});
  families.push_back(ridge);
  Family lasso{Kind::kLasso, 0, "lasso", {"alpha"}, {}};
  for (double a : LassoAlphas()) lasso.candidates.push_back({a});
  families.push_back(lasso);
  const auto step_counts = [&](std::vector<int> extra) {
    std::vector<int> steps = {layers - 1};
    for (int t : extra)
      if (std::find(steps.begin(), steps.end(), t) == steps.end()) steps.push_back(t);
    return steps;
  };
  for (int t : step_counts({10, 50})) {
    Family gd{Kind::kGd, t, "gd/T" + std::to_string(t), {"eta"}, {}};
    for (double e : Etas()) gd.candidates.push_back({e});
    families.push_back(gd);
  }
  for (int t : step_counts({10})) {
    Family diag{Kind::kPtoDiag, t, "pto_diag/T" + std::to_string(t), {"eta"}, {}};
    for (double e : Etas()) diag.candidates.push_back({e});
    families.push_back(diag);
  }
  for (int t : step_counts({10})) {
    Family shift{Kind::kPtoShift, t, "pto_shift/T" + std::to_string(t), {"c", "eta"}, {}};
    for (double c : ShiftCs())
      for (double e : Etas()) shift.candidates.push_back({c, e});
    families.push_back(shift);
  }
  int offset = 0;
  for (Family& f : families) {
    f.offset = offset;
    offset += static_cast<int>(f.candidates.size());
    f.eta_tuned = f.kind == Kind::kGd || f.kind == Kind::kPtoDiag || f.kind == Kind::kPtoShift;
  }
  return families;
}

int TotalCandidates(const std::vector<Family>& families) {
  return families.back().offset + static_cast<int>(families.back().candidates.size());
}

// Squared errors (ŷ − f)² at prompt p with n examples of the candidates `wanted` marks (all of them
// when wanted is empty) into row (TotalCandidates); the others are left alone. Returns how many
// lasso fits did not converge.
int PromptErrors(const RegressionPrompts& prompts, int p, int n, const std::vector<Family>& families, bool eta_cap,
                 const std::vector<char>& wanted, double* row) {
  const double f = prompts.point_target(p, n);
  const int total = TotalCandidates(families);
  const auto want = [&](const Family& family, int k) { return wanted.empty() || wanted[family.offset + k] != 0; };
  if (n == 0) {  // nothing to fit: every estimator predicts 0
    std::fill(row, row + total, f * f);
    return 0;
  }
  const MatrixXd x = prompts.examples(p, n).cast<double>();  // (d, n)
  const VectorXd y = prompts.labels(p, n).cast<double>();    // (n)
  const VectorXd xq = prompts.point(p, n).cast<double>();    // (d)
  const RegressionGram gram = MakeGram(x, y);
  const auto error = [&](double prediction) { return (prediction - f) * (prediction - f); };
  const auto eta_of = [&](double eta, const SpectralFit& fit) {
    return eta_cap ? CappedEta(eta, fit.lambda_max) : eta;
  };
  // The eigen-decompositions the wanted candidates need: P = I, the diagonal PtO, each shift c.
  const int n_eta = static_cast<int>(Etas().size());
  bool need_plain = false, need_diag = false;
  std::vector<char> need_shift(ShiftCs().size(), 0);
  for (const Family& family : families)
    for (int k = 0; k < static_cast<int>(family.candidates.size()); ++k) {
      if (!want(family, k)) continue;
      need_plain |= family.kind == Kind::kRidge || family.kind == Kind::kGd;
      need_diag |= family.kind == Kind::kPtoDiag;
      if (family.kind == Kind::kPtoShift) need_shift[k / n_eta] = 1;
    }
  SpectralFit plain, diag;
  if (need_plain) plain = MakeSpectralFit(gram, VectorXd::Ones(prompts.d), xq);
  if (need_diag) diag = MakeSpectralFit(gram, PtoDiagPreconditioner(gram.b), xq);
  std::vector<SpectralFit> shifted(ShiftCs().size());
  for (size_t c = 0; c < ShiftCs().size(); ++c)
    if (need_shift[c]) shifted[c] = MakeSpectralFit(gram, PtoShiftPreconditioner(gram.b, ShiftCs()[c]), xq);
  int unconverged = 0;
  for (const Family& family : families) {
    double* out = row + family.offset;
    const int k_count = static_cast<int>(family.candidates.size());
    int last = -1;  // the last wanted candidate (the lasso path stops there)
    for (int k = 0; k < k_count; ++k)
      if (want(family, k)) last = k;
    if (last < 0) continue;
    switch (family.kind) {
      case Kind::kOls:
        out[0] = error(OlsWeights(x, y).dot(xq));
        break;
      case Kind::kRidge:
        for (int k = 0; k <= last; ++k)
          if (want(family, k)) out[k] = error(RidgePredict(plain, family.candidates[k][0]));
        break;
      case Kind::kLasso: {
        // The α path from the largest, each fit warm-started from the previous one, whichever are wanted.
        VectorXd w = VectorXd::Zero(prompts.d);
        for (int k = 0; k <= last; ++k) {
          const LassoFit fit = Lasso(gram, family.candidates[k][0], w);
          unconverged += !fit.converged;
          w = fit.w;
          if (want(family, k)) out[k] = error(w.dot(xq));
        }
        break;
      }
      case Kind::kGd:
      case Kind::kPtoDiag: {
        const SpectralFit& fit = family.kind == Kind::kGd ? plain : diag;
        for (int k = 0; k <= last; ++k)
          if (want(family, k)) out[k] = error(GdPredict(fit, eta_of(family.candidates[k][0], fit), family.steps));
        break;
      }
      case Kind::kPtoShift:
        for (int k = 0; k <= last; ++k) {
          if (!want(family, k)) continue;
          const SpectralFit& fit = shifted[k / n_eta];
          out[k] = error(GdPredict(fit, eta_of(family.candidates[k][1], fit), family.steps));
        }
        break;
    }
  }
  return unconverged;
}

// Every prompt's error row at n: errors (P, K) row-major, NaN where not wanted. Returns the
// unconverged lasso fits.
int AllErrors(const RegressionPrompts& prompts, int n, const std::vector<Family>& families, bool eta_cap,
              const std::vector<char>& wanted, std::vector<double>& errors) {
  const int total = TotalCandidates(families);
  errors.assign(static_cast<size_t>(prompts.count) * total, kNaN);
  std::vector<int> unconverged(prompts.count, 0);
  const int items = (prompts.count + kPromptsPerItem - 1) / kPromptsPerItem;
  ParallelFor(items, [&](int item) {
    const int end = std::min(prompts.count, (item + 1) * kPromptsPerItem);
    for (int p = item * kPromptsPerItem; p < end; ++p)
      unconverged[p] =
          PromptErrors(prompts, p, n, families, eta_cap, wanted, errors.data() + static_cast<size_t>(p) * total);
  });
  int sum = 0;
  for (int u : unconverged) sum += u;
  return sum;
}

// Columns [offset, offset + k) of errors (P, total), as a (P, k) block.
std::vector<double> Block(const std::vector<double>& errors, int prompts, int total, int offset, int k) {
  std::vector<double> block(static_cast<size_t>(prompts) * k);
  for (int p = 0; p < prompts; ++p)
    for (int j = 0; j < k; ++j)
      block[static_cast<size_t>(p) * k + j] = errors[static_cast<size_t>(p) * total + offset + j];
  return block;
}

double Finite(double v) { return std::isfinite(v) ? v : kInf; }

}  // namespace

// ---- One prompt ----------------------------------------------------------------------------------

RegressionGram MakeGram(const MatrixXd& x, const VectorXd& y) {
  SIM_CHECK(x.cols() == y.size(), "MakeGram: x has ", x.cols(), " examples, y has ", y.size());
  RegressionGram gram;
  gram.n = static_cast<int>(x.cols());
  const Index d = x.rows();
  if (gram.n == 0) {
    gram.g = MatrixXd::Zero(d, d);
    gram.b = VectorXd::Zero(d);
    return gram;
  }
  const double inv_n = 1.0 / gram.n;
  gram.g.noalias() = inv_n * x * x.transpose();
  gram.b.noalias() = inv_n * x * y;
  gram.yy = inv_n * y.squaredNorm();
  return gram;
}

VectorXd OlsWeights(const MatrixXd& x, const VectorXd& y) {
  SIM_CHECK(x.cols() == y.size(), "OlsWeights: x has ", x.cols(), " examples, y has ", y.size());
  if (x.cols() == 0) return VectorXd::Zero(x.rows());
  // Xᵀ (n, d): the complete orthogonal decomposition's solve is the minimum-norm least-squares solution.
  const MatrixXd xt = x.transpose();
  return xt.completeOrthogonalDecomposition().solve(y);
}

VectorXd RidgeWeights(const RegressionGram& gram, double lambda) {
  MatrixXd a = gram.g;
  a.diagonal().array() += lambda;
  return a.ldlt().solve(gram.b);
}

double LassoGap(const RegressionGram& gram, double alpha, const VectorXd& w) {
  const VectorXd gw = gram.g * w;
  const double wb = w.dot(gram.b);
  const double q = std::max(0.0, gram.yy - 2.0 * wb + w.dot(gw));  // ‖y − Xᵀw‖²/n
  const double yr = gram.yy - wb;                                  // yᵀ(y − Xᵀw)/n
  const double dual_norm = (gram.b - gw).cwiseAbs().maxCoeff();    // ‖X(y − Xᵀw)‖∞/n
  const double s = dual_norm > alpha ? alpha / dual_norm : 1.0;
  return 0.5 * q * (1.0 + s * s) + alpha * w.lpNorm<1>() - s * yr;
}

namespace {

// The active-set finish of Lasso: feature-sign search (Lee, Battle, Raina & Ng 2007; an active-set
// method as in Osborne, Presnell & Turlach 2000) from a coordinate-descent iterate w. On a support S
// with signs σ the objective is the quadratic f_σ(w) = ½wᵀGw − bᵀw + α σᵀw, minimized by
// G_SS u = b_S − α σ_S.
//   1. Move w towards u, dropping from S every coordinate that reaches 0 on the way (f_σ falls along
//      the segment and equals the objective while the signs hold), until u keeps all the signs; then
//      w_S = u. When n < |S|, G_SS is singular (rank ≤ n): first move along a null vector v of X_Sᵀ
//      with σᵀv ≤ 0 (Xᵀw and so the fit stay, ‖w‖₁ does not grow) until a coordinate reaches 0.
//   2. If every j outside S has |b_j − (Gw)_j| ≤ α, w is the minimizer (all KKT conditions hold).
//      Otherwise add the worst j with σ_j = sign(b_j − (Gw)_j) and go to 1: w minimizes f_σ on S, so
//      the new minimizer moves w_j in the direction of σ_j (Lee et al.'s lemma), and in the singular
//      case the null direction that lowers ‖w‖₁ does too.
// Every step lowers the objective, so no (S, σ) comes back and the search ends; the round limit only
// guards against rounding. Never raises the objective; returns whether w is verified optimal.
bool ActiveSetFinish(const RegressionGram& gram, double alpha, VectorXd& w) {
  const Index d = gram.b.size();
  std::vector<Index> support;
  for (Index j = 0; j < d; ++j)
    if (w(j) != 0) support.push_back(j);
  VectorXd sign = VectorXd::Zero(d);
  for (Index j : support) sign(j) = w(j) > 0 ? 1.0 : -1.0;
  MatrixXd g_ss;
  VectorXd rhs;
  const auto drop = [&](Index a) {
    w(support[a]) = 0;
    sign(support[a]) = 0;
    support.erase(support.begin() + a);
  };
  const double slack = alpha * 1e-9 + 1e-14 * (gram.b.cwiseAbs().maxCoeff() + 1.0);  // rounding
  for (int round = 0; round < 8 * d + 16; ++round) {
    while (!support.empty()) {  // step 1
      const Index k = static_cast<Index>(support.size());
      g_ss.resize(k, k);
      rhs.resize(k);
      for (Index a = 0; a < k; ++a) {
        rhs(a) = gram.b(support[a]) - alpha * sign(support[a]);
        for (Index c = 0; c < k; ++c) g_ss(a, c) = gram.g(support[a], support[c]);
      }
      // Moves w_S along `direction` up to `limit` or to the first coordinate that reaches 0 (dropped).
      const auto move = [&](const VectorXd& direction, double limit) {
        double t = limit;
        Index hit = -1;
        for (Index a = 0; a < k; ++a) {
          const double wa = w(support[a]), da = direction(a);
          if (wa * da < 0 && -wa / da < t) {
            t = -wa / da;
            hit = a;
          }
        }
        for (Index a = 0; a < k; ++a) w(support[a]) += t * direction(a);
        if (hit >= 0) drop(hit);
        return hit >= 0;
      };
      if (k > gram.n) {  // rank(G_SS) ≤ n < k
        const Eigen::SelfAdjointEigenSolver<MatrixXd> eigen(g_ss);
        VectorXd v = eigen.eigenvectors().col(0);
        double slope = 0;
        for (Index a = 0; a < k; ++a) slope += sign(support[a]) * v(a);
        if (slope > 0) v = -v;
        if (!move(v, std::numeric_limits<double>::infinity())) return false;  // σᵀv ≤ 0, v ≠ 0: not reached
        continue;
      }
      VectorXd current(k);
      for (Index a = 0; a < k; ++a) current(a) = w(support[a]);
      const VectorXd u = g_ss.ldlt().solve(rhs);
      if (!u.allFinite()) return false;
      if (!move(u - current, 1.0)) break;  // w_S = u, the signs held
    }
    // Step 2: the KKT conditions outside the support.
    const VectorXd grad = gram.b - gram.g * w;
    Index worst = -1;
    for (Index j = 0; j < d; ++j)
      if (w(j) == 0 && std::abs(grad(j)) > alpha + slack && (worst < 0 || std::abs(grad(j)) > std::abs(grad(worst))))
        worst = j;
    if (worst < 0) return true;
    support.push_back(worst);
    sign(worst) = grad(worst) > 0 ? 1.0 : -1.0;
  }
  return false;
}

}  // namespace

LassoFit Lasso(const RegressionGram& gram, double alpha, const VectorXd& start, double tolerance, int max_sweeps) {
  const Index d = gram.b.size();
  SIM_CHECK(start.size() == d, "Lasso: start has ", start.size(), " entries, d = ", d);
  LassoFit fit;
  fit.w = start;
  const double threshold = tolerance * std::max(gram.yy, 1e-300);
  VectorXd& w = fit.w;
  // Coordinate descent finds the signs long before it converges on ill-conditioned designs (n near d,
  // small α: 10^5 sweeps and more). So once a sweep leaves the signs unchanged, the active-set finish
  // takes over; when it ends at a point that satisfies every KKT condition, that is the minimizer.
  std::vector<int> signs(d, 0), previous(d, 2), tried;
  for (fit.sweeps = 0; fit.sweeps < max_sweeps;) {
    fit.gap = LassoGap(gram, alpha, w);
    if (fit.gap <= threshold) {
      fit.converged = true;
      break;
    }
    for (Index j = 0; j < d; ++j) signs[j] = (w(j) > 0) - (w(j) < 0);
    if (signs == previous && signs != tried) {
      tried = signs;  // a step from the same signs ends where this one does: once per sign pattern
      if (ActiveSetFinish(gram, alpha, w)) {
        fit.gap = LassoGap(gram, alpha, w);
        fit.converged = true;
        break;
      }
      for (Index j = 0; j < d; ++j) signs[j] = (w(j) > 0) - (w(j) < 0);
    }
    previous = signs;
    ++fit.sweeps;
    for (Index j = 0; j < d; ++j) {
      const double gjj = gram.g(j, j);
      if (gjj <= 0) {  // a coordinate no example touches: the penalty sets it to 0
        w(j) = 0;
        continue;
      }
      // Minimizing over w_j alone: ½gjj w_j² − ρ w_j + α|w_j|, ρ = b_j − Σ_{k≠j} G_jk w_k, is soft(ρ, α)/gjj.
      const double rho = gram.b(j) - gram.g.col(j).dot(w) + gjj * w(j);
      w(j) = (rho > alpha ? rho - alpha : rho < -alpha ? rho + alpha : 0.0) / gjj;
    }
  }
  if (!fit.converged) fit.gap = LassoGap(gram, alpha, w);
  return fit;
}

VectorXd GdWeights(const RegressionGram& gram, const VectorXd& p, double eta, int steps) {
  VectorXd w = VectorXd::Zero(gram.b.size());
  for (int t = 0; t < steps; ++t) w -= eta * p.cwiseProduct(gram.g * w - gram.b);
  return w;
}

VectorXd PtoDiagPreconditioner(const VectorXd& r_hat) {
  const VectorXd d2 = r_hat.cwiseAbs2();
  const double top = d2.maxCoeff();
  return top > 0 ? VectorXd(d2 / top) : VectorXd::Ones(r_hat.size());
}

VectorXd PtoShiftPreconditioner(const VectorXd& r_hat, double c) {
  const VectorXd d2 = (1.0 + c * r_hat.cwiseAbs().array()).square().matrix();
  return d2 / d2.maxCoeff();  // ≥ 1 entries before normalizing: never 0
}

SpectralFit MakeSpectralFit(const RegressionGram& gram, const VectorXd& p, const VectorXd& x_query) {
  // w = P^{1/2} v turns preconditioned GD on w into plain GD on v with Gram M = P^{1/2} G P^{1/2}.
  const VectorXd root = p.cwiseSqrt();
  const MatrixXd m = root.asDiagonal() * gram.g * root.asDiagonal();
  const Eigen::SelfAdjointEigenSolver<MatrixXd> eigen(m);
  SpectralFit fit;
  fit.lambda = eigen.eigenvalues();
  const VectorXd c = eigen.eigenvectors().transpose() * root.cwiseProduct(gram.b);
  const VectorXd z = eigen.eigenvectors().transpose() * root.cwiseProduct(x_query);
  fit.coef = z.cwiseProduct(c);
  fit.lambda_max = std::max(0.0, fit.lambda.maxCoeff());
  return fit;
}

double GdPredict(const SpectralFit& fit, double eta, int steps) {
  // Along eigenvector i, v_T = η Σ_{t<T} (1 − ηλ_i)^t c_i, summed by Horner's rule (no cancellation
  // when ηλ_i is small, and no special case at λ_i = 0 or beyond the stable range ηλ_i ≥ 2).
  if (steps <= 0) return 0.0;
  Eigen::ArrayXd& sum = fit.scratch;
  const auto ratio = 1.0 - eta * fit.lambda.array();
  sum.setOnes(fit.lambda.size());
  for (int t = 1; t < steps; ++t) sum = 1.0 + ratio * sum;
  return eta * (fit.coef.array() * sum).sum();
}

double RidgePredict(const SpectralFit& fit, double lambda) {
  return (fit.coef.array() / (fit.lambda.array() + lambda)).sum();
}

double CappedEta(double eta, double lambda_max) {
  return lambda_max > 0 ? std::min(eta, kEtaCapFactor / lambda_max) : eta;
}

// ---- Tuning and evaluation ----------------------------------------------------------------------

int SelectCandidate(const std::vector<double>& errors, int prompts, int candidates, Selection selection) {
  SIM_CHECK(prompts > 0 && candidates > 0 && errors.size() == static_cast<size_t>(prompts) * candidates,
            "SelectCandidate: ", errors.size(), " errors for ", prompts, " prompts x ", candidates, " candidates");
  int best = 0;
  double best_value = kInf;
  std::vector<double> column(prompts);
  for (int k = 0; k < candidates; ++k) {
    for (int p = 0; p < prompts; ++p) column[p] = Finite(errors[static_cast<size_t>(p) * candidates + k]);
    double value;
    if (selection == Selection::kMean) {
      value = 0;
      for (double e : column) value += e;  // in prompt order
    } else {
      const auto mid = column.begin() + prompts / 2;
      std::nth_element(column.begin(), mid, column.end());
      value = *mid;
      if (prompts % 2 == 0) value = 0.5 * (value + *std::max_element(column.begin(), mid));
    }
    if (value < best_value) {
      best_value = value;
      best = k;
    }
  }
  return best;
}

std::vector<BaselineCurve> RegressionBaselines(const RegressionPrompts& validation, const RegressionPrompts& test,
                                               const BaselineOptions& options) {
  SIM_CHECK(validation.d == test.d && validation.n_max == test.n_max && validation.s == test.s,
            "RegressionBaselines: validation (d=", validation.d, ", n_max=", validation.n_max, ", s=", validation.s,
            ") and test (d=", test.d, ", n_max=", test.n_max, ", s=", test.s, ") prompts differ");
  SIM_CHECK(test.s > 0, "RegressionBaselines: s = ", test.s, ", the risk is normalized by s > 0");
  SIM_CHECK(validation.count > 0 && test.count > 0, "RegressionBaselines: needs prompts (validation ", validation.count,
            ", test ", test.count, ")");
  SIM_CHECK(options.layers >= 2, "RegressionBaselines: layers = ", options.layers, ", needs >= 2 (T = L - 1 steps)");
  const std::vector<Family> families = MakeFamilies(options.layers);
  const int total = TotalCandidates(families), n_max = test.n_max;
  const double s = test.s;
  std::vector<BaselineCurve> curves;
  for (const Family& f : families) {
    BaselineCurve c;
    c.name = f.name;
    c.hparams = f.hparams;
    c.risk_by_n.assign(n_max + 1, kNaN);
    c.validation_risk.assign(n_max + 1, kNaN);
    c.best_hparam.assign(static_cast<size_t>(n_max + 1) * f.hparams.size(), kNaN);
    if (options.per_prompt) c.risk_by_prompt.assign(static_cast<size_t>(n_max + 1) * test.count, kNaN);
    curves.push_back(c);
  }
  std::vector<double> val_errors, test_errors;
  std::vector<int> chosen(families.size());
  std::vector<char> wanted;
  for (int n = 0; n <= n_max; ++n) {
    // Every candidate on the validation prompts; only the chosen ones on the test prompts.
    const int val_unconverged = AllErrors(validation, n, families, options.eta_cap, {}, val_errors);
    wanted.assign(total, 0);
    for (size_t i = 0; i < families.size(); ++i) {
      const Family& f = families[i];
      const int k_count = static_cast<int>(f.candidates.size());
      const Selection selection = f.eta_tuned ? options.eta_selection : Selection::kMean;
      chosen[i] = n == 0 ? 0
                         : SelectCandidate(Block(val_errors, validation.count, total, f.offset, k_count),
                                           validation.count, k_count, selection);
      wanted[f.offset + chosen[i]] = 1;
    }
    const int test_unconverged = AllErrors(test, n, families, options.eta_cap, wanted, test_errors);
    for (size_t i = 0; i < families.size(); ++i) {
      const Family& f = families[i];
      BaselineCurve& c = curves[i];
      if (n > 0)
        for (size_t h = 0; h < f.hparams.size(); ++h)
          c.best_hparam[n * f.hparams.size() + h] = f.candidates[chosen[i]][h];
      const int column = f.offset + chosen[i];
      double val_sum = 0, test_sum = 0;
      for (int p = 0; p < validation.count; ++p) val_sum += val_errors[static_cast<size_t>(p) * total + column];
      for (int p = 0; p < test.count; ++p) {
        const double e = test_errors[static_cast<size_t>(p) * total + column];
        test_sum += e;
        if (options.per_prompt) c.risk_by_prompt[static_cast<size_t>(n) * test.count + p] = e / s;
      }
      c.validation_risk[n] = val_sum / (validation.count * s);
      c.risk_by_n[n] = test_sum / (test.count * s);
      if (f.kind == Kind::kLasso) c.unconverged_fits += val_unconverged + test_unconverged;
    }
  }
  return curves;
}

std::vector<AnalysisArray> BaselineArrays(const std::vector<BaselineCurve>& curves, const std::string& prefix,
                                          const RegressionPrompts& test, const BaselineOptions& options) {
  std::vector<AnalysisArray> arrays;
  const uint64_t n_count = static_cast<uint64_t>(test.n_max + 1);
  for (const BaselineCurve& c : curves) {
    const std::string base = prefix + "/" + c.name + "/";
    std::string hparams;
    for (const std::string& h : c.hparams) hparams += (hparams.empty() ? "" : ",") + h;
    AnalysisArray risk;
    risk.path = base + "risk_by_n";
    risk.dims = {n_count};
    risk.data = c.risk_by_n;
    risk.string_attrs["dims"] = "n";
    risk.string_attrs["normalized_by"] = "s";
    risk.number_attrs["s"] = test.s;
    risk.number_attrs["d"] = test.d;
    risk.number_attrs["noise"] = test.noise;
    risk.number_attrs["test_prompts"] = test.count;
    if (c.name == "lasso") {
      risk.string_attrs["objective"] =
          "(1/(2n))||y - X w||^2 + alpha ||w||_1 (scikit-learn's Lasso), no intercept, coordinate descent";
      risk.number_attrs["unconverged_fits"] = c.unconverged_fits;
    }
    if (c.name.find("/T") != std::string::npos) {
      risk.number_attrs["steps"] = std::stoi(c.name.substr(c.name.find("/T") + 2));
      risk.number_attrs["eta_cap"] = options.eta_cap ? kEtaCapFactor : 0.0;
      risk.string_attrs["eta_selection"] = options.eta_selection == Selection::kMean ? "mean" : "median";
    }
    arrays.push_back(risk);
    AnalysisArray val = risk;
    val.path = base + "validation_risk";
    val.data = c.validation_risk;
    val.string_attrs.erase("objective");
    val.number_attrs = {{"s", test.s}};
    arrays.push_back(val);
    if (!c.hparams.empty()) {
      AnalysisArray best;
      best.path = base + "best_hparam";
      const uint64_t k = c.hparams.size();
      best.dims = k == 1 ? std::vector<uint64_t>{n_count} : std::vector<uint64_t>{n_count, k};
      best.data = c.best_hparam;
      best.string_attrs["dims"] = k == 1 ? "n" : "n,hparam";
      best.string_attrs["hparams"] = hparams;
      arrays.push_back(best);
    }
    if (!c.risk_by_prompt.empty()) {
      AnalysisArray per;
      per.path = base + "risk_by_prompt";
      per.dims = {n_count, static_cast<uint64_t>(test.count)};
      per.data = c.risk_by_prompt;
      per.string_attrs["dims"] = "n,prompt";
      arrays.push_back(per);
    }
  }
  return arrays;
}

namespace {

void Declare(OptionSet& set, const std::string& key, const std::string& value, const std::string& help) {
  OptionDecl decl{key, value, help, ""};
  decl.omit_at_default = true;  // added after runs existed: they keep their config text and names
  set.Declare(decl);
}

// analysis.baselines.layers: "auto" = the model's layer count, else an integer >= 2 (0 = invalid).
int ResolveLayers(const std::string& text, const Transformer* model) {
  if (text == "auto") return model != nullptr ? model->n_layers() : 0;
  long value = 0;
  return ParseDecimalInt(text, &value) && value >= 2 && value <= 1000 ? static_cast<int>(value) : 0;
}

}  // namespace

void DeclareBaselinesOptions(OptionSet& set) {
  Declare(set, "analysis.baselines", "false",
          "store /analysis/baselines (regression tasks): ols, ridge, lasso, T-step GD and preprocess-then-optimize "
          "risk by n, tuned per n on the val split, on the test prompts of analysis.icl_risk");
  Declare(set, "analysis.baselines.validation_prompts", "1024",
          "prompts of the task's val split the hyperparameters are tuned on (stream icl/val under eval.seed)");
  Declare(
      set, "analysis.baselines.layers", "auto",
      "L in the step counts T = L-1 (GD also 10 and 50, PtO also 10): auto (the model's layers) or an integer >= 2");
  Declare(set, "analysis.baselines.eta_cap", "true",
          "cap each prompt's step size at 1.9/lambda_max of its (preconditioned) Gram matrix (GD and PtO)");
  Declare(set, "analysis.baselines.eta_selection", "mean",
          "validation statistic that picks GD's and PtO's step size (and c): mean or median");
  Declare(set, "analysis.baselines.per_prompt", "false",
          "also store every test prompt's risk at every n (risk_by_prompt), for paired statistics");
}

bool ReadBaselinesOptions(Options& options) {
  options.Int("analysis.baselines.validation_prompts", 1, 1 << 20);
  const std::string layers = options.String("analysis.baselines.layers");
  if (layers != "auto" && ResolveLayers(layers, nullptr) == 0)
    options.Fail("analysis.baselines.layers", Concat("expected auto or an integer >= 2, got '", layers, "'"));
  options.Bool("analysis.baselines.eta_cap");
  options.Choice("analysis.baselines.eta_selection", {"mean", "median"});
  options.Bool("analysis.baselines.per_prompt");
  return options.Bool("analysis.baselines");
}

std::string BaselinesApplies(const AnalysisInputs& in, const AnalysisOptions& options) {
  const Task& task = *in.task;
  if (task.SplitIndex("test") < 0 || task.SplitIndex("val") < 0)
    return Concat("task '", task.info().name, "' has no test and val splits");
  RegressionPrompts probe;
  Rng rng = Rng::ForStream(0, "baselines/applies");
  if (!task.DrawRegression(task.SplitIndex("test"), rng, 1, probe))
    return Concat("task '", task.info().name,
                  "' offers no regression prompts (in-context regression tasks do: sparse_linreg)");
  const std::string layers = options.Text("analysis.baselines.layers");
  if (ResolveLayers(layers, in.model) < 2)
    return Concat("analysis.baselines.layers = ", layers, ": the model has ", in.model->n_layers(),
                  " layer(s), and T = L - 1 needs L >= 2; set analysis.baselines.layers");
  return "";
}

std::vector<AnalysisArray> BaselinesAnalysis(const AnalysisInputs& in, const AnalysisOptions& options) {
  const uint64_t seed = static_cast<uint64_t>(options.Integer("eval.seed"));
  const RegressionPrompts test =
      DrawIclPrompts(*in.task, "test", static_cast<int>(options.Integer("analysis.icl_risk.prompts")), seed);
  const RegressionPrompts validation =
      DrawIclPrompts(*in.task, "val", static_cast<int>(options.Integer("analysis.baselines.validation_prompts")), seed);
  BaselineOptions baseline;
  baseline.layers = ResolveLayers(options.Text("analysis.baselines.layers"), in.model);
  baseline.eta_cap = options.Flag("analysis.baselines.eta_cap");
  baseline.eta_selection =
      options.Text("analysis.baselines.eta_selection") == "median" ? Selection::kMedian : Selection::kMean;
  baseline.per_prompt = options.Flag("analysis.baselines.per_prompt");
  std::vector<AnalysisArray> arrays =
      BaselineArrays(RegressionBaselines(validation, test, baseline), "baselines", test, baseline);
  for (AnalysisArray& a : arrays) {
    a.number_attrs["validation_prompts"] = validation.count;
    a.number_attrs["layers"] = baseline.layers;
  }
  return arrays;
}

}  // namespace sim
