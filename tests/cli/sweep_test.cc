// Sweeps, checkpoints and collection, through the sim executable: expansion order, list values in
// brackets, paths and '#' inside values, the index from SLURM's environment, skipping complete
// runs, file names that follow the configuration (and did not change for existing sweeps),
// resumption after SIGTERM and after kill -9 with bit-identical results, collect on a sweep with
// failed and missing runs, chained sweeps (train.init_from = sweep:DIR), the SLURM batch script
// (with a dependency), and bad sweep files.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "sim/io/run_file.h"
#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

// A small, fast mqar model (fractions of a second per run).
const char* kBase =
    "[task]\nname = mqar\nvocab = 32\nlength = 16\npairs = 4\nqueries = 4\n"
    "[model]\nlayers = 1\nheads = 2\nd_model = 16\nd_mlp = 0\n"
    "[train]\nsteps = 40\neval_every = 20\nbatch = 16\n"
    "[eval]\nsize = 64\nbatch = 64\n";

std::string SweepFile(const ScratchDir& dir, const std::string& sweep, const std::string& base = kBase) {
  const std::string path = dir.File("sweep.ini");
  WriteText(path, base + std::string("[sweep]\n") + sweep);
  return path;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

TEST(SweepTest, ExpansionIsTheCartesianProductLastAxisFastest) {
  ScratchDir dir;
  const std::string s =
      SweepFile(dir, "model.layers = 1..2\nmodel.d_model & model.heads = 16 & 2, 32 & 4\nseed = 7, 9\n");
  const Result count = RunSim("sweep --config " + Quote(s) + " --count", "2>&1");
  ASSERT_EQ(count.code, 0) << count.output;
  EXPECT_EQ(count.output, "8\n");
  const Result list = RunSim("sweep --config " + Quote(s) + " --list", "2>&1");
  ASSERT_EQ(list.code, 0) << list.output;
  const std::vector<std::string> lines = Lines(list.output);
  ASSERT_EQ(lines.size(), 8u) << list.output;
  const std::vector<std::string> expected = {"model.d_model=16 model.heads=2 model.layers=1 train.seed=7",
                                             "model.d_model=16 model.heads=2 model.layers=1 train.seed=9",
                                             "model.d_model=32 model.heads=4 model.layers=1 train.seed=7",
                                             "model.d_model=32 model.heads=4 model.layers=1 train.seed=9",
                                             "model.d_model=16 model.heads=2 model.layers=2 train.seed=7",
                                             "model.d_model=16 model.heads=2 model.layers=2 train.seed=9",
                                             "model.d_model=32 model.heads=4 model.layers=2 train.seed=7",
                                             "model.d_model=32 model.heads=4 model.layers=2 train.seed=9"};
  std::set<std::string> files;
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].rfind(std::to_string(i) + "\trun-000" + std::to_string(i) + "-", 0), 0u) << lines[i];
    EXPECT_TRUE(Contains(lines[i], "\t" + expected[i])) << lines[i];
    files.insert(lines[i].substr(0, lines[i].find('\t', lines[i].find('\t') + 1)));
  }
  EXPECT_EQ(files.size(), 8u) << "every run has its own file";
}

// The field `column` (0-based, tab-separated) of a line.
std::string Field(const std::string& line, int column) {
  std::istringstream in(line);
  std::string field;
  for (int i = 0; i <= column; ++i) std::getline(in, field, '\t');
  return field;
}

TEST(SweepTest, ValuesWithCommasAreWrittenInBrackets) {
  ScratchDir dir;
  const std::string s = SweepFile(dir,
                                  "model.layers & model.heads = 3 & [2,1,2], 2 & [1, 2]   # zipped, per-layer heads\n"
                                  "optim.lr_mult = [blocks.*.attn.wv:4,blocks.*.attn.bv:4], none\n");
  const Result list = RunSim("sweep --config " + Quote(s) + " --list", "2>&1");
  ASSERT_EQ(list.code, 0) << list.output;
  const std::vector<std::string> lines = Lines(list.output);
  ASSERT_EQ(lines.size(), 4u) << list.output;
  const std::string lr = "optim.lr_mult=blocks.*.attn.wv:4,blocks.*.attn.bv:4";
  EXPECT_EQ(Field(lines[0], 2), "model.heads=2,1,2 model.layers=3 " + lr);
  EXPECT_EQ(Field(lines[1], 2), "model.heads=2,1,2 model.layers=3 optim.lr_mult=none");
  EXPECT_EQ(Field(lines[2], 2), "model.heads=1, 2 model.layers=2 " + lr);
  EXPECT_EQ(Field(lines[3], 2), "model.heads=1, 2 model.layers=2 optim.lr_mult=none");
  // The run gets the whole list: its stored configuration has it as written.
  const std::string out = dir.File("runs");
  const Result run = RunSim("sweep --config " + Quote(s) + " --out-dir " + Quote(out) + " --index 0 --quiet");
  ASSERT_EQ(run.code, 0) << run.output;
  const std::string config = sim::H5Reader(out + "/" + Field(lines[0], 1)).AttrString("/", "config");
  EXPECT_TRUE(Contains(config, "heads = 2,1,2\n")) << config;
  EXPECT_TRUE(Contains(config, "lr_mult = blocks.*.attn.wv:4,blocks.*.attn.bv:4\n")) << config;
  // A single option's list values, and the manifest keeps them whole.
  const std::string m = SweepFile(dir, "model.heads = [2,1], [1,2]\n");
  const Result two = RunSim("sweep --config " + Quote(m) + " --list --model.layers=2");
  ASSERT_EQ(two.code, 0) << two.output;
  ASSERT_EQ(Lines(two.output).size(), 2u) << two.output;
  EXPECT_EQ(Field(Lines(two.output)[1], 2), "model.heads=1,2");
  ASSERT_EQ(
      RunSim("sweep --config " + Quote(m) + " --out-dir " + Quote(out) + " --index 1 --model.layers=2 --quiet").code,
      0);
  EXPECT_TRUE(Contains(ReadText(out + "/manifest.tsv"), "\tmodel.heads=1,2\n")) << ReadText(out + "/manifest.tsv");
}

// `..` makes a range only between integers, and '#' starts a comment only at the start of a line or
// after whitespace: `../src/a#1.h5` is one value.
TEST(SweepTest, PathsWithDotsAndHashesAreValues) {
  ScratchDir dir;
  fs::create_directories(dir.File("src"));
  fs::create_directories(dir.File("work"));
  const std::string base = dir.File("base.ini");
  WriteText(base, kBase);
  for (const char* name : {"src/a#1.h5", "src/b.h5"}) {
    const Result r =
        RunSim("train --config " + Quote(base) + " --out " + Quote(dir.File(name)) + " --train.steps=2 --quiet");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  const std::string s = SweepFile(dir, "# the sources\ntrain.init_from = ../src/a#1.h5, ../src/b.h5 ; two of them\n");
  const std::string in_work = "cd " + Quote(dir.File("work")) + " && ";
  const Result list = RunSim("sweep --config " + Quote(s) + " --list", "2>&1", in_work);
  ASSERT_EQ(list.code, 0) << list.output;
  const std::vector<std::string> lines = Lines(list.output);
  ASSERT_EQ(lines.size(), 2u) << list.output;
  EXPECT_EQ(Field(lines[0], 2), "train.init_from=../src/a#1.h5");
  EXPECT_EQ(Field(lines[1], 2), "train.init_from=../src/b.h5");
  const std::string r = SweepFile(dir, "model.layers = 1 .. 2\n");
  EXPECT_EQ(RunSim("sweep --config " + Quote(r) + " --count").output, "2\n") << "integer ranges stay ranges";
}

// The hash of a sweep without the new features is what the engine computed before them: existing
// sweeps find their run files again. These names come from the engine before list values and chained
// sweeps (`sim sweep --list` of this file). They also change when an option is added or a default
// changes (the hash covers the resolved configuration): then every existing sweep reruns, so such a
// change should be deliberate, and these names updated with it.
TEST(SweepTest, ExistingSweepsKeepTheirFileNames) {
  ScratchDir dir;
  const std::string s =
      SweepFile(dir, "model.layers = 1..2   # depth\nseed = 0, 1\nmodel.d_model & model.heads = 16 & 2, 32 & 4\n");
  const Result list = RunSim("sweep --config " + Quote(s) + " --list");
  ASSERT_EQ(list.code, 0) << list.output;
  std::vector<std::string> files;
  for (const std::string& line : Lines(list.output)) files.push_back(Field(line, 1));
  const std::vector<std::string> expected = {
      "run-0000-4eb811fb3109.h5", "run-0001-58a495c759b7.h5", "run-0002-6dbc48f509b4.h5", "run-0003-64064bdb489e.h5",
      "run-0004-ace321b88d7c.h5", "run-0005-39d8c183b778.h5", "run-0006-a95735fc217c.h5", "run-0007-76f3d83a6fbb.h5"};
  EXPECT_EQ(files, expected) << list.output;
}

TEST(SweepTest, IndexComesFromSlurmAndCompleteRunsAreSkipped) {
  ScratchDir dir;
  const std::string s = SweepFile(dir, "seed = 0..2\n");
  const std::string out = dir.File("runs");
  const Result r = RunSim("sweep --config " + Quote(s) + " --out-dir " + Quote(out) + " --quiet", "2>&1");
  EXPECT_EQ(r.code, 2) << "no index and no SLURM_ARRAY_TASK_ID: " << r.output;
  const Result run = RunSim("sweep --config " + Quote(s) + " --out-dir " + Quote(out) + " --quiet", "2>&1 </dev/null",
                            "SLURM_ARRAY_TASK_ID=2 ");
  ASSERT_EQ(run.code, 0) << run.output;
  const Result list = RunSim("sweep --config " + Quote(s) + " --list --out-dir " + Quote(out));
  const std::vector<std::string> lines = Lines(list.output);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(Contains(lines[0], "\tmissing")) << lines[0];
  EXPECT_TRUE(Contains(lines[2], "\tcomplete")) << lines[2];
  const std::string file = out + "/" + lines[2].substr(2, lines[2].find('\t', 2) - 2);
  const auto mtime = fs::last_write_time(file);
  const Result again = RunSim("sweep --config " + Quote(s) + " --out-dir " + Quote(out) + " --index 2");
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_TRUE(Contains(again.output, "run 2: already complete")) << again.output;
  EXPECT_EQ(fs::last_write_time(file), mtime) << "a complete run is not redone";
}

TEST(SweepTest, FileNamesFollowTheConfigurationButNotTheThreadCount) {
  ScratchDir dir;
  auto file_of = [&](const std::string& base, const std::string& extra) {
    const std::string s = SweepFile(dir, "seed = 0, 1\n", base);
    const Result list = RunSim("sweep --config " + Quote(s) + " --list " + extra);
    return Lines(list.output).at(1).substr(2, Lines(list.output).at(1).find('\t', 2) - 2);
  };
  const std::string a = file_of(kBase, ""), b = file_of(kBase, "");
  EXPECT_EQ(a, b) << "same configuration, same file";
  EXPECT_EQ(a, file_of(kBase, "--train.threads=2")) << "threads do not change results";
  EXPECT_EQ(a, file_of(kBase, "--train.snapshot_steps=10,30 --train.snapshot_every=5"))
      << "snapshots change no bit of training: not hashed";
  EXPECT_NE(a, file_of(kBase, "--train.lr=0.002"));
  EXPECT_NE(a, file_of(std::string(kBase) + "[optim]\nfreeze = embed.tok\n", ""));
}

std::map<std::string, std::vector<double>> Datasets(const std::string& path) {
  std::map<std::string, std::vector<double>> d;
  sim::H5Reader h5(path);
  CollectDatasets(h5, "/", d);
  return d;
}

void ExpectSameResults(const std::string& a, const std::string& b) {
  const auto da = Datasets(a), db = Datasets(b);
  ASSERT_EQ(da.size(), db.size());
  for (const auto& [path, values] : da) {
    ASSERT_TRUE(db.count(path)) << path;
    ASSERT_EQ(values.size(), db.at(path).size()) << path;
    EXPECT_EQ(std::memcmp(values.data(), db.at(path).data(), values.size() * sizeof(double)), 0) << path;
  }
  sim::H5Reader ha(a), hb(b);
  for (const char* attr : {"status", "config"}) EXPECT_EQ(ha.AttrString("/", attr), hb.AttrString("/", attr)) << attr;
  for (const char* attr : {"steps_done", "target_step", "seed"})
    EXPECT_EQ(ha.AttrInt("/", attr), hb.AttrInt("/", attr)) << attr;
}

// A run of about a second: long enough to interrupt after the step-100 evaluation. Its parameter
// snapshots (50, 200, 300, 400, 550) lie before and after the interruption points of the tests, so
// resumption is checked to carry them too.
const char* kResumable =
    "[task]\nname = mqar\nvocab = 64\nlength = 32\npairs = 6\nqueries = 6\n"
    "[model]\nlayers = 2\nheads = 2\nd_model = 32\nd_mlp = 0\n"
    "[train]\nsteps = 600\neval_every = 50\nbatch = 32\nlr = 3e-3\nsnapshot_steps = 50,300,550\n"
    "snapshot_every = 200\n"
    "[eval]\nsize = 200\nbatch = 200\n";

void ExpectSnapshots(const std::string& path) {
  sim::H5Reader h5(path);
  EXPECT_EQ(h5.AttrInts("/snapshots", "steps"), (std::vector<int64_t>{50, 200, 300, 400, 550})) << path;
  EXPECT_TRUE(h5.Exists("/snapshots/550/params/blocks.1.attn.wq")) << path;
}

std::string ResumableConfig(const ScratchDir& dir) {
  const std::string path = dir.File("resumable.ini");
  WriteText(path, kResumable);
  return path;
}

std::vector<std::string> ResumableRun(const std::string& config, const std::string& out,
                                      const std::string& checkpoint_every) {
  return {"train", "--config", config, "--out", out, "--checkpoint-every", checkpoint_every};
}

TEST(SweepTest, SigtermThenResumeGivesTheUninterruptedResult) {
  ScratchDir dir;
  const std::string ref = dir.File("ref.h5"), out = dir.File("run.h5"), config = ResumableConfig(dir);
  ASSERT_EQ(RunSim("train --config " + Quote(config) + " --out " + Quote(ref) + " --quiet").code, 0);
  {
    Child child(ResumableRun(config, out, "0"), dir.File("stdout1.txt"));
    ASSERT_TRUE(child.WaitFor("step 100/600", 30.0)) << child.stderr_text();
    child.Signal(SIGTERM);
    ASSERT_EQ(child.Wait(), 75) << child.stderr_text();
  }
  ASSERT_TRUE(fs::exists(out + ".ckpt")) << "SIGTERM leaves a checkpoint";
  EXPECT_EQ(sim::ReadRunFile(out).status, "interrupted");
  const Result resumed = RunSim("train --config " + Quote(config) + " --out " + Quote(out));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_TRUE(Contains(resumed.output, "resuming from")) << resumed.output;
  EXPECT_FALSE(fs::exists(out + ".ckpt")) << "a finished run removes its checkpoint";
  ExpectSameResults(ref, out);  // every dataset, /snapshots included
  ExpectSnapshots(ref);
  ExpectSnapshots(out);
}

TEST(SweepTest, KillNineLosesOnlyTheWorkSinceTheLastCheckpoint) {
  ScratchDir dir;
  const std::string ref = dir.File("ref.h5"), out = dir.File("run.h5"), config = ResumableConfig(dir);
  ASSERT_EQ(RunSim("train --config " + Quote(config) + " --out " + Quote(ref) + " --quiet").code, 0);
  {
    Child child(ResumableRun(config, out, "0.01"), dir.File("stdout1.txt"));
    ASSERT_TRUE(child.WaitFor("step 150/600", 30.0)) << child.stderr_text();
    child.Signal(SIGKILL);
    child.Wait();
  }
  EXPECT_FALSE(fs::exists(out)) << "kill -9 leaves no result file";
  ASSERT_TRUE(fs::exists(out + ".ckpt")) << "but the periodic checkpoint";
  const Result resumed = RunSim("train --config " + Quote(config) + " --out " + Quote(out));
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  ExpectSameResults(ref, out);
  ExpectSnapshots(out);
}

TEST(SweepTest, ACheckpointOfAnotherConfigurationIsRefused) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5"), config = ResumableConfig(dir);
  {
    Child child(ResumableRun(config, out, "0"), dir.File("stdout1.txt"));
    ASSERT_TRUE(child.WaitFor("step 50/600", 30.0)) << child.stderr_text();
    child.Signal(SIGTERM);
    ASSERT_EQ(child.Wait(), 75);
  }
  const Result other = RunSim("train --config " + Quote(config) + " --out " + Quote(out) + " --train.lr=0.01");
  EXPECT_EQ(other.code, 2) << other.output;
  EXPECT_TRUE(Contains(other.output, "checkpoint of a run with another configuration")) << other.output;
  const Result restart = RunSim("train --config " + Quote(config) + " --out " + Quote(out) +
                                " --train.steps=60 --train.snapshot_steps=50 --train.lr=0.01 --restart --quiet");
  EXPECT_EQ(restart.code, 0) << restart.output;
}

TEST(SweepTest, AllRunsInParallelThenCollectWithFailedAndMissingRuns) {
  ScratchDir dir;
  const std::string s = SweepFile(dir, "model.layers = 1, 2\nseed = 0..2\n");
  const std::string out = dir.File("runs");
  const Result all = RunSim("sweep --config " + Quote(s) + " --out-dir " + Quote(out) + " --all --jobs 2");
  ASSERT_EQ(all.code, 0) << all.output;
  // Off a terminal: plain lines, no live view.
  EXPECT_FALSE(Contains(all.output, "\x1b[")) << all.output;
  EXPECT_FALSE(Contains(all.output, "\x1e")) << all.output;
  EXPECT_TRUE(Contains(all.output, "] sweep: run 5 done; ")) << all.output;
  std::vector<std::string> files;
  for (const std::string& line :
       Lines(RunSim("sweep --config " + Quote(s) + " --list --out-dir " + Quote(out)).output)) {
    EXPECT_TRUE(Contains(line, "\tcomplete")) << line;
    files.push_back(out + "/" +
                    line.substr(line.find('\t') + 1, line.find('\t', line.find('\t') + 1) - line.find('\t') - 1));
  }
  ASSERT_EQ(files.size(), 6u);
  const std::string summary = dir.File("summary.h5");
  Result collect = RunSim("collect " + Quote(out) + " --out " + Quote(summary));
  ASSERT_EQ(collect.code, 0) << collect.output;
  {
    sim::H5Reader h5(summary);
    EXPECT_EQ(h5.AttrString("/", "format"), "attnsim.summary");
    const std::vector<double> index = h5.Doubles("/runs/index"), layers = h5.Doubles("/runs/model.layers");
    const std::vector<double> seed = h5.Doubles("/runs/train.seed"), acc = h5.Doubles("/runs/test_accuracy");
    const std::vector<std::string> status = h5.Strings("/runs/status");
    ASSERT_EQ(index.size(), 6u);
    ASSERT_EQ(acc.size(), 6u);
    for (size_t i = 0; i < 6; ++i) {
      EXPECT_EQ(index[i], i);
      EXPECT_EQ(layers[i], i < 3 ? 1 : 2);
      EXPECT_EQ(seed[i], i % 3);
      EXPECT_EQ(status[i], "complete");
      EXPECT_EQ(acc[i], sim::ReadRunFile(files[i]).final_metrics.at("test").at("accuracy")) << i;
    }
    // Aggregates over the seeds: one row per depth.
    const std::vector<double> agg_layers = h5.Doubles("/aggregate/model.layers"),
                              mean = h5.Doubles("/aggregate/test_accuracy_mean");
    const std::vector<double> count = h5.Doubles("/aggregate/test_accuracy_count"),
                              lo = h5.Doubles("/aggregate/test_accuracy_ci95_low");
    const std::vector<double> hi = h5.Doubles("/aggregate/test_accuracy_ci95_high");
    ASSERT_EQ(agg_layers.size(), 2u);
    EXPECT_NEAR(mean[0], (acc[0] + acc[1] + acc[2]) / 3, 1e-12);
    EXPECT_EQ(count[1], 3);
    EXPECT_LE(lo[0], mean[0]);
    EXPECT_GE(hi[0], mean[0]);
  }
  // Run 1 fails (an unreadable file), run 4 goes missing.
  WriteText(files[1], "not an HDF5 file\n");
  fs::remove(files[4]);
  collect = RunSim("collect " + Quote(out) + " --out " + Quote(summary));
  EXPECT_EQ(collect.code, 3) << collect.output;
  EXPECT_TRUE(Contains(collect.output, "missing runs: 4")) << collect.output;
  EXPECT_TRUE(Contains(collect.output, "not complete: run 1 (unreadable")) << collect.output;
  collect = RunSim("collect " + Quote(out) + " --out " + Quote(summary) + " --allow-missing");
  EXPECT_EQ(collect.code, 0) << collect.output;
  sim::H5Reader h5(summary);
  const std::vector<std::string> status = h5.Strings("/runs/status");
  EXPECT_EQ(status[1], "unreadable");
  EXPECT_EQ(status[4], "missing");
  EXPECT_TRUE(std::isnan(h5.Doubles("/runs/test_accuracy")[4]));
  // Rerunning the sweep redoes exactly the two.
  const Result again = RunSim("sweep --config " + Quote(s) + " --out-dir " + Quote(out) + " --all");
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_TRUE(Contains(again.output, "6 runs, 4 already complete, 2 to run")) << again.output;
}

// On a terminal (a pseudo-terminal from util-linux's `script`), parallel runs share a live block:
// a progress line per running run and a sweep line, redrawn in place; the runs' result lines scroll
// above it, and the marked progress lines of the run processes never reach the screen raw.
TEST(SweepTest, ParallelRunsOnATerminalShowALiveBlock) {
  ScratchDir dir;
  const std::string s = SweepFile(dir, "model.layers = 1, 2\nseed = 0..1\n");
  const std::string out = dir.File("runs"), typescript = dir.File("typescript");
  const std::string longer = " --train.steps=3000 --train.eval_every=1000";
  const std::string sim =
      std::string(SIM_BINARY) + " sweep --config " + Quote(s) + " --out-dir " + Quote(out) + " --all --jobs 2" + longer;
  const std::string command = "COLUMNS=120 script -qfec " + Quote(sim) + " " + Quote(typescript) + " >/dev/null 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << command;
  const std::string screen = ReadText(typescript);
  ASSERT_EQ(WEXITSTATUS(status), 0) << screen;
  EXPECT_TRUE(Contains(screen, "\x1b[J")) << "the block is redrawn in place:\n" << screen;
  EXPECT_TRUE(Contains(screen, "sweep  0/4 finished, 0 failed, 2 running, 2 waiting")) << screen;
  EXPECT_TRUE(Contains(screen, "steps/s  ETA")) << "progress lines of the runs:\n" << screen;
  EXPECT_FALSE(Contains(screen, "\x1e")) << screen;
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(Contains(screen, "run " + std::to_string(i) + "/4  mqar: complete after 3000 steps")) << i << screen;
  EXPECT_TRUE(Contains(screen, "sweep: 4 done, 0 failed, 0 interrupted")) << screen;
  const std::vector<std::string> states =
      Lines(RunSim("sweep --config " + Quote(s) + " --list --out-dir " + Quote(out) + longer).output);
  ASSERT_EQ(states.size(), 4u);
  for (const std::string& line : states) EXPECT_TRUE(Contains(line, "\tcomplete")) << line;
}

// A pre-training sweep of two seeds, then a fine-tuning sweep chained to it (in its base config,
// relative to the current directory): each fine-tuning run starts from the pre-training run of its
// own seed, waits (exit 3) while that run is missing, and is named after the source's parameters,
// not its path.
TEST(SweepTest, AChainedSweepStartsEachRunFromTheMatchingSourceRun) {
  ScratchDir dir;
  const std::string in_dir = "cd " + Quote(dir.path()) + " && ";
  const std::string pre = dir.File("pre.ini"), ft = dir.File("ft.ini"), ft_dir = dir.File("ft");
  WriteText(pre, std::string(kBase) + "[sweep]\nseed = 0, 1\n");
  // Zero steps: a fine-tuning run's parameters are its source's. The seeds in reverse order, and a
  // second axis, so that index i of one sweep is not index i of the other.
  WriteText(ft, std::string(kBase) + "[train]\ninit_from = sweep:pre\n[sweep]\nseed = 1, 0\ntrain.lr = 0.001, 0.002\n");
  auto sweep = [&](const std::string& config, const std::string& args) {
    return RunSim("sweep --config " + Quote(config) + " " + args, "2>&1", in_dir);
  };
  EXPECT_EQ(sweep(ft, "--list").code, 2) << "no manifest in pre/ yet";
  ASSERT_EQ(sweep(pre, "--out-dir pre --index 0 --quiet").code, 0);  // seed 0 only
  std::vector<std::string> pre_files;
  for (const std::string& line : Lines(sweep(pre, "--list").output))
    pre_files.push_back(dir.File("pre/" + Field(line, 1)));
  ASSERT_EQ(pre_files.size(), 2u);

  // Seed 1's source is missing: its runs wait, with provisional names; seed 0's can run.
  Result list = sweep(ft, "--list --out-dir ft --train.steps=0");
  ASSERT_EQ(list.code, 0) << list.output;
  std::vector<std::string> lines = Lines(list.output);
  ASSERT_EQ(lines.size(), 4u) << list.output;
  EXPECT_EQ(Field(lines[0], 1), "run-0000-pending.h5");
  EXPECT_EQ(Field(lines[0], 3), "waiting for " + pre_files[1] + " (missing)");
  EXPECT_EQ(Field(lines[2], 3), "missing");
  Result r = sweep(ft, "--out-dir ft --index 1 --train.steps=0 --quiet");
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_TRUE(Contains(r.output, "its source run " + pre_files[1] + " is missing; run the source sweep first"))
      << r.output;
  r = sweep(ft, "--out-dir ft --all --train.steps=0 --quiet");
  EXPECT_EQ(r.code, 3) << "seed 0's runs are done, seed 1's wait: " << r.output;
  EXPECT_TRUE(Contains(r.output, "runs 0, 1 wait for runs of their source sweep")) << r.output;

  ASSERT_EQ(sweep(pre, "--out-dir pre --all --quiet").code, 0);
  r = sweep(ft, "--out-dir ft --all --train.steps=0 --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  lines = Lines(sweep(ft, "--list --out-dir ft --train.steps=0").output);
  ASSERT_EQ(lines.size(), 4u);
  const std::vector<int> source_of = {1, 1, 0, 0};  // seed = 1, 0 outermost
  std::vector<std::string> ft_files;
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(Field(lines[i], 3), "complete") << lines[i];
    ft_files.push_back(ft_dir + "/" + Field(lines[i], 1));
    sim::H5Reader run(ft_files[i]), source(pre_files[source_of[i]]);
    EXPECT_TRUE(Contains(run.AttrString("/", "config"), "init_from = " + pre_files[source_of[i]] + "\n")) << i;
    EXPECT_EQ(run.AttrInt("/", "seed"), source_of[i]);
    for (const std::string name : {"embed.tok", "blocks.0.attn.wq", "head.w"})
      EXPECT_EQ(run.Doubles("/params/" + name), source.Doubles("/params/" + name)) << i << " " << name;
  }
  EXPECT_NE(sim::H5Reader(ft_files[0]).Doubles("/params/blocks.0.attn.wq"),
            sim::H5Reader(ft_files[2]).Doubles("/params/blocks.0.attn.wq"));

  // The names follow the source's parameters, not its path: a copy elsewhere gives the same names,
  // a changed source run new names for the runs that start from it.
  auto names = [&](const std::string& extra) {
    std::vector<std::string> files;
    for (const std::string& line : Lines(sweep(ft, "--list --train.steps=0 " + extra).output))
      files.push_back(Field(line, 1));
    return files;
  };
  const std::vector<std::string> before = names("");
  fs::copy(dir.File("pre"), dir.File("copy"), fs::copy_options::recursive);
  EXPECT_EQ(names("--train.init_from=sweep:" + Quote(dir.File("copy"))), before);
  EXPECT_EQ(names("--train.init_from=sweep:" + Quote(dir.File("copy") + "/")), before);
  fs::copy_file(pre_files[0], pre_files[1], fs::copy_options::overwrite_existing);
  const std::vector<std::string> after = names("");
  ASSERT_EQ(after.size(), 4u);
  EXPECT_NE(after[0], before[0]);
  EXPECT_NE(after[1], before[1]);
  EXPECT_EQ(after[2], before[2]);
  EXPECT_EQ(after[3], before[3]);
}

TEST(SweepTest, AChainedRunMatchingNoneOrSeveralSourceRunsIsRejected) {
  ScratchDir dir;
  const std::string pre = SweepFile(dir, "seed = 0, 1\nmodel.layers = 1, 2\n");
  ASSERT_EQ(RunSim("slurm --config " + Quote(pre) + " --out-dir " + Quote(dir.File("pre"))).code, 0);  // the manifest
  const std::string ft = dir.File("ft.ini");
  WriteText(ft, std::string(kBase) + "[sweep]\ntrain.lr = 0.001, 0.002\n");
  auto count = [&](const std::string& extra) {
    return RunSim("sweep --config " + Quote(ft) + " --list --train.init_from=sweep:" + Quote(dir.File("pre")) + " " +
                  extra);
  };
  // model.layers is fixed in kBase (1): shared. The seed is not set: two runs match.
  Result r = count("");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "2 runs of " + dir.File("pre") + " (0, 2) match on model.layers=1")) << r.output;
  EXPECT_TRUE(Contains(r.output, "set train.seed in this sweep (fixed or swept) to pick one")) << r.output;
  r = count("--train.seed=5");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "no run of " + dir.File("pre") + " has train.seed=5 model.layers=1")) << r.output;
  EXPECT_TRUE(Contains(r.output, "its runs have train.seed in {0, 1}; model.layers in {1, 2}")) << r.output;
  r = count("--train.seed=1");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 2) << r.output;
  r = RunSim("sweep --config " + Quote(ft) +
             " --list --train.seed=1 --train.init_from=sweep:" + Quote(dir.File("nothing")));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "no sweep manifest")) << r.output;
  r = RunSim("train --config " + Quote(dir.File("ft.ini")) + " --out x.h5 --train.init_from=sweep:pre");
  EXPECT_EQ(r.code, 2) << r.output;
}

TEST(SweepTest, SlurmScriptCoversTheArrayWithRequeueAndSignals) {
  ScratchDir dir;
  const std::string s = SweepFile(dir, "model.layers = 1..4\n");
  const std::string out = dir.File("runs");
  const Result r = RunSim("slurm --config " + Quote(s) + " --out-dir " + Quote(out) +
                          " --time 00:10:00 --mem 1G --cpus 2 --max-parallel 3 --partition debug");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string script = ReadText(out + "/sweep.sbatch");
  for (const char* part :
       {"#SBATCH --array=0-3%3", "#SBATCH --time=00:10:00", "#SBATCH --mem=1G", "#SBATCH --cpus-per-task=2",
        "#SBATCH --partition=debug", "#SBATCH --requeue", "#SBATCH --signal=B:USR1@120",
        "--index \"$SLURM_ARRAY_TASK_ID\"", "--train.threads=2", "scontrol requeue", "trap"})
    EXPECT_TRUE(Contains(script, part)) << part << "\n" << script;
  EXPECT_TRUE(fs::exists(out + "/manifest.tsv"));
  EXPECT_FALSE(Contains(script, "--dependency")) << script;
  EXPECT_TRUE(Contains(script, "\n#SBATCH --chdir=\"" + fs::current_path().string() + "\"\n"))
      << "relative paths in the configs mean what they meant for sim slurm:\n"
      << script;
  // --after: the array starts once every task of the given job has succeeded.
  const std::string flags = "slurm --config " + Quote(s) + " --out-dir " + Quote(out) + " --after ";
  const Result after = RunSim(flags + "4242");
  ASSERT_EQ(after.code, 0) << after.output;
  EXPECT_TRUE(Contains(ReadText(out + "/sweep.sbatch"), "\n#SBATCH --dependency=afterok:4242\n"))
      << ReadText(out + "/sweep.sbatch");
  for (const char* bad : {"42a", "''", "'1;rm -rf x'", "-1", "12_3"}) {
    const Result r = RunSim(flags + bad);
    EXPECT_EQ(r.code, 2) << bad << r.output;
    EXPECT_TRUE(Contains(r.output, "--after: expected a SLURM job id, digits only")) << bad << r.output;
  }
}

TEST(SweepTest, BadSweepFilesAreRejected) {
  ScratchDir dir;
  auto expect_bad = [&](const std::string& sweep, const std::string& extra, const std::string& message) {
    const std::string s = SweepFile(dir, sweep);
    const Result r = RunSim("sweep --config " + Quote(s) + " --list " + extra);  // --count resolves no run
    EXPECT_EQ(r.code, 2) << sweep << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, message)) << sweep << "\n" << r.output;
  };
  expect_bad("model.layrs = 1, 2\n", "", "unknown option 'model.layrs'; did you mean 'model.layers'?");
  expect_bad("model.layers = 3..1\n", "", "range '3..1'");
  expect_bad("model.d_model & model.heads = 16, 32 & 4\n", "", "has 1 part(s) for 2 zipped option(s)");
  expect_bad("model.layers = 1, 2\n", "--model.layers=3", "model.layers: swept in [sweep] and set on the command line");
  expect_bad("model.layers = 1\nmodel.layers = 2\n", "", "swept twice");
  expect_bad("model.heads = 2, 3\n", "", "run 1 (model.heads=3)");
  expect_bad("", "", "nothing to sweep");
  expect_bad("this is not a key value line\n", "", "sweep.ini:");
  // Brackets: the line is named (line 20: the first of [sweep] after kBase's 19).
  expect_bad("model.heads = [2,1\n", "", "sweep.ini:20: [sweep] '[' without its ']' in '[2,1'");
  expect_bad("seed = 1\nmodel.heads = 2,1]\n", "", "sweep.ini:21: [sweep] ']' without a '[' before it");
  expect_bad("model.layers & model.heads = 2 & [2,1, 1 & 2\n", "", "sweep.ini:20: [sweep] '[' without its ']'");
  expect_bad("model.heads = x[2,1]\n", "", "sweep.ini:20: [sweep] value 'x[2,1]': brackets must enclose a whole value");
  expect_bad("model.heads = [], 2\n", "", "sweep.ini:20: [sweep] empty value '[]'");
  const std::string s = SweepFile(dir, "model.layers = 1, 2\n");
  const Result train = RunSim("train --config " + Quote(s) + " --out " + Quote(dir.File("x.h5")));
  EXPECT_EQ(train.code, 2) << train.output;
  EXPECT_TRUE(Contains(train.output, "has a [sweep] section; run it with sim sweep")) << train.output;
}

}  // namespace
