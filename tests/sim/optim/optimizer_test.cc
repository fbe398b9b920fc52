#include "sim/optim/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "sim/kernels/parallel.h"
#include "sim/core/rng.h"
#include "sim/optim/lr_schedule.h"

namespace sim {
namespace {

ParamRegistry TwoParams() {
  ParamRegistry r;
  r.Add({"w", 2, 2, InitKind::kNormal, 1.0, true});
  r.Add({"b", 2, 1, InitKind::kZeros, 0.0, false});
  r.Finalize();
  r.values() << 0.5f, -1.0f, 2.0f, 0.25f, 0.1f, -0.2f;
  return r;
}

// AdamW against the update written out in double for three steps (torch.optim.AdamW's formula).
TEST(OptimizerTest, AdamWMatchesReferenceFormula) {
  ParamRegistry r = TwoParams();
  OptimizerConfig c;
  c.weight_decay = 0.1;
  Optimizer opt(c, r);
  std::vector<double> p(6), m(6, 0.0), v(6, 0.0);
  for (int i = 0; i < 6; ++i) p[i] = r.values()(i);
  const double lr = 0.01;
  for (int t = 1; t <= 3; ++t) {
    for (int i = 0; i < 6; ++i) r.grads()(i) = static_cast<float>(0.3 * (i + 1) * (t % 2 ? 1 : -1));
    opt.Step(lr);
    for (int i = 0; i < 6; ++i) {
      const double g = r.grads()(i), wd = i < 4 ? 0.1 : 0.0;  // bias b is not decayed
      p[i] *= 1 - lr * wd;
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double mhat = m[i] / (1 - std::pow(0.9, t)), vhat = v[i] / (1 - std::pow(0.999, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + 1e-8);
    }
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(r.values()(i), p[i], 1e-6) << "step " << t << " element " << i;
  }
}

TEST(OptimizerTest, FrozenParametersAndLearningRateMultipliers) {
  ParamRegistry r = TwoParams();
  r.group(0).trainable = false;
  r.group(1).lr_mult = 0.0;
  const Vec before = r.values();
  OptimizerConfig c;
  Optimizer opt(c, r);
  r.grads().setOnes();
  opt.Step(0.1);
  EXPECT_TRUE(r.values() == before) << "frozen W and b with lr multiplier 0 do not move";
  r.group(1).lr_mult = 2.0;
  opt.Step(0.1);
  EXPECT_TRUE(r.values().head(4) == before.head(4));
  EXPECT_NEAR(r.values()(4), before(4) - 0.2, 1e-5) << "Adam's normalized step is lr * mult";
}

TEST(OptimizerTest, SgdWithMomentum) {
  ParamRegistry r = TwoParams();
  OptimizerConfig c;
  c.kind = OptimizerKind::kSgd;
  c.momentum = 0.5;
  Optimizer opt(c, r);
  const float p0 = r.values()(0);
  r.grads().setConstant(1.0f);
  opt.Step(0.1);  // buf = 1
  opt.Step(0.1);  // buf = 1.5
  EXPECT_NEAR(r.values()(0), p0 - 0.1 - 0.15, 1e-6);
}

TEST(OptimizerTest, ClipGradNormScalesToTheLimit) {
  ParamRegistry r = TwoParams();
  r.grads().setConstant(2.0f);  // norm sqrt(6 * 4)
  const double before = ClipGradNorm(r, 1.0);
  EXPECT_NEAR(before, std::sqrt(24.0), 1e-6);
  EXPECT_NEAR(GradNorm(r), 1.0, 1e-5);
  r.grads().setConstant(0.1f);
  ClipGradNorm(r, 1.0);
  EXPECT_NEAR(r.grads()(0), 0.1f, 1e-7) << "below the limit nothing changes";
}

// The update runs in chunks of one parameter each, in parallel: a parameter of several chunks, a
// frozen one and one with an lr multiplier get the same bits with 1 and 2 threads as the update of
// each whole parameter at once.
TEST(OptimizerTest, ChunkedParallelUpdateEqualsElementwiseUpdate) {
  const auto make = [] {
    ParamRegistry r;
    r.Add({"big", 300, 250, InitKind::kNormal, 1.0, true});  // 75000 entries: three chunks
    r.Add({"frozen", 10, 1, InitKind::kNormal, 1.0, true});
    r.Add({"scaled", 70000, 1, InitKind::kNormal, 1.0, false});
    r.Finalize();
    r.group(1).trainable = false;
    r.group(2).lr_mult = 0.5;
    Rng rng(3);
    for (Index i = 0; i < r.total_size(); ++i) r.values()(i) = static_cast<float>(rng.Normal());
    return r;
  };
  std::vector<Vec> after;
  for (int threads : {1, 2}) {
    SetNumThreads(threads);
    ParamRegistry r = make();
    OptimizerConfig c;
    c.weight_decay = 0.1;
    Optimizer opt(c, r);
    for (int t = 1; t <= 2; ++t) {
      for (Index i = 0; i < r.total_size(); ++i) r.grads()(i) = static_cast<float>(std::sin(0.001 * i * t));
      opt.Step(0.01);
    }
    after.push_back(r.values());
  }
  SetNumThreads(1);
  EXPECT_TRUE((after[0].array() == after[1].array()).all());
  // Reference: each parameter's whole segment at once, as the update was written before chunking.
  ParamRegistry ref = make();
  const Vec start = ref.values();
  Vec m = Vec::Zero(ref.total_size()), v = Vec::Zero(ref.total_size());
  for (int t = 1; t <= 2; ++t) {
    for (Index i = 0; i < ref.total_size(); ++i) ref.grads()(i) = static_cast<float>(std::sin(0.001 * i * t));
    const double bias1 = 1.0 - std::pow(0.9, t), bias2 = 1.0 - std::pow(0.999, t);
    for (ParamId id = 0; id < ref.size(); ++id) {
      if (!ref.group(id).trainable) continue;
      const Index off = ref.offset(id), n = ref.numel(id);
      auto p = ref.values().segment(off, n).array();
      auto g = ref.grads().segment(off, n).array();
      auto mm = m.segment(off, n).array();
      auto vv = v.segment(off, n).array();
      const double lr = 0.01 * ref.group(id).lr_mult;
      const Scalar wd = static_cast<Scalar>(0.1 * ref.group(id).decay_mult);
      if (wd != 0) p *= Scalar(1) - static_cast<Scalar>(lr) * wd;
      mm = Scalar(0.9) * mm + (Scalar(1) - Scalar(0.9)) * g;
      vv = Scalar(0.999) * vv + (Scalar(1) - Scalar(0.999)) * g.square();
      p -= static_cast<Scalar>(lr / bias1) * mm /
           (vv.sqrt() * static_cast<Scalar>(1.0 / std::sqrt(bias2)) + static_cast<Scalar>(1e-8));
    }
  }
  EXPECT_TRUE((after[0].array() == ref.values().array()).all());
  EXPECT_TRUE((after[0].segment(75000, 10).array() == start.segment(75000, 10).array()).all()) << "frozen";
}

// GradNorm sums per-parameter squared norms (computed in parallel) in parameter order: the same bits
// with 1, 2 and 3 threads, the value of the sum in long double to rounding, frozen parameters left
// out. Sizes from 1 to 483 entries: below one vector, whole rounds of 32, and masked tails.
TEST(OptimizerTest, GradNormIsThreadCountInvariant) {
  ParamRegistry r;
  for (int i = 0; i < 40; ++i) r.Add({"p" + std::to_string(i), 30 + i, 7, InitKind::kZeros, 0.0, true});
  for (int n : {1, 3, 8, 9, 32, 64, 65}) r.Add({"q" + std::to_string(n), n, 1, InitKind::kZeros, 0.0, true});
  r.Finalize();
  r.group(3).trainable = false;
  Rng rng(5);
  for (Index i = 0; i < r.total_size(); ++i) r.grads()(i) = static_cast<float>(rng.Normal() * (1 + i % 5));
  long double sum = 0;
  for (ParamId id = 0; id < r.size(); ++id)
    if (id != 3)
      for (Index i = 0; i < r.numel(id); ++i)
        sum += static_cast<long double>(r.grads()(r.offset(id) + i)) * r.grads()(r.offset(id) + i);
  const double reference = std::sqrt(static_cast<double>(sum));
  SetNumThreads(1);
  const double serial = GradNorm(r);
  EXPECT_NEAR(serial, reference, 1e-13 * reference);
  for (int threads : {1, 2, 3}) {
    SetNumThreads(threads);
    EXPECT_EQ(GradNorm(r), serial) << threads << " threads";
    ParamRegistry clipped = r;
    const double norm = ClipGradNorm(clipped, 1.0);
    EXPECT_EQ(norm, serial);
    EXPECT_NEAR(GradNorm(clipped), 1.0, 1e-5) << threads << " threads";
    EXPECT_TRUE(
        (clipped.grads().segment(r.offset(3), r.numel(3)).array() == r.grads().segment(r.offset(3), r.numel(3)).array())
            .all())
        << "frozen gradient untouched";
  }
  SetNumThreads(1);
}

// One parameter's squared norm alone, for each size from 1 to 100 (every tail length): against long
// double, and with the frozen neighbours' gradients (huge) never read.
TEST(OptimizerTest, GradNormOfEachSize) {
  for (int n = 1; n <= 100; ++n) {
    ParamRegistry r;
    r.Add({"before", 5, 1, InitKind::kZeros, 0.0, false});
    r.Add({"w", n, 1, InitKind::kZeros, 0.0, true});
    r.Add({"after", 40, 1, InitKind::kZeros, 0.0, false});
    r.Finalize();
    r.group(0).trainable = r.group(2).trainable = false;
    r.grads().setConstant(1e30f);
    long double sum = 0;
    for (Index i = 0; i < n; ++i) {
      const float g = static_cast<float>(0.1 * (i + 1) - 3.0);
      r.grads()(r.offset(1) + i) = g;
      sum += static_cast<long double>(g) * g;
    }
    EXPECT_NEAR(GradNorm(r), std::sqrt(static_cast<double>(sum)), 1e-13 * std::sqrt(static_cast<double>(sum))) << n;
  }
}

TEST(LrScheduleTest, WarmupThenCosine) {
  LrSchedule s{ScheduleKind::kCosine, 1.0, 10, 110, 0.1};
  EXPECT_NEAR(s.At(0), 0.1, 1e-12);
  EXPECT_NEAR(s.At(9), 1.0, 1e-12);
  EXPECT_NEAR(s.At(10), 1.0, 1e-12);
  EXPECT_NEAR(s.At(60), 0.55, 1e-12);
  EXPECT_NEAR(s.At(110), 0.1, 1e-12);
  LrSchedule constant{ScheduleKind::kConstant, 0.5, 0, 100, 0.0};
  EXPECT_EQ(constant.At(0), 0.5);
  EXPECT_EQ(constant.At(99), 0.5);
}

}  // namespace
}  // namespace sim
