// LoRA from the command line: fine-tuning a plain run with adapters (train.init_from loads every
// parameter but the adapters), the run file's /params (merged weights and lora.* adapters), and bad
// lora.* options exiting 2 with the key named.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

const std::string kSmall = " --train.eval_every=10 --eval.size=64 --eval.batch=64 --train.batch=16";
const std::string kLora = " --lora.targets='blocks.*.attn.wq,blocks.*.attn.wv' --lora.rank=2";

Result Train(const std::string& out, int steps, const std::string& extra) {
  return RunSim("train --config " + Quote(kQuickstart) + " --out " + Quote(out) +
                " --train.steps=" + std::to_string(steps) + kSmall + " " + extra);
}

std::vector<double> Param(const std::string& path, const std::string& name) {
  return sim::H5Reader(path).Doubles("/params/" + name);
}

TEST(LoraCliTest, FineTunesAPlainRunAndSavesMergedWeightsAndAdapters) {
  ScratchDir dir;
  const std::string base = dir.File("base.h5"), tuned = dir.File("tuned.h5");
  Result r = Train(base, 20, "--train.seed=1");
  ASSERT_EQ(r.code, 0) << r.output;
  r = Train(tuned, 10, "--train.seed=2 --train.init_from=" + Quote(base) + kLora);
  ASSERT_EQ(r.code, 0) << r.output;
  // The adapters are saved, with their shapes: A (r, in) as [in, r], B (out, r) as [r, out].
  sim::H5Reader in(tuned);
  EXPECT_EQ(in.Shape("/params/lora.blocks.0.attn.wq.a"), (std::vector<uint64_t>{64, 2}));
  EXPECT_EQ(in.Shape("/params/lora.blocks.1.attn.wv.b"), (std::vector<uint64_t>{2, 64}));
  EXPECT_FALSE(in.Exists("/params/lora.blocks.0.attn.wk.a"));
  // Targets hold merged weights (moved from the source's); other model weights keep the source's
  // bits (frozen); the readout trains.
  EXPECT_NE(Param(base, "blocks.0.attn.wq"), Param(tuned, "blocks.0.attn.wq"));
  EXPECT_NE(Param(base, "blocks.1.attn.wv"), Param(tuned, "blocks.1.attn.wv"));
  for (const std::string name : {"embed.tok", "embed.pos", "blocks.0.attn.wk", "blocks.1.attn.wo"})
    EXPECT_EQ(Param(base, name), Param(tuned, name)) << name;
  EXPECT_NE(Param(base, "head.w"), Param(tuned, "head.w"));
  // W_eff - W0 = B A (alpha = rank, scale 1): the saved merged weight minus the source's, against the
  // saved adapters. Datasets hold engine matrices column-major: (row, col) of an (R, C) matrix is at
  // col * R + row.
  const std::vector<double> w = Param(tuned, "blocks.0.attn.wq"), w0 = Param(base, "blocks.0.attn.wq");
  const std::vector<double> a = Param(tuned, "lora.blocks.0.attn.wq.a"), b = Param(tuned, "lora.blocks.0.attn.wq.b");
  const int d = 64, rank = 2;
  double worst = 0, scale = 0;
  for (int row = 0; row < d; ++row)
    for (int col = 0; col < d; ++col) {
      double ba = 0;  // engine (row, col) of B A: sum_k B(row, k) A(k, col); stored column-major
      for (int k = 0; k < rank; ++k) ba += b[k * d + row] * a[col * rank + k];
      const double delta = w[col * d + row] - w0[col * d + row];
      worst = std::max(worst, std::abs(delta - ba));
      scale = std::max(scale, std::abs(ba));
    }
  EXPECT_GT(scale, 0.0);
  EXPECT_LT(worst, 1e-5);
}

// A LoRA run as the source of another LoRA run: its merged weights become the new base, and the
// new adapters start fresh (B = 0), so zero steps reproduce the source's merged weights.
TEST(LoraCliTest, ALoraSourceGivesItsMergedWeightsAndFreshAdapters) {
  ScratchDir dir;
  const std::string first = dir.File("first.h5"), second = dir.File("second.h5");
  Result r = Train(first, 10, "--train.seed=1" + kLora);
  ASSERT_EQ(r.code, 0) << r.output;
  r = Train(second, 0, "--train.seed=1 --train.init_from=" + Quote(first) + kLora);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Param(first, "blocks.0.attn.wq"), Param(second, "blocks.0.attn.wq"));
  const std::vector<double> b = Param(second, "lora.blocks.0.attn.wq.b");
  for (double v : b) ASSERT_EQ(v, 0.0);
  EXPECT_NE(Param(first, "lora.blocks.0.attn.wq.b"), b);
}

TEST(LoraCliTest, BadOptionsExitTwoNamingTheKey) {
  ScratchDir dir;
  const std::string out = dir.File("bad.h5");
  const std::pair<std::string, std::string> cases[] = {
      {"--lora.targets='blocks.*.attn.bq'", "lora.targets: pattern 'blocks.*.attn.bq' matches no 2-D weight"},
      {"--lora.targets=head.w --lora.rank=0", "lora.rank"},
      {"--lora.targets=blocks.0.attn.wq --lora.rank=65", "lora.rank: expected 1 <= rank <= min(out, in) = 64"},
      {"--lora.targets=head.w --lora.alpha=-2", "lora.alpha"},
  };
  for (const auto& [options, text] : cases) {
    const Result r = Train(out, 5, options);
    EXPECT_EQ(r.code, 2) << options << "\n" << r.output;
    EXPECT_NE(r.output.find(text), std::string::npos) << options << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
