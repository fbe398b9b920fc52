#include "sim/io/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "sim/core/error.h"

namespace sim {

namespace {

void FsyncPath(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// This machine's name, for temporary names unique across the nodes of a cluster sharing a file
// system (a pid alone repeats across nodes). Characters other than [A-Za-z0-9.-] become '_'.
std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "host";
  std::string out = name;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
  return out;
}

}  // namespace

std::string TemporaryPath(const std::string& path) {
  static const std::string host = HostName();
  return Concat(path, ".tmp.", host, ".", ::getpid());
}

void WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write) {
  const std::string tmp = TemporaryPath(path);
  try {
    write(tmp);
    FsyncPath(tmp, false);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw InputError(Concat(path, ": cannot rename ", tmp, " into place: ", std::strerror(errno)));
    const std::string dir = std::filesystem::path(path).parent_path().string();
    FsyncPath(dir.empty() ? "." : dir, true);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

void ThrowWriteFailure(const std::string& message, int error_number) {
  if (error_number == ENOSPC || error_number == EDQUOT || error_number == EFBIG || error_number == EIO)
    throw WriteError(Concat(message, ": ", std::strerror(error_number),
                            " (the last checkpoint is kept; free space and rerun the same command to resume)"));
  throw InputError(message);
}

void WriteTextAtomically(const std::string& path, const std::string& text) {
  WriteAtomically(path, [&](const std::string& tmp) {
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) throw InputError(Concat(tmp, ": cannot create"));
    errno = 0;
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    const int error_number = errno;
    if (std::fclose(f) != 0 || !ok)
      throw WriteError(Concat(tmp, ": write failed: ", std::strerror(errno != 0 ? errno : error_number)));
  });
}

FileLock::FileLock(const std::string& path) : lock_path_(path + ".lock") {
  for (;;) {
    fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw InputError(Concat(lock_path_, ": cannot create the lock file: ", std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error_number = errno;
      ::close(fd_);
      fd_ = -1;
      if (error_number == EWOULDBLOCK) {
        state_ = State::kBusy;
        return;
      }
      if (error_number == EINTR) continue;
      if (error_number == ENOLCK || error_number == ENOSYS || error_number == EOPNOTSUPP || error_number == EINVAL) {
        state_ = State::kUnsupported;
        return;
      }
      throw InputError(Concat(lock_path_, ": cannot lock: ", std::strerror(error_number)));
    }
    // Locked; but if the previous holder unlinked this file meanwhile, we hold a lock nobody sees.
    struct stat held = {}, named = {};
    if (::fstat(fd_, &held) == 0 && ::stat(lock_path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      state_ = State::kHeld;
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  ::unlink(lock_path_.c_str());  // while still locked: a taker that opened it sees the unlink and retries
  ::close(fd_);                  // releases the lock
}

void RemoveStaleTemporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  const std::string name = p.filename().string();
  std::error_code ec;
  for (const std::string& base : {name + ".tmp", name + ".ckpt.tmp"}) {
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string entry = it->path().filename().string();
      std::error_code ignored;  // a temporary another process removed first is no error
      if (entry == base || entry.rfind(base + ".", 0) == 0) fs::remove(it->path(), ignored);
    }
  }
}

}  // namespace sim
