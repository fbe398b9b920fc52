#include "sim/cli/sweep_display.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>

namespace sim {

namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::string FormatDuration(double seconds) {
  const long s = seconds < 0 ? 0 : static_cast<long>(seconds + 0.5);
  char text[32];
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, s % 3600 / 60);
  else if (s >= 60)
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(text, sizeof text, "%lds", s);
  return text;
}

SweepDisplay::SweepDisplay(std::FILE* terminal, std::FILE* out) : terminal_(terminal), out_(out) {}

void SweepDisplay::SetRunLine(int index, const std::string& text) {
  runs_[index] = text;
  dirty_ = true;
}

void SweepDisplay::RemoveRun(int index) {
  runs_.erase(index);
  dirty_ = true;
}

void SweepDisplay::SetSweepLine(const std::string& text) {
  sweep_line_ = text;
  dirty_ = true;
}

int SweepDisplay::Width() const {
  winsize size = {};
  if (::ioctl(::fileno(terminal_), TIOCGWINSZ, &size) == 0 && size.ws_col > 10) return size.ws_col;
  return 100;
}

// Moves to the first line of the block and clears from there to the end of the screen.
void SweepDisplay::EraseBlock() {
  if (drawn_lines_ > 0) std::fprintf(terminal_, "\x1b[%dA", drawn_lines_);
  std::fputs("\r\x1b[J", terminal_);
  drawn_lines_ = 0;
}

void SweepDisplay::PrintLine(const std::string& line, bool to_out) {
  EraseBlock();
  std::fflush(terminal_);
  std::FILE* stream = to_out ? out_ : terminal_;
  std::fprintf(stream, "%s\n", line.c_str());
  std::fflush(stream);
  dirty_ = true;
  Redraw(0.0);
}

void SweepDisplay::Redraw(double min_seconds) {
  const double now = NowSeconds();
  if (!dirty_ || now - last_draw_ < min_seconds) return;
  EraseBlock();
  // Lines are cut to the terminal's width so that none wraps: the block's height stays known.
  const size_t width = static_cast<size_t>(Width() - 1);
  auto draw = [&](const std::string& text) {
    std::fprintf(terminal_, "%s\n", text.substr(0, width).c_str());
    ++drawn_lines_;
  };
  for (const auto& [index, text] : runs_) draw(text);
  if (!sweep_line_.empty()) draw(sweep_line_);
  std::fflush(terminal_);
  dirty_ = false;
  last_draw_ = now;
}

void SweepDisplay::Erase() {
  EraseBlock();
  std::fflush(terminal_);
  dirty_ = true;
}

}  // namespace sim
