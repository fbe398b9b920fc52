// sim bench: training-step speed of any model configuration, against the machine's measured FP32
// peak. A model is a named reference configuration, INI files, --section.key=value overrides or all
// three layered (sim/cli/bench_cases.h), built exactly as `sim train` builds it. See
// docs/benchmarks.md for the configurations and the FLOP count.
//
//   sim bench                              every named configuration, 1 thread
//   sim bench --config mid,large --threads 2 --json
//   sim bench --config experiments/quickstart/mqar.ini --model.layers=2   any model and task
//   sim bench --config run.ini --scan task.length=64,256,1024 --json      one record per value
//                                                     (time and memory along the scan, to plot)
//   sim bench --config tiny --export-dir /tmp/cases   also writes tiny.h5 (model, weights, batch)
//                                                     for bench/torch_reference.py bench
//   sim bench --config mid --gemm-profile             also the time of the linear layers' products,
//                                                     by shape (calls, ms per step, share, GFLOP/s)
//   sim bench --config small --chunk 16 --versus-chunk 64   the chunked step against the whole batch,
//                                                     alternating in one process: the speed ratio
#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "sim/cli/bench_cases.h"
#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/experiment.h"
#include "sim/core/error.h"
#include "sim/kernels/fma_probe.h"
#include "sim/core/glob.h"
#include "sim/kernels/gemm.h"
#include "sim/io/case_file.h"
#include "sim/optim/optimizer.h"
#include "sim/train/batch_gradients.h"
#include "sim/train/metrics.h"

namespace sim {

namespace {

// Resident-set peak since the last reset, in bytes (Linux: VmHWM, reset through clear_refs).
size_t PeakRss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;
}

size_t CurrentRss() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

struct BenchResult {
  std::string name;
  std::string scan_key, scan_value;  // the scan point, when scanning
  int threads = 1;
  int batch = 0, length = 0;  // B, T of the timed batch
  size_t n_params = 0;        // scalars in the parameter registry
  double steps_per_second = 0, min_sps = 0, max_sps = 0;
  double tokens_per_second = 0;
  double gflop_per_step = 0;
  double gflops = 0;
  double peak_fraction = 0;
  size_t rss_bytes = 0;      // peak resident growth while building and running the config
  size_t implied_bytes = 0;  // parameters + gradients + AdamW moments + the model's activations
  size_t workspace_bytes = 0;
  int chunk = 0;  // examples per chunk of the batch (train.chunk)
  int steps = 0;
  double timed_seconds = 0;            // all timing windows together
  std::vector<GemmProfileEntry> gemm;  // --gemm-profile: the timed steps' products by shape
};

// A configuration built as `sim train` builds it from the same option values, on train.threads
// threads, with one training batch (stream data/train of train.seed).
struct BenchCase {
  Experiment e;
  BatchShape shape;
  Batch batch;
};

BenchCase MakeBenchCase(const std::map<std::string, std::string>& given) {
  const OptionSet set = AllOptions();
  Options options(set, given);
  BenchCase c{BuildExperiment(options), {}, {}};
  SetNumThreads(c.e.train.threads);
  c.shape = {c.e.train.batch, c.e.task->info().length};
  Rng rng = Rng::ForStream(c.e.train.seed, "data/train");
  c.e.task->Sample(0, rng, c.shape.batch, c.batch);
  return c;
}

// The timed training step: the batch's gradient (by chunks), clipping, an AdamW step; with LoRA
// (lora.targets) also the adapters' gradients and the merge, as in Trainer::Run.
void BenchStep(BenchCase& c, BatchGradients& gradients, Optimizer& optimizer) {
  gradients.Compute(c.batch);
  if (c.e.lora) c.e.lora->AddAdapterGrads();
  ClipGradNorm(*c.e.registry, c.e.train.clip);
  optimizer.Step(1e-4);
  if (c.e.lora) c.e.lora->Merge();
}

// The case file name of --export-dir: <config>.h5, or <config>_<key>=<value>.h5 at a scan point.
std::string CaseFileName(const BenchSpec& spec) {
  std::string name = spec.name;
  if (!spec.scan_key.empty()) name += "_" + spec.scan_key + "=" + spec.scan_value;
  std::replace(name.begin(), name.end(), '/', '_');
  return name + ".h5";
}

BenchResult RunConfig(const BenchSpec& spec, double seconds, int reps, double peak_gflops,
                      const std::string& export_dir, bool gemm_profile) {
  malloc_trim(0);  // return earlier configurations' freed memory: their reuse would hide growth
  const size_t rss_before = CurrentRss();
  ResetPeakRss();
  BenchCase bench_case = MakeBenchCase(spec.given);
  Experiment& e = bench_case.e;
  const TaskInfo& info = e.task->info();
  const BatchShape shape = bench_case.shape;
  const Batch& batch = bench_case.batch;
  if (!export_dir.empty()) {
    CaseFileContents contents;
    contents.config = e.resolved_ini;
    contents.task = &info;
    contents.registry = e.registry.get();
    contents.batch = &batch;
    WriteCaseFile(export_dir + "/" + CaseFileName(spec), contents);
  }
  BatchGradients gradients(*e.model, *e.registry, shape, info.max_scored_per_example, e.train.chunk);
  Optimizer optimizer(e.train.optimizer, *e.registry);
  auto step = [&] { BenchStep(bench_case, gradients, optimizer); };
  using Clock = std::chrono::steady_clock;
  const auto warm_start = Clock::now();
  for (int i = 0; i < 3 || std::chrono::duration<double>(Clock::now() - warm_start).count() < 0.1; ++i) step();
  std::vector<double> rates;
  BenchResult r;
  TakeGemmProfile();  // drop the warm-up's entries
  SetGemmProfiling(gemm_profile);
  for (int rep = 0; rep < reps; ++rep) {
    const auto start = Clock::now();
    int steps = 0;
    double elapsed = 0;
    do {
      step();
      ++steps;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < seconds / reps);
    rates.push_back(steps / elapsed);
    r.steps += steps;
    r.timed_seconds += elapsed;
  }
  SetGemmProfiling(false);
  r.gemm = TakeGemmProfile();
  std::sort(rates.begin(), rates.end());
  r.name = spec.name;
  r.scan_key = spec.scan_key;
  r.scan_value = spec.scan_value;
  r.threads = e.train.threads;
  r.batch = shape.batch;
  r.length = shape.length;
  r.n_params = e.registry->total_size();
  r.steps_per_second = rates[rates.size() / 2];
  r.min_sps = rates.front();
  r.max_sps = rates.back();
  r.tokens_per_second = r.steps_per_second * shape.tokens();
  r.gflop_per_step = TrainingFlopsPerStep(e.model_config, shape, batch.n_scored()) / 1e9;
  r.gflops = r.gflop_per_step * r.steps_per_second;
  r.peak_fraction = r.gflops / peak_gflops;
  r.rss_bytes = PeakRss() > rss_before ? PeakRss() - rss_before : 0;
  r.workspace_bytes = gradients.bytes();
  r.chunk = gradients.chunk_examples();
  // What the config implies: values, gradients and two AdamW moments of every parameter, plus the
  // activations backward needs: per layer the stream, norm outputs, Q, K, V, head outputs, attention
  // probabilities and MLP pre- and post-activations; the readout's inputs and logits.
  const ModelConfig& mc = e.model_config;
  const double n = shape.tokens(), d = mc.d_model;
  double activations = n * d;  // embedding output
  for (int l = 0; l < mc.layers; ++l) {
    const bool norm = mc.norm == NormKind::kPreLn, mlp = mc.d_mlp > 0;
    activations += n * d * (1 + (norm ? 1 : 0) + 3 + 1) +
                   static_cast<double>(shape.batch) * mc.heads_in_layer(l) * shape.length * shape.length;
    if (mlp) activations += n * d * (1 + (norm ? 1 : 0)) + 2.0 * n * mc.d_mlp;
  }
  activations += batch.n_scored() * (2 * d + mc.n_classes);
  r.implied_bytes = static_cast<size_t>((4.0 * e.registry->total_size() + activations) * sizeof(Scalar));
  return r;
}

// --versus-chunk: the step with train.chunk = `chunk` against the step with train.chunk = `versus`, in
// one process: both step the same model on the same batch, alternately (the order flips every round),
// and the ratio of their speeds is taken per round (median and quartiles). Whole runs of a shared
// machine spread by 10-25%; two steps measured milliseconds apart resolve a few percent.
struct ChunkAbResult {
  std::string name;
  int threads = 1;
  int chunk = 0, versus = 0;          // examples per chunk of the two sides
  double median = 0, q1 = 0, q3 = 0;  // speed of `chunk` / speed of `versus`
  int rounds = 0, steps = 0;          // steps per side and round
};

ChunkAbResult RunChunkAb(const BenchSpec& spec, const std::string& versus, int rounds, double seconds) {
  std::map<std::string, std::string> versus_given = spec.given;
  versus_given["train.chunk"] = versus;
  const int versus_chunk = MakeBenchCase(versus_given).e.train.chunk;  // validated, auto resolved
  BenchCase bench_case = MakeBenchCase(spec.given);
  const Experiment& e = bench_case.e;
  const int per_example = e.task->info().max_scored_per_example;
  BatchGradients mine(*e.model, *e.registry, bench_case.shape, per_example, e.train.chunk);
  BatchGradients theirs(*e.model, *e.registry, bench_case.shape, per_example, versus_chunk);
  Optimizer optimizer(e.train.optimizer, *e.registry);
  using Clock = std::chrono::steady_clock;
  const auto seconds_per_step = [&](BatchGradients& gradients, int steps) {
    const auto start = Clock::now();
    for (int i = 0; i < steps; ++i) BenchStep(bench_case, gradients, optimizer);
    return std::chrono::duration<double>(Clock::now() - start).count() / steps;
  };
  seconds_per_step(mine, 3);  // warm-up
  seconds_per_step(theirs, 3);
  const double step = std::max(seconds_per_step(mine, 1), seconds_per_step(theirs, 1));
  ChunkAbResult r;
  r.name = spec.name;
  r.threads = e.train.threads;
  r.chunk = e.train.chunk;
  r.versus = versus_chunk;
  r.rounds = rounds;
  r.steps = std::max(1, static_cast<int>(seconds / (2.0 * rounds) / step));
  std::vector<double> ratios;
  for (int round = 0; round < rounds; ++round) {
    double t_mine, t_theirs;
    if (round % 2 == 0) {
      t_mine = seconds_per_step(mine, r.steps);
      t_theirs = seconds_per_step(theirs, r.steps);
    } else {
      t_theirs = seconds_per_step(theirs, r.steps);
      t_mine = seconds_per_step(mine, r.steps);
    }
    ratios.push_back(t_theirs / t_mine);
  }
  std::sort(ratios.begin(), ratios.end());
  const auto at = [&](double q) { return ratios[static_cast<size_t>(q * (ratios.size() - 1) + 0.5)]; };
  r.median = at(0.5);
  r.q1 = at(0.25);
  r.q3 = at(0.75);
  return r;
}

// --gemm-profile, table form: the products of one configuration's timed steps by shape.
void PrintGemmProfile(const BenchResult& r) {
  if (r.steps == 0) return;
  const double step_ms = 1e3 * r.timed_seconds / r.steps;
  double gemm_ms = 0;
  for (const GemmProfileEntry& e : r.gemm) gemm_ms += 1e3 * e.seconds / r.steps;
  std::printf("  GEMM profile of %s: %.2f ms per step, of which Gemm/GemmBias calls %.2f ms (%.1f%%)\n", r.name.c_str(),
              step_ms, gemm_ms, 100 * gemm_ms / step_ms);
  std::printf("  %6s %6s %6s %5s %5s %-11s %10s %9s %7s %9s\n", "m", "n", "k", "op(A)", "op(B)", "form", "calls/step",
              "ms/step", "of step", "GFLOP/s");
  for (const GemmProfileEntry& e : r.gemm) {
    const double ms = 1e3 * e.seconds / r.steps;
    std::printf("  %6ld %6ld %6ld %5s %5s %-11s %10.1f %9.3f %6.1f%% %9.1f\n", static_cast<long>(e.m),
                static_cast<long>(e.n), static_cast<long>(e.k), e.op_a == Op::kT ? "T" : "N",
                e.op_b == Op::kT ? "T" : "N", e.form, static_cast<double>(e.calls) / r.steps, ms, 100 * ms / step_ms,
                2.0 * e.m * e.n * e.k * e.calls / e.seconds / 1e9);
  }
}

// --gemm-profile, JSON form: a list to append to the configuration's object.
std::string GemmProfileJson(const BenchResult& r) {
  std::string out = "[";
  for (const GemmProfileEntry& e : r.gemm) {
    char item[256];
    std::snprintf(item, sizeof item,
                  "%s{\"m\": %ld, \"n\": %ld, \"k\": %ld, \"op_a\": \"%s\", \"op_b\": \"%s\", \"form\": \"%s\", "
                  "\"calls\": %ld, \"seconds\": %.6g}",
                  out.size() > 1 ? ", " : "", static_cast<long>(e.m), static_cast<long>(e.n), static_cast<long>(e.k),
                  e.op_a == Op::kT ? "T" : "N", e.op_b == Op::kT ? "T" : "N", e.form, e.calls, e.seconds);
    out += item;
  }
  return out + "]";
}

// A JSON string literal.
std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A scan value as JSON: a number when the whole text is one (a plot reads it as is), else a string.
std::string JsonScanValue(const std::string& text) {
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(number)) return JsonString(text);
  char shortest[32];
  for (int digits = 1; digits <= 17; ++digits) {  // the shortest text that reads back the same
    std::snprintf(shortest, sizeof shortest, "%.*g", digits, number);
    if (std::strtod(shortest, nullptr) == number) break;
  }
  return shortest;
}

// One configuration's (one scan point's) JSON object, on one line.
std::string ResultJson(const BenchResult& r, double peak_gflops, bool gemm_profile) {
  char numbers[1024];
  std::snprintf(numbers, sizeof numbers,
                "\"threads\": %d, \"steps_per_second\": %.6g, \"min_steps_per_second\": %.6g, "
                "\"max_steps_per_second\": %.6g, \"seconds_per_step\": %.6g, \"tokens_per_second\": %.6g, "
                "\"gflop_per_step\": %.6g, \"gflops\": %.6g, \"peak_gflops\": %.6g, \"peak_fraction\": %.4f, "
                "\"batch\": %d, \"length\": %d, \"params\": %zu, \"param_bytes\": %zu, \"rss_bytes\": %zu, "
                "\"implied_bytes\": %zu, \"workspace_bytes\": %zu, \"chunk\": %d, \"timed_steps\": %d, "
                "\"timed_seconds\": %.6g",
                r.threads, r.steps_per_second, r.min_sps, r.max_sps, 1 / r.steps_per_second, r.tokens_per_second,
                r.gflop_per_step, r.gflops, peak_gflops, r.peak_fraction, r.batch, r.length, r.n_params,
                r.n_params * sizeof(Scalar), r.rss_bytes, r.implied_bytes, r.workspace_bytes, r.chunk, r.steps,
                r.timed_seconds);
  std::string json = "{\"config\": " + JsonString(r.name) + ", ";
  if (!r.scan_key.empty())
    json += "\"scan_key\": " + JsonString(r.scan_key) + ", \"scan_value\": " + JsonScanValue(r.scan_value) + ", ";
  json += numbers;
  if (gemm_profile) json += ", \"gemm_profile\": " + GemmProfileJson(r);
  return json + "}";
}

// The table: one row per configuration. When scanning, the scanned value, the time per step, the
// parameter count and the workspace (what a scan is plotted by) join the columns.
class ResultTable {
 public:
  explicit ResultTable(const std::vector<BenchSpec>& specs) {
    for (const BenchSpec& spec : specs) {
      name_width_ = std::max(name_width_, static_cast<int>(spec.name.size()));
      scan_key_ = spec.scan_key;
      value_width_ =
          std::max({value_width_, static_cast<int>(spec.scan_key.size()), static_cast<int>(spec.scan_value.size())});
    }
  }

  void PrintHeader() const {
    if (scan_key_.empty())
      std::printf("%-*s %10s %14s %12s %10s %8s %10s %10s %10s\n", name_width_, "config", "steps/s", "(min-max)",
                  "tokens/s", "GFLOP/s", "of peak", "RSS MB", "implied", "ratio");
    else
      std::printf("%-*s %*s %10s %14s %10s %12s %10s %8s %11s %12s %10s %10s\n", name_width_, "config", value_width_,
                  scan_key_.c_str(), "steps/s", "(min-max)", "ms/step", "tokens/s", "GFLOP/s", "of peak", "params",
                  "workspace MB", "RSS MB", "implied MB");
  }

  void PrintRow(const BenchResult& r) const {
    char range[32];
    std::snprintf(range, sizeof range, "(%.4g-%.4g)", r.min_sps, r.max_sps);
    if (scan_key_.empty())
      std::printf("%-*s %10.4g %14s %12.4g %10.1f %7.1f%% %10.1f %10.1f %10.2f\n", name_width_, r.name.c_str(),
                  r.steps_per_second, range, r.tokens_per_second, r.gflops, 100 * r.peak_fraction, r.rss_bytes / 1e6,
                  r.implied_bytes / 1e6, r.implied_bytes ? static_cast<double>(r.rss_bytes) / r.implied_bytes : 0.0);
    else
      std::printf("%-*s %*s %10.4g %14s %10.4g %12.4g %10.1f %7.1f%% %11zu %12.2f %10.1f %10.1f\n", name_width_,
                  r.name.c_str(), value_width_, r.scan_value.c_str(), r.steps_per_second, range,
                  1e3 / r.steps_per_second, r.tokens_per_second, r.gflops, 100 * r.peak_fraction, r.n_params,
                  r.workspace_bytes / 1e6, r.rss_bytes / 1e6, r.implied_bytes / 1e6);
  }

 private:
  int name_width_ = 6;
  int value_width_ = 0;
  std::string scan_key_;
};

// clang-format off
po::options_description BenchFlags() {
  po::options_description flags("sim bench");
  flags.add_options()
      ("help,h", "print this help")
      ("config", po::value<std::vector<std::string>>(), "named configurations (comma-separated: tiny, small, mid, large, depth, heads, or all; the default when no INI file is given) and/or INI files, each with its own --config; the INI files, then --section.key=value overrides, apply on top of each named configuration (INI files without a name: on top of the defaults, as in sim train)")
      ("scan", po::value<std::string>(), "KEY=v1,v2,...: time each configuration once per value of option KEY (e.g. task.length=64,256,1024; separate values with ';' when they contain commas); every value is validated before anything is timed")
      ("threads", po::value<int>()->default_value(1), "threads of the engine's pool (sets train.threads)")
      ("chunk", po::value<std::string>()->default_value("auto"), "examples per chunk of the training batch (sets train.chunk): auto or a divisor of the config's batch")
      ("versus-chunk", po::value<std::string>(), "instead of the table: time the step with --chunk against the step with this chunk size (auto or N; the batch size = the whole batch) alternately in one process, and print the ratio of their speeds per configuration (median and quartiles over --rounds)")
      ("rounds", po::value<int>()->default_value(20), "with --versus-chunk: alternating rounds (--seconds is their total time)")
      ("seconds", po::value<double>()->default_value(3.0), "timed seconds per configuration (after warm-up)")
      ("reps", po::value<int>()->default_value(5), "timing windows per configuration; the median is reported")
      ("json", "print one JSON object per configuration (per scan value) instead of a table")
      ("export-dir", po::value<std::string>()->default_value(""), "also write <dir>/<config>.h5 case files (model, weights, batch) for bench/torch_reference.py; <config>_<key>=<value>.h5 when scanning")
      ("gemm-profile", "also time the linear layers' products (every Gemm/GemmBias call) in the timed steps and print them by shape: where the step's time goes")
      ("list", "list the named configurations and exit");
  return flags;
}
// clang-format on

// --threads and --chunk set train.threads and train.chunk unless left at their defaults (then an
// INI file or a named configuration may set them); given both ways on the command line is an error.
void ApplyShorthand(ParsedCommand& cmd, const std::string& flag, const std::string& key, const std::string& value) {
  if (cmd.flags[flag].defaulted()) return;
  if (cmd.command_line.count(key)) throw ConfigError(Concat("sim bench: give --", flag, " or --", key, ", not both"));
  cmd.given[key] = value;
  cmd.command_line.insert(key);
}

}  // namespace

int RunBench(const std::vector<std::string>& args) {
  const OptionSet set = AllOptions();
  const po::options_description flags = BenchFlags();
  std::vector<std::string> rest = args;
  const std::vector<std::string> presets = TakePresetNames(rest);  // the rest reads as sim train
  ParsedCommand cmd = ParseCommand("bench", rest, flags, set, true);
  if (cmd.flags.count("help")) {
    std::cout << "usage: sim bench [--config tiny,small,mid,large,depth,heads|all|FILE.ini ...]\n"
                 "                 [--section.key=value ...] [--scan KEY=v1,v2,...]\n"
                 "                 [--threads N] [--chunk auto|N] [--json] [--gemm-profile]\n"
                 "                 [--versus-chunk auto|N [--rounds R]]\n\n"
              << flags << "\nEvery option of sim train --help is accepted as --section.key=value\n";
    return kExitOk;
  }
  if (cmd.flags.count("list")) {
    for (const BenchPreset& c : BenchPresets()) std::printf("%-6s %s\n", c.name.c_str(), c.summary.c_str());
    return kExitOk;
  }
  const int threads = cmd.flags["threads"].as<int>();
  const double seconds = cmd.flags["seconds"].as<double>();
  const int reps = cmd.flags["reps"].as<int>();
  if (threads < 1 || threads > 1024) throw ConfigError(Concat("--threads: must be in [1, 1024] (given ", threads, ")"));
  if (!(seconds > 0)) throw ConfigError(Concat("--seconds: must be positive (given ", seconds, ")"));
  if (reps < 1) throw ConfigError(Concat("--reps: must be >= 1 (given ", reps, ")"));
  ApplyShorthand(cmd, "threads", "train.threads", std::to_string(threads));
  ApplyShorthand(cmd, "chunk", "train.chunk", cmd.flags["chunk"].as<std::string>());
  const std::vector<std::string> files =
      cmd.flags.count("config") ? cmd.flags["config"].as<std::vector<std::string>>() : std::vector<std::string>{};
  std::vector<std::string> chosen = presets;
  if (chosen.empty() && files.empty())
    for (const BenchPreset& p : BenchPresets()) chosen.push_back(p.name);
  BenchScan scan;
  if (cmd.flags.count("scan")) {
    scan = ParseBenchScan(cmd.flags["scan"].as<std::string>(), set);
    if (cmd.command_line.count(scan.key))
      throw ConfigError(Concat("--scan ", scan.key, ": also set on the command line; keep one"));
    if (cmd.flags.count("versus-chunk")) throw ConfigError("sim bench: give --scan or --versus-chunk, not both");
  }
  std::vector<BenchSpec> specs = MakeBenchSpecs(chosen, files, cmd.given, scan);
  ValidateBenchSpecs(specs);  // every model and scan value, before anything is timed
  const std::string export_dir = cmd.flags["export-dir"].as<std::string>();
  const bool json = cmd.flags.count("json") > 0;
  const bool gemm_profile = cmd.flags.count("gemm-profile") > 0;

  if (cmd.flags.count("versus-chunk")) {
    const int rounds = cmd.flags["rounds"].as<int>();
    if (rounds < 1) throw ConfigError(Concat("--rounds: must be >= 1 (given ", rounds, ")"));
    const std::string versus = cmd.flags["versus-chunk"].as<std::string>();
    for (const BenchSpec& spec : specs) {
      const ChunkAbResult r = RunChunkAb(spec, versus, rounds, seconds);
      if (json)
        std::printf(
            "{\"config\": %s, \"threads\": %d, \"chunk\": %d, \"versus_chunk\": %d, "
            "\"speed_ratio\": %.6g, \"ratio_q1\": %.6g, \"ratio_q3\": %.6g, "
            "\"rounds\": %d, \"steps_per_side\": %d}\n",
            JsonString(r.name).c_str(), r.threads, r.chunk, r.versus, r.median, r.q1, r.q3, r.rounds, r.steps);
      else
        std::printf(
            "%-6s %d thread(s): chunk %d against chunk %d: %.3fx the speed (quartiles "
            "%.3f-%.3f; %d rounds of %d steps per side)\n",
            r.name.c_str(), r.threads, r.chunk, r.versus, r.median, r.q1, r.q3, r.rounds, r.steps);
      std::fflush(stdout);
    }
    return kExitOk;
  }
  // The FP32 peak at each thread count in use (a scan of train.threads has several).
  std::map<int, FmaProbeResult> peaks;
  for (const BenchSpec& spec : specs)
    if (!peaks.count(spec.threads)) peaks[spec.threads] = MeasureFmaPeak(spec.threads, 0.3);
  const ResultTable table(specs);
  if (!json) {
    for (const auto& [n, peak] : peaks)
      std::printf("FP32 FMA peak, measured: %.1f GFLOP/s on %d thread(s) (%d-lane vectors)\n", peak.gflops, n,
                  peak.vector_lanes);
    std::printf("\n");
    table.PrintHeader();
  }
  for (const BenchSpec& spec : specs) {
    const double peak_gflops = peaks.at(spec.threads).gflops;
    const BenchResult r = RunConfig(spec, seconds, reps, peak_gflops, export_dir, gemm_profile);
    if (json) {
      std::printf("%s\n", ResultJson(r, peak_gflops, gemm_profile).c_str());
    } else {
      table.PrintRow(r);
      if (gemm_profile) PrintGemmProfile(r);
    }
    std::fflush(stdout);
  }
  return kExitOk;
}

}  // namespace sim
