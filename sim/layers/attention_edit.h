// Attention edits for analyses (sim/layers/mixer.h AttentionEdit): change attention probabilities
// between the softmax and P·V, at inference.
//
// KeyScaleEdit scales the probability that chosen heads give to chosen key positions, for queries
// in a range, by a factor s, and optionally hands the removed mass to the query's other visible keys
// in proportion to their probabilities (so each column still sums to 1):
//   p'_k = s p_k                          for k in K
//   p'_j = p_j (r + (1 - s) m) / r         for visible j not in K (when redistributing)
// with m = Σ_{k in K} p_k and r = Σ_{visible j not in K} p_j, both before the edit.
// This is the calibration of attention sinks of Yu et al. 2024 (ACT: the sink position's weight
// scaled down and the rest renormalized; ../shared/specs/sinks.md). s = 1 changes no bit: the
// factors are then exactly 1. On linear attention's weights (model.attention = linear), which are
// not probabilities, scaling applies as written; redistribution divides by r, which then need not
// be positive (it is skipped when r <= 0), so use it on probabilities.
#pragma once

#include <vector>

#include "sim/layers/mixer.h"

namespace sim {

struct KeyScaleEditConfig {
  std::vector<int> heads;  // heads edited (of the layer the edit is given to); empty = every head
  std::vector<int> keys;   // key positions whose probability is scaled
  int query_begin = 0;     // queries [query_begin, query_end) are edited; query_end < 0 = to the end
  int query_end = -1;
  double scale = 1.0;  // s
  bool redistribute = true;
};

class KeyScaleEdit : public AttentionEdit {
 public:
  explicit KeyScaleEdit(KeyScaleEditConfig config);
  bool Edits(int head) const override;
  void Apply(int example, int head, Scalar* p, Index key_stride, Index query_stride, Index t,
             bool causal) const override;

 private:
  KeyScaleEditConfig cfg_;
};

}  // namespace sim
