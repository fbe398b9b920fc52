#include "sim/cli/sweep_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>

#include "sim/cli/commands.h"
#include "sim/cli/sweep_display.h"
#include "sim/core/error.h"

extern char** environ;

namespace sim {

namespace {

volatile sig_atomic_t g_sweep_stop = 0;
void HandleSweepStop(int) { g_sweep_stop = 1; }

// SIGINT and SIGTERM set g_sweep_stop, without SA_RESTART so that waitpid and poll return.
class StopSignalsForSweep {
 public:
  StopSignalsForSweep() {
    g_sweep_stop = 0;
    struct sigaction action = {};
    action.sa_handler = HandleSweepStop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignalsForSweep() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

std::string Now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  return text;
}

// A running run process. In the live view its stdout and stderr come through pipes.
struct RunProcess {
  int index = 0;
  int fds[2] = {-1, -1};   // read ends: [0] the run's stdout, [1] its stderr (-1 = closed or not captured)
  std::string partial[2];  // text after the last newline read from each
  bool Open() const { return fds[0] >= 0 || fds[1] >= 0; }
};

// Starts `sim args...`; with `capture`, its stdout and stderr go to pipes whose read ends land in run.fds.
pid_t Spawn(std::vector<std::string> args, bool capture, RunProcess& run) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  int pipes[2][2] = {{-1, -1}, {-1, -1}};
  if (capture) {
    for (int s = 0; s < 2; ++s) {
      if (::pipe2(pipes[s], O_CLOEXEC) != 0) throw InternalError("sim sweep: cannot create a pipe for a run process");
      posix_spawn_file_actions_adddup2(&actions, pipes[s][1], s == 0 ? STDOUT_FILENO : STDERR_FILENO);
    }
  }
  pid_t pid = 0;
  const int failed = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  for (int s = 0; s < 2 && capture; ++s) {
    ::close(pipes[s][1]);
    run.fds[s] = pipes[s][0];
    if (failed) ::close(pipes[s][0]);
  }
  if (failed) throw InternalError("sim sweep: cannot start a run process");
  return pid;
}

// A complete line from a run: progress lines update the live block, the rest scrolls above it.
// A run's stdout line is its result, its last word: its progress line leaves the block.
void ShowLine(SweepDisplay& display, int index, int stream, const std::string& line) {
  if (stream == 1 && !line.empty() && line[0] == kProgressMarker) {
    display.SetRunLine(index, line.substr(1));
    return;
  }
  if (stream == 0) display.RemoveRun(index);
  display.PrintLine(line, stream == 0);
}

// Waits up to `timeout_ms` for output of the runs and shows every complete line; closes the pipes
// of runs that exited.
void PumpOutput(std::map<pid_t, RunProcess>& running, SweepDisplay& display, int timeout_ms) {
  std::vector<pollfd> polls;
  std::vector<std::pair<RunProcess*, int>> owners;  // (run, stream) of each pollfd
  for (auto& [pid, run] : running)
    for (int s = 0; s < 2; ++s)
      if (run.fds[s] >= 0) {
        polls.push_back({run.fds[s], POLLIN, 0});
        owners.push_back({&run, s});
      }
  if (::poll(polls.data(), polls.size(), timeout_ms) <= 0) return;  // timeout, or a signal
  char buf[4096];
  for (size_t i = 0; i < polls.size(); ++i) {
    if (polls[i].revents == 0) continue;
    auto [run, s] = owners[i];
    const ssize_t n = ::read(run->fds[s], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // the run closed it: it has exited
      if (!run->partial[s].empty()) ShowLine(display, run->index, s, run->partial[s]);
      run->partial[s].clear();
      ::close(run->fds[s]);
      run->fds[s] = -1;
      continue;
    }
    std::string& text = run->partial[s];
    text.append(buf, n);
    size_t start = 0;
    for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
      ShowLine(display, run->index, s, text.substr(start, end - start));
    text.erase(0, start);
  }
}

}  // namespace

int RunSweepLocally(const LocalSweep& sweep) {
  const bool tty = ::isatty(STDERR_FILENO);
  const bool live = !sweep.quiet && sweep.jobs > 1 && tty;
  const int total_todo = static_cast<int>(sweep.todo.size());
  if (!sweep.quiet)
    std::fprintf(stderr, "[%s] sweep: %d runs, %d already complete, %d to run, %d at a time\n", Now().c_str(),
                 sweep.total, sweep.total - total_todo, total_todo, sweep.jobs);
  StopSignalsForSweep signals;
  SweepDisplay display(stderr, stdout);
  std::map<pid_t, RunProcess> running;
  // (run index, skip it when another process holds it): held runs come back at the end, waited for.
  std::vector<std::pair<int, bool>> queue;
  for (int index : sweep.todo) queue.push_back({index, true});
  size_t next = 0;
  int done = 0, failed = 0, interrupted = 0, waited = 0;
  bool stop_sent = false;
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };

  auto finish = [&](pid_t pid, int status) {
    const int index = running[pid].index;
    running.erase(pid);
    display.RemoveRun(index);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == kExitRunElsewhere) {
      queue.push_back({index, false});
      ++waited;
      const std::string line = Concat("[", Now(), "] sweep: run ", index,
                                      " is running in another process; waiting for it after the other runs");
      if (sweep.quiet) return;
      if (live)
        display.PrintLine(line, false);
      else
        std::fprintf(stderr, "%s\n", line.c_str());
      return;
    }
    if (code == 0)
      ++done;
    else if (code == kExitInterrupted)
      ++interrupted;
    else
      ++failed;
    if (sweep.quiet || (live && code == 0)) return;  // the live view shows the run's own result line
    const int finished = done + failed + interrupted;
    const double eta = elapsed() / finished * (total_todo - finished);
    char line[256];
    std::snprintf(line, sizeof line, "[%s] sweep: run %d %s; %d/%d finished, %zu running, %d failed; ETA %.0fs",
                  Now().c_str(), index,
                  code == 0                  ? "done"
                  : code == kExitInterrupted ? "interrupted"
                                             : "FAILED",
                  finished, total_todo, running.size(), failed, eta);
    if (live)
      display.PrintLine(line, false);
    else
      std::fprintf(stderr, "%s\n", line);
  };

  while ((!g_sweep_stop && next < queue.size()) || !running.empty()) {
    while (!g_sweep_stop && next < queue.size() && static_cast<int>(running.size()) < sweep.jobs) {
      std::vector<std::string> args = sweep.child_args;
      args.insert(args.end(), {"--index", std::to_string(queue[next].first)});
      if (queue[next].second) args.push_back("--skip-if-running");
      // One run at a time on a terminal shows its own live line; several report to the live view.
      if (live)
        args.push_back("--report-progress");
      else if (sweep.quiet || sweep.jobs > 1 || !tty)
        args.push_back("--quiet");
      RunProcess run;
      run.index = queue[next++].first;
      const pid_t pid = Spawn(args, live, run);
      running[pid] = run;
    }
    if (g_sweep_stop && !stop_sent) {
      for (const auto& [pid, run] : running) ::kill(pid, SIGTERM);  // they checkpoint and stop
      stop_sent = true;
    }
    if (!live) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, 0);
      if (pid > 0)
        finish(pid, status);
      else if (errno != EINTR)
        break;
      continue;
    }
    PumpOutput(running, display, 200);
    std::vector<pid_t> exited;
    for (const auto& [pid, run] : running)
      if (!run.Open()) exited.push_back(pid);
    for (pid_t pid : exited) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      finish(pid, status);
    }
    const int finished = done + failed + interrupted;
    const int waiting = total_todo - finished - static_cast<int>(running.size());
    display.SetSweepLine(Concat("sweep  ", finished, "/", total_todo, " finished, ", failed, " failed, ",
                                running.size(), " running, ", waiting, " waiting  ", FormatDuration(elapsed()),
                                " elapsed  ETA ",
                                finished > 0 ? FormatDuration(elapsed() / finished * (total_todo - finished)) : "--"));
    display.Redraw();
  }
  if (live) display.Erase();
  if (!sweep.quiet)
    std::fprintf(stderr, "[%s] sweep: %d done, %d failed, %d interrupted, %d skipped (already complete)%s\n",
                 Now().c_str(), done, failed, interrupted, sweep.total - total_todo,
                 waited > 0 ? Concat(", ", waited, " waited for (running in another process)").c_str() : "");
  if (g_sweep_stop || interrupted > 0) return kExitInterrupted;
  return failed > 0 ? kExitInternal : kExitOk;
}

}  // namespace sim
