// sim/io stores plain data: it includes sim/core, sim/params, sim/data, sim/io and the trainer's
// checkpoint data (sim/train/checkpoint.h), never the trainer, models or the CLI, so file formats
// can be read and written without building a training loop (and the loop can change without
// touching the formats).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace sim {
namespace {

bool Allowed(const std::string& header) {
  for (const char* dir : {"sim/core/", "sim/params/", "sim/data/", "sim/io/"})
    if (header.rfind(dir, 0) == 0) return true;
  return header == "sim/train/checkpoint.h";
}

TEST(IoDependenciesTest, IoIncludesOnlyPlainDataHeaders) {
  namespace fs = std::filesystem;
  const fs::path io_dir = fs::path(SIM_SOURCE_DIR) / "sim" / "io";
  int files = 0;
  for (const fs::directory_entry& entry : fs::directory_iterator(io_dir)) {
    std::ifstream in(entry.path());
    std::string line;
    while (std::getline(in, line)) {
      const std::string prefix = "#include \"";
      if (line.rfind(prefix, 0) != 0) continue;
      const std::string header = line.substr(prefix.size(), line.find('"', prefix.size()) - prefix.size());
      EXPECT_TRUE(Allowed(header)) << entry.path().filename().string() << " includes " << header;
    }
    ++files;
  }
  EXPECT_GT(files, 0) << "no files under " << io_dir;
}

}  // namespace
}  // namespace sim
