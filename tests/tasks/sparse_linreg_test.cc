#include "tasks/sparse_linreg.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>

#include "sim/cli/experiment.h"
#include "sim/train/trainer.h"
#include "tasks/linreg.h"

namespace sim {
namespace {

SparseLinregConfig Config(int d, int points, double noise, int s, bool stacked = false) {
  SparseLinregConfig c;
  c.d = d;
  c.points = points;
  c.noise = noise;
  c.s = s;
  c.stacked = stacked;
  return c;
}

// ⟨w, x⟩ as the task computes it: in double, in coordinate order, rounded once.
Scalar Dot(const RegressionPrompts& pr, int p, Index c) {
  double f = 0.0;
  for (int j = 0; j < pr.d; ++j) f += static_cast<double>(pr.w(j, p)) * pr.x(j, c);
  return static_cast<Scalar>(f);
}

// Every w* has exactly s non-zeros, and the support is uniform over the d coordinates: with P prompts
// each coordinate is in the support with probability s/d, a count with mean P*s/d and standard
// deviation sqrt(P*(s/d)*(1-s/d)) (about 61 here); 5 standard deviations is a false alarm rate of
// ~6e-7 per coordinate, while a support stuck on some coordinates (or drawn with k != s) is far off.
TEST(SparseLinregTest, WeightsHaveExactlySNonZerosOnAUniformSupport) {
  const int d = 8, s = 2, prompts = 20000;
  SparseLinregTask task(Config(d, 4, 0.1, s));
  Rng rng = Rng::ForStream(11, "eval/test");
  RegressionPrompts pr;
  ASSERT_TRUE(task.DrawRegression(1, rng, prompts, pr));
  ASSERT_EQ(pr.w.rows(), d);
  ASSERT_EQ(pr.w.cols(), prompts);
  std::vector<double> hits(d, 0.0);
  for (int p = 0; p < prompts; ++p) {
    int nonzero = 0;
    for (int j = 0; j < d; ++j)
      if (pr.w(j, p) != 0) {
        ++nonzero;
        hits[j] += 1;
      }
    ASSERT_EQ(nonzero, s) << "prompt " << p;
  }
  const double mean = prompts * double(s) / d, sd = std::sqrt(prompts * (double(s) / d) * (1 - double(s) / d));
  for (int j = 0; j < d; ++j) EXPECT_NEAR(hits[j], mean, 5 * sd) << "coordinate " << j;
}

// y - ⟨w*, x⟩ is the noise: mean 0, variance noise². Over N = 2000*17 labels the sample variance has
// relative standard deviation sqrt(2/N) ≈ 0.77%, the mean a standard deviation of noise/sqrt(N) ≈
// 0.0027; tolerances of 5% and 0.015 are more than 5 standard deviations, yet a noise of 0.45 or 0.55
// (a 10% scale error, 21% in variance) fails. Clean targets are ⟨w*, x⟩ exactly.
TEST(SparseLinregTest, LabelsAreTheCleanTargetPlusNoiseOfTheRequestedScale) {
  const double noise = 0.5;
  SparseLinregTask task(Config(8, 16, noise, 2));
  Rng rng = Rng::ForStream(12, "data/train");
  RegressionPrompts pr;
  task.DrawRegression(0, rng, 2000, pr);
  ASSERT_EQ(pr.x.cols(), 2000 * 17);
  double sum = 0, sum2 = 0;
  for (int p = 0; p < pr.count; ++p)
    for (int i = 0; i <= pr.n_max; ++i) {
      const Index c = pr.column(p, i);
      ASSERT_EQ(pr.f(c), Dot(pr, p, c)) << "prompt " << p << " point " << i;
      const double e = static_cast<double>(pr.y(c)) - pr.f(c);
      sum += e;
      sum2 += e * e;
    }
  const double n = pr.count * 17.0, m = sum / n;
  EXPECT_NEAR(m, 0.0, 0.015);
  EXPECT_NEAR((sum2 / n - m * m) / (noise * noise), 1.0, 0.05);
}

// Interleaved: T = 2*points + 1 of width d + 1; x position 2i holds (x_i, 0) and is scored with the
// noisy label y_i, clean target ⟨w*, x_i⟩ and group i; y position 2i + 1 holds (0, ..., 0, y_i).
TEST(SparseLinregTest, InterleavedLayoutScoresEveryXPositionWithItsGroup) {
  const int d = 3, points = 5, batch_size = 4, t = 2 * points + 1;
  SparseLinregTask task(Config(d, points, 0.1, 2));
  EXPECT_EQ(task.info().length, t);
  EXPECT_EQ(task.info().d_in, d + 1);
  EXPECT_EQ(task.info().max_scored_per_example, points + 1);
  EXPECT_TRUE(task.info().requires_causal);
  Rng rng = Rng::ForStream(13, "data/train");
  Rng copy = rng;
  Batch batch;
  task.Sample(0, rng, batch_size, batch);
  batch.Validate(0);
  RegressionPrompts pr;
  task.DrawRegression(0, copy, batch_size, pr);
  ASSERT_EQ(batch.vectors.rows(), d + 1);
  ASSERT_EQ(batch.vectors.cols(), batch_size * t);
  ASSERT_EQ(batch.n_scored(), batch_size * (points + 1));
  ASSERT_EQ(batch.clean_values.size(), batch.scored.size());
  ASSERT_EQ(batch.groups.size(), batch.scored.size());
  for (int b = 0; b < batch_size; ++b)
    for (int i = 0; i <= points; ++i) {
      const int j = b * (points + 1) + i, col = b * t + 2 * i;
      const Index c = pr.column(b, i);
      EXPECT_EQ(batch.scored[j], col);
      EXPECT_EQ(batch.groups[j], i);
      EXPECT_EQ(batch.values[j], pr.y(c));
      EXPECT_EQ(batch.clean_values[j], pr.f(c));
      EXPECT_NE(batch.values[j], batch.clean_values[j]) << "the target is the noisy label";
      EXPECT_EQ(batch.vectors(d, col), 0.0f);
      for (int k = 0; k < d; ++k) EXPECT_EQ(batch.vectors(k, col), pr.x(k, c));
      if (i < points) {
        EXPECT_EQ(batch.vectors(d, col + 1), pr.y(c)) << "the y token holds the label";
        for (int k = 0; k < d; ++k) EXPECT_EQ(batch.vectors(k, col + 1), 0.0f);
      }
    }
}

// The curriculum's values at given steps: START, + INC every EVERY steps, capped at task.d / points.
TEST(SparseLinregTest, CurriculumScheduleFollowsTheSpec) {
  SparseLinregConfig c = Config(8, 16, 0.1, 2);
  ASSERT_EQ(ParseCurriculum("d=4+1/2000, n=8+2/2000", c), "");
  SparseLinregTask task(c);
  const std::vector<std::array<int, 3>> expected = {{0, 4, 8},     {1999, 4, 8},   {2000, 5, 10},   {5999, 6, 12},
                                                    {8000, 8, 16}, {12000, 8, 16}, {1 << 30, 8, 16}};
  for (const auto& [step, d_cur, n_cur] : expected) {
    EXPECT_EQ(task.DAt(step), d_cur) << "step " << step;
    EXPECT_EQ(task.NAt(step), n_cur) << "step " << step;
  }
  SparseLinregConfig none = Config(8, 16, 0.1, 2);
  ASSERT_EQ(ParseCurriculum("none", none), "");
  EXPECT_EQ(SparseLinregTask(none).DAt(0), 8);
  EXPECT_EQ(SparseLinregTask(none).NAt(0), 16);
  SparseLinregConfig only_n = Config(8, 16, 0.1, 2);
  ASSERT_EQ(ParseCurriculum("n=2+3/10", only_n), "");
  EXPECT_EQ(SparseLinregTask(only_n).DAt(0), 8);
  EXPECT_EQ(SparseLinregTask(only_n).NAt(25), 8);
  for (const char* bad : {"d=4", "d=0+1/10", "d=9+1/10", "n=1+1/0", "x=1+1/10", "d=1+1/10,d=2+1/10", "d=a+1/10"}) {
    SparseLinregConfig b = Config(8, 16, 0.1, 2);
    EXPECT_NE(ParseCurriculum(bad, b), "") << bad;
  }
}

// Under the curriculum a training batch has inputs in the first d_cur coordinates, w*'s support among
// them (min(s, d_cur) non-zeros, recovered by least squares from the clean targets), and only the x
// positions with i <= n_cur scored; evaluation batches ignore it.
TEST(SparseLinregTest, CurriculumTruncatesInputsSupportAndScoredPositions) {
  const int d = 8, points = 16, t = 2 * points + 1, batch_size = 50;
  SparseLinregConfig c = Config(d, points, 0.1, 2);
  ASSERT_EQ(ParseCurriculum("d=3+1/100,n=8+2/100", c), "");
  SparseLinregTask task(c);
  Rng rng = Rng::ForStream(14, "data/train");
  Batch batch;
  task.SampleTraining(rng, batch_size, 50, batch);  // d_cur = 3, n_cur = 8
  batch.Validate(0);
  ASSERT_EQ(batch.n_scored(), batch_size * 9);
  for (int b = 0; b < batch_size; ++b) {
    Eigen::MatrixXd xs(9, 3);
    Eigen::VectorXd fs(9);
    for (int i = 0; i <= 8; ++i) {
      const int j = b * 9 + i, col = b * t + 2 * i;
      EXPECT_EQ(batch.scored[j], col);
      EXPECT_EQ(batch.groups[j], i);
      for (int k = 3; k < d; ++k) EXPECT_EQ(batch.vectors(k, col), 0.0f) << "coordinate " << k << " >= d_cur";
      for (int k = 0; k < 3; ++k) xs(i, k) = batch.vectors(k, col);
      fs(i) = batch.clean_values[j];
    }
    const Eigen::VectorXd w = xs.colPivHouseholderQr().solve(fs);
    ASSERT_LT((xs * w - fs).norm(), 1e-4 * (1 + fs.norm()));
    int nonzero = 0;
    for (int k = 0; k < 3; ++k) nonzero += std::abs(w(k)) > 1e-3;
    EXPECT_EQ(nonzero, 2) << "example " << b << ": w* = " << w.transpose();
  }
  task.SampleTraining(rng, 4, 10000, batch);  // curriculum done: every position scored
  EXPECT_EQ(batch.n_scored(), 4 * (points + 1));
  task.Sample(1, rng, 4, batch);  // an evaluation split: no curriculum
  EXPECT_EQ(batch.n_scored(), 4 * (points + 1));
  int nonzero_tail = 0;
  for (int b = 0; b < 4; ++b) nonzero_tail += batch.vectors(d - 1, b * t) != 0;
  EXPECT_EQ(nonzero_tail, 4);
}

// With task.curriculum = none, SampleTraining is Sample at every step.
TEST(SparseLinregTest, NoCurriculumSamplesTheSameAtEveryStep) {
  SparseLinregTask task(Config(8, 16, 0.1, 2));
  Rng a = Rng::ForStream(15, "data/train"), b = a;
  Batch x, y;
  task.Sample(0, a, 8, x);
  task.SampleTraining(b, 8, 123456, y);
  EXPECT_EQ(x.vectors, y.vectors);
  EXPECT_EQ(x.scored, y.scored);
  EXPECT_EQ(x.values, y.values);
  EXPECT_EQ(a.position(), b.position());
}

// Stacked: T = points + 1; example b with group n holds its n examples (x_i; y_i) first, all-zero
// tokens in the unused slots, the query (x; 0) last, and only the query is scored. n covers 1..points.
TEST(SparseLinregTest, StackedLayoutHasZeroSlotsBeforeTheQuery) {
  const int d = 4, points = 6, t = points + 1, batch_size = 300;
  SparseLinregTask task(Config(d, points, 0.1, 2, /*stacked=*/true));
  EXPECT_EQ(task.info().length, t);
  EXPECT_EQ(task.info().max_scored_per_example, 1);
  EXPECT_FALSE(task.info().requires_causal);
  Rng rng = Rng::ForStream(16, "eval/test");
  Batch batch;
  task.Sample(1, rng, batch_size, batch);
  batch.Validate(0);
  ASSERT_EQ(batch.n_scored(), batch_size);
  std::vector<int> seen(points + 1, 0);
  for (int b = 0; b < batch_size; ++b) {
    EXPECT_EQ(batch.scored[b], b * t + points);
    const int n = batch.groups[b];
    ASSERT_GE(n, 1);
    ASSERT_LE(n, points);
    ++seen[n];
    for (int i = 0; i < points; ++i) {
      const auto token = batch.vectors.col(b * t + i);
      if (i < n) {
        EXPECT_NE(token(d), 0.0f) << "example slot " << i << " holds its label";
        EXPECT_NE(token.head(d).squaredNorm(), 0.0f);
      } else {
        EXPECT_EQ(token.squaredNorm(), 0.0f) << "unused slot " << i << " of example " << b << " (n = " << n << ")";
      }
    }
    EXPECT_EQ(batch.vectors(d, b * t + points), 0.0f) << "the query's label slot is empty";
    EXPECT_NE(batch.vectors.col(b * t + points).head(d).squaredNorm(), 0.0f);
  }
  for (int n = 1; n <= points; ++n) EXPECT_GT(seen[n], 20) << "n = " << n << " (expected ~50)";
}

// Sample is DrawRegression + RegressionBatch: from the same stream position, the same inputs and
// targets, and the clean targets and groups the prompts' contract promises (interleaved).
TEST(SparseLinregTest, RegressionPromptsAgreeWithSampleInterleaved) {
  SparseLinregTask task(Config(8, 16, 0.1, 2));
  Rng rng = Rng::ForStream(17, "eval/test"), copy = rng;
  Batch sampled, built;
  task.Sample(1, rng, 6, sampled);
  RegressionPrompts pr;
  ASSERT_TRUE(task.DrawRegression(1, copy, 6, pr));
  EXPECT_EQ(rng.position(), copy.position());
  task.RegressionBatch(pr, 0, 6, built);
  built.Validate(0);
  EXPECT_EQ(sampled.vectors, built.vectors);
  EXPECT_EQ(sampled.scored, built.scored);
  EXPECT_EQ(sampled.values, built.values);
  EXPECT_EQ(sampled.clean_values, built.clean_values);
  EXPECT_EQ(sampled.groups, built.groups);
  for (int j = 0; j < built.n_scored(); ++j) {
    const int p = j / 17, n = built.groups[j];
    EXPECT_EQ(built.clean_values[j], pr.point_target(p, n));
  }
  // A sub-range of the prompts builds those prompts' examples.
  Batch part;
  task.RegressionBatch(pr, 2, 3, part);
  EXPECT_EQ(part.vectors, sampled.vectors.middleCols(2 * 33, 3 * 33));
}

// Stacked: RegressionBatch builds one example per (prompt, n), b = p*points + n - 1; Sample's example
// p is the one of its drawn n.
TEST(SparseLinregTest, RegressionPromptsAgreeWithSampleStacked) {
  const int points = 5, t = points + 1, count = 20;
  SparseLinregTask task(Config(4, points, 0.1, 2, /*stacked=*/true));
  Rng rng = Rng::ForStream(18, "eval/test"), copy = rng;
  Batch sampled, built;
  task.Sample(1, rng, count, sampled);
  RegressionPrompts pr;
  task.DrawRegression(1, copy, count, pr);
  task.RegressionBatch(pr, 0, count, built);
  built.Validate(0);
  ASSERT_EQ(built.shape.batch, count * points);
  for (int p = 0; p < count; ++p) {
    for (int n = 1; n <= points; ++n) {
      const int b = p * points + n - 1;
      EXPECT_EQ(built.groups[b], n);
      EXPECT_EQ(built.scored[b], b * t + points);
      EXPECT_EQ(built.clean_values[b], pr.point_target(p, n));
      EXPECT_EQ(built.values[b], pr.y(pr.column(p, n)));
    }
    const int n = sampled.groups[p], b = p * points + n - 1;
    EXPECT_EQ(sampled.vectors.middleCols(p * t, t), built.vectors.middleCols(b * t, t)) << "prompt " << p;
    EXPECT_EQ(sampled.values[p], built.values[b]);
    EXPECT_EQ(sampled.clean_values[p], built.clean_values[b]);
  }
}

// risk_n<k> is the squared error against the clean target over s, per group: 0 for the clean
// target itself, about 1 for the zero predictor (E⟨w*, x⟩² = E‖w*‖² = s; 4000 prompts per group
// give a standard error of about 3%); risk_w is the mean over W = {4..8} and risk_last is risk_n16.
TEST(SparseLinregTest, RiskMetricsPerNumberOfExamples) {
  SparseLinregTask task(Config(8, 16, 0.1, 2));
  Rng rng = Rng::ForStream(19, "eval/test");
  Batch batch;
  task.Sample(1, rng, 4000, batch);
  Mat outputs = Eigen::Map<const Mat>(batch.clean_values.data(), 1, batch.n_scored());
  MetricSums exact;
  task.Score(batch, outputs, exact);
  std::map<std::string, double> m = exact.Means();
  task.Finish(m);
  for (int k = 0; k <= 16; ++k) EXPECT_EQ(m.at("risk_n" + std::to_string(k)), 0.0);
  EXPECT_EQ(m.at("risk_w"), 0.0);

  MetricSums zero;
  task.Score(batch, Mat::Zero(1, batch.n_scored()), zero);
  m = zero.Means();
  task.Finish(m);
  double w = 0;
  for (int k = 0; k <= 16; ++k) EXPECT_NEAR(m.at("risk_n" + std::to_string(k)), 1.0, 0.15) << k;
  for (int k = 4; k <= 8; ++k) w += m.at("risk_n" + std::to_string(k)) / 5;
  EXPECT_DOUBLE_EQ(m.at("risk_w"), w);
  EXPECT_EQ(m.at("risk_last"), m.at("risk_n16"));
  EXPECT_EQ(m.count("risk_n17"), 0u);

  // A group no batch had is NaN, not missing (curves keep the same names at every evaluation).
  SparseLinregTask stacked(Config(8, 16, 0.1, 2, /*stacked=*/true));
  stacked.Sample(1, rng, 1, batch);
  MetricSums one;
  stacked.Score(batch, Mat::Zero(1, 1), one);
  m = one.Means();
  stacked.Finish(m);
  EXPECT_EQ(m.count("risk_n0"), 0u) << "stacked prompts have n >= 1";
  int nan = 0;
  for (int k = 1; k <= 16; ++k) nan += std::isnan(m.at("risk_n" + std::to_string(k)));
  EXPECT_EQ(nan, 15);
}

// The side channel: CopyExamples carries it, Validate checks its sizes, other tasks leave it empty.
TEST(SparseLinregTest, BatchSideChannelIsCopiedAndValidated) {
  SparseLinregTask task(Config(3, 4, 0.1, 1));
  Rng rng = Rng::ForStream(20, "data/train");
  Batch batch, part;
  task.Sample(0, rng, 5, batch);
  part.CopyExamples(batch, 2, 2);
  part.Validate(0);
  ASSERT_EQ(part.n_scored(), 2 * 5);
  for (int j = 0; j < part.n_scored(); ++j) {
    EXPECT_EQ(part.clean_values[j], batch.clean_values[2 * 5 + j]);
    EXPECT_EQ(part.groups[j], batch.groups[2 * 5 + j]);
  }
  part.groups.pop_back();
  EXPECT_THROW(part.Validate(0), InternalError);
  part.CopyExamples(batch, 0, 1);
  part.clean_values.push_back(0);
  EXPECT_THROW(part.Validate(0), InternalError);

  LinregTask linreg(LinregConfig{3, 4, 0.1, true});
  Batch other;
  linreg.Sample(0, rng, 3, other);
  EXPECT_TRUE(other.clean_values.empty());
  EXPECT_TRUE(other.groups.empty());
  part.CopyExamples(other, 0, 2);
  EXPECT_TRUE(part.clean_values.empty()) << "a copy of a batch without the side channel has none";
  part.Validate(0);
}

std::map<std::string, std::string> SmallRun() {
  return {{"task.name", "sparse_linreg"}, {"task.d", "4"},       {"task.points", "6"}, {"model.d_model", "16"},
          {"model.heads", "2"},           {"model.layers", "1"}, {"train.steps", "0"}, {"eval.size", "64"}};
}

// The evaluation prompts come from eval.seed alone: two runs with different train.seed (and the same
// weights) evaluate the same test prompts, so their metrics are equal; the val split is not evaluated.
TEST(SparseLinregTest, EvaluationPromptsAreSharedByTrainingSeeds) {
  const OptionSet set = AllOptions();
  std::map<std::string, std::string> given = SmallRun();
  Options o1(set, given);
  Experiment e1 = BuildExperiment(o1);
  given["train.seed"] = "7";
  Options o2(set, given);
  Experiment e2 = BuildExperiment(o2);
  e2.registry->values() = e1.registry->values();
  Trainer t1(e1.train, *e1.task, *e1.model, *e1.registry), t2(e2.train, *e2.task, *e2.model, *e2.registry);
  const Trainer::Metrics m1 = t1.EvaluateAll(), m2 = t2.EvaluateAll();
  EXPECT_EQ(m1, m2);
  EXPECT_EQ(m1.count("test"), 1u);
  EXPECT_EQ(m1.count("val"), 0u) << "val is for tuning baselines, not evaluated by the trainer";
  EXPECT_TRUE(std::isfinite(m1.at("test").at("risk_w")));
  // And they differ from a run with another eval.seed (the comparison above can fail).
  given["eval.seed"] = "3";
  Options o3(set, given);
  Experiment e3 = BuildExperiment(o3);
  e3.registry->values() = e1.registry->values();
  Trainer t3(e3.train, *e3.task, *e3.model, *e3.registry);
  EXPECT_NE(t3.EvaluateAll().at("test").at("risk_w"), m1.at("test").at("risk_w"));
  // The splits' streams are distinct: test and val prompts differ.
  RegressionPrompts test, val;
  Rng r_test = Rng::ForStream(0, "eval/test"), r_val = Rng::ForStream(0, "eval/val");
  e1.task->DrawRegression(1, r_test, 2, test);
  e1.task->DrawRegression(e1.task->SplitIndex("val"), r_val, 2, val);
  EXPECT_NE(test.x, val.x);
}

// Bad options are configuration errors (exit 2 in sim) naming the key.
TEST(SparseLinregTest, BadOptionsNameTheKey) {
  const OptionSet set = AllOptions();
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"task.s", "9"}}, "task.s"},
      {{{"task.s", "0"}}, "task.s"},
      {{{"task.d", "0"}}, "task.d"},
      {{{"task.layout", "diagonal"}}, "task.layout"},
      {{{"task.curriculum", "d=9+1/100"}}, "task.curriculum"},
      {{{"task.curriculum", "sometimes"}}, "task.curriculum"},
      {{{"task.noise", "-1"}}, "task.noise"},
      {{{"task.layout", "stacked"}, {"model.causal", "false"}}, ""},  // fine: stacked needs no causality
      {{{"model.causal", "false"}}, "model.causal"},                  // interleaved does
  };
  for (const auto& [extra, key] : cases) {
    std::map<std::string, std::string> given = SmallRun();
    for (const auto& [k, v] : extra) given[k] = v;
    Options options(set, given);
    SCOPED_TRACE(key.empty() ? "valid" : key);
    if (key.empty()) {
      EXPECT_NO_THROW(BuildExperiment(options));
      continue;
    }
    try {
      BuildExperiment(options);
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key + ":"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace sim
