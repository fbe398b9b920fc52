// Helpers for tests that run the sim executable: run it through the shell or as a child process
// whose stderr is read while it runs, scratch directories, file reading.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sim/core/error.h"
#include "sim/io/hdf5_file.h"

namespace sim_test {

namespace fs = std::filesystem;

inline const std::string kQuickstart = std::string(SIM_SOURCE_DIR) + "/experiments/quickstart/mqar.ini";

struct Result {
  int code;            // exit code, or -1 when the process did not exit normally (a signal)
  std::string output;  // stdout, plus stderr unless redirected
};

// Runs a whole shell command line; its exit code and what it printed on stdout.
inline Result RunCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  std::string output;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), pipe)) output.append(buf.data(), n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// Runs `sim <args>` through the shell. stderr goes to `stderr_redirect` (default: merged into output).
// (Not named Run: inside a TEST body that would find testing::Test::Run.)
// `env` prefixes the command with environment assignments ("SLURM_ARRAY_TASK_ID=2 ").
inline Result RunSim(const std::string& args, const std::string& stderr_redirect = "2>&1",
                     const std::string& env = "") {
  return RunCommand(env + std::string(SIM_BINARY) + " " + args + " " + stderr_redirect);
}

inline std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

// A unique scratch directory, removed with everything in it at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = (fs::temp_directory_path() / "sim_cli_test.XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string File(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// `sim` started with fork/exec: stdout to a file, stderr through a pipe we read.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& stdout_path) {
    int fds[2];
    if (::pipe(fds) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, STDOUT_FILENO);
      ::dup2(fds[1], STDERR_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      ::close(out);
      std::vector<char*> argv;
      static std::string binary = SIM_BINARY;
      argv.push_back(binary.data());
      std::vector<std::string> copy = args;
      for (std::string& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(SIM_BINARY, argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    err_ = fds[0];
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (err_ >= 0) ::close(err_);
  }

  // Reads stderr until it contains `text` or `seconds` pass; true when seen.
  bool WaitFor(const std::string& text, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!Contains(stderr_, text)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{err_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(err_, buf, sizeof buf);
      if (n <= 0) return Contains(stderr_, text);  // EOF: the child has exited
      stderr_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  void Signal(int sig) { ::kill(pid_, sig); }

  // Drains stderr and waits; returns the exit code, or 128 + signal when killed.
  int Wait() {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err_, buf, sizeof buf)) > 0) stderr_.append(buf, static_cast<size_t>(n));
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  const std::string& stderr_text() const { return stderr_; }

 private:
  pid_t pid_ = -1;
  int err_ = -1;
  bool reaped_ = false;
  std::string stderr_;
};

// Every dataset under `group` (recursively) and its values, as doubles.
inline void CollectDatasets(const sim::H5Reader& h5, const std::string& group,
                            std::map<std::string, std::vector<double>>& out) {
  for (const std::string& name : h5.List(group)) {
    const std::string path = (group == "/" ? "" : group) + "/" + name;
    bool is_group = true;
    try {
      h5.List(path);
    } catch (const sim::InputError&) {
      is_group = false;
    }
    if (is_group)
      CollectDatasets(h5, path, out);
    else
      out[path] = h5.Doubles(path);
  }
}

}  // namespace sim_test
