// The sim executable end to end: exit codes and messages for bad input, --help and --print-config,
// a short train/info round trip, and what a killed or interrupted run leaves at --out.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sim/core/error.h"
#include "sim/io/hdf5_file.h"
#include "sim/io/run_file.h"
#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;
namespace fs = std::filesystem;

// A user mistake: exit code 2, every `parts` named, no crash text, and nothing written at `out`.
void ExpectBadInput(const Result& r, std::initializer_list<std::string> parts, const std::string& out = "") {
  EXPECT_EQ(r.code, 2) << r.output;
  for (const std::string& part : parts)
    EXPECT_TRUE(Contains(r.output, part)) << "missing '" << part << "' in:\n" << r.output;
  EXPECT_TRUE(Contains(r.output, "error: ")) << r.output;
  EXPECT_FALSE(Contains(r.output, "internal error")) << r.output;
  EXPECT_FALSE(Contains(r.output, "terminate")) << r.output;
  if (!out.empty()) {
    EXPECT_FALSE(fs::exists(out)) << out;
    EXPECT_FALSE(fs::exists(out + ".tmp")) << out << ".tmp";
  }
}

// `sim train --config quickstart --out <scratch>/run.h5 <extra>`, expected to fail before training.
void ExpectTrainRejects(const std::string& extra, std::initializer_list<std::string> parts) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5");
  const Result r = RunSim("train --config " + Quote(kQuickstart) + " --out " + Quote(out) + " " + extra);
  SCOPED_TRACE("sim train ... " + extra);
  ExpectBadInput(r, parts, out);
  EXPECT_TRUE(fs::is_empty(dir.path())) << "sim train left files in " << dir.path();
}

// ---- bad input: options -------------------------------------------------------------------------

TEST(CliTest, NoCommandPrintsUsageAndFails) {
  const Result r = RunSim("");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("usage: sim <command>"), std::string::npos) << r.output;
}

TEST(CliTest, UnknownCommandListsValidCommands) {
  const Result r = RunSim("trian --config x.ini");
  ExpectBadInput(r, {"unknown command 'trian'", "train", "info"});
}

TEST(CliTest, UnknownKeyNamesClosestValidKey) {
  ExpectTrainRejects("--model.layrs=2",
                     {"unknown option 'model.layrs'", "on the command line", "did you mean 'model.layers'"});
}

TEST(CliTest, UnknownKeyInIniFileNamesFileAndClosestValidKey) {
  ScratchDir dir;
  const std::string ini = dir.File("typo.ini");
  WriteText(ini, "[task]\nname = mqar\n\n[model]\nlayrs = 2\nheads = 2\n");
  const std::string out = dir.File("run.h5");
  const Result r = RunSim("train --config " + Quote(ini) + " --out " + Quote(out));
  ExpectBadInput(r, {"unknown option 'model.layrs'", ini, "did you mean 'model.layers'"}, out);
}

TEST(CliTest, LayersZeroIsOutOfRange) { ExpectTrainRejects("--model.layers=0", {"model.layers", "[1, 64]", "'0'"}); }

TEST(CliTest, NonNumericDModelIsRejectedWithoutKnockOnErrors) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5");
  const Result r = RunSim("train --config " + Quote(kQuickstart) + " --out " + Quote(out) + " --model.d_model=abc");
  ExpectBadInput(r, {"model.d_model", "expected an integer", "'abc'"}, out);
  // The unreadable value must not be checked against model.heads as if it were some number.
  EXPECT_FALSE(Contains(r.output, "model.heads")) << r.output;
}

TEST(CliTest, NegativeLearningRateIsRejected) {
  ExpectTrainRejects("--train.lr=-1", {"train.lr: must be in [0, ", "(given '-1')"});
}

TEST(CliTest, NonBooleanCausalIsRejected) {
  ExpectTrainRejects("--model.causal=maybe", {"model.causal", "true or false", "'maybe'"});
}

TEST(CliTest, HeadsMustDivideDModel) {
  ExpectTrainRejects("--model.d_model=64 --model.heads=5", {"model.heads", "5 heads", "must divide model.d_model=64"});
}

TEST(CliTest, UnknownTaskListsValidTasks) {
  ExpectTrainRejects("--task.name=nosuchtask", {"task.name", "unknown task", "'nosuchtask'", "mqar", "linreg"});
}

TEST(CliTest, UnknownChoiceValuesListValidValues) {
  ExpectTrainRejects(
      "--model.norm=batch --model.pos=rotary --model.mixer=mamba",
      {"model.norm: expected one of: pre_ln, none (given 'batch')",
       "model.pos: expected one of: learned, sinusoidal, none, learned_factored (given 'rotary')",
       "model.mixer: expected one of: attention (one for every layer, or one per layer) (given 'mamba')"});
}

TEST(CliTest, OptionOfAnotherTaskIsRejected) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5");
  const Result r = RunSim("train --out " + Quote(out) + " --task.name=linreg --task.vocab=10");
  ExpectBadInput(r, {"task.vocab", "not an option of task 'linreg'", "task.d"}, out);
}

TEST(CliTest, MqarQueriesMustNotExceedPairs) {
  ExpectTrainRejects("--task.pairs=6 --task.queries=7", {"task.queries", "<= task.pairs=6", "'7'"});
}

TEST(CliTest, LinregNeedsCausalAttention) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5");
  const Result r = RunSim("train --out " + Quote(out) + " --task.name=linreg --model.causal=false");
  ExpectBadInput(r, {"model.causal", "task 'linreg' needs causal attention", "'false'"}, out);
}

TEST(CliTest, AllErrorsAreReportedInOneRun) {
  ExpectTrainRejects("--model.layers=0 --train.lr=-1 --model.norm=batch",
                     {"model.layers: must be in [1, 64]", "train.lr: must be in [0, ", "model.norm"});
}

TEST(CliTest, StrayArgumentIsRejectedNotIgnored) {
  // A second INI file without its own --config used to be dropped silently (and the run went ahead).
  ScratchDir dir;
  const std::string ini = dir.File("more.ini");
  WriteText(ini, "[model]\nlayers = 3\n");
  const std::string out = dir.File("run.h5");
  Result r = RunSim("train --config " + Quote(kQuickstart) + " " + Quote(ini) + " --out " + Quote(out));
  ExpectBadInput(r, {"unexpected argument '" + ini + "'", "--config"}, out);
  r = RunSim("train --config " + Quote(kQuickstart) + " " + Quote(ini) + " --print-config");
  ExpectBadInput(r, {"unexpected argument '" + ini + "'"});
  r = RunSim("info " + Quote(out) + " extra.h5");
  ExpectBadInput(r, {"unexpected argument 'extra.h5'"});
}

// ---- bad input: files ---------------------------------------------------------------------------

TEST(CliTest, MissingConfigFileIsNamed) {
  ScratchDir dir;
  const std::string ini = dir.File("nope.ini");
  const std::string out = dir.File("run.h5");
  const Result r = RunSim("train --config " + Quote(ini) + " --out " + Quote(out));
  ExpectBadInput(r, {ini, "cannot read config file"}, out);
}

TEST(CliTest, MissingOutIsAnError) {
  const Result r = RunSim("train --config " + Quote(kQuickstart) + " --train.steps=5");
  ExpectBadInput(r, {"--out", "required"});
}

TEST(CliTest, OutInMissingDirectoryFailsBeforeTraining) {
  ScratchDir dir;
  const std::string out = dir.File("no/such/dir/run.h5");
  const auto start = std::chrono::steady_clock::now();
  const Result r = RunSim("train --config " + Quote(kQuickstart) + " --out " + Quote(out));
  ExpectBadInput(r, {"--out " + out, "directory " + dir.File("no/such/dir") + " does not exist"}, out);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0)
      << "the path must be checked before training (3000 steps)";
}

TEST(CliTest, InfoOnMissingFile) {
  ScratchDir dir;
  const std::string path = dir.File("missing.h5");
  ExpectBadInput(RunSim("info " + Quote(path)), {path, "no such file"});
}

TEST(CliTest, InfoOnTextFile) {
  ScratchDir dir;
  const std::string path = dir.File("notes.h5");
  WriteText(path, "this is not HDF5\n");
  ExpectBadInput(RunSim("info " + Quote(path)), {path, "not an HDF5 file"});
}

TEST(CliTest, InfoOnForeignHdf5File) {
  ScratchDir dir;
  const std::string path = dir.File("foreign.h5");
  {
    sim::H5Writer w(path);
    w.AttrString("/", "creator", "someone else");
    const double data[3] = {1, 2, 3};
    w.Doubles("/data", data, {3});
    w.Close();
  }
  ExpectBadInput(RunSim("info " + Quote(path)), {path, "not an attnsim run file", "format"});
}

TEST(CliTest, InfoWithoutFile) { ExpectBadInput(RunSim("info"), {"sim info", "run file"}); }

// ---- help and --print-config --------------------------------------------------------------------

TEST(CliTest, TopLevelHelpListsCommands) {
  for (const char* flag : {"--help", "-h", "help"}) {
    const Result r = RunSim(flag);
    EXPECT_EQ(r.code, 0) << flag << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, "usage: sim <command>")) << r.output;
    EXPECT_TRUE(Contains(r.output, "train")) << r.output;
    EXPECT_TRUE(Contains(r.output, "info")) << r.output;
    EXPECT_TRUE(Contains(r.output, "sim train --help")) << r.output;
  }
  const Result info = RunSim("info --help");
  EXPECT_EQ(info.code, 0) << info.output;
  EXPECT_TRUE(Contains(info.output, "usage: sim info")) << info.output;
}

// "key = value" lines of an INI text as "section.key" -> value.
std::vector<std::pair<std::string, std::string>> IniEntries(const std::string& ini) {
  std::vector<std::pair<std::string, std::string>> entries;
  std::istringstream in(ini);
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.front() == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    const size_t eq = line.find(" = ");
    if (eq == std::string::npos) {
      ADD_FAILURE() << "not a key = value line: '" << line << "'";
      continue;
    }
    std::string value = line.substr(eq + 3);
    entries.emplace_back(section + "." + line.substr(0, eq), value);
  }
  return entries;
}

TEST(CliTest, TrainHelpListsEveryOptionWithItsDefault) {
  const Result help = RunSim("train --help");
  ASSERT_EQ(help.code, 0) << help.output;
  EXPECT_TRUE(Contains(help.output, "--config")) << help.output;
  EXPECT_TRUE(Contains(help.output, "--out")) << help.output;
  EXPECT_TRUE(Contains(help.output, "--print-config")) << help.output;
  // The defaults as the engine resolves them (no config file, no overrides).
  const Result defaults = RunSim("train --print-config", "2>/dev/null");
  ASSERT_EQ(defaults.code, 0) << defaults.output;
  const auto entries = IniEntries(defaults.output);
  std::map<std::string, std::string> value_of(entries.begin(), entries.end());
  const std::map<std::string, std::string> canonical = {
      {"task.name", "mqar"},        {"model.layers", "2"},    {"model.heads", "4"},     {"model.d_model", "64"},
      {"model.d_mlp", "4x"},        {"model.norm", "pre_ln"}, {"model.pos", "learned"}, {"model.causal", "true"},
      {"model.mixer", "attention"}, {"train.steps", "1000"},  {"train.batch", "64"},    {"train.lr", "1e-3"},
      {"train.optimizer", "adamw"}, {"train.seed", "0"},      {"train.threads", "1"},   {"train.eval_every", "100"}};
  // "--key=default" followed by the column padding (or a line break for a long flag).
  auto shows = [&](const std::string& key, const std::string& value) {
    const std::string flag = "--" + key + "=" + (value.empty() ? "\"\"" : value);
    return Contains(help.output, flag + " ") || Contains(help.output, flag + "\n");
  };
  for (const auto& [key, expected] : canonical) {
    EXPECT_EQ(value_of[key], expected) << key << " default in --print-config";
    EXPECT_TRUE(shows(key, expected)) << "--help lacks --" << key << "=" << expected << "\n" << help.output;
  }
  // Every resolved option (those of the default task included) is in the help, with that default.
  for (const auto& [key, value] : entries) EXPECT_TRUE(shows(key, value)) << "--help lacks --" << key << "=" << value;
  // The other task's options too.
  for (const char* key : {"--task.d=5", "--task.points=11", "--task.noise=0", "--task.score=all"})
    EXPECT_TRUE(Contains(help.output, key)) << key;
}

// train.snapshot_steps and train.snapshot_every are left out of the resolved config at their default
// (existing runs keep their config text), appear when set, and the memory estimate counts the
// snapshots held in memory.
TEST(CliTest, SnapshotOptionsAppearOnlyWhenSet) {
  const Result plain = RunSim("train --config " + Quote(kQuickstart) + " --print-config");
  ASSERT_EQ(plain.code, 0) << plain.output;
  EXPECT_FALSE(Contains(plain.output, "snapshot")) << plain.output;
  const Result set = RunSim("train --config " + Quote(kQuickstart) +
                            " --train.snapshot_steps=100,2000 --train.snapshot_every=1000 --print-config");
  ASSERT_EQ(set.code, 0) << set.output;
  EXPECT_TRUE(Contains(set.output, "snapshot_steps = 100,2000\nsnapshot_every = 1000\n")) << set.output;
  EXPECT_TRUE(Contains(set.output, ", snapshots ")) << "memory estimate\n" << set.output;
  ScratchDir dir;
  const Result bad = RunSim("train --config " + Quote(kQuickstart) + " --train.snapshot_steps=10,4000 --out " +
                            Quote(dir.File("x.h5")));
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_TRUE(Contains(bad.output, "train.snapshot_steps: expected steps <= train.steps=3000")) << bad.output;
}

TEST(CliTest, PrintConfigRoundTripsAndCommandLineWins) {
  ScratchDir dir;
  const std::string first = dir.File("first.ini");
  const Result a = RunSim("train --config " + Quote(kQuickstart) + " --model.layers=3 --train.lr=5e-4 --print-config",
                          "2>/dev/null");
  ASSERT_EQ(a.code, 0) << a.output;
  WriteText(first, a.output);
  const Result b = RunSim("train --config " + Quote(first) + " --print-config", "2>/dev/null");
  ASSERT_EQ(b.code, 0) << b.output;
  EXPECT_EQ(a.output, b.output) << "--print-config output read back as --config must resolve identically";

  const auto entries = IniEntries(a.output);
  const std::map<std::string, std::string> value_of(entries.begin(), entries.end());
  EXPECT_EQ(value_of.at("model.layers"), "3") << "the command line wins over the INI file (layers = 2)";
  EXPECT_EQ(value_of.at("train.lr"), "5e-4") << "the command line wins over the INI file (lr = 3e-3)";
  EXPECT_EQ(value_of.at("task.queries"), "8") << "INI values not overridden are kept (quickstart mqar.ini)";
  EXPECT_EQ(value_of.at("model.d_mlp"), "0") << "INI values not overridden are kept";
  EXPECT_EQ(value_of.at("train.steps"), "3000") << "INI values not overridden are kept";

  // And over a round-tripped file as well; a later --config file wins over an earlier one.
  const Result c = RunSim("train --config " + Quote(first) + " --model.layers=4 --print-config", "2>/dev/null");
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_TRUE(Contains(c.output, "\nlayers = 4\n")) << c.output;
  const std::string later = dir.File("later.ini");
  WriteText(later, "[model]\nlayers = 5\n");
  const Result d =
      RunSim("train --config " + Quote(first) + " --config " + Quote(later) + " --print-config", "2>/dev/null");
  ASSERT_EQ(d.code, 0) << d.output;
  EXPECT_TRUE(Contains(d.output, "\nlayers = 5\n")) << d.output;
}

// ---- a real run ---------------------------------------------------------------------------------

TEST(CliTest, ShortTrainingRunWritesFileThatInfoReads) {
  ScratchDir dir;
  const std::string out = dir.File("mqar.h5");
  const std::string err = dir.File("stderr.txt");
  const std::string args =
      "train --config " + Quote(kQuickstart) + " --train.steps=20 --train.eval_every=10 --eval.size=100";
  const Result r = RunSim(args + " --out " + Quote(out), "2>" + Quote(err));
  const std::string progress = ReadText(err);
  fs::remove(err);
  ASSERT_EQ(r.code, 0) << r.output << progress;
  // stdout: exactly one summary line naming the file; progress goes to stderr.
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_TRUE(Contains(r.output, "mqar: complete after 20 steps")) << r.output;
  EXPECT_TRUE(Contains(r.output, "-> " + out + "\n")) << r.output;
  EXPECT_TRUE(Contains(progress, "step 10/20")) << progress;
  EXPECT_TRUE(Contains(progress, "step 20/20")) << progress;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));

  const Result info = RunSim("info " + Quote(out));
  EXPECT_EQ(info.code, 0) << info.output;
  EXPECT_TRUE(Contains(info.output, out)) << info.output;
  EXPECT_TRUE(Contains(info.output, "status:   complete after 20 steps")) << info.output;
  EXPECT_TRUE(Contains(info.output, "test/accuracy")) << info.output;
  EXPECT_TRUE(Contains(info.output, "[model]\nlayers = 2\n")) << info.output;
  EXPECT_TRUE(Contains(info.output, "\nsteps = 20\n")) << info.output;

  // The stored config is exactly what --print-config resolves for the same arguments.
  const Result resolved = RunSim(args + " --print-config", "2>/dev/null");
  ASSERT_EQ(resolved.code, 0);

  sim::H5Reader h5(out);
  EXPECT_EQ(h5.AttrString("/", "format"), "attnsim.run");
  EXPECT_EQ(h5.AttrInt("/", "format_version"), 1);
  EXPECT_EQ(h5.AttrString("/", "status"), "complete");
  EXPECT_EQ(h5.AttrInt("/", "steps_done"), 20);
  EXPECT_EQ(h5.AttrString("/", "config"), resolved.output);
  const std::vector<double> step = h5.Doubles("/curves/step");
  const std::vector<double> train_loss = h5.Doubles("/curves/train_loss");
  const std::vector<double> test_accuracy = h5.Doubles("/curves/test_accuracy");
  EXPECT_EQ(step, (std::vector<double>{10, 20}));
  EXPECT_EQ(train_loss.size(), step.size());
  EXPECT_EQ(test_accuracy.size(), step.size());
  for (double loss : train_loss) EXPECT_TRUE(std::isfinite(loss) && loss > 0) << loss;
  ASSERT_TRUE(h5.Exists("/final/test/accuracy"));
  const double accuracy = h5.Doubles("/final/test/accuracy").at(0);
  EXPECT_GE(accuracy, 0.0);
  EXPECT_LE(accuracy, 1.0);
  ASSERT_TRUE(h5.Exists("/params/embed.tok"));
  const std::vector<uint64_t> shape = h5.Shape("/params/embed.tok");
  ASSERT_EQ(shape.size(), 2u);
  EXPECT_EQ(shape, (std::vector<uint64_t>{128, 64})) << "[vocab, d_model] of the quickstart config";

  const sim::RunRecord record = sim::ReadRunFile(out);
  EXPECT_EQ(record.status, "complete");
  EXPECT_EQ(record.steps_done, 20);
}

// ---- kill safety --------------------------------------------------------------------------------

std::vector<std::string> LongRunArgs(const std::string& out) {
  return {"train",
          "--config",
          kQuickstart,
          "--out",
          out,
          "--train.steps=1000000",
          "--train.eval_every=5",
          "--train.target_metric=none",
          "--eval.size=100"};
}

TEST(CliTest, SigkillLeavesNoFileAtOut) {
  ScratchDir dir;
  const std::string out = dir.File("killed.h5");
  Child child(LongRunArgs(out), dir.File("stdout.txt"));
  ASSERT_TRUE(child.WaitFor("step 5/1000000", 10.0)) << "no progress line:\n" << child.stderr_text();
  ::usleep(500 * 1000);  // well into training
  child.Signal(SIGKILL);
  EXPECT_EQ(child.Wait(), 128 + SIGKILL);
  EXPECT_FALSE(fs::exists(out)) << "a killed run must leave no file at --out";
  EXPECT_FALSE(fs::exists(out + ".tmp"));
}

TEST(CliTest, SigtermWritesInterruptedFileAndExits75) {
  ScratchDir dir;
  const std::string out = dir.File("stopped.h5");
  const std::string stdout_path = dir.File("stdout.txt");
  Child child(LongRunArgs(out), stdout_path);
  ASSERT_TRUE(child.WaitFor("step 5/1000000", 10.0)) << "no progress line:\n" << child.stderr_text();
  ::usleep(300 * 1000);
  child.Signal(SIGTERM);
  const int code = child.Wait();
  const std::string summary = ReadText(stdout_path);
  EXPECT_EQ(code, 75) << summary << child.stderr_text();
  EXPECT_TRUE(Contains(summary, "interrupted after")) << summary;
  EXPECT_TRUE(Contains(summary, "-> " + out)) << summary;
  ASSERT_TRUE(fs::exists(out)) << child.stderr_text();
  EXPECT_FALSE(fs::exists(out + ".tmp"));

  sim::H5Reader h5(out);
  EXPECT_EQ(h5.AttrString("/", "format"), "attnsim.run");
  EXPECT_EQ(h5.AttrString("/", "status"), "interrupted");
  const int64_t steps = h5.AttrInt("/", "steps_done");
  EXPECT_GE(steps, 5);
  EXPECT_LT(steps, 1000000);
  EXPECT_TRUE(h5.Exists("/params/embed.tok"));
  EXPECT_EQ(h5.Doubles("/curves/step").size(), h5.Doubles("/curves/train_loss").size());
  const Result info = RunSim("info " + Quote(out));
  EXPECT_EQ(info.code, 0) << info.output;
  EXPECT_TRUE(Contains(info.output, "status:   interrupted after " + std::to_string(steps) + " steps")) << info.output;
}

}  // namespace

namespace {}  // namespace

// Same config and seed: the same datasets and attributes, bit for bit (wall time and creation time
// aside); --threads changes nothing either. A different seed changes the parameters.
TEST(CliTest, SameSeedGivesIdenticalResultFiles) {
  ScratchDir dir;
  const std::string common =
      "train --config " + Quote(kQuickstart) + " --train.steps=30 --train.eval_every=10 --eval.size=200 --quiet --out ";
  ASSERT_EQ(RunSim(common + Quote(dir.File("a.h5"))).code, 0);
  ASSERT_EQ(RunSim(common + Quote(dir.File("b.h5")) + " --threads 2").code, 0);
  ASSERT_EQ(RunSim(common + Quote(dir.File("c.h5")) + " --train.seed=1").code, 0);
  std::map<std::string, std::vector<double>> a, b, c;
  sim::H5Reader ha(dir.File("a.h5")), hb(dir.File("b.h5")), hc(dir.File("c.h5"));
  CollectDatasets(ha, "/", a);
  CollectDatasets(hb, "/", b);
  CollectDatasets(hc, "/", c);
  ASSERT_GT(a.size(), 10u);
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [path, values] : a) {
    ASSERT_TRUE(b.count(path)) << path;
    EXPECT_EQ(std::memcmp(values.data(), b[path].data(), values.size() * sizeof(double)), 0) << path;
  }
  for (const char* attr : {"status", "version"}) EXPECT_EQ(ha.AttrString("/", attr), hb.AttrString("/", attr)) << attr;
  EXPECT_EQ(ha.AttrInt("/", "seed"), hb.AttrInt("/", "seed"));
  EXPECT_NE(a["/params/blocks.0.attn.wq"], c["/params/blocks.0.attn.wq"]) << "another seed, other weights";
}

// sim bench --chunk / --versus-chunk: the chunk used is in the JSON; two chunk sizes timed alternately
// in one process give a speed ratio; a chunk that does not divide the batch is bad input (exit 2,
// naming train.chunk and the batch).
TEST(CliTest, BenchChunkOptions) {
  Result r = RunSim("bench --config tiny --seconds 0.05 --reps 1 --chunk 8 --json", "2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"chunk\": 8,"), std::string::npos) << r.output;
  r = RunSim("bench --config tiny --seconds 0.2 --chunk 16 --versus-chunk 32 --rounds 4", "2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("tiny   1 thread(s): chunk 16 against chunk 32: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("4 rounds of"), std::string::npos) << r.output;
  r = RunSim("bench --config tiny --seconds 0.2 --versus-chunk auto --rounds 2 --json", "2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"chunk\": 16, \"versus_chunk\": 16, \"speed_ratio\": "), std::string::npos) << r.output;
  r = RunSim("bench --config tiny --seconds 0.05 --reps 1 --chunk 7", "2>&1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train.chunk: expected auto or a divisor of train.batch=32, got 7"), std::string::npos)
      << r.output;
  r = RunSim("bench --config tiny --versus-chunk 64", "2>&1");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("train.chunk"), std::string::npos) << r.output;
}

// sim bench --gemm-profile: after the configuration's row, its linear-layer products by shape (the
// biased forward products as "C = b + AB"); with --json, a "gemm_profile" list in its object.
TEST(CliTest, BenchGemmProfileListsTheLinearProducts) {
  Result r = RunSim("bench --config tiny --seconds 0.05 --reps 1 --gemm-profile", "2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("GEMM profile of tiny"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("C = b + AB"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("calls/step"), std::string::npos) << r.output;
  r = RunSim("bench --config tiny --seconds 0.05 --reps 1 --gemm-profile --json", "2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("\"gemm_profile\": [{\"m\": "), std::string::npos) << r.output;
  r = RunSim("bench --config tiny --seconds 0.05 --reps 1 --json", "2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output.find("gemm_profile"), std::string::npos) << "only when asked: " << r.output;
}
