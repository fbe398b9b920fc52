// A hand-built solution of ictemplate (../specs/depth.md §3 T4, §5; issue #25): weights for the
// depth study's attention-only model (3 layers, no MLP, no norm) that carry out parse -> copy ->
// match, written into a model's named parameters. It shows that the architecture can solve the task
// with the generator as it is; experiments/depth/README.md ("Contextual generalization by
// construction") derives it, and tools/ictemplate_solution_main.cc writes it as a run file.
//
// Residual stream (D, N), one-hot subspaces (first dim of each in IctemplateLayout):
//   tok   (V)          filler token v                   embed.tok
//   lab   (|Y|)        label token y                    embed.tok
//   off   (S)          offset within the segment        embed.pos_offset (or embed.pos)
//   seg   (n_seg)      segment index                    embed.pos_segment (or embed.pos)
//   parse (L)          offset of my partner, or mine     layer 0 output
//   sig   ((L-1) L)    block j-1: parse code at offset j layer 1 output
//   ans   (|Y|)        the matched label                layer 2 output
// with S = L + 1 (segment length), n_seg = ceil(T / S). OUT and PAD embed to 0.
//
// Layer 0 (parse, 1 head): score(t, u) = 2M [same filler token] + 2M [same segment] - M [same
//   offset]; value = onehot(offset(u)) -> parse. A filler's partner in its segment wins by M over
//   itself, which wins by M over every other key. Causal: the second of a pair reads its partner's
//   offset, the first its own; bidirectional: both read their partner's.
// Layer 1 (copy, head j-1 for offset j = 1..L-1): score = M [same segment] + M [key offset = j];
//   value = parse -> sig block j-1. A label or OUT position gathers its segment's signature: the
//   parse codes of offsets 1..L-1 (offset 0's is always 0 under causal attention).
// Layer 2 (match, 1 head): score = (M/2) sig(t)·sig(u) + M [u holds a label token]; value = lab ->
//   ans. Equal templates agree in all L-1 blocks, different ones in at most L-3 (two pairings that
//   differ do so at two or more offsets >= 1), so the matching label wins by M over other labels,
//   and any label by M over non-label keys (their sig dot products are at most L-1).
// Readout: head.w(y, ans + y) = R.
// Every attention choice thus has a margin of M in the scores (the √Dh of the engine's scale is
// folded into Wq); M = 20 makes attention hard to within T e^-20.
#pragma once

#include <map>
#include <string>

#include "sim/models/model_config.h"
#include "sim/params/param_registry.h"

namespace sim {

struct IctemplateLayout {
  int vocab = 0;       // V filler tokens
  int labels = 0;      // |Y|
  int length = 0;      // L
  int segment = 0;     // S = L + 1
  int n_segments = 0;  // ceil(T / S)
  int copy_heads = 0;  // heads of layer 1: a power of two >= L - 1
  int d_model = 0;     // D: >= every subspace, a multiple of 16 and of copy_heads, with Dh >= S + n_seg, L
  int tok = 0, lab = 0, off = 0, seg = 0, parse = 0, sig = 0, ans = 0;  // first dim of each subspace
  int width = 0;                                                        // dims used
};

// The layout for the task's sizes: V fillers, |Y| labels, templates of length L, prompts of T tokens.
IctemplateLayout MakeIctemplateLayout(int vocab, int labels, int length, int max_len);

// The model.* options of the model the construction fills (model.layers, heads, d_model, d_mlp,
// norm, segment). model.pos may be learned_factored or learned; model.causal and model.bias are
// free; model.mixer and model.attention must stay at their defaults (softmax attention).
std::map<std::string, std::string> IctemplateSolutionModelOptions(const IctemplateLayout& layout);

struct IctemplateScales {
  double margin = 20.0;   // M: score margin of every attention choice
  double readout = 20.0;  // R: logit of the answer (others 0)
};

// Writes the solution into every parameter of `registry` (a model built from `model`, with
// IctemplateSolutionModelOptions and the task's sizes); parameters it does not use are set to 0.
// Throws ConfigError naming the option when the model does not fit the layout.
void SetIctemplateSolution(const ModelConfig& model, const IctemplateLayout& layout, const IctemplateScales& scales,
                           ParamRegistry& registry);

}  // namespace sim
