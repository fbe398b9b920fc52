#include "sim/io/run_file.h"

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>

#include "sim/core/check.h"
#include "sim/core/error.h"
#include "sim/core/glob.h"
#include "sim/io/atomic_file.h"
#include "sim/io/hdf5_file.h"

static_assert(std::is_same_v<sim::Scalar, float>, "run files store float32 parameters");

namespace sim {

extern const char* const kEngineVersion;  // generated at build time (cmake/version.cmake)

const char* EngineVersion() { return kEngineVersion; }

namespace {

std::string NowIso8601() {
  std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

// The dataset shape of a parameter: [rows] for a vector, [cols, rows] (column-major bytes) otherwise.
std::vector<uint64_t> StoredShape(const ParamSpec& spec) {
  if (spec.cols == 1) return {static_cast<uint64_t>(spec.rows)};
  return {static_cast<uint64_t>(spec.cols), static_cast<uint64_t>(spec.rows)};
}

// Writes parameter `id` of the flat buffer `values` (registry layout) at <group>/<name>.
void WriteParam(H5Writer& out, const ParamRegistry& registry, const Scalar* values, const std::string& group,
                ParamId id) {
  const ParamSpec& spec = registry.spec(id);
  const Scalar* data = values + registry.offset(id);
  const std::vector<uint64_t> dims = StoredShape(spec);
  const std::string path = group + "/" + spec.name;
  out.Floats(path, data, dims);  // sim_io is built with Scalar = float
  out.AttrInts(path, "engine_shape", {static_cast<int64_t>(spec.rows), static_cast<int64_t>(spec.cols)});
}

void WriteAnalyses(H5Writer& out, const std::vector<AnalysisArray>& arrays) {
  for (const AnalysisArray& a : arrays) {
    const std::string path = "/analysis/" + a.path;
    if (a.group)
      out.Group(path);
    else
      out.Doubles(path, a.data.data(), a.dims);
    for (const auto& [name, value] : a.string_attrs) out.AttrString(path, name, value);
    for (const auto& [name, value] : a.number_attrs) out.AttrDouble(path, name, value);
    for (const auto& [name, value] : a.int_array_attrs) out.AttrInts(path, name, value);
  }
}

void RequireRunFile(const H5Reader& in, const std::string& path) {
  if (!in.HasAttr("/", "format") || in.AttrString("/", "format") != kRunFormat)
    throw InputError(Concat(path, ": not an attnsim run file (root attribute 'format' is not '", kRunFormat, "')"));
}

}  // namespace

void WriteRunFile(const std::string& path, const RunRecord& record, const ParamRegistry& registry,
                  const std::vector<ParamSnapshot>& snapshots) {
  WriteAtomically(path, [&](const std::string& tmp) {
    H5Writer out(tmp);
    out.AttrString("/", "format", kRunFormat);
    out.AttrInt("/", "format_version", kRunFormatVersion);
    out.AttrString("/", "status", record.status);
    out.AttrInt("/", "seed", static_cast<int64_t>(record.seed));
    out.AttrString("/", "config", record.config);
    out.AttrString("/", "version", EngineVersion());
    out.AttrInt("/", "steps_done", record.steps_done);
    out.AttrInt("/", "target_step", record.target_step);
    out.AttrInt("/", "threads", record.threads);
    if (record.chunk > 0) out.AttrInt("/", "chunk", record.chunk);
    out.AttrDouble("/", "wall_seconds", record.wall_seconds);
    out.AttrString("/", "created", record.created.empty() ? NowIso8601() : record.created);
    out.AttrInt("/", "n_params", registry.total_size());
    out.Group("/curves");
    for (size_t i = 0; i < record.curve_names.size(); ++i)
      out.Doubles("/curves/" + record.curve_names[i], record.curves[i].data(), {record.curves[i].size()});
    out.Group("/final");
    for (const auto& [split, metrics] : record.final_metrics)
      for (const auto& [metric, value] : metrics) out.Scalar("/final/" + split + "/" + metric, value);
    out.Group("/params");
    for (ParamId id = 0; id < registry.size(); ++id) {
      WriteParam(out, registry, registry.values().data(), "/params", id);
      const std::string param = "/params/" + registry.name(id);
      const ParamGroupSettings& group = registry.group(id);
      out.AttrInt(param, "trainable", group.trainable ? 1 : 0);
      if (!std::isnan(record.base_lr))
        out.AttrDouble(param, "lr", group.trainable ? record.base_lr * group.lr_mult : 0.0);
      if (!std::isnan(record.weight_decay))
        out.AttrDouble(param, "weight_decay", record.weight_decay * group.decay_mult);
    }
    if (!snapshots.empty()) {
      out.Group("/snapshots");
      std::vector<int64_t> steps;
      for (const ParamSnapshot& snap : snapshots) {
        SIM_CHECK(snap.values.size() == registry.total_size(), "snapshot of step ", snap.step, " holds ",
                  snap.values.size(), " values, the model has ", registry.total_size());
        const std::string group = "/snapshots/" + std::to_string(snap.step) + "/params";
        out.Group(group);
        for (ParamId id = 0; id < registry.size(); ++id) WriteParam(out, registry, snap.values.data(), group, id);
        steps.push_back(snap.step);
      }
      out.AttrInts("/snapshots", "steps", steps);
    }
    WriteAnalyses(out, record.analysis);
    out.Close();
  });
}

RunRecord ReadRunFile(const std::string& path, std::string* version) {
  H5Reader in(path);
  RequireRunFile(in, path);
  const int64_t format_version = in.AttrInt("/", "format_version");
  if (format_version != kRunFormatVersion)
    throw InputError(
        Concat(path, ": run file format_version ", format_version, ", this build reads ", kRunFormatVersion));
  RunRecord r;
  r.config = in.AttrString("/", "config");
  r.seed = static_cast<uint64_t>(in.AttrInt("/", "seed"));
  r.status = in.AttrString("/", "status");
  r.steps_done = static_cast<int>(in.AttrInt("/", "steps_done"));
  r.target_step = static_cast<int>(in.AttrInt("/", "target_step"));
  r.threads = static_cast<int>(in.AttrInt("/", "threads"));
  r.chunk = in.HasAttr("/", "chunk") ? static_cast<int>(in.AttrInt("/", "chunk")) : 0;  // files before train.chunk: 0
  r.wall_seconds = in.AttrDouble("/", "wall_seconds");
  r.created = in.HasAttr("/", "created") ? in.AttrString("/", "created") : "";
  if (version != nullptr) *version = in.AttrString("/", "version");
  for (const std::string& name : in.List("/curves")) {
    r.curve_names.push_back(name);
    r.curves.push_back(in.Doubles("/curves/" + name));
  }
  for (const std::string& split : in.List("/final"))
    for (const std::string& metric : in.List("/final/" + split))
      r.final_metrics[split][metric] = in.Doubles("/final/" + split + "/" + metric).at(0);
  return r;
}

namespace {

// Reads <group>/<name> of every parameter of `registry` matching `patterns` (empty = all) into the flat
// buffer `values` (registry layout); returns how many.
int ReadParamGroup(const H5Reader& in, const std::string& path, const std::string& group, const ParamRegistry& registry,
                   const std::vector<std::string>& patterns, Scalar* values) {
  int loaded = 0;
  for (ParamId id = 0; id < registry.size(); ++id) {
    const ParamSpec& spec = registry.spec(id);
    bool wanted = patterns.empty();
    for (const std::string& pattern : patterns) wanted = wanted || GlobMatch(pattern, spec.name);
    if (!wanted) continue;
    const std::string name = group + "/" + spec.name;
    const std::string shown = group == "/params" ? spec.name : name.substr(1);
    if (!in.Exists(name)) throw InputError(Concat(path, ": has no parameter ", shown));
    const std::vector<uint64_t> shape = in.Shape(name);
    const std::vector<uint64_t> expected = StoredShape(spec);
    if (shape != expected) {
      std::string got, want;
      for (uint64_t d : shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      for (uint64_t d : expected) want += (want.empty() ? "" : ", ") + std::to_string(d);
      throw InputError(Concat(path, ": parameter ", shown, " is [", got, "], expected [", want, "]"));
    }
    const std::vector<double> stored = in.Doubles(name);
    Scalar* dst = values + registry.offset(id);
    for (size_t i = 0; i < stored.size(); ++i) dst[i] = static_cast<Scalar>(stored[i]);
    ++loaded;
  }
  return loaded;
}

}  // namespace

int ReadParams(const std::string& path, ParamRegistry& registry, const std::vector<std::string>& patterns) {
  H5Reader in(path);
  RequireRunFile(in, path);
  return ReadParamGroup(in, path, "/params", registry, patterns, registry.values().data());
}

std::vector<std::string> ParamsWithOtherShapes(const std::string& path, const ParamRegistry& registry) {
  H5Reader in(path);
  RequireRunFile(in, path);
  std::vector<std::string> names;
  for (ParamId id = 0; id < registry.size(); ++id) {
    const std::string name = "/params/" + registry.name(id);
    if (in.Exists(name) && in.Shape(name) != StoredShape(registry.spec(id))) names.push_back(registry.name(id));
  }
  return names;
}

std::vector<ParamSnapshot> ReadSnapshots(const std::string& path, const ParamRegistry& registry) {
  H5Reader in(path);
  RequireRunFile(in, path);
  std::vector<ParamSnapshot> snapshots;
  if (!in.Exists("/snapshots")) return snapshots;
  for (int64_t step : in.AttrInts("/snapshots", "steps")) {
    ParamSnapshot snap;
    snap.step = static_cast<int>(step);
    snap.values = Vec::Zero(registry.total_size());
    ReadParamGroup(in, path, "/snapshots/" + std::to_string(step) + "/params", registry, {}, snap.values.data());
    snapshots.push_back(std::move(snap));
  }
  return snapshots;
}

void AddAnalysesToRunFile(const std::string& path, const std::vector<std::string>& remove,
                          const std::vector<AnalysisArray>& arrays, bool locked_by_caller) {
  RequireRunFile(H5Reader(path), path);
  // Not while a sweep or sim train makes or replaces this run (they hold its lock).
  std::unique_ptr<FileLock> lock;
  if (!locked_by_caller) lock = std::make_unique<FileLock>(path);
  if (lock && lock->state() == FileLock::State::kBusy)
    throw InputError(
        Concat(path, ": in use by another process (", path, ".lock is locked); try again when it is done"));
  WriteAtomically(path, [&](const std::string& tmp) {
    std::error_code error;
    std::filesystem::copy_file(path, tmp, std::filesystem::copy_options::overwrite_existing, error);
    if (error) ThrowWriteFailure(Concat(tmp, ": cannot copy ", path), error.value());
    H5Writer out(tmp, H5Writer::Edit::kEdit);
    for (const std::string& object : remove) out.Remove("/analysis/" + object);
    WriteAnalyses(out, arrays);
    out.Close();
  });
}

std::string AnalysisAttr(const std::string& path, const std::string& object, const std::string& name) {
  H5Reader in(path);
  const std::string full = "/analysis/" + object;
  return in.HasAttr(full, name) ? in.AttrString(full, name) : "";
}

namespace {

// Adds the scalars below /analysis/<group> (relative path `prefix`) to `out`, depth first.
void CollectScalars(const H5Reader& in, const std::string& prefix, std::vector<std::pair<std::string, double>>& out) {
  for (const std::string& name : in.List("/analysis" + prefix)) {
    const std::string relative = prefix + "/" + name, full = "/analysis" + relative;
    const H5Reader::Kind kind = in.KindOf(full);
    if (kind == H5Reader::Kind::kGroup) CollectScalars(in, relative, out);
    if (kind != H5Reader::Kind::kNumbers || name == "step") continue;
    const std::vector<uint64_t> shape = in.Shape(full);
    const bool series =
        shape.size() == 1 && shape[0] > 0 && in.HasAttr(full, "dims") && in.AttrString(full, "dims") == "step";
    if (!shape.empty() && !series) continue;
    out.emplace_back(relative.substr(1), in.Doubles(full).back());
  }
}

}  // namespace

RunScalars ReadRunScalars(const std::string& path) {
  H5Reader in(path);
  RequireRunFile(in, path);
  RunScalars s;
  if (in.HasAttr("/", "n_params")) {
    s.n_params = in.AttrInt("/", "n_params");
  } else if (in.Exists("/params")) {
    for (const std::string& name : in.List("/params")) {
      int64_t count = 1;
      for (uint64_t d : in.Shape("/params/" + name)) count *= static_cast<int64_t>(d);
      s.n_params += count;
    }
  }
  if (in.KindOf("/analysis") == H5Reader::Kind::kGroup) CollectScalars(in, "", s.analysis);
  return s;
}

}  // namespace sim
