// Option keys and flags match exactly, through the sim executable: a prefix or a typo of a key (on
// the command line or in an INI file) or of a command's own flag is bad input (exit 2) that names the
// nearest valid keys, and nothing runs. (Boost's default style would take --model.layer=2 for
// model.layers = 2, and --confi for --config.)
#include <gtest/gtest.h>

#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

const char* kSmallMqar =
    "[task]\nname = mqar\nvocab = 32\nlength = 16\npairs = 4\nqueries = 4\n"
    "[model]\nlayers = 1\nheads = 2\nd_model = 16\nd_mlp = 0\n"
    "[train]\nsteps = 2\neval_every = 2\nbatch = 16\n"
    "[eval]\nsize = 64\nbatch = 64\n";

// The run was refused as bad input, naming `given` and suggesting `nearest`; `out` was not written.
void ExpectRefused(const Result& r, const std::string& given, const std::string& nearest, const std::string& out = "") {
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "error: unknown option '" + given + "'")) << r.output;
  EXPECT_TRUE(Contains(r.output, "did you mean '" + nearest + "'")) << r.output;
  if (!out.empty()) {
    EXPECT_FALSE(fs::exists(out)) << out;
  }
}

TEST(OptionKeysTest, PrefixOfAKeyOnTheCommandLineIsRefused) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5");
  const Result r = RunSim("train --config " + kQuickstart + " --model.layer=2 --out " + out);
  ExpectRefused(r, "model.layer", "model.layers", out);
  EXPECT_TRUE(Contains(r.output, "on the command line")) << r.output;
  ExpectRefused(RunSim("train --config " + kQuickstart + " --train.step 2 --out " + out), "train.step", "train.steps",
                out);
}

TEST(OptionKeysTest, TypoOfAKeyInAnIniFileIsRefused) {
  ScratchDir dir;
  const std::string ini = dir.File("typo.ini"), out = dir.File("run.h5");
  WriteText(ini, std::string(kSmallMqar) + "[model]\nlayer = 2\n");
  const Result r = RunSim("train --config " + ini + " --out " + out);
  ExpectRefused(r, "model.layer", "model.layers", out);
  EXPECT_TRUE(Contains(r.output, "in " + ini)) << r.output;
}

TEST(OptionKeysTest, PrefixOfACommandsOwnFlagIsRefused) {
  ScratchDir dir;
  const std::string ini = dir.File("small.ini"), out = dir.File("run.h5");
  WriteText(ini, kSmallMqar);
  ExpectRefused(RunSim("train --confi " + ini + " --out " + out), "confi", "config", out);
  ExpectRefused(RunSim("train --config " + ini + " --ou " + out), "ou", "out", out);
  ExpectRefused(RunSim("train --config " + ini + " --out " + out + " --thread 2"), "thread", "threads", out);

  const std::string sweep = dir.File("sweep.ini");
  WriteText(sweep, std::string(kSmallMqar) + "[sweep]\nseed = 0..1\n");
  const std::string runs = dir.File("runs");
  ExpectRefused(RunSim("sweep --config " + sweep + " --out-di " + runs + " --all"), "out-di", "out-dir");
  ExpectRefused(RunSim("slurm --config " + sweep + " --out-di " + runs), "out-di", "out-dir");
  EXPECT_FALSE(fs::exists(runs));
  ExpectRefused(RunSim("bench --list --second 1"), "second", "seconds");
}

TEST(OptionKeysTest, ExactKeysAndFlagsStillWork) {
  ScratchDir dir;
  const std::string ini = dir.File("small.ini"), out = dir.File("run.h5");
  WriteText(ini, kSmallMqar);
  const Result r = RunSim("train --config " + ini + " --model.layers=2 --out " + out + " --quiet");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_EQ(RunSim("train -h", "2>/dev/null").code, 0);
}

}  // namespace
