// Runtime checks whose messages carry the values involved.
//
// SIM_CHECK is always on (API boundaries, config validation). SIM_DCHECK is for hot inner code and
// compiles away in release builds.
#pragma once

#include "sim/core/error.h"

#define SIM_CHECK(cond, ...)                                                               \
  do {                                                                                     \
    if (!(cond)) throw ::sim::InternalError(::sim::Concat(__VA_ARGS__, " [", #cond, "]")); \
  } while (0)

// Throws ShapeError("<where>: <mat> is (r, c), expected (D=64, B*T=256)"); the names are the shape
// symbols of sim/core/types.h.
#define SIM_CHECK_SHAPE(where, mat, rows_name, rows_expr, cols_name, cols_expr)                                    \
  do {                                                                                                             \
    const auto sim_r_ = static_cast<long>(rows_expr);                                                              \
    const auto sim_c_ = static_cast<long>(cols_expr);                                                              \
    if ((mat).rows() != sim_r_ || (mat).cols() != sim_c_)                                                          \
      throw ::sim::ShapeError(::sim::Concat(where, ": ", #mat, " is (", (mat).rows(), ", ", (mat).cols(),          \
                                            "), expected (", rows_name, "=", sim_r_, ", ", cols_name, "=", sim_c_, \
                                            ")"));                                                                 \
  } while (0)

#ifdef NDEBUG
#define SIM_DCHECK(cond, ...) \
  do {                        \
  } while (0)
#else
#define SIM_DCHECK(cond, ...) SIM_CHECK(cond, __VA_ARGS__)
#endif
