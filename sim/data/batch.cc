#include "sim/data/batch.h"

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
}

void Batch::Validate(int n_classes) const {
  const int n = shape.tokens();
  for (size_t i = 0; i < scored.size(); ++i) {
    SIM_CHECK(scored[i] >= 0 && scored[i] < n, "Batch: scored column ", scored[i], " outside [0, ",
              n, ")");
    SIM_CHECK(i == 0 || scored[i] > scored[i - 1], "Batch: scored columns must increase (index ",
              i, ")");
  }
  if (output == OutputKind::kClasses) {
    SIM_CHECK(labels.size() == scored.size(), "Batch: ", labels.size(), " labels for ",
              scored.size(), " scored positions");
    for (int32_t label : labels)
      SIM_CHECK(label >= 0 && label < n_classes, "Batch: label ", label, " outside [0, ", n_classes,
                ")");
  } else {
    SIM_CHECK(values.size() == scored.size(), "Batch: ", values.size(), " targets for ",
              scored.size(), " scored positions");
  }
  if (input == InputKind::kTokens)
    SIM_CHECK(static_cast<int>(tokens.size()) == n, "Batch: ", tokens.size(), " tokens for N=", n);
  else
    SIM_CHECK(vectors.cols() == n, "Batch: ", vectors.cols(), " input vectors for N=", n);
}

}  // namespace sim
