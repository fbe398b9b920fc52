#include "sim/cli/sweep.h"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "sim/cli/experiment.h"
#include "sim/cli/run_training.h"
#include "sim/core/error.h"
#include "sim/core/glob.h"
#include "sim/core/rng.h"
#include "sim/io/hdf5_file.h"
#include "sim/io/run_file.h"

namespace sim {

namespace {

std::string Where(const SweepLine& line) { return Concat(line.file, ":", line.line, ": [sweep] "); }

// Whether `text` is a whole (optionally signed) decimal integer.
bool IsInteger(const std::string& text, long& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  value = std::strtol(text.c_str(), &end, 10);
  return *end == '\0' && errno == 0;
}

// "0..4" -> 0,1,2,3,4 when both sides are integers; anything else (a path like ../x.h5) is one value.
void ExpandItem(const std::string& item, const SweepLine& line, std::vector<std::string>& out) {
  const size_t dots = item.find("..");
  long lo = 0, hi = 0;
  if (dots == std::string::npos || !IsInteger(Trim(item.substr(0, dots)), lo) ||
      !IsInteger(Trim(item.substr(dots + 2)), hi)) {
    out.push_back(item);
    return;
  }
  if (hi < lo || hi - lo > 100000)
    throw ConfigError(Concat(Where(line), "range '", item, "': expected integers a..b with a <= b (inclusive)"));
  for (long v = lo; v <= hi; ++v) out.push_back(std::to_string(v));
}

// The line without its comment: `#` or `;` at the start of the line or after whitespace (inside a
// value, as in `a#b`, they are part of it).
std::string StripComment(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i)
    if ((text[i] == '#' || text[i] == ';') && (i == 0 || std::isspace(static_cast<unsigned char>(text[i - 1]))))
      return text.substr(0, i);
  return text;
}

// Splits `text` at `separator` where it is outside brackets; trimmed, empty items dropped (as
// SplitList). Throws naming the line on an unbalanced bracket.
std::vector<std::string> SplitOutsideBrackets(const std::string& text, char separator, const SweepLine& line) {
  std::vector<std::string> items;
  std::string item;
  int depth = 0;
  auto flush = [&] {
    std::string t = Trim(item);
    if (!t.empty()) items.push_back(std::move(t));
    item.clear();
  };
  for (char c : text) {
    if (c == ']' && depth == 0)
      throw ConfigError(Concat(Where(line), "']' without a '[' before it in '", Trim(text),
                               "'; write a value that contains commas as [a,b,c]"));
    depth += c == '[' ? 1 : c == ']' ? -1 : 0;
    if (c == separator && depth == 0) {
      flush();
    } else {
      item += c;
    }
  }
  if (depth != 0)
    throw ConfigError(Concat(Where(line), "'[' without its ']' in '", Trim(text),
                             "'; write a value that contains commas as [a,b,c]"));
  flush();
  return items;
}

// "[8,1,1]" -> "8,1,1" (bracketed: literal, never a range); other values are returned as they are,
// with `bracketed` false. Brackets must enclose a whole value.
std::string Unbracket(const std::string& value, const SweepLine& line, bool& bracketed) {
  bracketed = !value.empty() && value.front() == '[';
  if (!bracketed) {
    if (value.find_first_of("[]") != std::string::npos)
      throw ConfigError(Concat(Where(line), "value '", value, "': brackets must enclose a whole value, as in [a,b]"));
    return value;
  }
  int depth = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    depth += value[i] == '[' ? 1 : value[i] == ']' ? -1 : 0;
    if (depth == 0 && i + 1 != value.size())
      throw ConfigError(Concat(Where(line), "value '", value, "': brackets must enclose a whole value, as in [a,b]"));
  }
  std::string inner = Trim(value.substr(1, value.size() - 2));
  if (inner.empty()) throw ConfigError(Concat(Where(line), "empty value '", value, "'"));
  return inner;
}

// ---- Chained sweeps: train.init_from = sweep:DIR ------------------------------------------------

constexpr const char* kSweepSource = "sweep:";

bool IsSweepSource(const std::string& value) { return Trim(value).rfind(kSweepSource, 0) == 0; }

// A value as compared between sweeps: trimmed, no spaces around commas ("8, 1,1" = "8,1,1").
std::string NormalizedValue(const std::string& value) {
  std::string out;
  for (const std::string& item : SplitList(value, ',')) out += (out.empty() ? "" : ",") + item;
  return out.empty() ? Trim(value) : out;
}

// Equal as text (normalized), or as numbers when both are numbers ("0.001" = "1e-3").
bool SameValue(const std::string& a, const std::string& b) {
  const std::string na = NormalizedValue(a), nb = NormalizedValue(b);
  if (na == nb) return true;
  char *end_a = nullptr, *end_b = nullptr;
  const double x = std::strtod(na.c_str(), &end_a), y = std::strtod(nb.c_str(), &end_b);
  return !na.empty() && !nb.empty() && *end_a == '\0' && *end_b == '\0' && x == y;
}

// The source sweep of a chain: its directory (absolute), manifest keys and runs.
struct SourceSweep {
  std::string dir;
  std::vector<std::string> keys;
  std::vector<ManifestEntry> runs;
};

const SourceSweep& LoadSource(const std::string& value, std::map<std::string, SourceSweep>& cache) {
  const std::string dir_text = Trim(Trim(value).substr(std::string(kSweepSource).size()));
  if (dir_text.empty())
    throw ConfigError(Concat("train.init_from = ", Trim(value), ": expected sweep:DIR, DIR the --out-dir of a sweep"));
  std::filesystem::path normal = std::filesystem::absolute(dir_text).lexically_normal();
  if (!normal.has_filename() && normal.has_parent_path()) normal = normal.parent_path();  // "pre/" = "pre"
  const std::string dir = normal.string();
  auto it = cache.find(dir);
  if (it != cache.end()) return it->second;
  SourceSweep source;
  source.dir = dir;
  try {
    ReadManifest(dir + "/manifest.tsv", source.keys, source.runs);
  } catch (const InputError& error) {
    throw InputError(Concat("train.init_from = ", Trim(value), ": ", error.what(),
                            "; start or submit the source sweep (sim sweep or sim slurm --out-dir ", dir_text,
                            ") first"));
  }
  if (source.runs.empty())
    throw InputError(Concat("train.init_from = ", Trim(value), ": ", dir, "/manifest.tsv lists no runs"));
  return cache.emplace(dir, std::move(source)).first->second;
}

std::string JoinValues(const std::vector<std::string>& keys, const std::map<std::string, std::string>& values) {
  std::string text;
  for (const std::string& k : keys) text += Concat(text.empty() ? "" : " ", k, "=", values.at(k));
  return text;
}

// The run of `source` whose shared options (swept there, set in `given`) equal this run's; throws
// ConfigError naming the options when none or several match.
const ManifestEntry& MatchSource(const SourceSweep& source, const std::string& value,
                                 const std::map<std::string, std::string>& given) {
  std::vector<std::string> shared, unshared;
  for (const std::string& key : source.keys) {
    if (key == "train.init_from") continue;  // this run's own is the sweep: reference
    (given.count(key) ? shared : unshared).push_back(key);
  }
  std::vector<const ManifestEntry*> matches;
  for (const ManifestEntry& entry : source.runs) {
    bool same = true;
    for (const std::string& key : shared)
      same = same && entry.overrides.count(key) && SameValue(entry.overrides.at(key), given.at(key));
    if (same) matches.push_back(&entry);
  }
  const std::string where = Concat("train.init_from = ", Trim(value), ": ");
  const std::string rule = " (the shared options are those swept in the source sweep that this run sets)";
  if (matches.empty()) {
    std::string seen;
    for (const std::string& key : shared) {
      std::set<std::string> values;
      for (const ManifestEntry& entry : source.runs)
        if (entry.overrides.count(key)) values.insert(entry.overrides.at(key));
      std::string list;
      for (const std::string& v : values) list += (list.empty() ? "" : ", ") + v;
      seen += Concat(seen.empty() ? "" : "; ", key, " in {", list, "}");
    }
    throw ConfigError(
        Concat(where, "no run of ", source.dir, " has ", JoinValues(shared, given), rule, "; its runs have ", seen));
  }
  if (matches.size() > 1) {
    std::string indices;
    for (size_t i = 0; i < matches.size() && i < 8; ++i) indices += Concat(i ? ", " : "", matches[i]->index);
    if (matches.size() > 8) indices += ", ...";
    std::string differ;
    for (const std::string& key : unshared) differ += (differ.empty() ? "" : ", ") + key;
    throw ConfigError(Concat(where, matches.size(), " runs of ", source.dir, " (", indices, ") match",
                             shared.empty() ? std::string(" (no shared options)") : " on " + JoinValues(shared, given),
                             rule, "; set ", differ, " in this sweep (fixed or swept) to pick one"));
  }
  return *matches.front();
}

// Hash of a run file's /params (names, shapes, values): what train.init_from reads from it. Stable
// when the file is rewritten (sim analyze) or re-made bit for bit; any change of a weight changes it.
uint64_t ParamsHash(const std::string& path) {
  H5Reader h5(path);
  if (!h5.Exists("/params")) throw InputError(Concat(path, ": no /params"));
  std::string text;
  for (const std::string& name : h5.List("/params")) {
    text += name + "(";
    for (uint64_t d : h5.Shape("/params/" + name)) text += Concat(d, ",");
    text += ")";
    const std::vector<double> values = h5.Doubles("/params/" + name);
    text.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
  }
  return HashText(text);
}

// The resolved text without train.threads and the snapshot options, with [train] init_from replaced by `init_from`.
std::string HashedConfig(const std::string& resolved_ini, const std::string& init_from) {
  std::istringstream in(SweepHashedConfig(resolved_ini));
  std::string line, section, out;
  while (std::getline(in, line)) {
    if (!line.empty() && line.front() == '[') section = line;
    if (section == "[train]" && line.rfind("init_from = ", 0) == 0) line = "init_from = " + init_from;
    out += line + "\n";
  }
  return out;
}

}  // namespace

std::string RunFileState(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::filesystem::exists(path + ".ckpt") ? "checkpointed" : "missing";
  try {
    return ReadRunFile(path).status;
  } catch (const Error&) {
    return "unreadable";
  }
}

uint64_t HashText(const std::string& text) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ULL;
  }
  return Mix64(h);
}

std::vector<SweepAxis> ParseSweep(const std::vector<SweepLine>& lines, const OptionSet& set) {
  std::vector<SweepAxis> axes;
  std::set<std::string> seen;
  for (const SweepLine& line : lines) {
    std::string text = Trim(StripComment(line.text));
    if (text.empty()) continue;
    const size_t eq = text.find('=');
    if (eq == std::string::npos) throw ConfigError(Concat(Where(line), "expected 'key = values', got '", text, "'"));
    SweepAxis axis;
    for (std::string key : SplitList(text.substr(0, eq), '&')) {
      if (key == "seed") key = "train.seed";
      if (!set.Has(key))
        throw ConfigError(Concat(Where(line), "unknown option '", key, "'", DidYouMean(key, set.Keys())));
      if (!seen.insert(key).second) throw ConfigError(Concat(Where(line), "option '", key, "' is swept twice"));
      axis.keys.push_back(key);
    }
    if (axis.keys.empty()) throw ConfigError(Concat(Where(line), "no option name before '='"));
    for (const std::string& group : SplitOutsideBrackets(text.substr(eq + 1), ',', line)) {
      std::vector<std::string> parts = SplitOutsideBrackets(group, '&', line);
      if (parts.size() != axis.keys.size())
        throw ConfigError(Concat(Where(line), "value '", group, "' has ", parts.size(), " part(s) for ",
                                 axis.keys.size(), " zipped option(s); write one value per option, joined by &"));
      std::vector<bool> bracketed(parts.size());
      for (size_t k = 0; k < parts.size(); ++k) {
        bool b = false;
        parts[k] = Unbracket(parts[k], line, b);
        bracketed[k] = b;
      }
      if (axis.keys.size() == 1 && !bracketed[0]) {
        std::vector<std::string> expanded;
        ExpandItem(parts[0], line, expanded);
        for (const std::string& v : expanded) axis.values.push_back({v});
      } else {
        axis.values.push_back(parts);
      }
    }
    if (axis.values.empty()) throw ConfigError(Concat(Where(line), "no values for ", axis.keys.front()));
    axes.push_back(std::move(axis));
  }
  if (axes.empty()) throw ConfigError("the config has no [sweep] section with values: nothing to sweep");
  return axes;
}

struct SweepRuns::SourceCache {
  std::map<std::string, SourceSweep> sources;   // chained sweeps: by absolute directory
  std::map<std::string, uint64_t> params_hash;  // by source run file
};

SweepRuns::SweepRuns(const std::vector<SweepAxis>& axes, const std::map<std::string, std::string>& base,
                     const std::set<std::string>& command_line, const OptionSet& set)
    : axes_(axes), base_(base), set_(set), sources_(std::make_unique<SourceCache>()) {
  for (const SweepAxis& axis : axes_)
    for (const std::string& key : axis.keys)
      if (command_line.count(key))
        throw ConfigError(Concat(key, ": swept in [sweep] and set on the command line; keep one"));
  for (const SweepAxis& axis : axes_) {
    if (axis.values.size() > kMaxSweepRuns / size_)
      throw ConfigError(Concat("the sweep expands to more than ", kMaxSweepRuns,
                               " runs, the limit of one sweep (docs/sweeps.md); split it into several sweeps"));
    size_ *= axis.values.size();
  }
  auto init_from = base_.find("train.init_from");
  chained_ = init_from != base_.end() && IsSweepSource(init_from->second);
  for (const SweepAxis& axis : axes_)
    for (size_t k = 0; k < axis.keys.size(); ++k)
      if (axis.keys[k] == "train.init_from")
        for (const std::vector<std::string>& point : axis.values) chained_ = chained_ || IsSweepSource(point[k]);
}

SweepRuns::~SweepRuns() = default;

std::map<std::string, std::string> SweepRuns::Overrides(size_t index) const {
  std::map<std::string, std::string> overrides;
  for (size_t a = axes_.size(); a-- > 0;) {  // the last axis varies fastest
    const size_t digit = index % axes_[a].values.size();
    index /= axes_[a].values.size();
    for (size_t k = 0; k < axes_[a].keys.size(); ++k) overrides[axes_[a].keys[k]] = axes_[a].values[digit][k];
  }
  return overrides;
}

SweepRun SweepRuns::Resolve(size_t index) {
  SweepRun run;
  run.index = static_cast<int>(index);
  run.overrides = Overrides(index);
  run.given = base_;
  for (const auto& [key, value] : run.overrides) run.given[key] = value;
  std::string hashed_init_from;  // chained: what the hash takes in place of the source's path
  std::map<std::string, std::string> validated = run.given;
  try {
    auto init_from = run.given.find("train.init_from");
    if (init_from != run.given.end() && IsSweepSource(init_from->second)) {
      const SourceSweep& source = LoadSource(init_from->second, sources_->sources);
      const ManifestEntry& entry = MatchSource(source, init_from->second, run.given);
      run.source = (std::filesystem::path(source.dir) / entry.file).string();
      run.source_state = RunFileState(run.source);
      run.source_pending = run.source_state != "complete";
      init_from->second = run.source;
      if (run.source_pending) {
        validated.erase("train.init_from");  // everything else is checked now, the weights when it runs
      } else {
        validated["train.init_from"] = run.source;
        std::map<std::string, uint64_t>& params_hash = sources_->params_hash;
        if (!params_hash.count(run.source)) params_hash[run.source] = ParamsHash(run.source);
        char hash[40];
        std::snprintf(hash, sizeof hash, "sweep run params %016llx",
                      static_cast<unsigned long long>(params_hash[run.source]));
        hashed_init_from = hash;
      }
    }
    Options options(set_, validated);
    Experiment e = BuildExperiment(options);
    run.resolved_ini = e.resolved_ini;
  } catch (const ConfigError& e) {
    std::string where;
    for (const auto& [k, v] : run.overrides) where += (where.empty() ? "" : " ") + k + "=" + v;
    throw ConfigError(Concat("run ", index, " (", where, "): ", e.what()));
  }
  // Unchained runs hash exactly as before: their names do not change.
  run.hash = HashText(hashed_init_from.empty() ? SweepHashedConfig(run.resolved_ini)
                                               : HashedConfig(run.resolved_ini, hashed_init_from));
  char name[64];
  if (run.source_pending)
    std::snprintf(name, sizeof name, "run-%04zu-pending.h5", index);
  else
    std::snprintf(name, sizeof name, "run-%04zu-%012llx.h5", index,
                  static_cast<unsigned long long>(run.hash & 0xFFFFFFFFFFFFULL));
  run.file = name;
  return run;
}

void ForEachRun(SweepRuns& runs, const std::function<void(SweepRun& run)>& each) {
  std::string errors;
  for (size_t index = 0; index < runs.size(); ++index) {
    SweepRun run;
    try {
      run = runs.Resolve(index);
    } catch (const ConfigError& e) {
      if (errors.size() < 4000) errors += Concat(e.what(), "\n");
      continue;
    }
    each(run);
  }
  if (!errors.empty()) throw ConfigError(Concat("invalid runs in the sweep:\n", errors.substr(0, errors.size() - 1)));
}

std::vector<SweepRun> ExpandSweep(SweepRuns& runs) {
  std::vector<SweepRun> all;
  all.reserve(runs.size());
  ForEachRun(runs, [&](SweepRun& run) {
    run.given.clear();
    run.resolved_ini.clear();
    all.push_back(std::move(run));
  });
  return all;
}

std::string SweepManifest(const std::vector<SweepAxis>& axes, const std::vector<SweepRun>& runs) {
  std::ostringstream out;
  out << "# attnsim sweep manifest: index, hash, file, swept option values\nkeys";
  for (const SweepAxis& axis : axes)
    for (const std::string& key : axis.keys) out << "\t" << key;
  out << "\n";
  for (const SweepRun& run : runs) {
    char hash[32];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(run.hash));
    out << run.index << "\t" << (run.source_pending ? "pending" : hash) << "\t" << run.file;
    for (const SweepAxis& axis : axes)
      for (const std::string& key : axis.keys) out << "\t" << key << "=" << run.overrides.at(key);
    out << "\n";
  }
  return out.str();
}

void ReadManifest(const std::string& path, std::vector<std::string>& keys, std::vector<ManifestEntry>& runs) {
  std::ifstream in(path);
  if (!in) throw InputError(Concat(path, ": no sweep manifest (is this the --out-dir of a sim sweep?)"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    std::istringstream fs(line);
    for (std::string f; std::getline(fs, f, '\t');) fields.push_back(f);
    if (fields.empty()) continue;
    if (fields[0] == "keys") {
      keys.assign(fields.begin() + 1, fields.end());
      continue;
    }
    if (fields.size() < 3) throw InputError(Concat(path, ": malformed manifest line '", line, "'"));
    ManifestEntry e;
    e.index = std::atoi(fields[0].c_str());
    e.hash = fields[1];
    e.file = fields[2];
    for (size_t i = 3; i < fields.size(); ++i) {
      const size_t eq = fields[i].find('=');
      if (eq != std::string::npos) e.overrides[fields[i].substr(0, eq)] = fields[i].substr(eq + 1);
    }
    runs.push_back(std::move(e));
  }
}

bool ManifestIsCurrent(const std::string& path, const SweepRuns& runs, const SweepRun& run) {
  if (runs.chained() || !std::filesystem::exists(path)) return false;
  std::vector<std::string> keys, expected_keys;
  std::vector<ManifestEntry> entries;
  try {
    ReadManifest(path, keys, entries);
  } catch (const InputError&) {
    return false;
  }
  for (const SweepAxis& axis : runs.axes())
    expected_keys.insert(expected_keys.end(), axis.keys.begin(), axis.keys.end());
  if (keys != expected_keys || entries.size() != runs.size()) return false;
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].index != static_cast<int>(i) || entries[i].overrides != runs.Overrides(i)) return false;
  char hash[32];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(run.hash));
  const ManifestEntry& entry = entries[run.index];
  return entry.hash == hash && entry.file == run.file;
}

}  // namespace sim
