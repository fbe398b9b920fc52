// Bad inputs found by an adversarial campaign, each refused before any work with exit 2 and a message
// that names the option or path, what was expected and what was given: a directory as --config,
// output paths that cannot or must not be written, malformed option values, and runs larger than
// the machine's memory (estimated before anything big is allocated).
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "cli_helpers.h"
#include "sim/io/hdf5_file.h"

namespace sim_test {
namespace {

// A short quickstart run: the quickstart's model, batch and evaluation, 1 step.
const std::string kShort = "--config " + kQuickstart + " --train.steps=1 --quiet";

TEST(InputsTest, ConfigDirectoryIsRefusedByEveryCommand) {
  ScratchDir dir;
  const std::string conf = dir.File("conf.d");
  fs::create_directory(conf);
  for (const std::string& command : {"train --out " + Quote(dir.File("o.h5")), std::string("sweep --count"),
                                     "slurm --out-dir " + Quote(dir.File("runs")), std::string("bench")}) {
    const Result r = RunSim(command + " --config " + Quote(conf));
    EXPECT_EQ(r.code, 2) << command << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, conf + ": is a directory")) << command << "\n" << r.output;
  }
  EXPECT_FALSE(fs::exists(dir.File("o.h5")));
}

TEST(InputsTest, OutputPathsAreCheckedBeforeTraining) {
  ScratchDir dir;
  struct Case {
    std::string out, expected;
  };
  std::vector<Case> cases = {
      {"", "--out: empty file name"},
      {dir.File("missing/run.h5"), "does not exist"},
      {dir.File("sub") + "/", "ends in a directory separator"},
      {dir.File(std::string(300, 'a') + ".h5"), "file name of"},
  };
  fs::create_directory(dir.File("sub"));
  fs::create_directory(dir.File("ro"));
  fs::permissions(dir.File("ro"), fs::perms::owner_read | fs::perms::owner_exec);
  if (::geteuid() != 0) cases.push_back({dir.File("ro/run.h5"), "is not writable"});  // root writes anyway
  for (const Case& c : cases) {
    // Many steps: a path checked only at the end would show progress lines and take minutes.
    const Result r = RunSim("train --config " + kQuickstart + " --train.steps=100000 --out " + Quote(c.out));
    EXPECT_EQ(r.code, 2) << c.out << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, c.expected)) << c.out << "\n" << r.output;
    EXPECT_FALSE(Contains(r.output, "step ")) << "trained before refusing " << c.out << "\n" << r.output;
  }
  fs::permissions(dir.File("ro"), fs::perms::owner_all);
}

TEST(InputsTest, OutRefusesWhatIsNotARunFile) {
  ScratchDir dir;
  const std::string text = dir.File("notes.txt"), config = dir.File("mqar.ini"), fifo = dir.File("fifo"),
                    link = dir.File("link.h5"), target = dir.File("target.h5"), other_h5 = dir.File("other.h5");
  WriteText(text, "keep me\n");
  WriteText(config, ReadText(kQuickstart));
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  WriteText(target, "the link's target\n");
  fs::create_symlink(target, link);
  {
    sim::H5Writer h5(other_h5);  // HDF5, but without format = "attnsim.run"
    h5.AttrString("/", "format", "something.else");
    h5.Close();
  }
  fs::create_directory(dir.File("adir"));
  struct Case {
    std::string args, out, expected;
  };
  std::vector<Case> cases = {
      {kShort, text, "is a file that is not an attnsim run file (not HDF5)"},
      {"--config " + Quote(config) + " --train.steps=1", config, "not an attnsim run file"},
      {kShort, fifo, "is a named pipe"},
      {kShort, link, "is a symbolic link (to " + target + ")"},
      {kShort, other_h5, "an HDF5 file that is not an attnsim run file"},
      {kShort, dir.File("adir"), "is a directory"},
  };
  // A device node needs root to make; /dev/null is one wherever the test runs.
  if (::mknod(dir.File("fakenull").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0)
    cases.push_back({kShort, dir.File("fakenull"), "is a character device"});
  cases.push_back({kShort, "/dev/null", "is a character device"});
  for (const Case& c : cases) {
    const Result r = RunSim("train " + c.args + " --out " + Quote(c.out));
    EXPECT_EQ(r.code, 2) << c.out << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, "--out " + c.out + ": ")) << c.out << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, c.expected)) << c.out << "\n" << r.output;
  }
  EXPECT_EQ(ReadText(text), "keep me\n");
  EXPECT_EQ(ReadText(config), ReadText(kQuickstart));
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(ReadText(target), "the link's target\n");
  EXPECT_EQ(fs::status(fifo).type(), fs::file_type::fifo);
}

TEST(InputsTest, ReplacingARunFileIsAllowedAndSaid) {
  ScratchDir dir;
  const std::string out = dir.File("run.h5");
  const Result first = RunSim("train " + kShort + " --out " + Quote(out));
  ASSERT_EQ(first.code, 0) << first.output;
  const Result again = RunSim("train " + kShort + " --out " + Quote(out), "2>&1 >/dev/null");
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_EQ(again.output, "replacing " + out + " (an attnsim run file, status complete)\n");
}

TEST(InputsTest, MalformedValuesAreRefusedNamingTheOption) {
  ScratchDir dir;
  const std::string out = dir.File("o.h5");
  struct Case {
    std::string flag, option, given;
  };
  for (const Case& c : std::vector<Case>{
           {"--model.d_mlp=x", "model.d_mlp", "'x'"},
           {"--checkpoint-every=nan", "--checkpoint-every", "nan"},
           {"--checkpoint-every=inf", "--checkpoint-every", "inf"},
           {"--optim.lr_mult=embed.tok:inf", "optim.lr_mult", "embed.tok:inf"},
           {"--train.lr=0x10", "train.lr", "'0x10'"},
           {"--train.steps=1e3", "train.steps", "'1e3'"},
           {"--model.heads=2,0x1", "model.heads", "'2,0x1'"},
       }) {
    const Result r = RunSim("train --config " + kQuickstart + " " + c.flag + " --out " + Quote(out));
    EXPECT_EQ(r.code, 2) << c.flag << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, "error: " + c.option + ": expected")) << c.flag << "\n" << r.output;
    EXPECT_TRUE(Contains(r.output, c.given)) << c.flag << "\n" << r.output;
  }
  // A NUL byte inside an INI value (read as a C string it would end the value: steps = 3).
  const std::string nul_ini = dir.File("nul.ini");
  {
    std::ofstream f(nul_ini, std::ios::binary);
    f << "[train]\nsteps = 3" << '\0' << "000\n";
  }
  Result r = RunSim("train --config " + Quote(nul_ini) + " --out " + Quote(out));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, nul_ini + ":2: contains a NUL byte")) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST(InputsTest, LongInvalidValuesAreEchoedCut) {
  ScratchDir dir;
  const std::string ini = dir.File("huge.ini");
  WriteText(ini, "[train]\nlr = " + std::string(10'000'000, '9') + "x\n");
  Result r = RunSim("train --config " + Quote(ini) + " --out " + Quote(dir.File("o.h5")));
  EXPECT_EQ(r.code, 2);
  EXPECT_LT(r.output.size(), 1000u) << r.output.substr(0, 1000);
  EXPECT_TRUE(Contains(r.output, "train.lr: expected")) << r.output.substr(0, 1000);
  EXPECT_TRUE(Contains(r.output, std::string(80, '9') + "... (10000001 characters)")) << r.output.substr(0, 1000);
  // Boost's own messages (a typed flag), cut the same way; 100 kB fits one command-line argument.
  r = RunSim("train --config " + kQuickstart + " --checkpoint-every=" + std::string(100'000, '7') + "x --out " +
             Quote(dir.File("o.h5")));
  EXPECT_EQ(r.code, 2);
  EXPECT_LT(r.output.size(), 1000u) << r.output.substr(0, 1000);
  EXPECT_TRUE(Contains(r.output, "... (100001 characters)")) << r.output.substr(0, 1000);
  EXPECT_TRUE(Contains(r.output, "--checkpoint-every")) << r.output.substr(0, 1000);
}

// The estimate `sim train --print-config` prints, in bytes.
double PrintedEstimate(const std::string& args) {
  const Result r = RunSim("train --print-config " + args, "2>&1 >/dev/null");
  EXPECT_EQ(r.code, 0) << r.output;
  std::smatch m;
  if (!std::regex_search(r.output, m, std::regex("# memory: training needs about ([0-9.]+) (KiB|MiB|GiB)"))) {
    ADD_FAILURE() << "no estimate in:\n" << r.output;
    return 0;
  }
  const double unit = m[2] == "KiB" ? 1024.0 : m[2] == "MiB" ? 1024.0 * 1024 : 1024.0 * 1024 * 1024;
  return std::stod(m[1]) * unit;
}

// Runs sim with `args` (split at spaces) and returns its peak resident set (wait4's ru_maxrss).
double PeakRss(const std::string& args, int* code) {
  std::vector<std::string> words;
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    std::vector<char*> argv;
    static std::string binary = SIM_BINARY;
    argv.push_back(binary.data());
    for (std::string& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    ::execv(SIM_BINARY, argv.data());
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return usage.ru_maxrss * 1024.0;
}

TEST(InputsTest, MemoryEstimateIsWithinAFactorThreeOfThePeak) {
  ScratchDir dir;
  // The quickstart (100 steps: one evaluation, so every buffer has been used) and a wider model
  // with an MLP, several chunks and two threads.
  for (const std::string& extra : {std::string(""), std::string("--model.d_model=128 --model.d_mlp=4x "
                                                                "--train.threads=2 --eval.batch=200")}) {
    const std::string config = "--config " + kQuickstart + " --train.steps=100 " + extra;
    const double estimate = PrintedEstimate(config);
    int code = -1;
    const double peak = PeakRss("train " + config + " --quiet --out " + dir.File("run.h5"), &code);
    ASSERT_EQ(code, 0);
    std::printf("[ estimate ] %s: estimate %.1f MiB, peak RSS %.1f MiB (ratio %.2f)\n",
                extra.empty() ? "quickstart" : extra.c_str(), estimate / (1 << 20), peak / (1 << 20), estimate / peak);
    EXPECT_GE(estimate, peak) << "the estimate must not be below the measured peak";
    EXPECT_LE(estimate, 3 * peak) << "the estimate must stay within a factor 3 of the measured peak";
    fs::remove(dir.File("run.h5"));
  }
}

TEST(InputsTest, ARunLargerThanMemoryIsRefusedBeforeAllocating) {
  ScratchDir dir;
  const std::string absurd = "--config " + kQuickstart + " --model.d_model=8192 --model.layers=64 --train.batch=4096";
  Result r = RunSim("train " + absurd + " --out " + Quote(dir.File("o.h5")));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "error: not enough memory for this run: it needs about ")) << r.output;
  EXPECT_TRUE(Contains(r.output, " GiB (parameters and gradients ")) << r.output;
  EXPECT_TRUE(Contains(r.output, " leaves ")) << r.output;
  EXPECT_FALSE(fs::exists(dir.File("o.h5")));
  // --print-config shows the estimate (on stderr) without allocating.
  r = RunSim("train --print-config " + absurd, "2>&1 >/dev/null");
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(Contains(r.output, "# memory: training needs about ")) << r.output;
  // Under an address-space limit (ulimit -v), a model that would end in std::bad_alloc is refused
  // with exit 2 naming the limit. 2 GiB: above the process's own reservations, below this model.
  r = RunSim("train --config " + kQuickstart + " --model.d_model=1024 --model.layers=8 --model.d_mlp=4x --out " +
                 Quote(dir.File("o.h5")),
             "2>&1", "ulimit -v 2097152; ");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "not enough memory")) << r.output;
  EXPECT_TRUE(Contains(r.output, "ulimit -v")) << r.output;
}

}  // namespace
}  // namespace sim_test
