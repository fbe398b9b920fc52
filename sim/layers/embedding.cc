#include "sim/layers/embedding.h"

#include <cmath>
#include <utility>

#include "sim/core/check.h"

namespace sim {

TokenEmbedding::TokenEmbedding(int vocab, int d_model, double init_std, ParamRegistry& registry,
                               const std::string& prefix)
    : vocab_(vocab), d_model_(d_model), registry_(&registry) {
  table_ = registry.Add({prefix + ".tok", d_model, vocab, InitKind::kNormal, init_std, true});
}

void TokenEmbedding::Forward(const std::vector<int32_t>& tokens, MatRef y) const {
  SIM_CHECK_SHAPE("TokenEmbedding::Forward", y, "D", d_model_, "N", tokens.size());
  const Eigen::Map<const Mat> table = std::as_const(*registry_).Value(table_);
  for (size_t c = 0; c < tokens.size(); ++c) {
    SIM_DCHECK(tokens[c] >= 0 && tokens[c] < vocab_, "token ", tokens[c], " outside [0, ", vocab_, ")");
    y.col(c) = table.col(tokens[c]);
  }
}

void TokenEmbedding::Backward(const std::vector<int32_t>& tokens, const ConstMatRef& d_y) const {
  SIM_CHECK_SHAPE("TokenEmbedding::Backward", d_y, "D", d_model_, "N", tokens.size());
  MatMap grad = registry_->Grad(table_);
  for (size_t c = 0; c < tokens.size(); ++c) grad.col(tokens[c]) += d_y.col(c);
}

PositionalEncoding::PositionalEncoding(PosKind kind, int max_len, int d_model, double init_std, ParamRegistry& registry,
                                       const std::string& prefix, int segment)
    : kind_(kind), max_len_(max_len), d_model_(d_model), registry_(&registry), segment_(segment) {
  if (kind == PosKind::kLearnedFactored) {
    SIM_CHECK(segment >= 1, "PositionalEncoding: factored positions need a segment length >= 1, got ", segment);
    table_ = registry.Add({prefix + ".pos_offset", d_model, segment, InitKind::kNormal, init_std, true});
    segments_ = registry.Add(
        {prefix + ".pos_segment", d_model, (max_len + segment - 1) / segment, InitKind::kNormal, init_std, true});
  } else if (kind == PosKind::kLearned) {
    table_ = registry.Add({prefix + ".pos", d_model, max_len, InitKind::kNormal, init_std, true});
  } else if (kind == PosKind::kSinusoidal) {
    fixed_.resize(d_model, max_len);
    for (int t = 0; t < max_len; ++t)
      for (int i = 0; i < d_model; ++i) {
        const double freq = std::pow(10000.0, -static_cast<double>(i - i % 2) / d_model);
        fixed_(i, t) = static_cast<Scalar>(i % 2 == 0 ? std::sin(t * freq) : std::cos(t * freq));
      }
  }
}

void PositionalEncoding::Forward(BatchShape bt, MatRef y) const {
  if (kind_ == PosKind::kNone) return;
  SIM_CHECK_SHAPE("PositionalEncoding::Forward", y, "D", d_model_, "B*T", bt.tokens());
  SIM_CHECK(bt.length <= max_len_, "PositionalEncoding: T=", bt.length, " exceeds max_len=", max_len_);
  if (kind_ == PosKind::kLearnedFactored) {
    const auto offsets = std::as_const(*registry_).Value(table_);
    const auto segments = std::as_const(*registry_).Value(segments_);
    for (int b = 0; b < bt.batch; ++b)
      for (int t = 0; t < bt.length; ++t)
        y.col(b * bt.length + t) += offsets.col(t % segment_) + segments.col(t / segment_);
    return;
  }
  const Eigen::Map<const Mat> table = kind_ == PosKind::kLearned
                                          ? std::as_const(*registry_).Value(table_)
                                          : Eigen::Map<const Mat>(fixed_.data(), fixed_.rows(), fixed_.cols());
  for (int b = 0; b < bt.batch; ++b) y.middleCols(b * bt.length, bt.length) += table.leftCols(bt.length);
}

void PositionalEncoding::Backward(BatchShape bt, const ConstMatRef& d_y) const {
  if (kind_ != PosKind::kLearned && kind_ != PosKind::kLearnedFactored) return;
  SIM_CHECK_SHAPE("PositionalEncoding::Backward", d_y, "D", d_model_, "B*T", bt.tokens());
  if (kind_ == PosKind::kLearnedFactored) {
    MatMap offsets = registry_->Grad(table_);
    MatMap segments = registry_->Grad(segments_);
    for (int b = 0; b < bt.batch; ++b)
      for (int t = 0; t < bt.length; ++t) {
        offsets.col(t % segment_) += d_y.col(b * bt.length + t);
        segments.col(t / segment_) += d_y.col(b * bt.length + t);
      }
    return;
  }
  MatMap grad = registry_->Grad(table_);
  for (int b = 0; b < bt.batch; ++b) grad.leftCols(bt.length) += d_y.middleCols(b * bt.length, bt.length);
}

}  // namespace sim
