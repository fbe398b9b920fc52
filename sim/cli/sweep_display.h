// The live terminal view of `sim sweep --all --jobs J` (J > 1): a block at the bottom of the
// terminal with one progress line per running run and a sweep line under them, redrawn in place,
// while the runs' own output (result lines, errors) scrolls above it.
//
//   run-0012  run 12/36  step 1400/3000  loss 0.2140  150.2 steps/s  ETA 11s
//   run-0013  run 13/36  step 300/3000  loss 1.7900  149.8 steps/s  ETA 18s
//   sweep  11/36 finished, 0 failed, 2 running, 23 waiting  1m12s elapsed  ETA 2m45s
//
// The run processes report progress to the sweep through their stderr, one line per update that
// starts with kProgressMarker (see RunRequest::report_to_parent); everything else they print is
// passed through unchanged.
#pragma once

#include <cstdio>
#include <map>
#include <string>

namespace sim {

// First byte of a progress line meant for the parent sweep (ASCII record separator).
inline constexpr char kProgressMarker = '\x1e';

class SweepDisplay {
 public:
  // Draws on `terminal` (a tty); lines of the runs' stdout go to `out` (may be the same tty).
  SweepDisplay(std::FILE* terminal, std::FILE* out);

  void SetRunLine(int index, const std::string& text);  // the latest progress line of a running run
  void RemoveRun(int index);
  void SetSweepLine(const std::string& text);
  // A line that stays: printed above the block (to `out` when to_out, else to the terminal).
  void PrintLine(const std::string& line, bool to_out);
  // Redraws the block if something changed and at least `min_seconds` passed since the last draw.
  void Redraw(double min_seconds = 0.2);
  // Erases the block (before the final messages).
  void Erase();

 private:
  void EraseBlock();
  int Width() const;

  std::FILE* terminal_;
  std::FILE* out_;
  std::map<int, std::string> runs_;  // run index -> progress line
  std::string sweep_line_;
  int drawn_lines_ = 0;
  bool dirty_ = true;
  double last_draw_ = -1e9;  // seconds on a monotonic clock
};

// "1h02m", "3m05s", "42s".
std::string FormatDuration(double seconds);

}  // namespace sim
