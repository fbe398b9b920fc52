// Parity of the engine's loss and parameter gradients with an independent PyTorch model.
//
// For each configuration the test builds an experiment from options, samples one training batch,
// runs the engine's forward, loss and backward, and writes a case file (resolved config, task sizes,
// parameters, batch, the engine's loss and gradients). bench/torch_reference.py rebuilds the model
// from the config alone, loads the same parameters, and computes loss and gradients in float64 with
// autograd; the test then requires
//   |loss_engine - loss_torch| / |loss_torch|                   < 1e-4, and for every parameter
//   ||g_engine - g_torch|| / max(||g_torch||, floor)             < 1e-4,
// with floor = 1e-3 ||g_torch||_all (the norm over all parameters). The floor only matters for
// parameters whose gradient is (nearly) zero, where a relative error measures float32 rounding, not
// correctness: the key bias bk (softmax over keys is invariant to it, so its exact gradient is 0 and
// the engine's is pure rounding, ~1e-8 ||g||_all), and, with gpt2 init, the query/key weights of
// deeper layers (gradients ~1e-7 ||g||_all, where even PyTorch in float32 is off by ~1e-4
// relative). A wrong gradient of such a parameter still fails: its error would be its own size.
//
// Case file layout: sim/io/case_file.h.
//
// Needs /usr/bin/python3 with torch, h5py and numpy (override the interpreter with SIM_PYTHON); fails
// when the interpreter is missing or cannot import them (the script exits with 77).
// SIM_PARITY_KEEP=1 keeps the temporary case files; SIM_PARITY_VERBOSE=1 prints every parameter's
// error.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "sim/cli/experiment.h"
#include "sim/core/rng.h"
#include "sim/io/case_file.h"
#include "sim/io/hdf5_file.h"
#include "sim/layers/mixer.h"
#include "sim/train/metrics.h"

#ifndef SIM_SOURCE_DIR
#error "SIM_SOURCE_DIR must be defined (the source tree, to find bench/torch_reference.py)"
#endif

namespace sim {
namespace {

namespace fs = std::filesystem;

static_assert(std::is_same_v<Scalar, float>, "sim_cli is the float build; case files store float32");

constexpr double kTolerance = 1e-4;
constexpr double kGradFloor = 1e-3;  // relative to the norm of all gradients

struct ParityCase {
  std::string name;
  std::map<std::string, std::string> options;
  int batch = 6;
  std::vector<std::vector<float>> head_gates = {};  // per layer; empty = no gate hook
};

void PrintTo(const ParityCase& c, std::ostream* os) { *os << c.name; }

std::string Python() {
  const char* env = std::getenv("SIM_PYTHON");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/python3";
}

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command with output to `log`; returns the exit status (-1 when it did not exit).
int RunShell(const std::string& command, const fs::path& log) {
  const int status = std::system((command + " >" + Quote(log.string()) + " 2>&1").c_str());
  return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  fs::path path;
  bool keep = false;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "attnsim_parity_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path = pattern;
    const char* env = std::getenv("SIM_PARITY_KEEP");
    keep = env != nullptr && *env != '\0' && std::string(env) != "0";
  }
  ~TempDir() {
    std::error_code ec;
    if (!keep) fs::remove_all(path, ec);
  }
};

// Moves LayerNorm gains and biases (initialized to exactly 1 and 0) off their initial values, so
// the forward pass exercises every parameter and a bias applied wrongly cannot hide.
void PerturbNonWeights(ParamRegistry& registry, uint64_t seed) {
  Rng rng = Rng::ForStream(seed, "parity/perturb");
  for (ParamId id = 0; id < registry.size(); ++id) {
    if (registry.spec(id).init == InitKind::kNormal) continue;
    MatMap value = registry.Value(id);
    for (Index i = 0; i < value.size(); ++i) value.data()[i] += static_cast<Scalar>(0.2 * rng.Normal());
  }
}

class TorchParityTest : public ::testing::TestWithParam<ParityCase> {};

// Exit codes of the reference run that mean "cannot run here" rather than "disagrees".
constexpr int kExitMissingDependency = 77;  // bench/torch_reference.py: torch/h5py/numpy missing
constexpr int kExitCommandNotFound = 127;   // the shell: no such interpreter

TEST_P(TorchParityTest, LossAndGradientsMatchAutograd) {
  const ParityCase& pc = GetParam();
  const fs::path script = fs::path(SIM_SOURCE_DIR) / "bench" / "torch_reference.py";
  ASSERT_TRUE(fs::exists(script)) << script;

  // Experiment, as the trainer builds it.
  const OptionSet set = AllOptions();
  Options options(set, pc.options);
  Experiment e = BuildExperiment(options);
  const std::string config = e.resolved_ini;
  ParamRegistry& registry = *e.registry;
  const Transformer& model = *e.model;
  PerturbNonWeights(registry, e.train.seed);  // with LoRA also B, off its initial 0
  if (e.lora) e.lora->Merge();                // the targets' weights W0 + s·B·A, as in training

  // One training batch, forward, loss and backward.
  Batch batch;
  Rng data = Rng::ForStream(e.train.seed, "data/train");
  e.task->Sample(0, data, pc.batch, batch);
  const TaskInfo& info = e.task->info();
  batch.Validate(info.output == OutputKind::kClasses ? info.n_classes : 1);
  std::vector<Vec> gates;
  ForwardHooks hooks;
  if (!pc.head_gates.empty()) {
    ASSERT_EQ(static_cast<int>(pc.head_gates.size()), model.n_layers());
    for (const auto& g : pc.head_gates)
      gates.push_back(Eigen::Map<const Eigen::VectorXf>(g.data(), g.size()).cast<Scalar>());
    hooks.head_gates = &gates;
  }
  auto ws = model.MakeWorkspace(batch.shape, batch.n_scored());
  const double loss = ForwardLoss(model, *ws, batch, /*with_grad=*/true, nullptr, &hooks);
  registry.ZeroGrads();
  model.Backward(batch, *ws);
  if (e.lora) e.lora->AddAdapterGrads();
  ASSERT_TRUE(std::isfinite(loss));
  // The twin computes LoRA as W0 x + s·B(A x): its targets' slots hold W0. Their gradient is the merged
  // weight's, which is dL/dW0 too.
  if (e.lora)
    for (int k = 0; k < static_cast<int>(e.lora->targets().size()); ++k)
      registry.Value(e.lora->targets()[k].weight) = e.lora->base(k);

  // Case file.
  TempDir dir;
  const fs::path case_path = dir.path / "case.h5", out_path = dir.path / "out.h5", log_path = dir.path / "torch.log";
  CaseFileContents contents;
  contents.config = config;
  contents.task = &info;
  contents.registry = &registry;
  contents.batch = &batch;
  contents.head_gates = gates.empty() ? nullptr : &gates;
  contents.with_engine_results = true;
  contents.engine_loss = loss;
  WriteCaseFile(case_path.string(), contents);

  // PyTorch.
  const std::string command = Quote(Python()) + " " + Quote(script.string()) + " parity " + Quote(case_path.string()) +
                              " " + Quote(out_path.string());
  const int status = RunShell(command, log_path);
  // A missing interpreter or torch is a failure, not a skip: the README's test command installs them.
  ASSERT_NE(status, kExitMissingDependency)
      << Python() << " cannot import torch, h5py or numpy (install python3-torch python3-h5py; "
      << "SIM_PYTHON selects another interpreter): " << ReadText(log_path);
  ASSERT_NE(status, kExitCommandNotFound) << Python() << " not found: " << ReadText(log_path);
  if (status != 0) dir.keep = true;
  ASSERT_EQ(status, 0) << command << " failed; its output:\n"
                       << ReadText(log_path) << "(case kept in " << dir.path << ")";

  // Compare.
  H5Reader in(out_path.string()), engine_case(case_path.string());
  const double torch_loss = in.Doubles("/torch/loss").at(0);
  const double loss_err = std::abs(loss - torch_loss) / std::max(std::abs(torch_loss), 1e-12);
  EXPECT_LT(loss_err, kTolerance) << "loss: engine " << loss << ", torch " << torch_loss;

  std::vector<std::vector<double>> torch_grads(registry.size());
  double total_sq = 0.0;
  for (ParamId id = 0; id < registry.size(); ++id) {
    const std::string path = "/torch/grads/" + registry.name(id);
    ASSERT_TRUE(in.Exists(path)) << "torch output has no gradient for " << registry.name(id);
    ASSERT_EQ(in.Shape(path), engine_case.Shape("/engine/grads/" + registry.name(id))) << registry.name(id);
    torch_grads[id] = in.Doubles(path);
    for (double g : torch_grads[id]) total_sq += g * g;
  }
  const double floor = std::max(1e-12, kGradFloor * std::sqrt(total_sq));
  std::string worst, worst_plain;
  // Checked error; plain relative error over parameters whose gradient is not exactly zero (all but bk).
  double worst_err = -1.0, worst_plain_err = -1.0;
  std::ostringstream table;
  for (ParamId id = 0; id < registry.size(); ++id) {
    const std::string& name = registry.name(id);
    const Scalar* engine = registry.grads().data() + registry.offset(id);
    double diff_sq = 0.0, ref_sq = 0.0;
    for (size_t i = 0; i < torch_grads[id].size(); ++i) {
      const double d = static_cast<double>(engine[i]) - torch_grads[id][i];
      diff_sq += d * d;
      ref_sq += torch_grads[id][i] * torch_grads[id][i];
    }
    const double diff = std::sqrt(diff_sq), ref = std::sqrt(ref_sq);
    const double plain = diff / std::max(ref, 1e-12);
    const double err = diff / std::max(ref, floor);
    table << "  " << std::left << std::setw(26) << name << " |g| " << std::scientific << std::setprecision(3) << ref
          << "  rel err " << plain << "  checked " << err << (ref < floor ? "  (below floor)" : "") << "\n";
    EXPECT_LT(err, kTolerance) << "gradient of " << name << ": ||g_engine - g_torch|| = " << diff
                               << ", ||g_torch|| = " << ref << ", floor = " << floor;
    if (err > worst_err) worst_err = err, worst = name;
    if (ref > 1e-10 * std::sqrt(total_sq) && plain > worst_plain_err) worst_plain_err = plain, worst_plain = name;
  }
  std::cout << "[parity " << pc.name << "] loss " << std::setprecision(8) << loss << " (torch " << torch_loss
            << ", rel err " << std::scientific << std::setprecision(3) << loss_err << "); max grad rel err "
            << worst_plain_err << " (" << worst_plain << "); max checked err " << worst_err << " (" << worst << ")\n";
  if (HasFailure() || std::getenv("SIM_PARITY_VERBOSE") != nullptr) std::cout << table.str();
  if (HasFailure()) {
    dir.keep = true;
    ADD_FAILURE() << "worst parameter " << worst << " err " << worst_err << " (tolerance " << kTolerance
                  << "); case kept in " << dir.path;
  }
  RecordProperty("loss_rel_err", std::to_string(loss_err));
  RecordProperty("worst_param", worst);
  RecordProperty("worst_grad_err", std::to_string(worst_err));
  RecordProperty("max_grad_rel_err", std::to_string(worst_plain_err));
}

std::map<std::string, std::string> Mqar(std::map<std::string, std::string> extra) {
  std::map<std::string, std::string> o = {
      {"task.name", "mqar"}, {"task.vocab", "16"}, {"task.length", "12"}, {"task.pairs", "3"}, {"task.queries", "3"}};
  for (auto& [k, v] : extra) o[k] = v;
  return o;
}

std::vector<ParityCase> Cases() {
  std::vector<ParityCase> cases;
  // (a) pre-LN, exact-GELU MLP, causal, learned positions.
  cases.push_back({.name = "mqar_preln_gelu",
                   .options = Mqar({{"model.layers", "2"},
                                    {"model.heads", "2"},
                                    {"model.d_model", "16"},
                                    {"model.d_mlp", "32"},
                                    {"model.norm", "pre_ln"},
                                    {"model.act", "gelu"},
                                    {"model.causal", "true"},
                                    {"model.pos", "learned"},
                                    {"train.seed", "1"}}),
                   .batch = 6});
  // (b) no norms, attention only, bidirectional, heads per layer.
  cases.push_back({.name = "mqar_nonorm_attn_only_bidir",
                   .options = Mqar({{"model.layers", "2"},
                                    {"model.heads", "4,1"},
                                    {"model.d_model", "16"},
                                    {"model.d_mlp", "0"},
                                    {"model.norm", "none"},
                                    {"model.causal", "false"},
                                    {"train.seed", "2"}}),
                   .batch = 6});
  // (c) vector inputs, scalar output (MSE), ReLU MLP, sinusoidal positions.
  cases.push_back({.name = "linreg_preln_relu_sinusoidal",
                   .options = {{"task.name", "linreg"},
                               {"task.d", "3"},
                               {"task.points", "5"},
                               {"model.layers", "2"},
                               {"model.heads", "2"},
                               {"model.d_model", "16"},
                               {"model.d_mlp", "32"},
                               {"model.norm", "pre_ln"},
                               {"model.act", "relu"},
                               {"model.pos", "sinusoidal"},
                               {"train.seed", "3"}},
                   .batch = 8});
  // (d) tanh GELU, no biases, no positions, head gates (one head off, one at half).
  cases.push_back({.name = "mqar_gelutanh_nobias_nopos_gates",
                   .options = Mqar({{"model.layers", "2"},
                                    {"model.heads", "4"},
                                    {"model.d_model", "16"},
                                    {"model.d_mlp", "2x"},
                                    {"model.act", "gelu_tanh"},
                                    {"model.bias", "false"},
                                    {"model.pos", "none"},
                                    {"train.seed", "4"}}),
                   .batch = 6,
                   .head_gates = {{0.0f, 0.5f, 1.0f, 1.0f}, {1.0f, 1.0f, 1.0f, 1.0f}}});
  // (e) GPT-2 initialization, 3 layers.
  cases.push_back({.name = "mqar_gpt2_init_3layers",
                   .options = Mqar({{"model.layers", "3"},
                                    {"model.heads", "4"},
                                    {"model.d_model", "32"},
                                    {"model.d_mlp", "64"},
                                    {"model.init", "gpt2"},
                                    {"train.seed", "5"}}),
                   .batch = 4});
  // (f) causal attention over T = 40: the float kernels skip the masked part in query blocks of 16
  // (16, 16, then a partial 8), which the double-precision gradient checks do not run.
  cases.push_back({.name = "mqar_causal_T40_blocks",
                   .options = Mqar({{"task.length", "40"},
                                    {"model.layers", "2"},
                                    {"model.heads", "2"},
                                    {"model.d_model", "32"},
                                    {"model.d_mlp", "64"},
                                    {"model.causal", "true"},
                                    {"train.seed", "6"}}),
                   .batch = 4});
  // (g) model.head_mask (a pruned model) together with gate hooks: heads 1 and 3 of layer 1 fixed at 0.
  cases.push_back({.name = "mqar_head_mask_and_gates",
                   .options = Mqar({{"model.layers", "2"},
                                    {"model.heads", "4"},
                                    {"model.d_model", "16"},
                                    {"model.d_mlp", "32"},
                                    {"model.head_mask", "blocks.1:1,3"},
                                    {"train.seed", "8"}}),
                   .batch = 4,
                   .head_gates = {{0.5f, 1.0f, 1.0f, 2.0f}, {1.0f, 0.7f, 1.0f, 1.0f}}});
  // (h) LoRA (sim/train/lora.h) on wq and wv, rank 2, scale alpha/r = 1.5, and on the (non-square) MLP
  // input weight and the token table: the twin computes W0 x + s·B(A x) (a table: W0 + s·B·A).
  cases.push_back({.name = "mqar_lora_wq_wv_mlp_embedding",
                   .options = Mqar({{"model.layers", "2"},
                                    {"model.heads", "2"},
                                    {"model.d_model", "16"},
                                    {"model.d_mlp", "32"},
                                    {"lora.targets", "blocks.*.attn.wq,blocks.*.attn.wv,blocks.0.mlp.w1,embed.tok"},
                                    {"lora.rank", "2"},
                                    {"lora.alpha", "3"},
                                    {"train.seed", "10"}}),
                   .batch = 4});
  // Every registered mixer (sim/layers/mixer_registry.cc) against its twin (MIXER_TWINS in
  // bench/torch_reference.py): a model of it alone, causal and bidirectional (uniform: a task that
  // allows both), and a hybrid with attention as the second layer.
  for (const MixerEntry& m : MixerRegistry()) {
    const std::map<std::string, std::string> base = {
        {"task.name", "uniform"}, {"task.vocab", "16"}, {"task.length", "10"},   {"task.classes", "5"},
        {"model.layers", "2"},    {"model.heads", "2"}, {"model.d_model", "16"}, {"model.d_mlp", "32"},
        {"model.mixer", m.name},  {"train.seed", "7"}};
    for (const bool causal : {true, false}) {
      ParityCase c{.name = "mixer_" + m.name + (causal ? "_causal" : "_bidirectional"), .options = base, .batch = 4};
      c.options["model.causal"] = causal ? "true" : "false";
      cases.push_back(c);
    }
    ParityCase hybrid{.name = "mixer_" + m.name + "_then_attention", .options = base, .batch = 4};
    hybrid.options["model.mixer"] = m.name + ",attention";
    cases.push_back(hybrid);
    // Mixers that read model.attention: linear attention, causal and bidirectional.
    if (!m.reads_attention) continue;
    for (const bool causal : {true, false}) {
      ParityCase c{
          .name = "mixer_" + m.name + "_linear" + (causal ? "_causal" : "_bidirectional"), .options = base, .batch = 4};
      c.options["model.causal"] = causal ? "true" : "false";
      c.options["model.attention"] = "linear";
      cases.push_back(c);
    }
  }
  // The heads study's theory variant (linear attention only: no MLP, norms or positions; 4,1,1 heads)
  // on vector inputs with head gates, over T = 34 (the float kernels' causal query blocks).
  cases.push_back({.name = "linreg_linear_attention_theory_shape_gates",
                   .options = {{"task.name", "linreg"},
                               {"task.d", "4"},
                               {"task.points", "17"},
                               {"model.layers", "3"},
                               {"model.heads", "4,1,1"},
                               {"model.d_model", "16"},
                               {"model.d_mlp", "0"},
                               {"model.norm", "none"},
                               {"model.pos", "none"},
                               {"model.attention", "linear"},
                               {"model.init", "heads"},
                               {"train.seed", "9"}},
                   .batch = 4,
                   .head_gates = {{1.0f, 0.0f, 0.5f, 1.0f}, {1.0f}, {0.7f}}});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Configs, TorchParityTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<ParityCase>& info) { return info.param.name; });

}  // namespace
}  // namespace sim
