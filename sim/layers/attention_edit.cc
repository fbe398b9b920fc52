#include "sim/layers/attention_edit.h"

#include <algorithm>

#include "sim/core/check.h"

namespace sim {

KeyScaleEdit::KeyScaleEdit(KeyScaleEditConfig config) : cfg_(std::move(config)) {
  SIM_CHECK(cfg_.scale >= 0, "KeyScaleEdit: scale ", cfg_.scale, " must be >= 0");
  for (int k : cfg_.keys) SIM_CHECK(k >= 0, "KeyScaleEdit: key position ", k, " must be >= 0");
}

bool KeyScaleEdit::Edits(int head) const {
  return cfg_.heads.empty() || std::find(cfg_.heads.begin(), cfg_.heads.end(), head) != cfg_.heads.end();
}

void KeyScaleEdit::Apply(int example, int head, Scalar* p, Index key_stride, Index query_stride, Index t,
                         bool causal) const {
  const Index q_end = cfg_.query_end < 0 ? t : std::min<Index>(cfg_.query_end, t);
  const Scalar s = static_cast<Scalar>(cfg_.scale);
  for (Index q = std::max(0, cfg_.query_begin); q < q_end; ++q) {
    Scalar* column = p + q * query_stride;
    const Index visible = causal ? q + 1 : t;
    const auto in_keys = [&](Index k) { return std::find(cfg_.keys.begin(), cfg_.keys.end(), k) != cfg_.keys.end(); };
    Scalar removed = 0, others = 0;
    for (Index k = 0; k < visible; ++k) {
      Scalar& entry = column[k * key_stride];
      if (in_keys(k)) {
        removed += entry - s * entry;
        entry *= s;
      } else {
        others += entry;
      }
    }
    if (!cfg_.redistribute || !(others > 0)) continue;
    const Scalar factor = (others + removed) / others;  // exactly 1 when nothing was removed
    for (Index k = 0; k < visible; ++k)
      if (!in_keys(k)) column[k * key_stride] *= factor;
  }
}

}  // namespace sim
