// Atomic file replacement and per-file locks.
//
// WriteAtomically: write to a temporary name unique to this process, "<path>.tmp.<host>.<pid>",
// fsync, rename over <path>, fsync the directory. A reader never sees a partial file; a process
// killed mid-write leaves at most a stale temporary (removed by the next holder of the path's lock);
// two processes writing the same path never write the same temporary.
//
// FileLock: an exclusive flock(2) on "<path>.lock", held while the object lives and released by the
// kernel when the process dies (kill -9 included), so a lock is never stale. The holder unlinks the
// lock file before releasing it; a taker checks, after locking, that the file it locked is still the
// one at that name (else it locked a file just unlinked by the previous holder, and tries again).
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace sim {

// Calls write(tmp_path), then moves tmp_path to path. On any exception the temp file is removed and
// the exception propagates; `path` keeps its previous content (or stays absent).
void WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write);

// Throws the error for a failed write with errno `error_number`: WriteError (exit 74) when the file
// system is out of room or failing (ENOSPC, EDQUOT, EFBIG, EIO), with what to do; else InputError
// (exit 2: say, a directory that is not writable).
[[noreturn]] void ThrowWriteFailure(const std::string& message, int error_number);

// Writes text to path atomically.
void WriteTextAtomically(const std::string& path, const std::string& text);

// The temporary name WriteAtomically uses for `path` in this process: "<path>.tmp.<host>.<pid>".
std::string TemporaryPath(const std::string& path);

class FileLock {
 public:
  enum class State {
    kHeld,         // this process holds the lock
    kBusy,         // another process holds it
    kUnsupported,  // the file system has no flock (Lustre without -o flock): nothing is locked
  };
  // Tries once, without waiting, to lock "<path>.lock" (creating it). Throws InputError when the lock
  // file cannot be created (no such directory, not writable).
  explicit FileLock(const std::string& path);
  ~FileLock();  // unlinks the lock file (when held), then releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  State state() const { return state_; }
  const std::string& lock_path() const { return lock_path_; }

 private:
  std::string lock_path_;
  int fd_ = -1;
  State state_ = State::kBusy;
};

// Removes temporaries of `path` left by processes that died while writing it ("<path>.tmp",
// "<path>.tmp.*", and the same for "<path>.ckpt"). Call only while holding the path's FileLock.
void RemoveStaleTemporaries(const std::string& path);

}  // namespace sim
