// Token embedding and positional encodings: the first layer of a token model.
//
//   tokens (N) ids in [0, V)    table (D, V), a column per token    y (D, N)
//   learned positions (D, T_max), a column per position; sinusoidal positions are a fixed table
//   (Vaswani et al. 2017): pe(2i, t) = sin(t / 10000^(2i/D)), pe(2i+1, t) = cos(t / 10000^(2i/D));
//   learned factored positions for prompts made of segments of S tokens (depth.md §3 T4):
//   pe(:, t) = offset(:, t mod S) + segment(:, t div S), offset (D, S), segment (D, ceil(T_max/S)),
//   so the same offset in different segments shares most of its code.
//
// Backward scatters d_y into the used columns of the table in column order (deterministic) and
// sums position gradients over the batch.
#pragma once

#include <string>
#include <vector>

#include "sim/params/param_registry.h"

namespace sim {

class TokenEmbedding {
 public:
  TokenEmbedding(int vocab, int d_model, double init_std, ParamRegistry& registry, const std::string& prefix);

  // y = table[:, tokens]  (overwrites y (D, N)).
  void Forward(const std::vector<int32_t>& tokens, MatRef y) const;
  // dTable[:, tokens[c]] += d_y[:, c].
  void Backward(const std::vector<int32_t>& tokens, const ConstMatRef& d_y) const;

  ParamId table() const { return table_; }

 private:
  int vocab_;
  int d_model_;
  ParamRegistry* registry_;
  ParamId table_;
};

enum class PosKind { kNone, kLearned, kSinusoidal, kLearnedFactored };

class PositionalEncoding {
 public:
  // segment: S, the segment length of kLearnedFactored (ignored otherwise).
  PositionalEncoding(PosKind kind, int max_len, int d_model, double init_std, ParamRegistry& registry,
                     const std::string& prefix, int segment = 0);

  // y[:, b*T + t] += pe[:, t].
  void Forward(BatchShape bt, MatRef y) const;
  // dPe[:, t] += sum_b d_y[:, b*T + t]  (learned kinds; factored: into offset and segment).
  void Backward(BatchShape bt, const ConstMatRef& d_y) const;

  PosKind kind() const { return kind_; }

 private:
  PosKind kind_;
  int max_len_;
  int d_model_;
  ParamRegistry* registry_;
  int segment_ = 0;
  ParamId table_ = -1;     // learned: (D, T_max); factored: offsets (D, S)
  ParamId segments_ = -1;  // factored: (D, ceil(T_max / S))
  Mat fixed_;              // sinusoidal: (D, T_max)
};

}  // namespace sim
