// Checkpoint files: a run's complete training state (parameters, optimizer moments, random-stream
// positions, curves so far, parameter snapshots so far), written atomically (temp file, fsync, rename) next to the
// result file as "<out>.ckpt". A run restarted with the same arguments resumes from it and ends with a result file
// bit-identical to an uninterrupted run's (wall time and creation time aside).
#pragma once

#include <string>

#include "sim/train/checkpoint.h"

namespace sim {

inline constexpr const char* kCheckpointFormat = "attnsim.checkpoint";
inline constexpr int kCheckpointFormatVersion = 1;

// The checkpoint path of a result file.
std::string CheckpointPath(const std::string& out);

void WriteCheckpoint(const std::string& path, const std::string& config, const Checkpoint& checkpoint);

// Reads a checkpoint; `config` receives the resolved INI text it was made with. Throws InputError for
// a missing, unreadable or foreign file.
Checkpoint ReadCheckpoint(const std::string& path, std::string* config);

}  // namespace sim
