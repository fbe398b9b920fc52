// A batch's loss and gradient computed in chunks of examples (sim/train/batch_gradients.h): the
// whole-batch values up to float rounding, the same bits at any thread count, the plain pass when
// unchunked; the chunk rule, the train.chunk key, batch slicing and redirected gradients.
#include "sim/train/batch_gradients.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/kernels/parallel.h"
#include "sim/layers/mixer.h"
#include "sim/train/metrics.h"
#include "sim/train/train_config.h"

namespace sim {
namespace {

struct TrainingSetup {
  Experiment e;
  Batch batch;
  BatchShape shape() const { return batch.shape; }
};

// The experiment of `given` on `threads` threads and one training batch of it.
TrainingSetup Make(std::map<std::string, std::string> given, int threads) {
  given["train.threads"] = std::to_string(threads);
  const OptionSet set = AllOptions();
  Options options(set, given);
  TrainingSetup s{BuildExperiment(options), {}};
  SetNumThreads(threads);
  Rng rng = Rng::ForStream(3, "data/train");
  s.e.task->Sample(0, rng, s.e.train.batch, s.batch);
  return s;
}

// Loss and gradient of s.batch in chunks of `chunk` examples.
double ChunkedGradient(TrainingSetup& s, int chunk, Vec& grads) {
  BatchGradients gradients(*s.e.model, *s.e.registry, s.shape(), s.e.task->info().max_scored_per_example, chunk);
  const double loss = gradients.Compute(s.batch);
  grads = s.e.registry->grads();
  return loss;
}

bool SameBits(const Vec& a, const Vec& b) {
  return a.size() == b.size() && std::equal(a.data(), a.data() + a.size(), b.data());
}

struct ModelCase {
  std::string name;
  std::map<std::string, std::string> options;
};
void PrintTo(const ModelCase& c, std::ostream* os) { *os << c.name; }

// Token inputs with a few scored positions per example (pre-LN, GELU MLP); vector inputs with squared
// error; an attention-only model read out at the last position; linear attention in the heads
// study's theory shape.
const ModelCase kCases[] = {
    {"mqar_preln_mlp",
     {{"task.name", "mqar"},
      {"task.vocab", "32"},
      {"task.length", "24"},
      {"task.pairs", "4"},
      {"task.queries", "4"},
      {"model.d_model", "32"},
      {"model.heads", "2"},
      {"model.layers", "2"},
      {"model.d_mlp", "4x"},
      {"train.batch", "12"}}},
    {"linreg_vectors_mse",
     {{"task.name", "linreg"},
      {"task.d", "3"},
      {"task.points", "6"},
      {"model.d_model", "32"},
      {"model.heads", "2"},
      {"train.batch", "12"}}},
    {"attention_only_last",
     {{"task.name", "uniform"},
      {"task.vocab", "16"},
      {"task.length", "9"},
      {"task.classes", "5"},
      {"task.score", "last"},
      {"model.d_model", "32"},
      {"model.heads", "4"},
      {"model.layers", "2"},
      {"model.d_mlp", "0"},
      {"model.norm", "none"},
      {"model.causal", "false"},
      {"train.batch", "12"}}},
    // the heads study's theory variant: linear attention, no MLP, no norms, no positions, 8,1,1 heads
    {"linreg_linear_attention_theory_shape",
     {{"task.name", "linreg"},
      {"task.d", "4"},
      {"task.points", "6"},
      {"model.d_model", "32"},
      {"model.layers", "3"},
      {"model.heads", "8,1,1"},
      {"model.d_mlp", "0"},
      {"model.norm", "none"},
      {"model.pos", "none"},
      {"model.attention", "linear"},
      {"train.batch", "12"}}},
};

// The cases above, plus, for every registered mixer (sim/layers/mixer_registry.cc), a model made of
// it alone and a hybrid with attention in its second layer (and, for mixers that read
// model.attention, a model of it with linear attention): the mixer conformance suite's
// "chunked batch = whole batch" and "same bits at 1, 2 and 3 threads" at the model level.
std::vector<ModelCase> AllCases() {
  std::vector<ModelCase> cases(std::begin(kCases), std::end(kCases));
  for (const MixerEntry& m : MixerRegistry()) {
    for (const std::string& mixers : {m.name, m.name + ",attention"}) {
      ModelCase c = cases.front();
      c.name = "mixer_" + m.name + (mixers == m.name ? "" : "_hybrid");
      c.options["model.mixer"] = mixers;
      cases.push_back(c);
    }
    if (m.reads_attention) {
      ModelCase c = cases.front();
      c.name = "mixer_" + m.name + "_linear";
      c.options["model.mixer"] = m.name;
      c.options["model.attention"] = "linear";
      cases.push_back(c);
    }
  }
  return cases;
}

class BatchGradientsTest : public ::testing::TestWithParam<ModelCase> {};

TEST_P(BatchGradientsTest, ChunksGiveTheWholeBatchLossAndGradient) {
  TrainingSetup s = Make(GetParam().options, 1);
  Vec whole;
  const double whole_loss = ChunkedGradient(s, 12, whole);
  const double scale = std::max(1.0, static_cast<double>(whole.cwiseAbs().maxCoeff()));
  for (int chunk : {1, 3, 4, 6}) {
    Vec chunked;
    const double loss = ChunkedGradient(s, chunk, chunked);
    EXPECT_NEAR(loss, whole_loss, 1e-6 * std::abs(whole_loss)) << "chunk " << chunk;
    EXPECT_LE((chunked - whole).cwiseAbs().maxCoeff(), 2e-6 * scale) << "chunk " << chunk;
  }
}

TEST_P(BatchGradientsTest, ChunksGiveTheSameBitsOnAnyThreadCount) {
  for (int chunk : {3, 4}) {
    TrainingSetup one = Make(GetParam().options, 1);
    Vec reference;
    const double reference_loss = ChunkedGradient(one, chunk, reference);
    for (int threads : {2, 3}) {
      TrainingSetup s = Make(GetParam().options, threads);
      Vec grads;
      const double loss = ChunkedGradient(s, chunk, grads);
      EXPECT_EQ(loss, reference_loss) << "chunk " << chunk << ", " << threads << " threads";
      EXPECT_TRUE(SameBits(grads, reference)) << "chunk " << chunk << ", " << threads << " threads";
    }
  }
  SetNumThreads(1);
}

TEST_P(BatchGradientsTest, OneChunkIsThePlainForwardAndBackward) {
  for (int threads : {1, 2}) {
    TrainingSetup s = Make(GetParam().options, threads);
    auto ws = s.e.model->MakeWorkspace(s.shape(), s.batch.n_scored());
    const double plain_loss = ForwardLoss(*s.e.model, *ws, s.batch, true, nullptr);
    s.e.registry->grads().setConstant(7.0f);  // Compute must overwrite, not add
    s.e.registry->ZeroGrads();
    s.e.model->Backward(s.batch, *ws);
    const Vec plain = s.e.registry->grads();
    s.e.registry->grads().setConstant(7.0f);
    Vec grads;
    EXPECT_EQ(ChunkedGradient(s, s.e.train.batch, grads), plain_loss);
    EXPECT_TRUE(SameBits(grads, plain)) << threads << " threads";
  }
  SetNumThreads(1);
}

INSTANTIATE_TEST_SUITE_P(Models, BatchGradientsTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<ModelCase>& info) { return info.param.name; });

// A chunk whose examples score nothing adds nothing, and the mean still runs over the batch's scored
// positions.
TEST(BatchGradientsEdgeTest, ChunkWithoutScoredPositions) {
  TrainingSetup s = Make(kCases[0].options, 2);
  const int t = s.batch.shape.length, chunk = 4;
  // Drop the scored positions of the first chunk's examples.
  const auto first_kept = std::lower_bound(s.batch.scored.begin(), s.batch.scored.end(), chunk * t);
  const auto dropped = first_kept - s.batch.scored.begin();
  ASSERT_GT(dropped, 0);
  s.batch.scored.erase(s.batch.scored.begin(), first_kept);
  s.batch.labels.erase(s.batch.labels.begin(), s.batch.labels.begin() + dropped);
  Vec whole, chunked;
  const double whole_loss = ChunkedGradient(s, 12, whole);
  const double loss = ChunkedGradient(s, chunk, chunked);
  EXPECT_NEAR(loss, whole_loss, 1e-6 * whole_loss);
  EXPECT_LE((chunked - whole).cwiseAbs().maxCoeff(), 2e-6 * std::max(1.0f, whole.cwiseAbs().maxCoeff()));
  SetNumThreads(1);
}

TEST(BatchGradientsEdgeTest, ChunkMustDivideTheBatch) {
  TrainingSetup s = Make(kCases[0].options, 1);
  EXPECT_THROW(BatchGradients(*s.e.model, *s.e.registry, s.shape(), 4, 5), InternalError);
}

// The auto rule: about 512 positions per chunk (4·D above D = 128), at least two chunks, whole batches
// when chunks would be tiny.
TEST(AutoChunkTest, Rule) {
  EXPECT_EQ(AutoChunkExamples(64, 32, 64), 16);   // small: 512 positions
  EXPECT_EQ(AutoChunkExamples(64, 64, 128), 8);   // mid: 512
  EXPECT_EQ(AutoChunkExamples(32, 128, 256), 8);  // large: 1024 = 4·256
  EXPECT_EQ(AutoChunkExamples(32, 16, 32), 16);   // tiny: two chunks of 256
  EXPECT_EQ(AutoChunkExamples(64, 35, 64), 8);    // depth: 280 (16 would be 560)
  EXPECT_EQ(AutoChunkExamples(8, 1000, 64), 1);   // one example is already past the target
  EXPECT_EQ(AutoChunkExamples(1, 10, 64), 1);     // a batch of one
  EXPECT_EQ(AutoChunkExamples(7, 32, 64), 7);     // prime: chunks of one example (32) are too small
  EXPECT_EQ(AutoChunkExamples(61, 32, 64), 61);
  EXPECT_EQ(AutoChunkExamples(12, 24, 32), 6);  // two chunks of 144
}

ConfigError ConfigErrorOf(std::map<std::string, std::string> given) {
  const OptionSet set = AllOptions();
  Options options(set, given);
  try {
    BuildExperiment(options);
  } catch (const ConfigError& error) {
    return error;
  }
  ADD_FAILURE() << "no ConfigError";
  return ConfigError("");
}

TEST(TrainChunkOptionTest, BadValuesNameTheKeyAndTheBatch) {
  const std::string not_divisor =
      ConfigErrorOf({{"task.name", "mqar"}, {"train.batch", "64"}, {"train.chunk", "7"}}).what();
  EXPECT_NE(not_divisor.find("train.chunk"), std::string::npos) << not_divisor;
  EXPECT_NE(not_divisor.find("train.batch=64"), std::string::npos) << not_divisor;
  EXPECT_NE(not_divisor.find("7"), std::string::npos) << not_divisor;
  for (const char* bad : {"0", "-2", "many"}) {
    const std::string message = ConfigErrorOf({{"task.name", "mqar"}, {"train.chunk", bad}}).what();
    EXPECT_NE(message.find("train.chunk"), std::string::npos) << message;
  }
}

TEST(TrainChunkOptionTest, AutoResolvesFromTheShape) {
  const OptionSet set = AllOptions();
  Options auto_options(set, {{"task.name", "mqar"}, {"task.length", "64"}, {"train.batch", "32"}});
  EXPECT_EQ(BuildExperiment(auto_options).train.chunk, 8);
  Options given(set, {{"task.name", "mqar"}, {"train.batch", "32"}, {"train.chunk", "32"}});
  EXPECT_EQ(BuildExperiment(given).train.chunk, 32);
}

TEST(BatchCopyExamplesTest, TokensScoredPositionsAndLabels) {
  Batch from;
  from.Reset({3, 4}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int i = 0; i < 12; ++i) from.tokens[i] = 100 + i;
  from.AddClassTarget(0, 3, 1);
  from.AddClassTarget(1, 0, 2);
  from.AddClassTarget(1, 2, 3);
  from.AddClassTarget(2, 1, 4);
  Batch chunk;
  chunk.CopyExamples(from, 1, 2);
  EXPECT_EQ(chunk.shape.batch, 2);
  EXPECT_EQ(chunk.shape.length, 4);
  EXPECT_EQ(chunk.tokens, (std::vector<int32_t>{104, 105, 106, 107, 108, 109, 110, 111}));
  EXPECT_EQ(chunk.scored, (std::vector<int32_t>{0, 2, 5}));
  EXPECT_EQ(chunk.labels, (std::vector<int32_t>{2, 3, 4}));
  chunk.Validate(5);
  chunk.CopyExamples(from, 0, 1);
  EXPECT_EQ(chunk.scored, (std::vector<int32_t>{3}));
  EXPECT_EQ(chunk.labels, (std::vector<int32_t>{1}));
  EXPECT_THROW(chunk.CopyExamples(from, 2, 2), InternalError);
}

TEST(BatchCopyExamplesTest, VectorsAndScalarTargets) {
  Batch from;
  from.Reset({2, 3}, InputKind::kVectors, OutputKind::kScalar, 2);
  for (int j = 0; j < 6; ++j) from.vectors.col(j) << Scalar(j), Scalar(-j);
  from.AddScalarTarget(0, 2, 0.5f);
  from.AddScalarTarget(1, 1, 1.5f);
  Batch chunk;
  chunk.CopyExamples(from, 1, 1);
  ASSERT_EQ(chunk.vectors.cols(), 3);
  EXPECT_EQ(chunk.vectors(0, 0), 3.0f);
  EXPECT_EQ(chunk.vectors(1, 2), -5.0f);
  EXPECT_EQ(chunk.scored, (std::vector<int32_t>{1}));
  EXPECT_EQ(chunk.values, (std::vector<Scalar>{1.5f}));
}

TEST(ScopedGradBufferTest, RedirectsThisRegistryOnThisThreadOnly) {
  ParamRegistry registry, other;
  registry.Add({"w", 2, 3});
  other.Add({"w", 2, 3});
  registry.Finalize();
  other.Finalize();
  Vec buffer = Vec::Zero(6);
  {
    ParamRegistry::ScopedGradBuffer scope(registry, buffer.data());
    EXPECT_EQ(registry.Grad(0).data(), buffer.data());
    EXPECT_EQ(other.Grad(0).data(), other.grads().data());
    Scalar* seen_elsewhere = nullptr;
    std::thread([&] { seen_elsewhere = registry.Grad(0).data(); }).join();
    EXPECT_EQ(seen_elsewhere, registry.grads().data());
    EXPECT_THROW(ParamRegistry::ScopedGradBuffer(other, buffer.data()), InternalError);
  }
  EXPECT_EQ(registry.Grad(0).data(), registry.grads().data());
}

}  // namespace
}  // namespace sim
