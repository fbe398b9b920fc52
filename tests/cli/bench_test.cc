// sim bench on any configuration, through the sim executable: an INI file (with overrides on top)
// gives the model the file says, named configurations still work and layer under INI files, --scan
// gives one record per value with the keys a plot reads, and bad scan keys, scan values and options
// exit 2 naming them before anything is timed. Structure only: no test looks at a speed.
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/cli/cli_helpers.h"

namespace {

using namespace sim_test;

// Short timing: one window of 10 ms after the warm-up.
const std::string kQuick = " --seconds 0.01 --reps 1 ";

// The tiny named configuration written as an INI file.
const char* kTinyIni =
    "[task]\nname = uniform\nvocab = 32\nlength = 16\nclasses = 32\nscore = all\n"
    "[model]\nd_model = 32\nlayers = 1\nheads = 2\nd_mlp = 4x\nnorm = pre_ln\npos = "
    "learned\ncausal = true\n"
    "act = gelu\nbias = true\n"
    "[train]\nbatch = 32\noptimizer = adamw\n";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

// The raw JSON text of `key`'s value in a one-line object (numbers and strings; no nesting).
std::string JsonField(const std::string& object, const std::string& key) {
  const std::string marker = "\"" + key + "\": ";
  const size_t at = object.find(marker);
  if (at == std::string::npos) return "<missing>";
  const size_t start = at + marker.size();
  if (object[start] == '"') return object.substr(start, object.find('"', start + 1) - start + 1);
  return object.substr(start, object.find_first_of(",}", start) - start);
}

double JsonNumber(const std::string& object, const std::string& key) {
  const std::string text = JsonField(object, key);
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  EXPECT_TRUE(!text.empty() && *end == '\0') << key << " is not a number: " << text << " in " << object;
  return value;
}

// `sim bench <args> --json` with short timing: its one JSON line per model (stderr dropped).
std::vector<std::string> BenchJson(const std::string& args) {
  const Result r = RunSim("bench" + kQuick + args + " --json", "2>/dev/null");
  EXPECT_EQ(r.code, 0) << args << "\n" << r.output;
  return Lines(r.output);
}

TEST(BenchTest, IniFileWithOverridesGivesTheModelTheFileSays) {
  ScratchDir dir;
  const std::string ini = dir.File("tiny_copy.ini");
  WriteText(ini, kTinyIni);
  const std::vector<std::string> named = BenchJson("--config tiny");
  const std::vector<std::string> file = BenchJson("--config " + Quote(ini));
  ASSERT_EQ(named.size(), 1u);
  ASSERT_EQ(file.size(), 1u);
  EXPECT_EQ(JsonField(file[0], "config"), "\"tiny_copy\"") << "an INI model is named by its file";
  EXPECT_EQ(JsonNumber(file[0], "params"), JsonNumber(named[0], "params")) << "same options, same model";
  EXPECT_EQ(JsonNumber(file[0], "batch"), 32);
  EXPECT_EQ(JsonNumber(file[0], "length"), 16);
  EXPECT_EQ(JsonNumber(file[0], "param_bytes"), 4 * JsonNumber(file[0], "params"));

  // Overrides win over the file: a second layer adds parameters, a longer sequence changes the
  // shape.
  const std::vector<std::string> deeper = BenchJson("--config " + Quote(ini) + " --model.layers=2 --task.length=24");
  ASSERT_EQ(deeper.size(), 1u);
  EXPECT_GT(JsonNumber(deeper[0], "params"), JsonNumber(file[0], "params"));
  EXPECT_EQ(JsonNumber(deeper[0], "length"), 24);
  EXPECT_EQ(JsonNumber(deeper[0], "batch"), 32);

  // A file of deltas on top of a named configuration: the same model as the override.
  const std::string deltas = dir.File("two_layers.ini");
  WriteText(deltas, "[model]\nlayers = 2\n[task]\nlength = 24\n");
  const std::vector<std::string> layered = BenchJson("--config tiny --config " + Quote(deltas));
  ASSERT_EQ(layered.size(), 1u);
  EXPECT_EQ(JsonField(layered[0], "config"), "\"tiny+two_layers\"");
  EXPECT_EQ(JsonNumber(layered[0], "params"), JsonNumber(deeper[0], "params"));
  EXPECT_EQ(JsonNumber(layered[0], "length"), 24);
}

TEST(BenchTest, NamedConfigurationsStillWork) {
  Result r = RunSim("bench --list");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* name : {"tiny ", "small ", "mid ", "large ", "depth ", "heads "})
    EXPECT_TRUE(Contains(r.output, name)) << r.output;
  r = RunSim("bench" + kQuick + "--config tiny", "2>/dev/null");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(Contains(r.output, "FP32 FMA peak, measured: ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "config    steps/s")) << r.output;
  const std::vector<std::string> lines = Lines(r.output);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines.back().rfind("tiny ", 0), 0u) << r.output;
  const std::vector<std::string> json = BenchJson("--config=tiny");
  ASSERT_EQ(json.size(), 1u);
  EXPECT_EQ(JsonField(json[0], "config"), "\"tiny\"");
  EXPECT_EQ(JsonField(json[0], "scan_key"), "<missing>") << "scan keys only when scanning";
}

TEST(BenchTest, ScanGivesOneRecordPerValueWithThePlottedKeys) {
  const std::vector<std::string> records = BenchJson("--config tiny --scan task.length=8,16,32");
  ASSERT_EQ(records.size(), 3u);
  const std::vector<int> lengths = {8, 16, 32};
  for (size_t i = 0; i < records.size(); ++i) {
    const std::string& r = records[i];
    EXPECT_EQ(JsonField(r, "config"), "\"tiny\"") << r;
    EXPECT_EQ(JsonField(r, "scan_key"), "\"task.length\"") << r;
    EXPECT_EQ(JsonNumber(r, "scan_value"), lengths[i]) << "a number, in the order given: " << r;
    EXPECT_EQ(JsonNumber(r, "length"), lengths[i]) << r;
    EXPECT_GT(JsonNumber(r, "steps_per_second"), 0) << r;
    EXPECT_GT(JsonNumber(r, "seconds_per_step"), 0) << r;
    EXPECT_GT(JsonNumber(r, "gflops"), 0) << r;
    EXPECT_GT(JsonNumber(r, "workspace_bytes"), 0) << r;
    EXPECT_GT(JsonNumber(r, "param_bytes"), 0) << r;
    JsonNumber(r, "rss_bytes");
    JsonNumber(r, "implied_bytes");
  }
  // Learned positions: one more embedding row per position, nothing else changes.
  EXPECT_LT(JsonNumber(records[0], "params"), JsonNumber(records[2], "params"));

  // A value that is not a number stays a string; list values are separated by ';'.
  const std::vector<std::string> norms = BenchJson("--config tiny --scan model.norm=pre_ln,none");
  ASSERT_EQ(norms.size(), 2u);
  EXPECT_EQ(JsonField(norms[1], "scan_value"), "\"none\"");
  const std::vector<std::string> heads = BenchJson("--config tiny --model.layers=2 --scan \"model.heads=2,2;1,4\"");
  ASSERT_EQ(heads.size(), 2u);
  EXPECT_EQ(JsonField(heads[1], "scan_value"), "\"1,4\"");

  // The table: a column for the scanned option, one row per value.
  const Result table = RunSim("bench" + kQuick + "--config tiny --scan task.length=8,16", "2>/dev/null");
  ASSERT_EQ(table.code, 0) << table.output;
  const std::vector<std::string> lines = Lines(table.output);
  ASSERT_GE(lines.size(), 3u) << table.output;
  EXPECT_TRUE(Contains(lines[lines.size() - 3], "task.length")) << table.output;
  EXPECT_TRUE(Contains(lines[lines.size() - 3], "ms/step")) << table.output;
  EXPECT_TRUE(Contains(lines[lines.size() - 3], "workspace MB")) << table.output;
  EXPECT_EQ(lines[lines.size() - 2].rfind("tiny ", 0), 0u) << table.output;
  EXPECT_EQ(lines[lines.size() - 1].rfind("tiny ", 0), 0u) << table.output;
}

TEST(BenchTest, BadScanKeysAndValuesExitTwoNamingThemBeforeTiming) {
  Result r = RunSim("bench" + kQuick + "--config tiny --scan task.lenght=8,16");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "'task.lenght'")) << r.output;
  EXPECT_TRUE(Contains(r.output, "did you mean 'task.length'")) << r.output;

  // The bad value is the last one: nothing is timed (no output on stdout) before the error.
  r = RunSim("bench" + kQuick + "--config tiny --scan task.length=8,16,abc", "2>&1 >/dev/null");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "--scan task.length=abc: task.length: ")) << r.output;
  const Result stdout_only = RunSim("bench" + kQuick + "--config tiny --scan model.d_model=32,0", "2>/dev/null");
  EXPECT_EQ(stdout_only.code, 2);
  EXPECT_EQ(stdout_only.output, "") << "timed before validating every value";

  r = RunSim("bench" + kQuick + "--config tiny --scan task.length");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "--scan: expected KEY=v1,v2,...")) << r.output;
  r = RunSim("bench" + kQuick + "--config tiny --scan task.length=8,16 --task.length=32");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "--scan task.length: also set on the command line")) << r.output;
}

TEST(BenchTest, BadOptionsAndConfigsExitTwoNamingThem) {
  ScratchDir dir;
  const std::string ini = dir.File("typo.ini");
  WriteText(ini, "[model]\nd_modle = 32\n");
  Result r = RunSim("bench" + kQuick + "--config " + Quote(ini));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "unknown option 'model.d_modle'")) << r.output;
  r = RunSim("bench" + kQuick + "--config tiny --model.d_model=abc");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "model.d_model: ")) << r.output;
  EXPECT_TRUE(Contains(r.output, "'abc'")) << r.output;
  r = RunSim("bench" + kQuick + "--config tiny --model.d_modle=32");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "did you mean 'model.d_model'")) << r.output;
  r = RunSim("bench" + kQuick + "--config huge");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "'huge' is neither a configuration (tiny, small")) << r.output;
  r = RunSim("bench" + kQuick + "--config " + Quote(dir.File("missing.ini")));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "missing.ini: cannot read config file")) << r.output;
  r = RunSim("bench" + kQuick + "--config tiny --threads 2 --train.threads=2");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_TRUE(Contains(r.output, "give --threads or --train.threads, not both")) << r.output;
}

}  // namespace
