// Learning-rate schedules: an optional linear warm-up, then constant or cosine decay.
//
//   warm-up (step < warmup):  lr · (step + 1) / warmup
//   constant:                 lr
//   cosine:                   min_lr + (lr - min_lr) · ½ (1 + cos(π · progress)),
//                             progress = (step - warmup) / (steps - warmup), min_lr = lr · min_ratio
// `step` counts from 0 for the first update.
#pragma once

namespace sim {

enum class ScheduleKind { kConstant, kCosine };

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::kConstant;
  double lr = 1e-3;
  int warmup = 0;
  int total_steps = 1;
  double min_ratio = 0.0;

  double At(int step) const;
};

}  // namespace sim
