#include "tools/ictemplate_solution.h"

#include <algorithm>
#include <cmath>

#include "sim/core/check.h"
#include "sim/core/error.h"

namespace sim {

namespace {

int RoundUp(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }

// The parameter `name`, zeroed; throws when the model has none.
MatMap Zeroed(ParamRegistry& registry, const std::string& name) {
  const ParamId id = registry.Find(name);
  if (id < 0) throw ConfigError(Concat("ictemplate solution: the model has no parameter ", name));
  MatMap value = registry.Value(id);
  value.setZero();
  return value;
}

void Require(bool ok, const std::string& key, const std::string& expected, const std::string& given) {
  if (!ok) throw ConfigError(Concat(key, ": the ictemplate solution needs ", expected, ", given ", given));
}

}  // namespace

IctemplateLayout MakeIctemplateLayout(int vocab, int labels, int length, int max_len) {
  SIM_CHECK(vocab >= 1 && labels >= 1 && length >= 2 && max_len >= 1, "MakeIctemplateLayout: vocab ", vocab,
            ", labels ", labels, ", length ", length, ", max_len ", max_len);
  IctemplateLayout l;
  l.vocab = vocab;
  l.labels = labels;
  l.length = length;
  l.segment = length + 1;
  l.n_segments = (max_len + l.segment - 1) / l.segment;
  l.copy_heads = 1;
  while (l.copy_heads < length - 1) l.copy_heads *= 2;
  int next = 0;
  auto take = [&next](int dims) {
    const int first = next;
    next += dims;
    return first;
  };
  l.tok = take(vocab);
  l.lab = take(labels);
  l.off = take(l.segment);
  l.seg = take(l.n_segments);
  l.parse = take(length);
  l.sig = take((length - 1) * length);
  l.ans = take(labels);
  l.width = next;
  // Layer 1's heads compare segment and offset codes (S + n_seg dims) and carry a parse code (L).
  const int copy_dh = std::max(l.segment + l.n_segments, length);
  l.d_model = RoundUp(std::max(l.width, l.copy_heads * copy_dh), std::max(16, l.copy_heads));
  return l;
}

std::map<std::string, std::string> IctemplateSolutionModelOptions(const IctemplateLayout& layout) {
  return {{"model.layers", "3"},
          {"model.heads", Concat("1,", layout.copy_heads, ",1")},
          {"model.d_model", Concat(layout.d_model)},
          {"model.d_mlp", "0"},
          {"model.norm", "none"},
          {"model.segment", Concat(layout.segment)}};
}

void SetIctemplateSolution(const ModelConfig& model, const IctemplateLayout& l, const IctemplateScales& scales,
                           ParamRegistry& registry) {
  const int d = model.d_model;
  Require(model.layers == 3, "model.layers", "3", Concat(model.layers));
  Require(d == l.d_model, "model.d_model", Concat(l.d_model), Concat(d));
  Require(model.heads_in_layer(0) == 1 && model.heads_in_layer(1) == l.copy_heads && model.heads_in_layer(2) == 1,
          "model.heads", Concat("1,", l.copy_heads, ",1"),
          Concat(model.heads_in_layer(0), ",", model.heads_in_layer(1), ",", model.heads_in_layer(2)));
  Require(model.d_mlp == 0, "model.d_mlp", "0 (attention-only blocks)", Concat(model.d_mlp));
  Require(model.norm == NormKind::kNone, "model.norm", "none", "pre_ln");
  Require(model.attention == AttentionKind::kSoftmax, "model.attention", "softmax", "linear");
  for (int layer = 0; layer < 3; ++layer)
    Require(model.mixer_in_layer(layer) == "attention", "model.mixer", "attention", model.mixer_in_layer(layer));
  Require(model.pos == PosKind::kLearnedFactored || model.pos == PosKind::kLearned, "model.pos",
          "learned_factored or learned", "another kind");
  if (model.pos == PosKind::kLearnedFactored)
    Require(model.segment == l.segment, "model.segment", Concat(l.segment, " (task.length + 1)"),
            Concat(model.segment));
  Require(model.vocab == l.vocab + l.labels + 2, "task.vocab", Concat(l.vocab, " fillers"),
          Concat(model.vocab - l.labels - 2));
  Require(model.n_classes == l.labels, "task.labels", Concat(l.labels), Concat(model.n_classes));
  Require((model.max_len + l.segment - 1) / l.segment == l.n_segments, "task.n_queries or task.pad_to",
          Concat("prompts of ", l.n_segments, " segments"), Concat("T = ", model.max_len));

  for (ParamId id = 0; id < registry.size(); ++id) registry.Value(id).setZero();
  const Scalar m = static_cast<Scalar>(scales.margin);

  // Embeddings: one-hot codes of filler and label tokens, of offsets and of segments.
  MatMap tok = Zeroed(registry, "embed.tok");  // (D, V + |Y| + 2)
  for (int v = 0; v < l.vocab; ++v) tok(l.tok + v, v) = 1;
  for (int y = 0; y < l.labels; ++y) tok(l.lab + y, l.vocab + y) = 1;
  if (model.pos == PosKind::kLearnedFactored) {
    MatMap offsets = Zeroed(registry, "embed.pos_offset");    // (D, S)
    MatMap segments = Zeroed(registry, "embed.pos_segment");  // (D, n_seg)
    for (int o = 0; o < l.segment; ++o) offsets(l.off + o, o) = 1;
    for (int s = 0; s < l.n_segments; ++s) segments(l.seg + s, s) = 1;
  } else {
    MatMap pos = Zeroed(registry, "embed.pos");  // (D, T)
    for (int t = 0; t < model.max_len; ++t) {
      pos(l.off + t % l.segment, t) = 1;
      pos(l.seg + t / l.segment, t) = 1;
    }
  }

  // Layer 0, parse (one head, Dh = D): q·k = 2M [same filler] + 2M [same segment] - M [same offset].
  {
    const Scalar c = std::sqrt(static_cast<Scalar>(d));  // undoes the engine's 1/√Dh
    MatMap wq = Zeroed(registry, "blocks.0.attn.wq"), wk = Zeroed(registry, "blocks.0.attn.wk");
    MatMap wv = Zeroed(registry, "blocks.0.attn.wv"), wo = Zeroed(registry, "blocks.0.attn.wo");
    int row = 0;
    for (int v = 0; v < l.vocab; ++v, ++row) {
      wq(row, l.tok + v) = 2 * m * c;
      wk(row, l.tok + v) = 1;
    }
    for (int s = 0; s < l.n_segments; ++s, ++row) {
      wq(row, l.seg + s) = 2 * m * c;
      wk(row, l.seg + s) = 1;
    }
    for (int o = 0; o < l.segment; ++o, ++row) {
      wq(row, l.off + o) = -m * c;
      wk(row, l.off + o) = 1;
    }
    for (int i = 0; i < l.length; ++i) {
      wv(i, l.off + i) = 1;    // the key's offset (fillers only: offset < L)
      wo(l.parse + i, i) = 1;  // into parse
    }
  }

  // Layer 1, copy (head j-1 for offset j, Dh = D / H): q·k = M [same segment] + M [key offset = j].
  {
    const int dh = d / l.copy_heads;
    const Scalar c = std::sqrt(static_cast<Scalar>(dh));
    MatMap wq = Zeroed(registry, "blocks.1.attn.wq"), wk = Zeroed(registry, "blocks.1.attn.wk");
    MatMap wv = Zeroed(registry, "blocks.1.attn.wv"), wo = Zeroed(registry, "blocks.1.attn.wo");
    for (int j = 1; j < l.length; ++j) {
      const int r = (j - 1) * dh;  // the head's rows
      for (int s = 0; s < l.n_segments; ++s) {
        wq(r + s, l.seg + s) = m * c;
        wk(r + s, l.seg + s) = 1;
      }
      for (int o = 0; o < l.segment; ++o) {
        wq(r + l.n_segments + j, l.off + o) = m * c;  // every position has one offset: a constant M
        wk(r + l.n_segments + o, l.off + o) = 1;
      }
      for (int i = 0; i < l.length; ++i) {
        wv(r + i, l.parse + i) = 1;
        wo(l.sig + (j - 1) * l.length + i, r + i) = 1;
      }
    }
  }

  // Layer 2, match (one head, Dh = D): q·k = (M/2) sig(t)·sig(u) + M [u holds a label].
  {
    const Scalar c = std::sqrt(static_cast<Scalar>(d));
    MatMap wq = Zeroed(registry, "blocks.2.attn.wq"), wk = Zeroed(registry, "blocks.2.attn.wk");
    MatMap wv = Zeroed(registry, "blocks.2.attn.wv"), wo = Zeroed(registry, "blocks.2.attn.wo");
    const int n_sig = (l.length - 1) * l.length;
    for (int r = 0; r < n_sig; ++r) {
      wq(r, l.sig + r) = m / 2 * c;
      wk(r, l.sig + r) = 1;
    }
    for (int o = 0; o < l.segment; ++o) wq(n_sig, l.off + o) = m * c;
    for (int y = 0; y < l.labels; ++y) {
      wk(n_sig, l.lab + y) = 1;
      wv(y, l.lab + y) = 1;
      wo(l.ans + y, y) = 1;
    }
  }

  MatMap head = Zeroed(registry, "head.w");  // (|Y|, D)
  for (int y = 0; y < l.labels; ++y) head(y, l.ans + y) = static_cast<Scalar>(scales.readout);
}

}  // namespace sim
