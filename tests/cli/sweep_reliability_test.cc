// Sweeps under adversarial use (docs/reliability.md): counting a sweep at the size limit without
// enumerating it, two sweeps (and two `sim train`) on the same output at the same time, `sim collect`
// on a damaged run file, and `sim slurm` values that would put shell lines into the batch script.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <map>
#include <regex>
#include <string>
#include <vector>

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

std::string SweepFile(const ScratchDir& dir, const std::string& sweep, const std::string& name = "sweep.ini") {
  const std::string path = dir.File(name);
  WriteText(path, std::string(kBase) + "[sweep]\n" + sweep);
  return path;
}

// Runs a shell command; its exit code and output.
Result Shell(const std::string& command) { return RunCommand(command); }

// A guard, not a measurement: a process that enumerates a huge sweep is stopped (SIGXCPU) instead of
// running for minutes; one that counts uses a few milliseconds of its 30 s.
const std::string kCpuGuard = "ulimit -t 30; ";

// Item 7. Counting is arithmetic over the axes: no run is resolved (a sweep whose every run is
// invalid still counts), the cap (100,000 runs) is checked before anything, and --list reports the
// invalid runs.
TEST(SweepReliabilityTest, CountIsArithmeticAndTheCapIsCheckedFirst) {
  ScratchDir dir;
  Result r = RunSim("sweep --config " + Quote(SweepFile(dir, "seed = 0..99999\n")) + " --count", "2>&1", kCpuGuard);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "100000\n");
  r = RunSim("sweep --config " + Quote(SweepFile(dir, "seed = 0..99999\nmodel.layers = 1..10\n")) + " --count", "2>&1",
             kCpuGuard);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "the sweep expands to more than 100000 runs")) << r.output;
  // heads = 3 does not divide d_model = 16: every run is invalid, yet the count needs none of them.
  const std::string invalid = SweepFile(dir, "seed = 0..99999\nmodel.heads = 3\n");
  r = RunSim("sweep --config " + Quote(invalid) + " --count", "2>&1", kCpuGuard);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "100000\n");
  r = RunSim("sweep --config " + Quote(SweepFile(dir, "model.heads = 2, 3\n")) + " --list");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "run 1 (model.heads=3)")) << r.output;
  EXPECT_TRUE(Contains(r.output, "0\trun-0000-")) << "valid runs are listed as they are resolved:\n" << r.output;
}

// Item 13. Two `sim sweep --all` started together on one --out-dir share the runs: both exit 0,
// every run is made exactly once (one result line in all the output), complete, and collect finds
// them all; no lock or temporary file is left.
TEST(SweepReliabilityTest, TwoSweepsOnOneDirectoryShareTheRuns) {
  ScratchDir dir;
  const std::string s = SweepFile(dir, "seed = 0..5\n"), out = dir.File("runs");
  const std::vector<std::string> args = {"sweep", "--config", s,   "--out-dir",        out,
                                         "--all", "--jobs",   "1", "--train.steps=300"};
  int code_a = 0, code_b = 0;
  std::string err_a, err_b;
  {
    Child a(args, dir.File("a.out")), b(args, dir.File("b.out"));
    code_a = a.Wait();
    code_b = b.Wait();
    err_a = a.stderr_text();
    err_b = b.stderr_text();
  }
  const std::string all = ReadText(dir.File("a.out")) + ReadText(dir.File("b.out"));
  EXPECT_EQ(code_a, 0) << err_a << all;
  EXPECT_EQ(code_b, 0) << err_b << all;
  const Result list = RunSim("sweep --config " + Quote(s) + " --list --train.steps=300");
  ASSERT_EQ(list.code, 0) << list.output;
  std::istringstream lines(list.output);
  int n = 0;
  for (std::string line; std::getline(lines, line); ++n) {
    const std::string file =
        line.substr(line.find('\t') + 1, line.find('\t', line.find('\t') + 1) - line.find('\t') - 1);
    const std::string path = out + "/" + file;
    size_t made = 0;
    for (size_t at = all.find("complete after 300 steps"); at != std::string::npos;
         at = all.find("complete after 300 steps", at + 1))
      made += all.compare(all.find(" -> ", at) + 4, path.size() + 1, path + "\n") == 0 ? 1 : 0;
    EXPECT_EQ(made, 1u) << "run " << n << " made " << made << " times:\n" << all << err_a << err_b;
    ASSERT_TRUE(fs::exists(path)) << path;
    const sim::RunRecord record = sim::ReadRunFile(path);
    EXPECT_EQ(record.status, "complete") << path;
    EXPECT_EQ(record.steps_done, 300) << path;
  }
  EXPECT_EQ(n, 6);
  for (const auto& entry : fs::directory_iterator(out)) {
    const std::string name = entry.path().filename().string();
    EXPECT_FALSE(Contains(name, ".lock") || Contains(name, ".tmp") || Contains(name, ".ckpt")) << name;
  }
  const Result collect = RunSim("collect " + Quote(out) + " --out " + Quote(dir.File("summary.h5")));
  EXPECT_EQ(collect.code, 0) << collect.output;
  EXPECT_TRUE(Contains(collect.output, "collected 6 runs")) << collect.output;
  EXPECT_TRUE(Contains(collect.output, "0 missing, 0 not complete")) << collect.output;
}

// Item 13. A second `sim train` on an --out that a running one writes is refused (exit 2) before it
// touches anything; the first finishes undisturbed and releases the lock.
TEST(SweepReliabilityTest, TrainRefusesAnOutputInUseByAnotherProcess) {
  ScratchDir dir;
  const std::string config = dir.File("base.ini"), out = dir.File("run.h5");
  WriteText(config, kBase);
  Child first({"train", "--config", config, "--out", out, "--train.steps=10000000"}, dir.File("first.out"));
  ASSERT_TRUE(first.WaitFor("step ", 60)) << first.stderr_text();
  const Result second = RunSim("train --config " + Quote(config) + " --out " + Quote(out) + " --train.steps=40");
  EXPECT_EQ(second.code, 2) << second.output;
  EXPECT_TRUE(Contains(second.output, "--out " + out + ": in use by another process")) << second.output;
  first.Signal(SIGTERM);
  EXPECT_EQ(first.Wait(), 75) << first.stderr_text();
  EXPECT_EQ(sim::ReadRunFile(out).status, "interrupted");
  EXPECT_FALSE(fs::exists(out + ".lock"));
  // Free again: the same command resumes from the checkpoint (a short run here: a fresh --out).
  const Result again = RunSim("train --config " + Quote(config) + " --out " + Quote(dir.File("other.h5")));
  EXPECT_EQ(again.code, 0) << again.output;
}

// Item 14. A truncated or foreign run file leaves a hole in the table: exit 3, as for a missing run,
// unless --allow-missing.
TEST(SweepReliabilityTest, CollectExitsIncompleteOnAnUnreadableRunFile) {
  ScratchDir dir;
  const std::string s = SweepFile(dir, "seed = 0..2\n"), out = dir.File("runs"), summary = dir.File("summary.h5");
  ASSERT_EQ(RunSim("sweep --config " + Quote(s) + " --out-dir " + Quote(out) + " --all --quiet").code, 0);
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(out))
    if (entry.path().extension() == ".h5") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 3u);
  ASSERT_EQ(RunSim("collect " + Quote(out) + " --out " + Quote(summary)).code, 0);
  const std::string bytes = ReadText(files[0]);
  WriteText(files[0], bytes.substr(0, bytes.size() / 2));  // truncated
  Result r = RunSim("collect " + Quote(out) + " --out " + Quote(summary));
  EXPECT_EQ(r.code, 3) << r.output;
  EXPECT_TRUE(Contains(r.output, "not complete: run 0 (unreadable")) << r.output;
  WriteText(files[0], "a foreign file\n");
  r = RunSim("collect " + Quote(out) + " --out " + Quote(summary));
  EXPECT_EQ(r.code, 3) << r.output;
  r = RunSim("collect " + Quote(out) + " --out " + Quote(summary) + " --allow-missing");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(sim::H5Reader(summary).Strings("/runs/status")[0], "unreadable");
  r = RunSim("collect --help");
  EXPECT_TRUE(Contains(r.output, "missing or unreadable")) << r.output;
}

// Item 15. Values that go into #SBATCH lines are checked: a control character anywhere, or a value
// outside SLURM's syntax, is exit 2 naming the flag, and no script is written.
TEST(SweepReliabilityTest, SlurmRejectsValuesThatWouldBreakTheScript) {
  ScratchDir dir;
  const std::string s = SweepFile(dir, "seed = 0, 1\n"), out = dir.File("runs");
  const std::string slurm = "slurm --config " + Quote(s) + " --out-dir ";
  const std::vector<std::pair<std::string, std::string>> bad = {{"--partition", "debug\ntouch pwned"},
                                                                {"--partition", "debug; touch pwned"},
                                                                {"--partition", "a b"},
                                                                {"--account", "lab\ntouch pwned"},
                                                                {"--account", "$(id)"},
                                                                {"--time", "01:00:00\nid"},
                                                                {"--time", "1:2:3:4"},
                                                                {"--time", "1h"},
                                                                {"--time", ""},
                                                                {"--time", "1-2-3"},
                                                                {"--mem", "2G\nid"},
                                                                {"--mem", "2GB"},
                                                                {"--mem", "-1"},
                                                                {"--mem", ""}};
  for (const auto& [flag, value] : bad) {
    const Result r = RunSim(slurm + Quote(out) + " " + flag + "=" + Quote(value));
    EXPECT_EQ(r.code, 2) << flag << " " << value << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, "error: ") && Contains(r.output, flag)) << flag << " " << value << "\n" << r.output;
    EXPECT_FALSE(fs::exists(out + "/sweep.sbatch")) << flag << " " << value;
  }
  Result r = RunSim(slurm + Quote(dir.File("runs\ntouch pwned")));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "error: --out-dir: ")) << r.output;
  for (const std::string time : {"30", "30:00", "02:00:00", "2-12", "2-12:30", "2-12:30:00"})
    EXPECT_EQ(RunSim(slurm + Quote(out) + " --time " + time).code, 0) << time;
  for (const std::string mem : {"2048", "500M", "2G", "1T", "64k"})
    EXPECT_EQ(RunSim(slurm + Quote(out) + " --mem " + mem).code, 0) << mem;
  r = RunSim(slurm + Quote(out) + " --partition gpu,cpu-long_2.x --account lab-1");
  EXPECT_EQ(r.code, 0) << r.output;
}

// The arguments of an #SBATCH line as sbatch reads them (src/sbatch/opt.c): quotes group, a
// backslash escapes the next character, an unquoted '#' starts a comment.
std::vector<std::string> SbatchArguments(const std::string& line) {
  std::vector<std::string> args;
  std::string arg;
  bool in_arg = false, escape = false;
  char quote = 0;
  for (size_t i = std::string("#SBATCH").size(); i < line.size(); ++i) {
    const char c = line[i];
    if (escape) {
      arg += c;
      escape = false;
    } else if (c == '\\') {
      escape = in_arg = true;
    } else if (quote) {
      if (c == quote)
        quote = 0;
      else
        arg += c;
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_arg = true;
    } else if (c == '#') {
      break;
    } else if (c == ' ' || c == '\t') {
      if (in_arg) args.push_back(arg);
      arg.clear();
      in_arg = false;
    } else {
      arg += c;
      in_arg = true;
    }
  }
  if (in_arg) args.push_back(arg);
  return args;
}

// Item 15. Paths with spaces, quotes, '#' and '%' (in the output directory and the directory sim
// slurm runs in) reach sbatch and the shell intact: the #SBATCH lines read back to the paths, and
// the script, run as a task would run it, makes its run in that directory.
TEST(SweepReliabilityTest, SlurmScriptQuotesPathsWithSpacesAndQuotes) {
  ScratchDir dir;
  const std::string s = SweepFile(dir, "seed = 0, 1\n");
  const std::string cwd = dir.File("work dir 'a'"), out = dir.File("runs \"b\" it's #1 %j");
  fs::create_directories(cwd);
  const Result r = RunSim("slurm --config " + Quote(s) + " --out-dir " + Quote(out) + " --time 10", "2>&1",
                          "cd " + Quote(cwd) + " && ");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string script = ReadText(out + "/sweep.sbatch");
  std::map<std::string, std::string> options;
  std::istringstream in(script);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#SBATCH", 0) != 0) continue;
    const std::vector<std::string> args = SbatchArguments(line);
    ASSERT_EQ(args.size(), 1u) << line;
    const size_t eq = args[0].find('=');
    options[args[0].substr(0, eq)] = args[0].substr(eq + 1);
  }
  EXPECT_EQ(options["--chdir"], cwd) << script;
  EXPECT_EQ(options["--output"], dir.File("runs \"b\" it's #1 %%j") + "/logs/%A_%a.out") << script;
  EXPECT_EQ(options["--time"], "10") << script;
  const Result task = Shell("cd / && SLURM_ARRAY_TASK_ID=1 bash " + Quote(out + "/sweep.sbatch") + " 2>&1");
  EXPECT_EQ(task.code, 0) << task.output << script;
  const Result list = RunSim("sweep --config " + Quote(s) + " --list --out-dir " + Quote(out));
  EXPECT_TRUE(std::regex_search(list.output, std::regex("\n1\trun-0001-[0-9a-f]+\\.h5\ttrain\\.seed=1\tcomplete\n")))
      << list.output << task.output;
}

}  // namespace
