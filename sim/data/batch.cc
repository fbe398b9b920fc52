#include "sim/data/batch.h"

#include <algorithm>

#include "sim/core/check.h"

namespace sim {

void Batch::Reset(BatchShape new_shape, InputKind in, OutputKind out, int d_in) {
  shape = new_shape;
  input = in;
  output = out;
  const int n = shape.tokens();
  if (input == InputKind::kTokens) {
    tokens.resize(n);
  } else if (vectors.rows() != d_in || vectors.cols() != n) {
    vectors.resize(d_in, n);
  }
  scored.clear();
  labels.clear();
  values.clear();
  clean_values.clear();
  groups.clear();
}

void Batch::CopyExamples(const Batch& from, int first, int count) {
  SIM_CHECK(first >= 0 && count >= 1 && first + count <= from.shape.batch, "Batch::CopyExamples: examples [", first,
            ", ", first + count, ") of a batch of ", from.shape.batch);
  Reset({count, from.shape.length}, from.input, from.output, static_cast<int>(from.vectors.rows()));
  const int t = from.shape.length, begin = first * t, end = (first + count) * t;  // columns of `from`
  if (input == InputKind::kTokens)
    std::copy(from.tokens.begin() + begin, from.tokens.begin() + end, tokens.begin());
  else
    vectors = from.vectors.middleCols(begin, end - begin);
  const auto lo = std::lower_bound(from.scored.begin(), from.scored.end(), begin);
  const auto hi = std::lower_bound(lo, from.scored.end(), end);
  for (auto it = lo; it != hi; ++it) {
    const size_t i = static_cast<size_t>(it - from.scored.begin());
    scored.push_back(*it - begin);
    if (output == OutputKind::kClasses)
      labels.push_back(from.labels[i]);
    else
      values.push_back(from.values[i]);
    if (!from.clean_values.empty()) clean_values.push_back(from.clean_values[i]);
    if (!from.groups.empty()) groups.push_back(from.groups[i]);
  }
}

void Batch::Validate(int n_classes) const {
  const int n = shape.tokens();
  for (size_t i = 0; i < scored.size(); ++i) {
    SIM_CHECK(scored[i] >= 0 && scored[i] < n, "Batch: scored column ", scored[i], " outside [0, ", n, ")");
    SIM_CHECK(i == 0 || scored[i] > scored[i - 1], "Batch: scored columns must increase (index ", i, ")");
  }
  if (output == OutputKind::kClasses) {
    SIM_CHECK(labels.size() == scored.size(), "Batch: ", labels.size(), " labels for ", scored.size(),
              " scored positions");
    for (int32_t label : labels)
      SIM_CHECK(label >= 0 && label < n_classes, "Batch: label ", label, " outside [0, ", n_classes, ")");
  } else {
    SIM_CHECK(values.size() == scored.size(), "Batch: ", values.size(), " targets for ", scored.size(),
              " scored positions");
  }
  SIM_CHECK(clean_values.empty() || clean_values.size() == scored.size(), "Batch: ", clean_values.size(),
            " clean targets for ", scored.size(), " scored positions");
  SIM_CHECK(groups.empty() || groups.size() == scored.size(), "Batch: ", groups.size(), " groups for ", scored.size(),
            " scored positions");
  if (input == InputKind::kTokens)
    SIM_CHECK(static_cast<int>(tokens.size()) == n, "Batch: ", tokens.size(), " tokens for N=", n);
  else
    SIM_CHECK(vectors.cols() == n, "Batch: ", vectors.cols(), " input vectors for N=", n);
}

}  // namespace sim
