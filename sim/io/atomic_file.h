// Atomic file replacement: write to "<path>.tmp", fsync, rename over <path>, fsync the directory.
// A reader never sees a partial file; a process killed mid-write leaves at most a stale .tmp.
#pragma once

#include <functional>
#include <string>

namespace sim {

// Calls write(tmp_path), then moves tmp_path to path. On any exception the temp file is removed and
// the exception propagates; `path` keeps its previous content (or stays absent). The temp file is
// "<path>.tmp", or "<path>.tmp.<pid>" with unique_tmp (several processes writing the same path).
void WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write,
                     bool unique_tmp = false);

// Writes text to path atomically (unique temp name).
void WriteTextAtomically(const std::string& path, const std::string& text);

}  // namespace sim
