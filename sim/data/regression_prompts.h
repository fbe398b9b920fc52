// In-context regression prompts as plain arrays: the regression problem behind a batch of a regression
// task (sparse_linreg), for analyses that need more than the model's inputs (classical baselines fitted
// on the same prompts, probes for the in-context correlation r̂ = Xᵀy / n, exact excess risk against the
// noise-free target). A task offers them through Task::DrawRegression, and builds the model's batch from
// the very same prompts with Task::RegressionBatch, so analysis/ needs no tasks/ header.
#pragma once

#include <vector>

#include "sim/core/types.h"

namespace sim {

struct RegressionPrompts {
  int d = 0;           // input dimension d
  int n_max = 0;       // in-context examples per prompt; each prompt also has one query
  int s = 0;           // non-zeros of w* (d for a dense prior)
  double noise = 0.0;  // label noise standard deviation σ
  int count = 0;       // prompts P

  // Prompt p's example i (i < n_max) is column p*(n_max+1) + i; its query is column p*(n_max+1) + n_max.
  Mat x;  // (d, P*(n_max+1)) inputs
  Vec y;  // (P*(n_max+1)) noisy labels ⟨w*, x⟩ + ε (the query's too, for probes of y_q)
  Vec f;  // (P*(n_max+1)) noise-free targets ⟨w*, x⟩
  Mat w;  // (d, P) the prompts' weight vectors w*

  int stride() const { return n_max + 1; }
  Index column(int p, int i) const { return static_cast<Index>(p) * stride() + i; }
  // Risk at n in-context examples, as a causal model sees it at the prompt's n-th x position: fit on
  // prompt p's first n examples (d, n) with labels (n), predict the point at column(p, n) (the next
  // example, or the query when n = n_max) and compare with its noise-free target f.
  auto examples(int p, int n) const { return x.middleCols(column(p, 0), n); }
  auto labels(int p, int n) const { return y.segment(column(p, 0), n); }
  auto point(int p, int n) const { return x.col(column(p, n)); }
  Scalar point_target(int p, int n) const { return f(column(p, n)); }
};

}  // namespace sim
