#include "sim/optim/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace sim {

double LrSchedule::At(int step) const {
  if (step < warmup) return lr * (step + 1) / warmup;
  if (kind == ScheduleKind::kConstant) return lr;
  const int span = std::max(1, total_steps - warmup);
  const double progress = std::clamp(static_cast<double>(step - warmup) / span, 0.0, 1.0);
  const double min_lr = lr * min_ratio;
  return min_lr + (lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

}  // namespace sim
