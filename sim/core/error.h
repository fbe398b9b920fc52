// Error hierarchy. The library throws; only sim/cli turns errors into messages and exit codes.
//
// ConfigError and InputError are the user's to fix (exit code 2); ShapeError and InternalError are
// bugs in the engine or in a caller.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace sim {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration value is missing, malformed or out of range. Message names key, expected, given.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// An input file is unreadable, foreign or inconsistent.
class InputError : public Error {
 public:
  using Error::Error;
};

// Results could not be written: the disk or quota is full, or the file system failed. Not the
// input's fault: the last checkpoint is kept, and the same command resumes once there is room.
class WriteError : public Error {
 public:
  using Error::Error;
};

// A tensor has the wrong shape at an API boundary.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A broken invariant inside the engine.
class InternalError : public Error {
 public:
  using Error::Error;
};

// Builds a message from stream-able parts: Concat("x is ", r, "x", c).
template <typename... Parts>
std::string Concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace sim
