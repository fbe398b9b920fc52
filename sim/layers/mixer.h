// The sequence-mixer seam: the part of a block that moves information between positions. Attention
// today (softmax or linear, model.attention); state-space mixers (S4D, H3, Hyena, ...) plug in here.
//
// A block is [norm] -> mixer -> residual -> [norm] -> MLP -> residual. Mixers are chosen per layer by
// `model.mixer` (one name for all layers, or one per layer: `s4d,attention`) from the table in
// sim/layers/mixer_registry.cc. docs/extending.md walks through adding one.
//
// The contract every mixer keeps (tests/sim/layers/mixer_conformance_*test.cc checks it for every
// registered mixer, with nothing to write but the registry line):
//   - Forward maps x (D, N) to y (D, N) for a batch of shape (B, T), N = B*T, column b*T + t one
//     token; y = mixer(x), or y += mixer(x) when `accumulate` (the residual stream adds in place).
//   - The cache (MakeCache, sized once per batch shape) holds everything Backward reads and every
//     scratch buffer; Forward and Backward allocate nothing (tests/testing/no_alloc_test.cc).
//   - Backward reads the cache of the last Forward, accumulates into d_x (D, N) and into the
//     parameter gradients. It reads all of d_y before writing d_x: d_x may be the same matrix as d_y.
//   - Parameter gradients are fetched from the registry at call time (ParamRegistry::Grad), never
//     held as pointers: training in chunks redirects them per thread (ScopedGradBuffer).
//   - Results do not depend on the thread count: work is cut by shape only (sim/kernels/parallel.h).
//   - Causal mixers (MixerEntry::causal) never let output t depend on inputs after t.
//   - Parameters are registered under the prefix it is given, blocks.<l>.<param_name>.<tensor>, with
//     their initialization (ParamSpec::init, init_std from MixerArgs) in the constructor.
//   - Hooks it does not support (MixerEntry::hooks) are refused by the model before Forward.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/core/types.h"

namespace sim {

class ParamRegistry;

// How attention turns scores S = Kᵀ Q / √Dh (T_k, T_q) into the weights that mix the values
// (model.attention; mixers that read it say so, MixerEntry::reads_attention):
//   softmax: A(:, q) = softmax over the keys query q sees of S(:, q) (Vaswani et al. 2017);
//   linear:  A(k, q) = S(k, q) / n_q for the keys q sees, 0 for the others, where n_q is their
//            number (q + 1 when causal, T when bidirectional): no softmax, the 1/n scaling of
//            linear-attention in-context-learning theory (von Oswald et al. 2023). Its columns do
//            not sum to 1: it has weights, not probabilities.
enum class AttentionKind { kSoftmax, kLinear };

// What builds one layer's mixer: the model's sizes and the initialization scales it uses.
struct MixerArgs {
  int d_model = 0;                                    // D
  int n_heads = 1;                                    // H of this layer (mixers with heads; model.heads)
  bool causal = true;                                 // model.causal: causal or bidirectional mixing
  AttentionKind attention = AttentionKind::kSoftmax;  // model.attention (mixers that read it)
  bool bias = true;                                   // model.bias: biases in projections
  double init_std = 0.0;                              // input-side weights (fan_in: 1/√D; gpt2: 0.02)
  double init_std_out = 0.0;  // the projection back into the residual stream (gpt2: 0.02/√(2L))
};

// Analysis hooks a mixer may support (MixerEntry::hooks).
enum class MixerHook {
  kHeadGate,        // MixerHooks::head_gate and d_head_gate: scale each head's output, and its gradient
  kAttentionProbs,  // Mixer::AttentionProbs: the attention weights of the last Forward
  kAttentionEdit,   // MixerHooks::edit: change the weights before they weight the values
};

// Changes attention weights between the softmax (or linear attention's scaling) and P·V: calibration of attention
// sinks, say
// (../shared/specs/sinks.md). With linear attention (AttentionKind::kLinear) it edits the weights
// A, which are not probabilities (columns need not sum to 1, entries may be negative).
// For inference and analysis only: a mixer refuses Backward after an edited Forward. Called once
// per edited (example, head) block, on the thread that computes it.
class AttentionEdit {
 public:
  virtual ~AttentionEdit() = default;
  // Whether head h is edited (blocks of other heads are not passed to Apply).
  virtual bool Edits(int head) const = 0;
  // Edits one block in place: the weight (probability) of key k for query q is
  // p[k * key_stride + q * query_stride] (the layout is the computing path's own), k, q in [0, t);
  // a causal block has p = 0 for k > q.
  virtual void Apply(int example, int head, Scalar* p, Index key_stride, Index query_stride, Index t,
                     bool causal) const = 0;
};

// Per-call hooks (analyses reach inside through these, never through globals). Absent = no cost.
struct MixerHooks {
  const Scalar* head_gate = nullptr;    // (H) multiplies each head's output; 1 = on, 0 = ablated
  Scalar* d_head_gate = nullptr;        // (H) Backward adds dL/dg_h here (g_h = 1 when no gate is set)
  const AttentionEdit* edit = nullptr;  // weights (probabilities) edited before P·V (Forward only)
};

struct MixerCache {
  virtual ~MixerCache() = default;
  virtual size_t bytes() const = 0;  // memory held, for benchmarks' memory accounting
};

class Mixer {
 public:
  virtual ~Mixer() = default;

  // A cache sized for batches of `shape` (allocated once, reused every step).
  virtual std::unique_ptr<MixerCache> MakeCache(BatchShape shape) const = 0;
  // y = mixer(x), or y += mixer(x) when accumulate.   x, y (D, N)
  virtual void Forward(const ConstMatRef& x, BatchShape bt, const MixerHooks& hooks, MixerCache& cache, MatRef y,
                       bool accumulate) const = 0;
  // Accumulates into d_x (D, N) and the parameter gradients; reads the cache of the last Forward.
  // d_x may be the same matrix as d_y (the residual stream's gradient): implementations read all of
  // d_y before they write d_x.
  virtual void Backward(const ConstMatRef& x, const ConstMatRef& d_y, BatchShape bt, MixerCache& cache,
                        MatRef d_x) const = 0;

  // Heads (0 for mixers without heads): the length of MixerHooks::head_gate.
  virtual int n_heads() const { return 0; }
  // Attention weights of the last Forward, (T, T*B*H): block b*H + h is (T_k, T_q), a column per
  // query; probabilities with softmax attention, linear attention's weights A otherwise
  // (AttentionKind). Null for mixers that have none.
  virtual const Mat* AttentionProbs(const MixerCache& cache) const { return nullptr; }
};

// One registered mixer: what `model.mixer` names, and the facts the model, validation and `sim bench`
// need without building it.
struct MixerEntry {
  std::string name;              // the model.mixer value
  std::string param_name;        // parameters are blocks.<l>.<param_name>.<tensor> ("attn")
  std::string summary;           // one line for --help
  bool has_heads = false;        // reads model.heads (one head count per layer)
  bool reads_attention = false;  // reads model.attention (MixerArgs::attention: softmax | linear)
  std::vector<MixerHook> hooks;  // hooks it supports
  // What is wrong with `args` for this mixer, naming the option ("" when nothing is).
  std::string (*problem)(const MixerArgs& args) = nullptr;
  // Whether output t depends only on inputs at positions <= t.
  bool (*causal)(const MixerArgs& args) = nullptr;
  // Training FLOPs (forward and backward) per token at sequence length T, counted the standard way
  // (docs/benchmarks.md): 6 x multiply-adds of each weight matrix, plus the sequence mixing.
  double (*flops_per_token)(const MixerArgs& args, int length) = nullptr;
  // Builds the mixer, registering its parameters under `prefix` (blocks.<l>.<param_name>).
  std::unique_ptr<Mixer> (*make)(const MixerArgs& args, ParamRegistry& registry, const std::string& prefix) = nullptr;

  bool Supports(MixerHook hook) const;
};

// Every mixer, in the order --help lists them (sim/layers/mixer_registry.cc).
const std::vector<MixerEntry>& MixerRegistry();
// The entry named `name`, or null.
const MixerEntry* FindMixer(const std::string& name);
// "attention | s4d | ...", for help texts and errors.
std::string MixerNames(const std::string& separator);

}  // namespace sim
