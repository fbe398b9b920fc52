// sparse_linreg: in-context sparse linear regression (Garg et al. 2022's SparseLinearRegression; the
// heads study, Chen, Zhao & Zou 2024; spec: shared/specs/heads.md §3, §4, §9).
//
// Per prompt: w ~ N(0, I_d), then all but s uniformly chosen coordinates set to 0 (w*); examples
// x_i ~ N(0, I_d) and a query x_q; y_i = ⟨w*, x_i⟩ + ε_i, ε_i ~ N(0, noise²) (the query's label too).
// The prompt is the plain-array RegressionPrompts (sim/data/regression_prompts.h): n_max = task.points
// examples, then the query. Sample() is DrawRegression + RegressionBatch on the same code, so a
// batch and the prompts behind it never disagree.
//
// task.layout = interleaved (the main model; Garg-style), Din = d + 1, T = 2*points + 1:
//   position 2i   (i = 0..points): (x_i, 0), x_points being the query -- scored: predicts y_i from the
//                                  i examples before it (group i, clean target ⟨w*, x_i⟩)
//   position 2i+1 (i < points):    (0, ..., 0, y_i)
//   Needs causal attention (a bidirectional model would see y_i next to x_i).
// task.layout = stacked (the theory variant, spec §4), Din = d + 1, T = points + 1:
//   positions 0..n-1: (x_i; y_i), positions n..points-1: all-zero tokens, position points: (x_q; 0),
//   the only scored position (group n). Each training or evaluation prompt draws its own n uniformly
//   from 1..points (1..n_cur under a curriculum), so risk is measured for every n; the query is
//   example n of the prompt (x_q itself when n = points), which has the query's distribution. A zero
//   token adds nothing to linear attention without normalization or biases (its key and value are
//   0); a softmax model or one with positions and biases does see the zero slots. The query is last
//   and the only scored position, so bidirectional attention is fine (and causal attention too).
//   RegressionBatch builds points examples per prompt, one per n = 1..points (b = p*points + n - 1).
//
// Metrics (every evaluation split), the excess risk against the clean target, normalized by
// E‖w*‖² = s (the zero predictor scores about 1):
//   risk_n<k>  mean (ŷ − ⟨w*, x⟩)² / s over predictions from k in-context examples, k = 0..points
//              (interleaved) or 1..points (stacked); NaN when an evaluation had no such prediction
//   risk_w     mean of risk_n<k> over the window W = {k : d/2 <= k <= d} (spec §9; NaN if empty)
//   risk_last  risk_n<points>
//
// task.curriculum (Garg et al.), training batches only: "none", or comma-separated schedules
// "d=START+INC/EVERY" and "n=START+INC/EVERY": the value is START, plus INC every EVERY steps, up to
// task.d (resp. task.points). With d_cur < d the inputs' coordinates >= d_cur are 0 and w*'s support
// is drawn among the first d_cur coordinates (min(s, d_cur) non-zeros); with n_cur < points only
// predictions from at most n_cur examples are scored (interleaved: x positions 2i, i <= n_cur; for a
// causal model the same as training on truncated prompts), stacked prompts draw n from 1..n_cur.
//
// Splits: train, test, val (each its own stream; val is for tuning baselines and is not evaluated by
// the trainer, TaskInfo::analysis_splits).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"

namespace sim {

// value(step) = min(end, start + increment * floor(step / every)); `every` = 0 means no schedule.
struct CurriculumSchedule {
  int start = 0, increment = 0, every = 0;
  bool active() const { return every > 0; }
  int At(int step, int end) const;
};

struct SparseLinregConfig {
  int d = 8;
  int points = 16;  // n_max
  double noise = 0.1;
  int s = 2;
  bool stacked = false;
  CurriculumSchedule curriculum_d, curriculum_n;
};

// Parses a task.curriculum value ("none" or "d=4+1/2000,n=8+2/2000") into config's schedules. Returns
// "" or the problem (what is expected, with the given text).
std::string ParseCurriculum(const std::string& text, SparseLinregConfig& config);

class SparseLinregTask : public Task {
 public:
  explicit SparseLinregTask(const SparseLinregConfig& config);
  const TaskInfo& info() const override { return info_; }
  void Sample(int split, Rng& rng, int batch_size, Batch& batch) const override;
  void SampleTraining(Rng& rng, int batch_size, int step, Batch& batch) const override;
  bool DrawRegression(int split, Rng& rng, int count, RegressionPrompts& out) const override;
  void RegressionBatch(const RegressionPrompts& prompts, int begin, int count, Batch& batch) const override;
  void Score(const Batch& batch, const ConstMatRef& outputs, MetricSums& sums) const override;
  void Finish(std::map<std::string, double>& metrics) const override;
  const SparseLinregConfig& config() const { return cfg_; }

  // The curriculum's input dimension and example count at training step `step`.
  int DAt(int step) const { return cfg_.curriculum_d.At(step, cfg_.d); }
  int NAt(int step) const { return cfg_.curriculum_n.At(step, cfg_.points); }

 private:
  // Draws `count` prompts with inputs in the first d_cur coordinates into `out` (full d and n_max).
  void Draw(Rng& rng, int count, int d_cur, RegressionPrompts& out) const;
  // Sample with the curriculum's d_cur and n_cur.
  void SampleAt(Rng& rng, int batch_size, int d_cur, int n_cur, Batch& batch) const;
  // Example b of `batch` from prompt p: interleaved, scoring predictions from 0..n_scored examples;
  // stacked, n in-context examples and the query.
  void WriteInterleaved(const RegressionPrompts& prompts, int p, int n_scored, int b, Batch& batch) const;
  void WriteStacked(const RegressionPrompts& prompts, int p, int n, int b, Batch& batch) const;

  SparseLinregConfig cfg_;
  TaskInfo info_;
  int n_min_ = 0;                        // smallest group: 0 (interleaved) or 1 (stacked)
  std::vector<std::string> risk_names_;  // "risk_n<k>" for k = 0..points
  int window_lo_ = 0, window_hi_ = -1;   // W = [window_lo_, window_hi_] ∩ [n_min_, points]
};

void DeclareSparseLinregOptions(OptionSet& set);
std::unique_ptr<Task> MakeSparseLinreg(Options& options);

}  // namespace sim
