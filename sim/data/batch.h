// A batch of examples, as tasks produce it and models consume it.
//
// Inputs are either token ids or real vectors, one per position; targets live only at the scored
// positions (the loss and every metric average over them). Buffers keep their capacity, so refilling
// a batch of the same shape allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/types.h"

namespace sim {

enum class InputKind { kTokens, kVectors };
enum class OutputKind { kClasses, kScalar };

struct Batch {
  BatchShape shape;  // B examples of T positions, N = B*T
  InputKind input = InputKind::kTokens;
  OutputKind output = OutputKind::kClasses;
  std::vector<int32_t> tokens;  // (N) token ids, column b*T + t           (kTokens)
  Mat vectors;                  // (Din, N) one input vector per position   (kVectors)
  std::vector<int32_t> scored;  // (S) scored columns b*T + t, strictly increasing
  std::vector<int32_t> labels;  // (S) class targets                        (kClasses)
  std::vector<Scalar> values;   // (S) scalar targets                       (kScalar)
  // Optional side channel, per scored position, for tasks whose metrics need more than the target
  // (sparse_linreg): empty for every other task, else (S) each.
  std::vector<Scalar> clean_values;  // (S) noise-free target (values holds the noisy one)
  std::vector<int32_t> groups;       // (S) the task's group of the position (sparse_linreg: examples seen, n)

  int n_scored() const { return static_cast<int>(scored.size()); }

  // Sizes the input buffers for B x T and clears the targets (capacity is kept).
  void Reset(BatchShape new_shape, InputKind in, OutputKind out, int d_in);
  // Appends a scored position with its target.
  void AddClassTarget(int b, int t, int32_t label) {
    scored.push_back(b * shape.length + t);
    labels.push_back(label);
  }
  void AddScalarTarget(int b, int t, Scalar value) {
    scored.push_back(b * shape.length + t);
    values.push_back(value);
  }
  // A scalar target with its side channel (every scored position of the batch must then have one).
  void AddScalarTarget(int b, int t, Scalar value, Scalar clean_value, int32_t group) {
    AddScalarTarget(b, t, value);
    clean_values.push_back(clean_value);
    groups.push_back(group);
  }
  // Becomes examples [first, first + count) of `from` (inputs, scored positions, targets and the side
  // channel when present), e.g.
  // one chunk of a training batch. Allocates nothing once the buffers have grown to that size.
  void CopyExamples(const Batch& from, int first, int count);
  // Throws InternalError when scored columns are out of range or not increasing, or targets (and a
  // non-empty side channel) do not match them. Tasks' tests call it; models call it at the API boundary.
  void Validate(int n_classes) const;
};

}  // namespace sim
