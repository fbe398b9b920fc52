#include "sim/io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

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
}  // namespace

void WriteAtomically(const std::string& path, const std::function<void(const std::string& tmp_path)>& write,
                     bool unique_tmp) {
  const std::string tmp = unique_tmp ? Concat(path, ".tmp.", ::getpid()) : path + ".tmp";
  try {
    write(tmp);
    FsyncPath(tmp, false);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw InputError(Concat(path, ": cannot rename ", tmp, " into place"));
    const std::string dir = std::filesystem::path(path).parent_path().string();
    FsyncPath(dir.empty() ? "." : dir, true);
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
}

void WriteTextAtomically(const std::string& path, const std::string& text) {
  WriteAtomically(
      path,
      [&](const std::string& tmp) {
        std::FILE* f = std::fopen(tmp.c_str(), "w");
        if (f == nullptr) throw InputError(Concat(tmp, ": cannot create"));
        errno = 0;
        const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
        const int error_number = errno;
        if (std::fclose(f) != 0 || !ok)
          throw WriteError(Concat(tmp, ": write failed: ", std::strerror(errno != 0 ? errno : error_number)));
      },
      true);
}

}  // namespace sim
