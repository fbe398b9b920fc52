#include "sim/config/options.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "sim/core/error.h"
#include "sim/core/glob.h"

namespace sim {

namespace {

size_t SkipDigits(std::string_view text, size_t i) {
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
  return i;
}

}  // namespace

bool ParseDecimalInt(std::string_view text, long* value) {
  size_t i = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  const size_t digits_end = SkipDigits(text, i);
  if (digits_end == i || digits_end != text.size()) return false;
  const std::string copy(text);  // no NUL inside: the syntax check saw only digits
  errno = 0;
  char* end = nullptr;
  *value = std::strtol(copy.c_str(), &end, 10);
  return errno != ERANGE && *end == '\0';
}

bool ParseDecimalNumber(std::string_view text, double* value) {
  size_t i = !text.empty() && (text[0] == '+' || text[0] == '-') ? 1 : 0;
  const size_t int_end = SkipDigits(text, i);
  size_t mantissa_digits = int_end - i;
  i = int_end;
  if (i < text.size() && text[i] == '.') {
    const size_t frac_end = SkipDigits(text, i + 1);
    mantissa_digits += frac_end - (i + 1);
    i = frac_end;
  }
  if (mantissa_digits == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    size_t j = i + 1;
    if (j < text.size() && (text[j] == '+' || text[j] == '-')) ++j;
    const size_t exp_end = SkipDigits(text, j);
    if (exp_end == j) return false;
    i = exp_end;
  }
  if (i != text.size()) return false;
  const std::string copy(text);
  errno = 0;
  char* end = nullptr;
  *value = std::strtod(copy.c_str(), &end);
  // ERANGE on underflow too (1e-400): a value that rounds to 0 or a denormal is not what was meant.
  return errno != ERANGE && *end == '\0' && std::isfinite(*value);
}

std::string Excerpt(std::string_view text, size_t max_chars) {
  std::string out;
  const size_t shown = std::min(text.size(), max_chars);
  for (size_t i = 0; i < shown; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (shown < text.size()) out += Concat("... (", text.size(), " characters)");
  return out;
}

int EditDistance(const std::string& a, const std::string& b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::vector<std::string> NearestNames(const std::string& name, const std::vector<std::string>& candidates, size_t n) {
  struct Ranked {
    bool completion;  // `name` is a prefix of the candidate: what prefix matching would have taken
    int distance;
    size_t index;
  };
  std::vector<Ranked> ranked;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (std::find(candidates.begin(), candidates.begin() + i, candidates[i]) != candidates.begin() + i) continue;
    ranked.push_back({candidates[i].rfind(name, 0) == 0, EditDistance(name, candidates[i]), i});
  }
  if (ranked.empty()) return {};
  const int best = std::min_element(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
                     return a.distance < b.distance;
                   })->distance;
  std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    return a.completion != b.completion ? a.completion : a.distance < b.distance;
  });
  std::vector<std::string> nearest;
  for (const Ranked& r : ranked)
    if (nearest.size() < n && (r.completion || r.distance <= best + 1)) nearest.push_back(candidates[r.index]);
  return nearest;
}

std::string DidYouMean(const std::string& name, const std::vector<std::string>& candidates) {
  const std::vector<std::string> nearest = NearestNames(name, candidates);
  if (nearest.empty()) return "";
  std::string text = "; did you mean ";
  for (size_t i = 0; i < nearest.size(); ++i)
    text += Concat(i == 0 ? "" : i + 1 == nearest.size() ? " or " : ", ", "'", nearest[i], "'");
  return text + "?";
}

void OptionSet::Declare(OptionDecl decl) {
  for (const OptionDecl& d : decls_)
    if (d.key == decl.key && d.owner == decl.owner)
      throw InternalError(Concat("option ", decl.key, " declared twice for owner '", decl.owner, "'"));
  decls_.push_back(std::move(decl));
}

std::vector<std::string> OptionSet::Keys() const {
  std::vector<std::string> keys;
  for (const OptionDecl& d : decls_)
    if (std::find(keys.begin(), keys.end(), d.key) == keys.end()) keys.push_back(d.key);
  return keys;
}

bool OptionSet::Has(const std::string& key) const {
  return std::any_of(decls_.begin(), decls_.end(), [&](const OptionDecl& d) { return d.key == key; });
}

const OptionDecl* OptionSet::FindActive(const std::string& key, const std::string& task) const {
  for (const OptionDecl& d : decls_)
    if (d.key == key && (d.owner.empty() || d.owner == "task:" + task)) return &d;
  return nullptr;
}

std::string OptionSet::Closest(const std::string& key) const {
  std::string best;
  int best_distance = std::numeric_limits<int>::max();
  for (const std::string& candidate : Keys()) {
    const int distance = EditDistance(key, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  return best;
}

void OptionSet::RequireDeclared(const std::string& key, const std::string& where) const {
  if (Has(key)) return;
  throw ConfigError(Concat("unknown option '", Excerpt(key), "'", where, DidYouMean(key, Keys()),
                           " (sim train --help lists every option)"));
}

Options::Options(const OptionSet& set, std::map<std::string, std::string> given)
    : set_(&set), given_(std::move(given)) {
  auto it = given_.find("task.name");
  if (it != given_.end()) {
    task_ = it->second;
  } else if (const OptionDecl* d = set.FindActive("task.name", "")) {
    task_ = d->default_value;
  }
  for (const std::string& key : set.Keys()) {
    const OptionDecl* decl = set.FindActive(key, task_);
    if (decl == nullptr) continue;
    order_.push_back(key);
    auto g = given_.find(key);
    resolved_[key] = g != given_.end() ? g->second : decl->default_value;
  }
  // A given key that exists but is not active belongs to another task. (With an unknown task name
  // the task.name error says it all.)
  const bool known_task = std::any_of(set.decls().begin(), set.decls().end(),
                                      [&](const OptionDecl& d) { return d.owner == "task:" + task_; });
  for (const auto& [key, value] : given_) {
    if (!known_task) break;
    if (resolved_.count(key)) continue;
    std::string own;
    for (const std::string& k : order_)
      if (k.rfind("task.", 0) == 0 && k != "task.name") own += (own.empty() ? "" : ", ") + k;
    errors_.push_back(
        Concat(Excerpt(key), ": not an option of task '", task_, "' (its options: ", own.empty() ? "none" : own, ")"));
  }
}

const std::string& Options::Raw(const std::string& key) const {
  auto it = resolved_.find(key);
  if (it == resolved_.end()) throw InternalError(Concat("option ", key, " read but not active"));
  return it->second;
}

void Options::Fail(const std::string& key, const std::string& message) {
  auto it = resolved_.find(key);
  const std::string given = it == resolved_.end() ? "" : it->second;
  errors_.push_back(Concat(key, ": ", message, " (given '", Excerpt(given), "')"));
}

std::string Options::String(const std::string& key) { return Trim(Raw(key)); }

std::string Options::OptionalString(const std::string& key) {
  std::string text = String(key);
  return text == "none" ? std::string() : text;
}

long Options::Int(const std::string& key, long min, long max) {
  long value = 0;
  if (!ParseDecimalInt(Trim(Raw(key)), &value)) {
    Fail(key, Concat("expected an integer in [", min, ", ", max, "] (decimal digits)"));
    return min;
  }
  if (value < min || value > max) {
    Fail(key, Concat("must be in [", min, ", ", max, "]"));
    return min;
  }
  return value;
}

double Options::Double(const std::string& key, double min, double max) {
  double value = 0;
  if (!ParseDecimalNumber(Trim(Raw(key)), &value)) {
    Fail(key, Concat("expected a number in [", min, ", ", max, "] (decimal, e.g. 3e-4)"));
    return min;
  }
  if (value < min || value > max) {
    Fail(key, Concat("must be in [", min, ", ", max, "]"));
    return min;
  }
  return value;
}

bool Options::Bool(const std::string& key) {
  std::string text = Trim(Raw(key));
  std::transform(text.begin(), text.end(), text.begin(), ::tolower);
  if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
  if (text == "false" || text == "0" || text == "no" || text == "off") return false;
  Fail(key, "expected true or false");
  return false;
}

std::string Options::Choice(const std::string& key, const std::vector<std::string>& choices) {
  const std::string text = Trim(Raw(key));
  if (std::find(choices.begin(), choices.end(), text) != choices.end()) return text;
  std::string list;
  for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
  Fail(key, Concat("expected one of: ", list));
  return choices.front();
}

std::vector<long> Options::IntList(const std::string& key, long min, long max) {
  std::vector<long> values;
  for (const std::string& item : SplitList(Raw(key))) {
    long value = 0;
    if (!ParseDecimalInt(item, &value) || value < min || value > max) {
      Fail(key, Concat("expected a comma-separated list of integers in [", min, ", ", max, "]"));
      return {min};
    }
    values.push_back(value);
  }
  if (values.empty()) {
    Fail(key, "expected at least one integer");
    return {min};
  }
  return values;
}

std::vector<std::string> Options::StringList(const std::string& key) {
  const std::string text = OptionalString(key);  // none: an explicit empty list, writable on the command line too
  return SplitList(text);
}

void Options::ThrowIfErrors() const {
  if (errors_.empty()) return;
  std::string message;
  for (const std::string& e : errors_) message += (message.empty() ? "" : "\n") + e;
  throw ConfigError(message);
}

std::string Options::ResolvedIni() const {
  // Sections in first-declaration order; keys within a section in declaration order.
  std::vector<std::string> listed;
  for (const std::string& key : order_) {
    const OptionDecl* decl = set_->FindActive(key, task_);
    if (!decl->omit_at_default || resolved_.at(key) != decl->default_value) listed.push_back(key);
  }
  std::vector<std::string> sections;
  for (const std::string& key : listed) {
    const std::string section = key.substr(0, key.find('.'));
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) sections.push_back(section);
  }
  std::ostringstream out;
  for (const std::string& section : sections) {
    out << "[" << section << "]\n";
    for (const std::string& key : listed)
      if (key.compare(0, section.size() + 1, section + ".") == 0)
        out << key.substr(section.size() + 1) << " = " << resolved_.at(key) << "\n";
    out << "\n";
  }
  return out.str();
}

}  // namespace sim
