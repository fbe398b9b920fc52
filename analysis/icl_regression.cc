#include "analysis/icl_regression.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include <Eigen/Cholesky>

#include "analysis/head_analyses.h"
#include "sim/config/options.h"
#include "sim/core/check.h"
#include "sim/core/rng.h"

namespace sim {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kPromptsPerBatch = 256;  // model batches over the prompts (activations stay small)

AnalysisArray Vector(const std::string& path, std::vector<double> values, const std::string& dims) {
  AnalysisArray a;
  a.path = path;
  a.dims = {static_cast<uint64_t>(values.size())};
  a.data = std::move(values);
  a.string_attrs["dims"] = dims;
  return a;
}

// Runs the model over `prompts` in batches and calls visit(batch, ws, first_prompt) after each Forward.
template <typename Visit>
void ForEachBatch(const Transformer& model, const Task& task, const RegressionPrompts& prompts,
                  const std::vector<Vec>* gates, Visit visit) {
  Batch batch;
  std::unique_ptr<Workspace> ws;
  ForwardHooks hooks;
  hooks.head_gates = gates;
  for (int begin = 0; begin < prompts.count; begin += kPromptsPerBatch) {
    const int count = std::min(kPromptsPerBatch, prompts.count - begin);
    task.RegressionBatch(prompts, begin, count, batch);
    SIM_CHECK(batch.clean_values.size() == batch.scored.size() && batch.groups.size() == batch.scored.size(),
              "icl analyses: task ", task.info().name, " gave a batch without noise-free targets and groups");
    if (!ws || ws->shape.batch != batch.shape.batch || ws->max_scored < batch.n_scored())
      ws = model.MakeWorkspace(batch.shape, std::max(1, count * prompts.stride()));
    model.Forward(batch, *ws, gates != nullptr ? &hooks : nullptr);
    visit(batch, *ws, begin);
  }
}

AnalysisArray LayerHead(const std::string& path, const std::vector<std::vector<double>>& values, int max_heads) {
  AnalysisArray a;
  a.path = path;
  a.dims = {static_cast<uint64_t>(values.size()), static_cast<uint64_t>(max_heads)};
  a.data.assign(values.size() * max_heads, kNaN);
  for (size_t l = 0; l < values.size(); ++l)
    for (size_t h = 0; h < values[l].size(); ++h) a.data[l * max_heads + h] = values[l][h];
  a.string_attrs["dims"] = "layer,head";
  return a;
}

// Ridge probe statistics of one layer: centred second moments of features (D) and targets (K).
struct ProbeMoments {
  Eigen::MatrixXd xx, xy;  // (D, D), (D, K) sums of products
  Eigen::VectorXd x, y;    // (D), (K) sums
  double count = 0;
  void Resize(int d, int k) {
    xx = Eigen::MatrixXd::Zero(d, d);
    xy = Eigen::MatrixXd::Zero(d, k);
    x = Eigen::VectorXd::Zero(d);
    y = Eigen::VectorXd::Zero(k);
  }
};

// Probe targets at prompt p's point n: r̂ (d), r̂ ⊙ x (d), y (1).
Eigen::VectorXd ProbeTargets(const RegressionPrompts& prompts, int p, int n) {
  const int d = prompts.d;
  Eigen::VectorXd t(2 * d + 1);
  Eigen::VectorXd rhat = Eigen::VectorXd::Zero(d);
  if (n > 0) rhat = prompts.examples(p, n).cast<double>() * prompts.labels(p, n).cast<double>() / n;
  t.head(d) = rhat;
  t.segment(d, d) = rhat.cwiseProduct(prompts.point(p, n).cast<double>());
  t(2 * d) = prompts.y(prompts.column(p, n));
  return t;
}

}  // namespace

RegressionPrompts DrawIclPrompts(const Task& task, const std::string& split, int count, uint64_t seed) {
  const int index = task.SplitIndex(split);
  SIM_CHECK(index >= 0, "icl analyses: task ", task.info().name, " has no split '", split, "'");
  Rng rng = Rng::ForStream(seed, "icl/" + split);
  RegressionPrompts prompts;
  SIM_CHECK(task.DrawRegression(index, rng, count, prompts), "icl analyses: task ", task.info().name,
            " offers no regression prompts");
  return prompts;
}

std::vector<double> ModelRiskByN(const Transformer& model, const Task& task, const RegressionPrompts& prompts,
                                 const std::vector<Vec>* gates) {
  std::vector<double> sum(prompts.n_max + 1, 0.0), count(prompts.n_max + 1, 0.0);
  ForEachBatch(model, task, prompts, gates, [&](const Batch& batch, const Workspace& ws, int) {
    const auto out = ws.Outputs();  // (1, S)
    for (int j = 0; j < batch.n_scored(); ++j) {
      const int n = batch.groups[j];
      SIM_CHECK(n >= 0 && n <= prompts.n_max, "icl analyses: group ", n, " outside 0..", prompts.n_max);
      const double e = static_cast<double>(out(0, j)) - batch.clean_values[j];
      sum[n] += e * e;
      count[n] += 1;
    }
  });
  std::vector<double> risk(prompts.n_max + 1, kNaN);
  for (int n = 0; n <= prompts.n_max; ++n)
    if (count[n] > 0) risk[n] = sum[n] / count[n] / prompts.s;
  return risk;
}

RiskWindow ParseRiskWindow(const std::string& text, int d, int n_max) {
  RiskWindow w;
  if (text == "auto") {
    w.lo = std::min(d / 2, n_max);
    w.hi = std::min(d, n_max);
    return w;
  }
  const size_t dots = text.find("..");
  long lo = -1, hi = -1;
  if (dots == std::string::npos || !ParseDecimalInt(text.substr(0, dots), &lo) ||
      !ParseDecimalInt(text.substr(dots + 2), &hi) || lo < 0 || hi < lo || hi > n_max)
    throw ConfigError(Concat("analysis.icl_risk.window = '", text,
                             "': expected auto or lo..hi with 0 <= lo <= hi <= ", n_max, " (task.points)"));
  w.lo = static_cast<int>(lo);
  w.hi = static_cast<int>(hi);
  return w;
}

double WindowMean(const std::vector<double>& risk_by_n, RiskWindow w) {
  double sum = 0;
  for (int n = w.lo; n <= w.hi; ++n) sum += risk_by_n[n];
  return sum / (w.hi - w.lo + 1);
}

HeadMasking MaskHeads(const Transformer& model, const Task& task, const RegressionPrompts& prompts, RiskWindow w) {
  HeadMasking m;
  const std::vector<int> heads = HeadsPerLayer(model);
  std::vector<Vec> gates;
  for (int h : heads) gates.push_back(Vec::Ones(h));
  m.risk_by_n = ModelRiskByN(model, task, prompts, &gates);
  m.window_risk = WindowMean(m.risk_by_n, w);
  for (size_t l = 0; l < heads.size(); ++l) {
    std::vector<double> masked;
    int top = -1;
    for (int h = 0; h < heads[l]; ++h) {
      gates[l](h) = 0;
      masked.push_back(WindowMean(ModelRiskByN(model, task, prompts, &gates), w));
      gates[l](h) = 1;
      if (top < 0 || masked[h] > masked[top]) top = h;
    }
    m.masked_window_risk.push_back(masked);
    m.top1.push_back(top);
  }
  m.prune_gates = gates;
  m.reverse_gates = gates;
  for (size_t l = 0; l < heads.size(); ++l) {
    if (m.top1[l] < 0) continue;
    Vec& keep_top = l == 0 ? m.reverse_gates[l] : m.prune_gates[l];
    keep_top.setZero();
    keep_top(m.top1[l]) = 1;
  }
  return m;
}

std::string HeadMaskText(const std::vector<Vec>& gates) {
  std::string text;
  for (size_t l = 0; l < gates.size(); ++l) {
    std::string layer;
    for (Index h = 0; h < gates[l].size(); ++h)
      if (gates[l](h) == 0) layer += Concat(layer.empty() ? "" : ",", h);
    if (!layer.empty()) text += Concat(text.empty() ? "" : ";", "blocks.", l, ":", layer);
  }
  return text.empty() ? "none" : text;
}

std::vector<AnalysisArray> IclRisk(const Transformer& model, const Task& task, const RegressionPrompts& prompts,
                                   RiskWindow w) {
  const HeadMasking m = MaskHeads(model, task, prompts, w);
  const int layers = model.n_layers();
  int max_heads = 1;
  for (const auto& layer : m.masked_window_risk) max_heads = std::max<int>(max_heads, layer.size());
  std::vector<std::vector<double>> importance, share;
  std::vector<double> entropy(layers, kNaN), top1_share(layers, kNaN), top1_head(layers, kNaN);
  for (int l = 0; l < layers; ++l) {
    std::vector<double> imp, sh;
    double positive = 0;
    for (double r : m.masked_window_risk[l]) {
      imp.push_back(r - m.window_risk);
      positive += std::max(imp.back(), 0.0);
    }
    for (double i : imp) sh.push_back(positive > 0 ? std::max(i, 0.0) / positive : kNaN);
    if (positive > 0) {
      double e = 0;
      for (double s : sh)
        if (s > 0) e -= s * std::log(s);
      entropy[l] = e;
      top1_share[l] = *std::max_element(sh.begin(), sh.end());
    }
    if (m.top1[l] >= 0) top1_head[l] = m.top1[l];
    importance.push_back(imp);
    share.push_back(sh);
  }
  const std::vector<double> prune = ModelRiskByN(model, task, prompts, &m.prune_gates);
  const std::vector<double> reverse = ModelRiskByN(model, task, prompts, &m.reverse_gates);
  const auto scalar = [](const std::string& path, double v) {
    AnalysisArray a;
    a.path = path;
    a.data = {v};
    return a;
  };
  std::vector<AnalysisArray> out = {
      Vector("icl_risk/risk_by_n", m.risk_by_n, "n"),
      scalar("icl_risk/window_risk", m.window_risk),
      LayerHead("icl_risk/masked_window_risk", m.masked_window_risk, max_heads),
      LayerHead("icl_risk/importance", importance, max_heads),
      LayerHead("icl_risk/share", share, max_heads),
      Vector("icl_risk/share_entropy", entropy, "layer"),
      Vector("icl_risk/top1_share", top1_share, "layer"),
      Vector("icl_risk/top1_head", top1_head, "layer"),
      scalar("icl_risk/top1_first_layer_raise",
             m.top1.empty() || m.top1[0] < 0 ? kNaN : m.masked_window_risk[0][m.top1[0]] / m.window_risk - 1),
      Vector("icl_risk/prune/risk_by_n", prune, "n"),
      scalar("icl_risk/prune/window_risk", WindowMean(prune, w)),
      Vector("icl_risk/prune_reverse/risk_by_n", reverse, "n"),
      scalar("icl_risk/prune_reverse/window_risk", WindowMean(reverse, w)),
  };
  out[9].string_attrs["head_mask"] = HeadMaskText(m.prune_gates);
  out[11].string_attrs["head_mask"] = HeadMaskText(m.reverse_gates);
  for (AnalysisArray& a : out) {
    a.number_attrs["window_lo"] = w.lo;
    a.number_attrs["window_hi"] = w.hi;
    a.number_attrs["prompts"] = prompts.count;
  }
  return out;
}

std::vector<AnalysisArray> IclProbe(const Transformer& model, const Task& task, const RegressionPrompts& fit,
                                    const RegressionPrompts& test, RiskWindow w, double lambda,
                                    const std::vector<Vec>* prune_gates) {
  const int layers = model.n_layers(), d_model = model.config().d_model, k = 2 * fit.d + 1;
  std::vector<AnalysisArray> out;
  for (int variant = 0; variant < (prune_gates != nullptr ? 2 : 1); ++variant) {
    const std::vector<Vec>* gates = variant == 0 ? nullptr : prune_gates;
    // Pass 1: moments of (stream, targets) at the fitting prompts' points with n in W.
    std::vector<ProbeMoments> moments(layers + 1);
    for (ProbeMoments& pm : moments) pm.Resize(d_model, k);
    const auto visit_points = [&](const RegressionPrompts& prompts, const Batch& batch, int first, auto&& at_point) {
      const int t_len = batch.shape.length;
      for (int j = 0; j < batch.n_scored(); ++j) {
        const int n = batch.groups[j];
        if (n < w.lo || n > w.hi) continue;
        // Examples per prompt: 1 (interleaved) or n_max (stacked: one example per n).
        const int column = batch.scored[j],
                  per_prompt = batch.shape.batch / std::min(kPromptsPerBatch, prompts.count - first);
        const int p = first + column / t_len / per_prompt;
        at_point(column, ProbeTargets(prompts, p, n), batch.clean_values[j]);
      }
    };
    ForEachBatch(model, task, fit, gates, [&](const Batch& batch, const Workspace& ws, int first) {
      visit_points(fit, batch, first, [&](int column, const Eigen::VectorXd& t, double) {
        for (int l = 0; l <= layers; ++l) {
          const Eigen::VectorXd x = ws.stream[l].col(column).cast<double>();
          ProbeMoments& pm = moments[l];
          pm.xx.selfadjointView<Eigen::Lower>().rankUpdate(x);
          pm.xy += x * t.transpose();
          pm.x += x;
          pm.y += t;
          pm.count += 1;
        }
      });
    });
    // Ridge on centred features: W (D, K) = (C_xx + λ tr(C_xx)/D I)⁻¹ C_xy.
    std::vector<Eigen::MatrixXd> weights;
    std::vector<Eigen::VectorXd> x_mean, y_mean;
    for (ProbeMoments& pm : moments) {
      SIM_CHECK(pm.count > 1, "icl_probe: no fitting point has n in the window");
      const Eigen::VectorXd mx = pm.x / pm.count, my = pm.y / pm.count;
      Eigen::MatrixXd cxx = pm.xx.selfadjointView<Eigen::Lower>();
      cxx = cxx / pm.count - mx * mx.transpose();
      const Eigen::MatrixXd cxy = pm.xy / pm.count - mx * my.transpose();
      cxx.diagonal().array() += lambda * cxx.trace() / d_model;
      weights.push_back(cxx.ldlt().solve(cxy));
      x_mean.push_back(mx);
      y_mean.push_back(my);
    }
    // Pass 2: scores on the test prompts.
    std::vector<Eigen::VectorXd> sse(layers + 1, Eigen::VectorXd::Zero(k)), sum(layers + 1, Eigen::VectorXd::Zero(k)),
        sum2(layers + 1, Eigen::VectorXd::Zero(k));
    std::vector<double> risk(layers + 1, 0.0);
    double points = 0;
    ForEachBatch(model, task, test, gates, [&](const Batch& batch, const Workspace& ws, int first) {
      visit_points(test, batch, first, [&](int column, const Eigen::VectorXd& t, double clean) {
        for (int l = 0; l <= layers; ++l) {
          const Eigen::VectorXd x = ws.stream[l].col(column).cast<double>();
          const Eigen::VectorXd pred = weights[l].transpose() * (x - x_mean[l]) + y_mean[l];
          sse[l].array() += (pred - t).array().square();
          sum[l] += t;
          sum2[l].array() += t.array().square();
          risk[l] += (pred(k - 1) - clean) * (pred(k - 1) - clean);
        }
        points += 1;
      });
    });
    SIM_CHECK(points > 0, "icl_probe: no test point has n in the window");
    std::vector<double> rhat_r2, rhat_x_r2, y_risk;
    for (int l = 0; l <= layers; ++l) {
      const Eigen::VectorXd ss_tot = sum2[l] - sum[l].cwiseProduct(sum[l]) / points;
      const Eigen::VectorXd r2 = Eigen::VectorXd::Ones(k) - sse[l].cwiseQuotient(ss_tot);
      rhat_r2.push_back(r2.head(fit.d).mean());
      rhat_x_r2.push_back(r2.segment(fit.d, fit.d).mean());
      y_risk.push_back(risk[l] / points / test.s);
    }
    const std::string prefix = variant == 0 ? "icl_probe/" : "icl_probe/prune/";
    out.push_back(Vector(prefix + "rhat_r2", rhat_r2, "stream"));
    out.push_back(Vector(prefix + "rhat_x_r2", rhat_x_r2, "stream"));
    out.push_back(Vector(prefix + "y_risk", y_risk, "stream"));
    if (variant == 1) out.back().string_attrs["head_mask"] = HeadMaskText(*prune_gates);
  }
  for (AnalysisArray& a : out) {
    a.number_attrs["window_lo"] = w.lo;
    a.number_attrs["window_hi"] = w.hi;
    a.number_attrs["fit_prompts"] = fit.count;
    a.number_attrs["test_prompts"] = test.count;
    a.number_attrs["lambda"] = lambda;
  }
  return out;
}

namespace {

void Declare(OptionSet& set, const std::string& key, const std::string& value, const std::string& help) {
  OptionDecl decl{key, value, help, ""};
  decl.omit_at_default = true;  // added after runs existed: they keep their config text and names
  set.Declare(decl);
}

struct IclSettings {
  int prompts, fit_prompts;
  RiskWindow window;
  double lambda;
};

}  // namespace

void DeclareIclRiskOptions(OptionSet& set) {
  Declare(set, "analysis.icl_risk", "false",
          "store /analysis/icl_risk (regression tasks): excess risk by n, per-head masking importance and shares "
          "over the window, the pruned and reverse-pruned models");
  Declare(set, "analysis.icl_risk.prompts", "4096", "test prompts (stream icl/test under eval.seed)");
  Declare(set, "analysis.icl_risk.window", "auto",
          "the window W of n averaged over: auto (d/2..d) or lo..hi (in-context examples)");
}

void DeclareIclProbeOptions(OptionSet& set) {
  Declare(set, "analysis.icl_probe", "false",
          "store /analysis/icl_probe (regression tasks): ridge probes of the residual stream for r^, r^*x and y at "
          "the points with n in the window");
  Declare(set, "analysis.icl_probe.fit_prompts", "20000", "prompts the probes are fitted on (stream icl_probe/fit)");
  Declare(set, "analysis.icl_probe.lambda", "1e-3", "ridge strength, relative to the mean feature variance");
  Declare(set, "analysis.icl_probe.prune", "true", "also probe the pruned model of analysis.icl_risk");
}

bool ReadIclRiskOptions(Options& options) {
  options.Int("analysis.icl_risk.prompts", 1, 1 << 20);
  const std::string window = options.String("analysis.icl_risk.window");
  try {
    ParseRiskWindow(window, 0, 1 << 30);  // the bounds are checked against the task's n_max when it runs
  } catch (const ConfigError&) {
    options.Fail("analysis.icl_risk.window",
                 Concat("expected auto or lo..hi (in-context examples), got '", window, "'"));
  }
  return options.Bool("analysis.icl_risk");
}

bool ReadIclProbeOptions(Options& options) {
  options.Int("analysis.icl_probe.fit_prompts", 16, 1 << 22);
  options.Double("analysis.icl_probe.lambda", 0.0, 1e6);
  options.Bool("analysis.icl_probe.prune");
  return options.Bool("analysis.icl_probe");
}

std::string IclApplies(const AnalysisInputs& in, const AnalysisOptions& options) {
  const Task& task = *in.task;
  if (task.SplitIndex("test") < 0 || task.SplitIndex("train") < 0)
    return Concat("task '", task.info().name, "' has no train and test splits");
  RegressionPrompts probe;
  Rng rng = Rng::ForStream(0, "icl/applies");
  if (!task.DrawRegression(task.SplitIndex("test"), rng, 1, probe))
    return Concat("task '", task.info().name,
                  "' offers no regression prompts (in-context regression tasks do: ", "sparse_linreg)");
  if (in.model->config().d_model <= 0) return "the model has no residual stream";
  try {
    ParseRiskWindow(options.Text("analysis.icl_risk.window"), probe.d, probe.n_max);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::vector<AnalysisArray> IclRiskAnalysis(const AnalysisInputs& in, const AnalysisOptions& options) {
  const uint64_t seed = static_cast<uint64_t>(options.Integer("eval.seed"));
  const RegressionPrompts test =
      DrawIclPrompts(*in.task, "test", static_cast<int>(options.Integer("analysis.icl_risk.prompts")), seed);
  return IclRisk(*in.model, *in.task, test,
                 ParseRiskWindow(options.Text("analysis.icl_risk.window"), test.d, test.n_max));
}

std::vector<AnalysisArray> IclProbeAnalysis(const AnalysisInputs& in, const AnalysisOptions& options) {
  const uint64_t seed = static_cast<uint64_t>(options.Integer("eval.seed"));
  const RegressionPrompts test =
      DrawIclPrompts(*in.task, "test", static_cast<int>(options.Integer("analysis.icl_risk.prompts")), seed);
  const int fit_count = static_cast<int>(options.Integer("analysis.icl_probe.fit_prompts"));
  Rng rng = Rng::ForStream(seed, "icl_probe/fit");
  RegressionPrompts fit;
  SIM_CHECK(in.task->DrawRegression(in.task->SplitIndex("train"), rng, fit_count, fit), "icl_probe: no prompts");
  const RiskWindow w = ParseRiskWindow(options.Text("analysis.icl_risk.window"), test.d, test.n_max);
  std::vector<Vec> prune;
  const bool with_prune = options.Flag("analysis.icl_probe.prune");
  if (with_prune) prune = MaskHeads(*in.model, *in.task, test, w).prune_gates;
  return IclProbe(*in.model, *in.task, fit, test, w, options.Number("analysis.icl_probe.lambda"),
                  with_prune ? &prune : nullptr);
}

}  // namespace sim
