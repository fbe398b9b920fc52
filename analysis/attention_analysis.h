// Attention analyses of a trained model: attention maps averaged over a probe batch, and the
// mechanism measurements of the depth study (../specs/depth.md §7 P1-mech, §8, §10).
//
// The probe batch is `n` held-out examples of an evaluation split drawn from the stream
// "probe/<split>" under eval.seed, so every run of a study is probed on the same prompts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/data/task.h"
#include "sim/io/run_file.h"
#include "sim/models/transformer.h"

namespace sim {

struct ProbeOptions {
  int split = 1;  // index into the task's splits (an evaluation split drawn afresh)
  int examples = 256;
  uint64_t seed = 0;  // eval.seed
};

// "attention": [L, H, T, T] with [l, h, q, k] = mean over the probe of query q's weight on key k
// (NaN for heads a layer does not have); attributes probe_examples, split, tokens (first example).
AnalysisArray AttentionMaps(const Transformer& model, const Task& task, const ProbeOptions& probe);

// Mechanism measurements for the task, when it has any (icqa, template); empty otherwise:
//   icqa (single-query prompts, first layer l1 and second layer l2):
//     mech/icqa_partner_mass [2, H]    l1 mass q_j -> a_j (row 0) and a_j -> q_j (row 1)
//     mech/icqa_match_mass [2, H]      l2 mass at the readout on {q_J, a_J} (row 0), on a_J (row 1)
//     mech/icqa_readout_qJ_mass [H]    l1 mass at the readout on q_J (match-then-shift route)
//   template (first layer):
//     mech/template_same_token_mass [2, H]  mass of each content position on the positions holding
//                                           its token: itself and its partner (row 0), the partner (row 1)
//     mech/template_out_top2_mass [2, H]    at OUT: mass on the two highest-weight positions (row 0),
//                                           fraction of prompts where those hold the same token (row 1)
std::vector<AnalysisArray> MechanismMeasures(const Transformer& model, const Task& task, const ProbeOptions& probe);

}  // namespace sim
