#include "tasks/sparse_linreg.h"

#include <algorithm>
#include <cmath>

#include "sim/config/options.h"
#include "sim/core/check.h"
#include "sim/core/glob.h"
#include "tasks/task_helpers.h"

namespace sim {

int CurriculumSchedule::At(int step, int end) const {
  if (!active()) return end;
  const long value = start + static_cast<long>(increment) * (step / every);
  return static_cast<int>(std::min<long>(value, end));
}

std::string ParseCurriculum(const std::string& text, SparseLinregConfig& config) {
  config.curriculum_d = config.curriculum_n = CurriculumSchedule{};
  const std::string value = Trim(text);
  if (value.empty() || value == "none") return "";
  const std::string expected = "expected none or comma-separated d=START+INC/EVERY, n=START+INC/EVERY";
  for (const std::string& item : SplitList(value)) {
    const size_t eq = item.find('='), plus = item.find('+'), slash = item.find('/');
    if (eq == std::string::npos || plus == std::string::npos || slash == std::string::npos || !(eq < plus) ||
        !(plus < slash))
      return Concat(expected, "; '", Excerpt(item), "' is not of that form");
    const std::string var = Trim(item.substr(0, eq));
    long start = 0, inc = 0, every = 0;
    if (!ParseDecimalInt(Trim(item.substr(eq + 1, plus - eq - 1)), &start) ||
        !ParseDecimalInt(Trim(item.substr(plus + 1, slash - plus - 1)), &inc) ||
        !ParseDecimalInt(Trim(item.substr(slash + 1)), &every))
      return Concat(expected, "; '", Excerpt(item), "' has a part that is not an integer");
    const int end = var == "d" ? config.d : config.points;
    CurriculumSchedule* schedule = var == "d" ? &config.curriculum_d : var == "n" ? &config.curriculum_n : nullptr;
    if (schedule == nullptr) return Concat(expected, "; unknown variable '", Excerpt(var), "' (d or n)");
    if (schedule->active()) return Concat(expected, "; '", var, "' is given twice");
    if (start < 1 || start > end)
      return Concat(var, "'s START must be in [1, ", end, "] (task.", var == "d" ? "d" : "points", "), not ", start);
    if (inc < 1 || inc > end) return Concat(var, "'s INC must be in [1, ", end, "], not ", inc);
    if (every < 1 || every > (1L << 30)) return Concat(var, "'s EVERY must be in [1, 2^30], not ", every);
    *schedule = {static_cast<int>(start), static_cast<int>(inc), static_cast<int>(every)};
  }
  return "";
}

namespace {

// Scratch for Sample: one per thread, so a const task can be sampled from several threads at once;
// it keeps its capacity, so sampling the same shape again allocates nothing.
struct SampleScratch {
  RegressionPrompts prompts;
  std::vector<int> perm;     // Fisher-Yates scratch (d)
  std::vector<int> support;  // (s)
};
SampleScratch& Scratch() {
  thread_local SampleScratch scratch;
  return scratch;
}

}  // namespace

SparseLinregTask::SparseLinregTask(const SparseLinregConfig& config) : cfg_(config) {
  info_.name = "sparse_linreg";
  info_.input = InputKind::kVectors;
  info_.d_in = cfg_.d + 1;
  info_.output = OutputKind::kScalar;
  info_.n_classes = 0;
  info_.length = cfg_.stacked ? cfg_.points + 1 : 2 * cfg_.points + 1;
  info_.max_scored_per_example = cfg_.stacked ? 1 : cfg_.points + 1;
  info_.splits = {"train", "test", "val"};
  info_.analysis_splits = {"val"};
  info_.requires_causal = !cfg_.stacked;
  info_.causal_reason = "with task.layout = interleaved a bidirectional model would see y_i next to x_i";
  n_min_ = cfg_.stacked ? 1 : 0;
  for (int k = 0; k <= cfg_.points; ++k) risk_names_.push_back(Concat("risk_n", k));
  window_lo_ = std::max((cfg_.d + 1) / 2, n_min_);  // n >= d/2
  window_hi_ = std::min(cfg_.d, cfg_.points);
}

void SparseLinregTask::Draw(Rng& rng, int count, int d_cur, RegressionPrompts& out) const {
  const int d = cfg_.d, stride = cfg_.points + 1, k = std::min(cfg_.s, d_cur);
  out.d = d;
  out.n_max = cfg_.points;
  out.s = cfg_.s;
  out.noise = cfg_.noise;
  out.count = count;
  out.x.resize(d, static_cast<Index>(count) * stride);
  out.y.resize(static_cast<Index>(count) * stride);
  out.f.resize(static_cast<Index>(count) * stride);
  out.w.resize(d, count);
  SampleScratch& s = Scratch();
  s.support.resize(k);
  for (int p = 0; p < count; ++p) {
    // w*: N(0, I_d), then all but k uniformly chosen coordinates (among the first d_cur) set to 0.
    auto w = out.w.col(p);
    for (int j = 0; j < d; ++j) w(j) = static_cast<Scalar>(rng.Normal());
    rng.SampleWithoutReplacement(d_cur, k, s.perm, s.support.data());
    for (int j = 0; j < d; ++j) {
      const bool in_support = std::find(s.support.begin(), s.support.end(), j) != s.support.end();
      if (!in_support) w(j) = 0;
    }
    for (int i = 0; i < stride; ++i) {
      const Index c = out.column(p, i);
      auto x = out.x.col(c);
      for (int j = 0; j < d; ++j) x(j) = static_cast<Scalar>(rng.Normal());
      for (int j = d_cur; j < d; ++j) x(j) = 0;
      double f = 0.0;  // ⟨w*, x⟩ in double, in coordinate order
      for (int j = 0; j < d; ++j) f += static_cast<double>(w(j)) * x(j);
      const double eps = rng.Normal();  // drawn even at noise 0, so the stream does not depend on it
      out.f(c) = static_cast<Scalar>(f);
      out.y(c) = static_cast<Scalar>(f + cfg_.noise * eps);
    }
  }
}

void SparseLinregTask::WriteInterleaved(const RegressionPrompts& prompts, int p, int n_scored, int b,
                                        Batch& batch) const {
  const int d = cfg_.d, t_len = info_.length;
  for (int i = 0; i <= cfg_.points; ++i) {
    const Index c = prompts.column(p, i);
    const Index x_col = static_cast<Index>(b) * t_len + 2 * i;
    batch.vectors.col(x_col).head(d) = prompts.x.col(c);
    batch.vectors(d, x_col) = 0;
    if (i < cfg_.points) {
      batch.vectors.col(x_col + 1).head(d).setZero();
      batch.vectors(d, x_col + 1) = prompts.y(c);
    }
    if (i <= n_scored) batch.AddScalarTarget(b, 2 * i, prompts.y(c), prompts.f(c), i);
  }
}

void SparseLinregTask::WriteStacked(const RegressionPrompts& prompts, int p, int n, int b, Batch& batch) const {
  const int d = cfg_.d, t_len = info_.length;
  auto tokens = batch.vectors.middleCols(static_cast<Index>(b) * t_len, t_len);  // (d+1, T)
  for (int i = 0; i < cfg_.points; ++i) {
    if (i < n) {
      tokens.col(i).head(d) = prompts.x.col(prompts.column(p, i));
      tokens(d, i) = prompts.y(prompts.column(p, i));
    } else {
      tokens.col(i).setZero();  // unused example slot
    }
  }
  const Index q = prompts.column(p, n);
  tokens.col(cfg_.points).head(d) = prompts.x.col(q);
  tokens(d, cfg_.points) = 0;
  batch.AddScalarTarget(b, cfg_.points, prompts.y(q), prompts.f(q), n);
}

void SparseLinregTask::SampleAt(Rng& rng, int batch_size, int d_cur, int n_cur, Batch& batch) const {
  RegressionPrompts& prompts = Scratch().prompts;
  Draw(rng, batch_size, d_cur, prompts);
  batch.Reset({batch_size, info_.length}, InputKind::kVectors, OutputKind::kScalar, info_.d_in);
  for (int b = 0; b < batch_size; ++b) {
    if (cfg_.stacked)
      WriteStacked(prompts, b, 1 + static_cast<int>(rng.Below(static_cast<uint64_t>(n_cur))), b, batch);
    else
      WriteInterleaved(prompts, b, n_cur, b, batch);
  }
}

void SparseLinregTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  SampleAt(rng, batch_size, cfg_.d, cfg_.points, batch);
}

void SparseLinregTask::SampleTraining(Rng& rng, int batch_size, int step, Batch& batch) const {
  SampleAt(rng, batch_size, DAt(step), NAt(step), batch);
}

bool SparseLinregTask::DrawRegression(int split, Rng& rng, int count, RegressionPrompts& out) const {
  SIM_CHECK(split >= 0 && split < static_cast<int>(info_.splits.size()), "sparse_linreg: split ", split,
            " outside [0, ", info_.splits.size(), ")");
  SIM_CHECK(count >= 1, "sparse_linreg: DrawRegression of ", count, " prompts");
  Draw(rng, count, cfg_.d, out);
  return true;
}

void SparseLinregTask::RegressionBatch(const RegressionPrompts& prompts, int begin, int count, Batch& batch) const {
  SIM_CHECK(prompts.d == cfg_.d && prompts.n_max == cfg_.points, "sparse_linreg: prompts of d=", prompts.d,
            ", n_max=", prompts.n_max, " for a task of d=", cfg_.d, ", points=", cfg_.points);
  SIM_CHECK(begin >= 0 && count >= 1 && begin + count <= prompts.count, "sparse_linreg: prompts [", begin, ", ",
            begin + count, ") of ", prompts.count);
  const int per_prompt = cfg_.stacked ? cfg_.points : 1;
  batch.Reset({count * per_prompt, info_.length}, InputKind::kVectors, OutputKind::kScalar, info_.d_in);
  for (int p = 0; p < count; ++p) {
    if (cfg_.stacked)
      for (int n = 1; n <= cfg_.points; ++n) WriteStacked(prompts, begin + p, n, p * per_prompt + n - 1, batch);
    else
      WriteInterleaved(prompts, begin + p, cfg_.points, p, batch);
  }
}

void SparseLinregTask::Score(const Batch& batch, const ConstMatRef& outputs, MetricSums& sums) const {
  SIM_CHECK(
      static_cast<int>(batch.groups.size()) == batch.n_scored() && batch.clean_values.size() == batch.groups.size(),
      "sparse_linreg: a batch without its clean targets and groups (", batch.n_scored(), " scored, ",
      batch.clean_values.size(), " clean targets, ", batch.groups.size(), " groups)");
  std::vector<double> err(cfg_.points + 1, 0.0), count(cfg_.points + 1, 0.0);
  for (int j = 0; j < batch.n_scored(); ++j) {
    const int g = batch.groups[j];
    SIM_CHECK(g >= n_min_ && g <= cfg_.points, "sparse_linreg: group ", g, " outside [", n_min_, ", ", cfg_.points,
              "]");
    const double diff = static_cast<double>(outputs(0, j)) - batch.clean_values[j];
    err[g] += diff * diff;
    count[g] += 1.0;
  }
  // Every group is added, with count 0 when absent, so the metric names are the same every evaluation.
  for (int k = n_min_; k <= cfg_.points; ++k) sums.Add(risk_names_[k], err[k] / cfg_.s, count[k]);
}

void SparseLinregTask::Finish(std::map<std::string, double>& metrics) const {
  double sum = 0.0;
  for (int k = window_lo_; k <= window_hi_; ++k) sum += metrics.at(risk_names_[k]);
  metrics["risk_w"] = window_lo_ <= window_hi_ ? sum / (window_hi_ - window_lo_ + 1) : NAN;
  metrics["risk_last"] = metrics.at(risk_names_[cfg_.points]);
}

void DeclareSparseLinregOptions(OptionSet& set) {
  const std::string owner = "task:sparse_linreg";
  set.Declare({"task.d", "8", "input dimension d", owner});
  set.Declare({"task.points", "16",
               "in-context examples per prompt n_max (then a query); interleaved: T = 2*points + 1, stacked: "
               "T = points + 1",
               owner});
  set.Declare({"task.noise", "0.1", "label noise standard deviation", owner});
  set.Declare({"task.s", "2", "non-zero coordinates of w* (1 <= s <= d)", owner});
  set.Declare({"task.layout", "interleaved",
               "interleaved (x_1, y_1, ..., x_n, y_n, x_q; causal) | stacked ((x_i; y_i) tokens, query (x_q; 0) "
               "last, n uniform in 1..points per prompt)",
               owner});
  set.Declare({"task.curriculum", "none",
               "training curriculum over d and n: none | d=START+INC/EVERY,n=START+INC/EVERY (START, plus INC "
               "every EVERY steps, up to task.d / task.points)",
               owner});
}

std::unique_ptr<Task> MakeSparseLinreg(Options& options) {
  const OptionErrorScope read(options);
  SparseLinregConfig c;
  const OptionErrorScope sizes_read(options);
  c.d = static_cast<int>(options.Int("task.d", 1, 4096));
  c.points = static_cast<int>(options.Int("task.points", 1, 1 << 14));
  const bool sizes_ok = sizes_read.ok();
  c.noise = options.Double("task.noise", 0.0, 1e6);
  const OptionErrorScope s_read(options);
  c.s = static_cast<int>(options.Int("task.s", 1, 4096));
  if (s_read.ok() && sizes_ok && c.s > c.d) options.Fail("task.s", Concat("must be in [1, task.d = ", c.d, "]"));
  c.stacked = options.Choice("task.layout", {"interleaved", "stacked"}) == "stacked";
  if (sizes_ok) {
    const std::string problem = ParseCurriculum(options.String("task.curriculum"), c);
    if (!problem.empty()) options.Fail("task.curriculum", problem);
  }
  return MakeIfClean<SparseLinregTask>(read, c);
}

}  // namespace sim
