// Token embedding and positional encodings: the first layer of a token model.
//
//   tokens (N) ids in [0, V)    table (D, V), a column per token    y (D, N)
//   learned positions (D, T_max), a column per position; sinusoidal positions are a fixed table
//   (Vaswani et al. 2017): pe(2i, t) = sin(t / 10000^(2i/D)), pe(2i+1, t) = cos(t / 10000^(2i/D)).
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
  TokenEmbedding(int vocab, int d_model, double init_std, ParamRegistry& registry,
                 const std::string& prefix);

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

enum class PosKind { kNone, kLearned, kSinusoidal };

class PositionalEncoding {
 public:
  PositionalEncoding(PosKind kind, int max_len, int d_model, double init_std,
                     ParamRegistry& registry, const std::string& prefix);

  // y[:, b*T + t] += pe[:, t].
  void Forward(BatchShape bt, MatRef y) const;
  // dPe[:, t] += sum_b d_y[:, b*T + t]  (learned only).
  void Backward(BatchShape bt, const ConstMatRef& d_y) const;

  PosKind kind() const { return kind_; }

 private:
  PosKind kind_;
  int max_len_;
  int d_model_;
  ParamRegistry* registry_;
  ParamId table_ = -1;  // learned: (D, T_max)
  Mat fixed_;           // sinusoidal: (D, T_max)
};

}  // namespace sim
