// LoRA adapters in training (sim/train/lora.h), built from options as `sim train` builds them: at
// B = 0 the model is the base model bit for bit; the registry's weights are W0 + s·B·A; only the
// adapters and the readout train; the same bits on 1 and 2 threads with chunked batches, chunked
// gradients equal to the whole batch's; a resumed run ends bit-identical; bad options name their key.
#include "sim/train/lora.h"

#include <gtest/gtest.h>

#include <cstring>

#include "sim/cli/experiment.h"
#include "sim/kernels/parallel.h"
#include "sim/train/batch_gradients.h"
#include "sim/train/metrics.h"
#include "sim/train/trainer.h"

namespace sim {
namespace {

std::map<std::string, std::string> SmallMqar(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> o = {
      {"task.name", "mqar"},           {"task.vocab", "32"},    {"task.length", "16"}, {"task.pairs", "4"},
      {"task.queries", "4"},           {"model.d_model", "32"}, {"model.heads", "2"},  {"model.d_mlp", "64"},
      {"train.steps", "40"},           {"train.lr", "3e-3"},    {"train.batch", "16"}, {"train.eval_every", "20"},
      {"train.target_metric", "none"}, {"eval.size", "64"},     {"eval.batch", "32"},  {"train.seed", "3"}};
  for (auto& [k, v] : extra) o[k] = v;
  return o;
}

std::map<std::string, std::string> WithLora(std::map<std::string, std::string> extra = {}) {
  extra.emplace("lora.targets", "blocks.*.attn.wq,blocks.*.attn.wv");
  return SmallMqar(extra);
}

struct Session {
  explicit Session(const std::map<std::string, std::string>& given) : set(AllOptions()), options(set, given) {
    e = BuildExperiment(options);
    trainer = std::make_unique<Trainer>(e.train, *e.task, *e.model, *e.registry, e.lora.get());
  }
  OptionSet set;
  Options options;
  Experiment e;
  std::unique_ptr<Trainer> trainer;
};

bool SameBits(const Scalar* a, const Scalar* b, Index n) { return std::memcmp(a, b, n * sizeof(Scalar)) == 0; }
bool SameBits(const Vec& a, const Vec& b) { return a.size() == b.size() && SameBits(a.data(), b.data(), a.size()); }

Vec ParamValues(const ParamRegistry& r, ParamId id) { return r.values().segment(r.offset(id), r.numel(id)); }

TEST(LoraTest, AdaptersAreRegisteredAfterTheModelWithTheirShapes) {
  Session s(WithLora({{"lora.rank", "3"}}));
  const ParamRegistry& r = *s.e.registry;
  const ParamId a = r.Find("lora.blocks.1.attn.wv.a"), b = r.Find("lora.blocks.1.attn.wv.b");
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  EXPECT_EQ(r.spec(a).rows, 3);
  EXPECT_EQ(r.spec(a).cols, 32);
  EXPECT_EQ(r.spec(b).rows, 32);
  EXPECT_EQ(r.spec(b).cols, 3);
  EXPECT_EQ(r.Match("lora.*").size(), 8u);
  EXPECT_GT(r.Find("lora.blocks.0.attn.wq.a"), r.Find("head.b")) << "adapters come after every model parameter";
  for (ParamId id : r.Match("blocks.*"))
    EXPECT_NE(r.name(id).rfind("lora.", 0), 0u) << "blocks.* matched " << r.name(id);
  EXPECT_EQ(ParamValues(r, b).norm(), 0.0) << "B starts at 0";
  // A ~ N(0, 1/r): its sample standard deviation is near 1/sqrt(3) (96 entries).
  const Vec va = ParamValues(r, a);
  EXPECT_NEAR(std::sqrt(va.squaredNorm() / va.size()), 1.0 / std::sqrt(3.0), 0.15);
}

// With B = 0 (as initialized) the model is the base model: every parameter of the model has the bits of
// a run without LoRA (the adapters are drawn after them), the loss is the same, also after a merge.
TEST(LoraTest, ZeroBIsTheBaseModelBitForBit) {
  Session plain(SmallMqar()), lora(WithLora());
  const ParamRegistry& p = *plain.e.registry;
  const ParamRegistry& l = *lora.e.registry;
  for (ParamId id = 0; id < p.size(); ++id) {
    ASSERT_EQ(p.name(id), l.name(id));
    EXPECT_TRUE(SameBits(ParamValues(p, id), ParamValues(l, id))) << p.name(id);
  }
  EXPECT_EQ(plain.e.resolved_ini.find("[lora]"), std::string::npos) << "LoRA off: no [lora] section, same hash";
  EXPECT_NE(lora.e.resolved_ini.find("targets = blocks.*.attn.wq,blocks.*.attn.wv"), std::string::npos);

  Batch batch;
  Rng rng = Rng::ForStream(1, "data/train");
  plain.e.task->Sample(0, rng, 8, batch);
  auto ws_plain = plain.e.model->MakeWorkspace(batch.shape, batch.n_scored());
  auto ws_lora = lora.e.model->MakeWorkspace(batch.shape, batch.n_scored());
  const double base = ForwardLoss(*plain.e.model, *ws_plain, batch, false, nullptr);
  EXPECT_EQ(base, ForwardLoss(*lora.e.model, *ws_lora, batch, false, nullptr));
  lora.e.lora->Merge();
  EXPECT_EQ(base, ForwardLoss(*lora.e.model, *ws_lora, batch, false, nullptr)) << "W0 + s·0·A is W0";
}

// After training, each target's weight is W0 + (alpha/r)·B·A (here alpha/r = 2), W0 is the initial
// weight, and B has moved away from 0.
TEST(LoraTest, MergedWeightsAreBasePlusScaledBA) {
  Session plain(SmallMqar());
  Session s(WithLora({{"lora.rank", "4"}, {"lora.alpha", "8"}}));
  s.trainer->Run(nullptr, {});
  const ParamRegistry& r = *s.e.registry;
  ASSERT_EQ(s.e.lora->targets().size(), 4u);
  for (const LoraAdapters::Target& t : s.e.lora->targets()) {
    const std::string& name = r.name(t.weight);
    const Eigen::MatrixXd w0 = plain.e.registry->Value(t.weight).cast<double>();
    EXPECT_TRUE(t.base.cast<double>() == w0) << name << ": W0 is the initial weight";
    const Eigen::MatrixXd a = r.Value(t.a).cast<double>(), b = r.Value(t.b).cast<double>();
    EXPECT_GT(b.norm(), 0.0) << name;
    const Eigen::MatrixXd expected = w0 + 2.0 * b * a;
    const double err = (r.Value(t.weight).cast<double>() - expected).cwiseAbs().maxCoeff();
    EXPECT_LT(err, 1e-6 * std::max(1.0, expected.cwiseAbs().maxCoeff())) << name;
    EXPECT_GT((expected - w0).norm(), 1e-4) << name << ": the update is visible in the merged weight";
  }
}

// Only lora.* and head.* change (optim.trainable unset); the targets' base weights are frozen and every
// other model parameter keeps its bits. With optim.trainable = lora.* the head stays too.
TEST(LoraTest, OnlyAdaptersAndHeadTrain) {
  for (const bool head_trains : {true, false}) {
    SCOPED_TRACE(head_trains ? "default groups" : "optim.trainable = lora.*");
    Session plain(SmallMqar());
    Session s(head_trains ? WithLora() : WithLora({{"optim.trainable", "lora.*"}}));
    const ParamRegistry& r = *s.e.registry;
    std::vector<bool> target(r.size(), false);
    for (const LoraAdapters::Target& t : s.e.lora->targets()) {
      target[t.weight] = true;
      EXPECT_FALSE(r.group(t.weight).trainable) << r.name(t.weight);
    }
    const Vec before = r.values();
    s.trainer->Run(nullptr, {});
    for (ParamId id = 0; id < r.size(); ++id) {
      const std::string& name = r.name(id);
      const bool adapter = name.rfind("lora.", 0) == 0, head = name.rfind("head.", 0) == 0;
      EXPECT_EQ(r.group(id).trainable, adapter || (head && head_trains)) << name;
      const bool changed = !SameBits(r.values().data() + r.offset(id), before.data() + r.offset(id), r.numel(id));
      if (adapter || target[id] || (head && head_trains))
        EXPECT_TRUE(changed) << name << " should have changed";
      else
        EXPECT_FALSE(changed) << name << " should keep its bits";
    }
  }
}

// Chunks of 4 examples: training on 1 and on 2 threads gives the same bits (parameters and curves).
TEST(LoraTest, SameBitsOnOneAndTwoThreadsWithChunks) {
  Vec params[2];
  std::vector<std::vector<double>> curves[2];
  for (int threads : {1, 2}) {
    Session s(WithLora({{"train.chunk", "4"}, {"train.threads", std::to_string(threads)}}));
    const TrainResult result = s.trainer->Run(nullptr, {});
    params[threads - 1] = s.e.registry->values();
    curves[threads - 1] = result.curves;
  }
  EXPECT_TRUE(SameBits(params[0], params[1]));
  EXPECT_EQ(curves[0], curves[1]);
  SetNumThreads(1);
}

// The adapters' gradients from a chunked batch equal the whole batch's (to float rounding: the chunks
// add up the merged weight's gradient in another order).
TEST(LoraTest, ChunkedAdapterGradientsMatchTheWholeBatch) {
  Session s(WithLora());
  ParamRegistry& r = *s.e.registry;
  // Move B off 0, so that the gradients of A are not 0.
  Rng rng(7);
  for (const LoraAdapters::Target& t : s.e.lora->targets()) {
    MatMap b = r.Value(t.b);
    for (Index i = 0; i < b.size(); ++i) b.data()[i] = static_cast<Scalar>(0.1 * rng.Normal());
  }
  s.e.lora->Merge();
  Batch batch;
  Rng data = Rng::ForStream(1, "data/train");
  s.e.task->Sample(0, data, 16, batch);
  Vec grads[2];
  int i = 0;
  for (int chunk : {16, 4}) {
    BatchGradients gradients(*s.e.model, r, batch.shape, s.e.task->info().max_scored_per_example, chunk);
    gradients.Compute(batch);
    s.e.lora->AddAdapterGrads();
    grads[i++] = r.grads();
  }
  for (ParamId id : r.Match("lora.*")) {
    const Vec whole = grads[0].segment(r.offset(id), r.numel(id)),
              chunked = grads[1].segment(r.offset(id), r.numel(id));
    EXPECT_GT(whole.norm(), 0.0) << r.name(id);
    EXPECT_LT((whole - chunked).norm(), 1e-5 * whole.norm()) << r.name(id);
  }
}

// A run stopped at step 20 and resumed from its checkpoint in a fresh experiment (W0 from the seed's
// init, the merged weights and adapters from the checkpoint) ends bit-identical to an uninterrupted one.
TEST(LoraTest, ResumedRunIsBitIdentical) {
  Session reference(WithLora());
  const TrainResult expected = reference.trainer->Run(nullptr, {});

  Session first(WithLora());
  Checkpoint checkpoint;
  std::atomic<int> stop{0};
  const TrainResult stopped = first.trainer->Run(
      &stop,
      [&](const Progress& p) {
        if (!p.evaluating && p.step == 20) stop.store(1);
      },
      [&](const Checkpoint& c) { checkpoint = c; });
  ASSERT_EQ(stopped.status, RunStatus::kInterrupted);
  ASSERT_EQ(checkpoint.state.step, 20);

  Session resumed(WithLora());
  resumed.trainer->Restore(checkpoint);
  const TrainResult result = resumed.trainer->Run(nullptr, {});
  EXPECT_EQ(result.steps_done, 40);
  EXPECT_EQ(result.curves, expected.curves);
  EXPECT_TRUE(SameBits(resumed.e.registry->values(), reference.e.registry->values()));
}

// A trainer without the experiment's adapters would train nothing of them: refused.
TEST(LoraTest, TrainerRefusesARegistryWithAdaptersButNoLora) {
  Session s(WithLora());
  EXPECT_THROW(Trainer(s.e.train, *s.e.task, *s.e.model, *s.e.registry), InternalError);
}

void ExpectConfigError(const std::map<std::string, std::string>& given, const std::string& key,
                       const std::string& text) {
  const OptionSet set = AllOptions();
  Options options(set, given);
  try {
    BuildExperiment(options);
    ADD_FAILURE() << "no error for " << key;
  } catch (const ConfigError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(key), std::string::npos) << message;
    EXPECT_NE(message.find(text), std::string::npos) << message;
  }
}

TEST(LoraTest, BadOptionsNameTheirKey) {
  // biases are vectors, not weights
  ExpectConfigError(WithLora({{"lora.targets", "blocks.*.attn.bq"}}), "lora.targets",
                    "pattern 'blocks.*.attn.bq' matches no 2-D weight");
  ExpectConfigError(WithLora({{"lora.targets", "blocks.0.attn.wq,nothing.here"}}), "lora.targets", "'nothing.here'");
  // blocks.0.mlp.w1 is (F, D) = (64, 32)
  ExpectConfigError(WithLora({{"lora.targets", "blocks.0.mlp.w1"}, {"lora.rank", "33"}}), "lora.rank",
                    "min(out, in) = 32 of target blocks.0.mlp.w1 (64, 32), got 33");
  ExpectConfigError(WithLora({{"lora.rank", "0"}}), "lora.rank", "'0'");
  ExpectConfigError(WithLora({{"lora.alpha", "-1"}}), "lora.alpha", "'-1'");
  ExpectConfigError(WithLora({{"lora.a_std", "big"}}), "lora.a_std", "'big'");
}

}  // namespace
}  // namespace sim
