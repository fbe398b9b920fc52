// Option declarations and resolved option values, independent of any parser.
//
// Each component declares its options once (key, default, help) under its prefix: `model.`,
// `task.`, `train.`, `optim.`, `eval.`. A task's own options carry the owner "task:<name>" and are
// active only when task.name is that task; two tasks may declare the same key with different
// defaults. The CLI parses INI files and --section.key=value overrides into a map of given values;
// Options then resolves every active key (given value, else the default), reads typed values with
// checks, collects every problem (so a user sees all errors at once) and renders the resolved INI
// text stored in each run file.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sim {

struct OptionDecl {
  std::string key;            // "model.d_model"
  std::string default_value;  // as written in an INI file
  std::string help;
  std::string owner;  // "" = always active; "task:mqar" = only for that task
  // Left out of the resolved INI text while the value is the default: for options added after run
  // files and sweeps exist (analysis.<name>.*), so runs that leave them alone keep their config
  // text, and their sweep file names.
  bool omit_at_default = false;
};

class OptionSet {
 public:
  void Declare(OptionDecl decl);
  const std::vector<OptionDecl>& decls() const { return decls_; }
  // Unique keys in declaration order.
  std::vector<std::string> Keys() const;
  // The declaration of key for owner "" or "task:<task>", or null when the key is not active.
  const OptionDecl* FindActive(const std::string& key, const std::string& task) const;
  bool Has(const std::string& key) const;
  // The declared key nearest to `key` by edit distance (for "did you mean" hints).
  std::string Closest(const std::string& key) const;
  // Throws ConfigError unless `key` is declared (for some owner): "unknown option 'model.layer'<where>;
  // did you mean 'model.layers', ...?", naming up to three nearest keys. `where` is " in FILE:LINE",
  // " on the command line" or empty. Keys match exactly: a prefix is not a key.
  void RequireDeclared(const std::string& key, const std::string& where) const;

 private:
  std::vector<OptionDecl> decls_;
};

class Options {
 public:
  // `given` holds explicitly set values (INI file and command line, already merged). The active task
  // is given["task.name"] or the declared default.
  Options(const OptionSet& set, std::map<std::string, std::string> given);

  const std::string& task() const { return task_; }
  bool IsSet(const std::string& key) const { return given_.count(key) > 0; }
  // The resolved text of an active key.
  const std::string& Raw(const std::string& key) const;

  // Typed reads. A bad value records an error naming the key, the expectation and the given value,
  // and returns a harmless fallback so reading can continue and report everything at once.
  // The value without surrounding whitespace.
  std::string String(const std::string& key);
  // String(key), or "" when the value is `none` or empty: for keys where none means "not set"
  // (train.target_metric, train.init_from, analysis.steps_to).
  std::string OptionalString(const std::string& key);
  long Int(const std::string& key, long min, long max);
  double Double(const std::string& key, double min, double max);
  bool Bool(const std::string& key);
  std::string Choice(const std::string& key, const std::vector<std::string>& choices);
  std::vector<long> IntList(const std::string& key, long min, long max);
  // Comma-separated items; "none" (or nothing) is the empty list.
  std::vector<std::string> StringList(const std::string& key);

  // Records a problem with key (message states what is expected).
  void Fail(const std::string& key, const std::string& message);
  const std::vector<std::string>& errors() const { return errors_; }
  // Throws ConfigError listing every recorded problem, one per line.
  void ThrowIfErrors() const;

  // The resolved configuration as INI text: one section per prefix, every active key (but those
  // declared omit_at_default while at their default).
  std::string ResolvedIni() const;

 private:
  const OptionSet* set_;
  std::map<std::string, std::string> given_;
  std::map<std::string, std::string> resolved_;
  std::vector<std::string> order_;  // active keys in declaration order
  std::string task_;
  std::vector<std::string> errors_;
};

// Whether reads since a point recorded problems: checks that combine several keys run only when each
// key read cleanly, so a message never quotes a fallback value the user did not give.
//   const OptionErrorScope layers_read(options);
//   c.layers = options.Int("model.layers", 1, 64);
//   if (layers_read.ok()) ...
class OptionErrorScope {
 public:
  explicit OptionErrorScope(const Options& options) : options_(&options), start_(options.errors().size()) {}
  // True when no problem was recorded since construction.
  bool ok() const { return options_->errors().size() == start_; }

 private:
  const Options* options_;
  size_t start_;
};

// Number syntax of every numeric option (INI files and --section.key=value alike):
//   integer: [+-]?[0-9]+                                   decimal only: 0x10, 1e3, 1.0 are not integers
//   number:  [+-]?([0-9]+(.[0-9]*)?|.[0-9]+)([eE][+-]?[0-9]+)?   decimal, optional exponent
// No hexadecimal, no inf/nan, no whitespace or other bytes inside (a NUL byte ends nothing): what strtol
// and strtod would have read in silence (0x10 as 16, nan, "3\0junk" as 3) is an error. Accepted text
// reads exactly as strtol/strtod read it (so valid configurations keep their values bit for bit).
// Both return false on bad syntax or a value out of the type's range.
bool ParseDecimalInt(std::string_view text, long* value);
bool ParseDecimalNumber(std::string_view text, double* value);

// A value as quoted back in a message: bytes that are not printable ASCII as \xNN, and text longer
// than `max_chars` cut there with "... (N characters)" appended, so a 10 MB value is not echoed whole.
std::string Excerpt(std::string_view text, size_t max_chars = 80);

// Levenshtein distance, for suggestions.
int EditDistance(const std::string& a, const std::string& b);

// The (at most `n`) candidates nearest to `name`: first those that `name` is a prefix of (what a
// prefix-guessing parser would have taken), then the others by edit distance, each group nearest
// first, ties in the candidates' order. Candidates farther than the nearest one plus one are left
// out, so the list names real alternatives, not filler.
std::vector<std::string> NearestNames(const std::string& name, const std::vector<std::string>& candidates,
                                      size_t n = 3);

// "; did you mean 'a', 'b' or 'c'?" for NearestNames(name, candidates), or "" when there are none.
std::string DidYouMean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace sim
