// ictemplate's training aids (issue #25, tasks/ictemplate.h): the auxiliary partner target and the
// keep-context curriculum, checked against their definitions.
//   - Off (the defaults, q = 0, the auxiliary target switched off) they are the task bit for bit.
//   - q = 1 makes every query instance an exact copy of its context instance; 0 < q < 1 keeps a
//     symbol's token at about the rate q and never breaks the query's template.
//   - The auxiliary targets agree with an independent check on the tokens alone: a filler is scored
//     iff an earlier position of its segment holds the same token, with class |Y| + that offset.
//   - Evaluation splits never change, whatever the aids.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/train/trainer.h"
#include "tasks/ictemplate.h"
#include "tasks/templates.h"

namespace sim {
namespace {

constexpr int kV = 32, kLabels = 8, kM = 4, kL = 6, kK = 4, kSeg = kL + 1, kT = (kM + kK) * kSeg;

IctemplateConfig Base() { return {kV, kLabels, kM, kL, 10, kK, 0}; }

void ExpectSameBatch(const Batch& a, const Batch& b, const std::string& what) {
  EXPECT_EQ(a.tokens, b.tokens) << what;
  EXPECT_EQ(a.scored, b.scored) << what;
  EXPECT_EQ(a.labels, b.labels) << what;
}

// The task's training prompts rebuilt from its primitives in its order of draws (the generator as it
// was before the aids): context templates, labels, each context fill, the asked segments, each
// query's fill. Independent of IctemplateTask::Sample, so "the task bit for bit" means this.
void ReferencePrompts(const IctemplateTask& task, Rng& rng, int batch_size, Batch& out) {
  const std::vector<Template>& pool = task.train_pool();
  std::vector<int32_t> fillers;
  for (int v = 0; v < kV; ++v) fillers.push_back(v);
  std::vector<int> scratch, which(kM), label_of(kM), asked(kK);
  out.Reset({batch_size, kT}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    int32_t* prompt = out.tokens.data() + b * kT;
    rng.SampleWithoutReplacement(static_cast<int>(pool.size()), kM, scratch, which.data());
    rng.SampleWithoutReplacement(kLabels, kM, scratch, label_of.data());
    for (int j = 0; j < kM; ++j) {
      FillTemplate(pool[which[j]], fillers, rng, scratch, prompt + j * kSeg);
      prompt[j * kSeg + kL] = kV + label_of[j];
    }
    rng.SampleWithoutReplacement(kM, kK, scratch, asked.data());
    for (int i = 0; i < kK; ++i) {
      FillTemplate(pool[which[asked[i]]], fillers, rng, scratch, prompt + (kM + i) * kSeg);
      prompt[(kM + i) * kSeg + kL] = kV + kLabels;
      out.AddClassTarget(b, (kM + i) * kSeg + kL, label_of[asked[i]]);
    }
  }
}

// The label of the context segment whose equality pattern equals the query's (the task's
// definition; ictemplate_solver_test checks it alone).
int32_t SolvedLabel(const int32_t* prompt, int query_first) {
  for (int j = 0; j < kM; ++j) {
    bool same = true;
    for (int a = 0; a < kL; ++a)
      for (int b = a + 1; b < kL; ++b)
        same = same &&
               ((prompt[j * kSeg + a] == prompt[j * kSeg + b]) == (prompt[query_first + a] == prompt[query_first + b]));
    if (same) return prompt[j * kSeg + kL] - kV;
  }
  return -1;
}

// The context segment whose label is `label`.
int SegmentOfLabel(const int32_t* prompt, int32_t label) {
  for (int j = 0; j < kM; ++j)
    if (prompt[j * kSeg + kL] == kV + label) return j;
  return -1;
}

TEST(IctemplateAidsTest, OffByDefaultTrainingBatchesAreTheTaskBitForBit) {
  IctemplateTask task(Base());
  EXPECT_EQ(task.info().n_classes, kLabels);
  EXPECT_EQ(task.info().max_scored_per_example, kK);
  for (int step : {0, 1, 5000}) {
    Rng a = Rng::ForStream(2, "train"), b = Rng::ForStream(2, "train");
    Batch x, y;
    ReferencePrompts(task, a, 64, x);
    task.SampleTraining(b, 64, step, y);
    ExpectSameBatch(x, y, "step " + std::to_string(step));
    EXPECT_EQ(a.position(), b.position());
  }
}

// q(step): q0 for the hold, then a linear fall to 0 over the anneal, then 0.
TEST(IctemplateAidsTest, KeepScheduleHoldsThenFallsLinearlyToZero) {
  IctemplateConfig c = Base();
  c.keep_context = 0.8;
  c.keep_context_hold = 100;
  c.keep_context_anneal = 400;
  IctemplateTask task(c);
  EXPECT_EQ(task.KeepAt(0), 0.8);
  EXPECT_EQ(task.KeepAt(99), 0.8);
  EXPECT_EQ(task.KeepAt(100), 0.8);
  EXPECT_NEAR(task.KeepAt(300), 0.4, 1e-12);
  EXPECT_NEAR(task.KeepAt(499), 0.8 / 400, 1e-12);
  EXPECT_EQ(task.KeepAt(500), 0.0);
  EXPECT_EQ(task.KeepAt(100000), 0.0);
  EXPECT_EQ(task.info().n_classes, kLabels) << "the curriculum adds no classes";
}

// Once q reaches 0 the training batches are the task's own, bit for bit (same draws).
TEST(IctemplateAidsTest, KeepZeroIsTheTaskBitForBit) {
  IctemplateConfig c = Base();
  c.keep_context = 1.0;
  c.keep_context_anneal = 200;
  IctemplateTask curriculum(c);
  Rng a = Rng::ForStream(4, "train"), b = Rng::ForStream(4, "train");
  Batch x, y;
  ReferencePrompts(curriculum, a, 64, x);
  curriculum.SampleTraining(b, 64, 200, y);
  ExpectSameBatch(x, y, "q = 0");
  EXPECT_EQ(a.position(), b.position());
  // Before it, the prompts differ (the comparison above can fail).
  Rng d = Rng::ForStream(4, "train");
  curriculum.SampleTraining(d, 64, 100, y);
  EXPECT_NE(x.tokens, y.tokens);
}

// q = 1: every query instance is an exact copy of the context instance with its target's label, and
// the target is still what the task's definition gives.
TEST(IctemplateAidsTest, KeepOneGivesExactCopies) {
  IctemplateConfig c = Base();
  c.keep_context = 1.0;
  c.keep_context_hold = 1000;
  IctemplateTask task(c);
  Rng rng = Rng::ForStream(5, "train");
  Batch batch;
  task.SampleTraining(rng, 100, 999, batch);
  batch.Validate(task.info().n_classes);
  ASSERT_EQ(batch.n_scored(), 100 * kK);
  for (int s = 0; s < batch.n_scored(); ++s) {
    const int b = batch.scored[s] / kT, out = batch.scored[s] % kT, first = out - kL;
    const int32_t* prompt = batch.tokens.data() + b * kT;
    const int j = SegmentOfLabel(prompt, batch.labels[s]);
    ASSERT_GE(j, 0);
    for (int i = 0; i < kL; ++i) EXPECT_EQ(prompt[first + i], prompt[j * kSeg + i]) << "prompt " << b;
    EXPECT_EQ(SolvedLabel(prompt, first), batch.labels[s]);
  }
}

// 0 < q < 1: the query keeps its template (the task's definition answers it) and a symbol keeps its
// context token at the rate q + (1 - q) * P(a fresh draw happens to equal it), about 1/30.
TEST(IctemplateAidsTest, IntermediateKeepKeepsTheTemplateAndTheRate) {
  IctemplateConfig c = Base();
  c.keep_context = 0.5;
  c.keep_context_hold = 10;
  IctemplateTask task(c);
  Rng rng = Rng::ForStream(6, "train");
  Batch batch;
  task.SampleTraining(rng, 500, 0, batch);
  double same = 0, symbols = 0;
  for (int s = 0; s < batch.n_scored(); ++s) {
    const int b = batch.scored[s] / kT, first = batch.scored[s] % kT - kL;
    const int32_t* prompt = batch.tokens.data() + b * kT;
    ASSERT_EQ(SolvedLabel(prompt, first), batch.labels[s]) << "prompt " << b;
    const int j = SegmentOfLabel(prompt, batch.labels[s]);
    for (int i = 0; i < kL; ++i) {
      bool first_of_symbol = true;
      for (int e = 0; e < i; ++e) first_of_symbol = first_of_symbol && prompt[first + e] != prompt[first + i];
      if (!first_of_symbol) continue;
      symbols += 1;
      same += prompt[first + i] == prompt[j * kSeg + i];
    }
  }
  ASSERT_EQ(symbols, 500.0 * kK * kL / 2);
  // 6000 symbols: the rate's standard deviation is about 0.0065; q = 0.5 + 0.5/30 ≈ 0.517.
  EXPECT_NEAR(same / symbols, 0.5 + 0.5 / 30, 0.03);
}

// An independent check on the tokens alone: a scored filler position t (token < V) must have an
// earlier position of its segment with the same token, and its class is |Y| + that offset; every
// such filler is scored when the probability is 1. The main targets stay those of the task.
TEST(IctemplateAidsTest, AuxTargetsAreThePartnersOffsetByAnIndependentCheck) {
  IctemplateConfig c = Base();
  c.aux_partner = 1.0;
  IctemplateTask task(c);
  EXPECT_EQ(task.info().n_classes, kLabels + kL - 1);
  Rng rng = Rng::ForStream(7, "train"), rng_plain = Rng::ForStream(7, "train");
  Batch batch, main;
  task.SampleTraining(rng, 100, 0, batch);
  ReferencePrompts(task, rng_plain, 100, main);
  batch.Validate(task.info().n_classes);
  EXPECT_EQ(batch.tokens, main.tokens) << "p = 1 draws nothing more: the same prompts";
  std::map<int, int32_t> scored;  // column -> class
  for (int s = 0; s < batch.n_scored(); ++s) scored[batch.scored[s]] = batch.labels[s];
  int n_aux = 0;
  for (int b = 0; b < 100; ++b) {
    const int32_t* prompt = batch.tokens.data() + b * kT;
    for (int t = 0; t < kT; ++t) {
      const int offset = t % kSeg, col = b * kT + t;
      int partner = -1;
      if (offset < kL)
        for (int e = 0; e < offset; ++e)
          if (prompt[t - offset + e] == prompt[t]) partner = e;
      if (partner >= 0) {
        ++n_aux;
        ASSERT_EQ(scored.count(col), 1u) << "prompt " << b << " position " << t;
        EXPECT_EQ(scored[col], kLabels + partner);
      } else if (offset < kL) {
        EXPECT_EQ(scored.count(col), 0u) << "prompt " << b << " position " << t;
      }
    }
  }
  EXPECT_EQ(n_aux, 100 * (kM + kK) * kL / 2);
  // The main targets: the task's own, at the same positions.
  std::vector<int32_t> main_targets;
  for (int s = 0; s < batch.n_scored(); ++s)
    if (batch.scored[s] % kT % kSeg == kL) main_targets.push_back(batch.labels[s]);
  EXPECT_EQ(main_targets, main.labels);
  EXPECT_LE(batch.n_scored(), 100 * task.info().max_scored_per_example);
}

// p < 1 scores each eligible filler with probability p; from aux_partner_until on, none (and the
// batch is the task's own, bit for bit).
TEST(IctemplateAidsTest, AuxProbabilityAndSwitchOff) {
  IctemplateConfig c = Base();
  c.aux_partner = 0.25;
  c.aux_partner_until = 300;
  IctemplateTask task(c);
  EXPECT_EQ(task.AuxAt(299), 0.25);
  EXPECT_EQ(task.AuxAt(300), 0.0);
  Rng rng = Rng::ForStream(8, "train");
  Batch batch;
  task.SampleTraining(rng, 500, 0, batch);
  const double eligible = 500.0 * (kM + kK) * kL / 2;
  const double rate = (batch.n_scored() - 500 * kK) / eligible;
  EXPECT_NEAR(rate, 0.25, 0.02);  // 12000 draws: standard deviation 0.004
  Rng a = Rng::ForStream(9, "train"), b = Rng::ForStream(9, "train");
  Batch x, y;
  ReferencePrompts(task, a, 64, x);
  task.SampleTraining(b, 64, 300, y);
  ExpectSameBatch(x, y, "after aux_partner_until");
  EXPECT_EQ(a.position(), b.position());
  EXPECT_EQ(task.info().n_classes, kLabels + kL - 1) << "the readout keeps its classes";
}

// Evaluation splits (and Sample of every split) never change with the aids: the same prompts as the
// task without them, and as the generator's primitives give for the training split.
TEST(IctemplateAidsTest, EvaluationSplitsNeverChange) {
  IctemplateConfig c = Base();
  c.aux_partner = 0.5;
  c.keep_context = 1.0;
  c.keep_context_hold = 100;
  c.keep_context_anneal = 100;
  IctemplateTask task(c), plain(Base());
  for (int split : {0, 1, 2}) {
    Rng a = Rng::ForStream(10, "eval"), b = Rng::ForStream(10, "eval");
    Batch x, y;
    plain.Sample(split, a, 100, x);
    task.Sample(split, b, 100, y);
    ExpectSameBatch(x, y, task.info().splits[split]);
  }
  Rng a = Rng::ForStream(10, "eval"), b = Rng::ForStream(10, "eval");
  Batch x, y;
  ReferencePrompts(task, a, 100, x);
  task.Sample(0, b, 100, y);
  ExpectSameBatch(x, y, "train split against the reference");
}

std::map<std::string, std::string> SmallRun() {
  return {{"task.name", "ictemplate"}, {"task.pairs", "2"},     {"task.n_queries", "2"},
          {"model.causal", "true"},    {"model.d_model", "16"}, {"model.heads", "2"},
          {"model.layers", "1"},       {"train.steps", "3"},    {"eval.size", "64"}};
}

// Through the trainer: both aids on, a few steps train with a finite loss.
TEST(IctemplateAidsTest, TrainsThroughTheTrainer) {
  std::map<std::string, std::string> given = SmallRun();
  given["task.aux_partner"] = "0.5";
  given["task.keep_context"] = "1";
  given["task.keep_context_anneal"] = "2";
  const OptionSet set = AllOptions();  // Options keeps a reference
  Options options(set, given);
  Experiment e = BuildExperiment(options);
  EXPECT_EQ(e.task->info().n_classes, 8 + 5);
  Trainer trainer(e.train, *e.task, *e.model, *e.registry);
  const TrainResult r = trainer.Run(nullptr, {}, {}, 0);
  ASSERT_EQ(r.status, RunStatus::kComplete);
  EXPECT_TRUE(std::isfinite(r.curves[1].back()));
}

// Bad values are configuration errors (exit 2 in sim) naming the key.
TEST(IctemplateAidsTest, BadOptionsNameTheKey) {
  const OptionSet set = AllOptions();
  const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
      {{{"task.aux_partner", "1.5"}}, "task.aux_partner"},
      {{{"task.aux_partner", "-0.1"}}, "task.aux_partner"},
      {{{"task.aux_partner_until", "100"}}, "task.aux_partner_until"},
      {{{"task.keep_context", "2"}}, "task.keep_context"},
      {{{"task.keep_context", "1"}}, "task.keep_context"},  // no hold, no anneal: q would be 0 throughout
      {{{"task.keep_context_hold", "10"}}, "task.keep_context_hold"},
      {{{"task.keep_context_anneal", "-1"}}, "task.keep_context_anneal"},
      {{{"task.keep_context", "1"}, {"task.keep_context_hold", "5"}}, ""},
      {{{"task.aux_partner", "1"}, {"task.aux_partner_until", "5"}}, ""},
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

// The layer-1 measure against hand-made attention: head 0 a perfect same-token parse (every filler
// with an earlier partner puts all its mass there, other queries on themselves), head 1 uniform
// causal attention, whose expected masses follow from the tokens.
TEST(IctemplateMeasuresTest, PartnerMassOfAPerfectParseAndOfUniformAttention) {
  IctemplateConfig c = Base();
  c.n_queries = 1;
  IctemplateTask task(c);
  const int t_len = task.info().length, batch_size = 20, heads = 2;
  Rng rng = Rng::ForStream(12, "probe");
  Batch batch;
  task.Sample(1, rng, batch_size, batch);
  Mat probs = Mat::Zero(t_len, static_cast<Index>(t_len) * batch_size * heads);  // (T, T*B*H)
  double expected_self = 0, expected_other = 0, n = 0;
  for (int b = 0; b < batch_size; ++b) {
    const int32_t* t = batch.tokens.data() + b * t_len;
    for (int q = 0; q < t_len; ++q) {
      const int first = q - q % kSeg;
      int partner = -1;
      if (q % kSeg < kL)
        for (int k = first; k < q; ++k)
          if (t[k] == t[q]) partner = k;
      probs(partner >= 0 ? partner : q, (b * heads + 0) * t_len + q) = 1;
      for (int k = 0; k <= q; ++k) probs(k, (b * heads + 1) * t_len + q) = Scalar(1) / (q + 1);
      if (partner < 0) continue;
      n += 1;
      expected_self += 1.0 / (q + 1);
      for (int k = 0; k < first; ++k) expected_other += t[k] == t[q] ? 1.0 / (q + 1) : 0.0;
    }
  }
  ASSERT_EQ(n, batch_size * (kM + 1) * kL / 2);
  AttentionCapture capture;
  capture.batch = &batch;
  capture.probs = {&probs};
  capture.heads = {heads};
  const std::vector<AnalysisArray> m = IctemplateMeasures(task, capture);
  ASSERT_EQ(m.size(), 1u);
  ASSERT_EQ(m[0].path, "mech/ictemplate_partner_mass");
  ASSERT_EQ(m[0].dims, (std::vector<uint64_t>{3, 2}));
  const std::vector<double>& v = m[0].data;  // [row, head]
  EXPECT_NEAR(v[0], 1.0, 1e-12) << "perfect parse: all on the partner";
  EXPECT_NEAR(v[2], 0.0, 1e-12);
  EXPECT_NEAR(v[4], 0.0, 1e-12);
  EXPECT_NEAR(v[1], expected_self / n, 1e-6) << "uniform: 1/(q+1) on the partner";
  EXPECT_NEAR(v[3], expected_self / n, 1e-6) << "and on itself";
  EXPECT_NEAR(v[5], expected_other / n, 1e-6) << "same tokens in earlier segments";
  EXPECT_GT(v[5], 0.0) << "the probe has cross-segment repeats (the comparison can fail)";
}

}  // namespace
}  // namespace sim
