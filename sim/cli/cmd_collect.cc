// sim collect D --out summary.h5 [--allow-missing]: every run of a sweep in one columnar table, and
// aggregates over seeds. Columns (docs/sweeps.md): the swept options, status, steps, wall time,
// n_params, each final metric <split>_<metric>, and each scalar /analysis value as analysis/<path>.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "sim/cli/cli_options.h"
#include "sim/cli/commands.h"
#include "sim/cli/sweep.h"
#include "sim/core/error.h"
#include "sim/core/glob.h"
#include "sim/core/rng.h"
#include "sim/io/summary_file.h"
#include "sim/io/run_file.h"

namespace sim {

namespace {

bool ParseNumber(const std::string& text, double* value) {
  char* end = nullptr;
  *value = std::strtod(text.c_str(), &end);
  return !text.empty() && *end == '\0';
}

// 95% percentile bootstrap interval of the mean (fixed stream: the same data give the same bounds).
void BootstrapMean(const std::vector<double>& x, double* lo, double* hi) {
  if (x.size() < 2) {
    *lo = *hi = x.empty() ? NAN : x[0];
    return;
  }
  constexpr int kResamples = 10000;
  Rng rng = Rng::ForStream(0, "collect/bootstrap");
  std::vector<double> means(kResamples);
  for (double& m : means) {
    double sum = 0.0;
    for (size_t i = 0; i < x.size(); ++i) sum += x[rng.Below(x.size())];
    m = sum / x.size();
  }
  std::sort(means.begin(), means.end());
  *lo = means[static_cast<size_t>(0.025 * (kResamples - 1))];
  *hi = means[static_cast<size_t>(0.975 * (kResamples - 1))];
}

}  // namespace

int RunCollect(const std::vector<std::string>& args) {
  po::options_description flags("sim collect");
  flags.add_options()("help,h", "print this help")("dir", po::value<std::string>(), "the sweep's --out-dir")(
      "out", po::value<std::string>(), "summary file to write (HDF5)")(
      "allow-missing", "exit 0 even when runs are missing or unreadable (truncated, not a run file)")(
      "seed-keys", po::value<std::string>()->default_value("train.seed"),
      "comma-separated swept options that are replicates (aggregated over)");
  std::vector<std::string> rest = args;
  if (!rest.empty() && rest[0].rfind("-", 0) != 0) rest[0] = "--dir=" + rest[0];
  ParsedCommand cmd = ParseCommand("collect", rest, flags, OptionSet(), false);
  if (cmd.flags.count("help")) {
    std::cout
        << "usage: sim collect D --out summary.h5 [--allow-missing]\n\n"
        << flags
        << "\nExit code 3 when runs are missing or unreadable (the table is incomplete), unless --allow-missing;\n"
           "runs that are interrupted or diverged are in the table with their status and do not change it.\n";
    return kExitOk;
  }
  if (!cmd.flags.count("dir"))
    throw ConfigError("sim collect: give the sweep's output directory, e.g. sim collect runs/depth --out summary.h5");
  if (!cmd.flags.count("out")) throw ConfigError("sim collect: --out summary.h5 is required");
  const std::string dir = cmd.flags["dir"].as<std::string>();
  std::vector<std::string> keys;
  std::vector<ManifestEntry> entries;
  ReadManifest(dir + "/manifest.tsv", keys, entries);

  SummaryTable runs;
  std::vector<std::string> status(entries.size()), missing, unfinished, unreadable;
  std::vector<RunRecord> records(entries.size());
  std::vector<RunScalars> scalars(entries.size());
  std::vector<bool> present(entries.size(), false);
  std::map<std::string, std::pair<std::string, std::string>> metric_names;  // column -> (split, metric)
  std::vector<std::string> analysis_names;  // paths below /analysis, in order of first appearance
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string path = dir + "/" + entries[i].file;
    if (!std::filesystem::exists(path)) {
      status[i] = "missing";
      missing.push_back(std::to_string(entries[i].index));
      continue;
    }
    try {
      records[i] = ReadRunFile(path);
      scalars[i] = ReadRunScalars(path);
      present[i] = true;
      status[i] = records[i].status;
      if (status[i] != "complete") unfinished.push_back(Concat(entries[i].index, " (", status[i], ")"));
      for (const auto& [split, metrics] : records[i].final_metrics)
        for (const auto& [metric, value] : metrics) metric_names[split + "_" + metric] = {split, metric};
      for (const auto& [name, value] : scalars[i].analysis)
        if (std::find(analysis_names.begin(), analysis_names.end(), name) == analysis_names.end())
          analysis_names.push_back(name);
    } catch (const Error& e) {  // truncated, not HDF5, not a run file
      status[i] = "unreadable";
      unfinished.push_back(Concat(entries[i].index, " (unreadable: ", e.what(), ")"));
      unreadable.push_back(std::to_string(entries[i].index));
    }
  }
  // Columns: index, each swept option (numeric when every value is a number), status, steps_done,
  // target_step, wall_seconds, n_params, each final metric, each scalar /analysis value, file.
  std::vector<double> index_col;
  std::vector<std::string> file_col;
  for (const ManifestEntry& e : entries) {
    index_col.push_back(e.index);
    file_col.push_back(e.file);
  }
  runs.AddNumbers("index", index_col);
  std::map<std::string, std::vector<double>> numeric_keys;
  for (const std::string& key : keys) {
    std::vector<std::string> text;
    std::vector<double> numbers;
    bool numeric = true;
    for (const ManifestEntry& e : entries) {
      text.push_back(e.overrides.count(key) ? e.overrides.at(key) : "");
      double v;
      numeric = numeric && ParseNumber(text.back(), &v);
      numbers.push_back(numeric ? v : NAN);
    }
    if (numeric)
      runs.AddNumbers(key, numbers);
    else
      runs.AddStrings(key, text);
  }
  runs.AddStrings("status", status);
  std::vector<double> steps, target, wall, n_params;
  for (size_t i = 0; i < entries.size(); ++i) {
    steps.push_back(present[i] ? records[i].steps_done : NAN);
    target.push_back(present[i] ? records[i].target_step : NAN);
    wall.push_back(present[i] ? records[i].wall_seconds : NAN);
    n_params.push_back(present[i] ? static_cast<double>(scalars[i].n_params) : NAN);
  }
  runs.AddNumbers("steps_done", steps);
  runs.AddNumbers("target_step", target);
  runs.AddNumbers("wall_seconds", wall);
  runs.AddNumbers("n_params", n_params);
  // Final metrics, then /analysis scalars: both get aggregates over the seeds.
  std::vector<std::pair<std::string, std::vector<double>>> metric_cols;
  for (const auto& [name, split_metric] : metric_names) {
    std::vector<double> col;
    for (size_t i = 0; i < entries.size(); ++i) {
      double v = NAN;
      if (present[i]) {
        const auto split = records[i].final_metrics.find(split_metric.first);
        if (split != records[i].final_metrics.end()) {
          const auto it = split->second.find(split_metric.second);
          if (it != split->second.end()) v = it->second;
        }
      }
      col.push_back(v);
    }
    runs.AddNumbers(name, col);
    metric_cols.emplace_back(name, col);
  }
  for (const std::string& name : analysis_names) {
    std::vector<double> col(entries.size(), NAN);
    for (size_t i = 0; i < entries.size(); ++i)
      for (const auto& [path, value] : scalars[i].analysis)
        if (path == name) col[i] = value;
    const std::string column = "analysis/" + name;  // a nested dataset /runs/analysis/<path>
    runs.AddNumbers(column, col);
    metric_cols.emplace_back(column, col);
  }
  runs.AddStrings("file", file_col);

  // Aggregates over replicate keys: one row per configuration of the other swept options.
  std::set<std::string> seed_keys;
  for (const std::string& k : SplitList(cmd.flags["seed-keys"].as<std::string>()))
    seed_keys.insert(k == "seed" ? "train.seed" : k);
  std::vector<std::string> group_keys;
  for (const std::string& k : keys)
    if (!seed_keys.count(k)) group_keys.push_back(k);
  std::map<std::vector<std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < entries.size(); ++i) {
    std::vector<std::string> g;
    for (const std::string& k : group_keys)
      g.push_back(entries[i].overrides.count(k) ? entries[i].overrides.at(k) : "");
    groups[g].push_back(i);
  }
  SummaryTable agg;
  for (size_t k = 0; k < group_keys.size(); ++k) {
    std::vector<std::string> text;
    std::vector<double> numbers;
    bool numeric = true;
    for (const auto& [g, members] : groups) {
      text.push_back(g[k]);
      double v;
      numeric = numeric && ParseNumber(g[k], &v);
      numbers.push_back(numeric ? v : NAN);
    }
    if (numeric)
      agg.AddNumbers(group_keys[k], numbers);
    else
      agg.AddStrings(group_keys[k], text);
  }
  std::vector<double> n_runs;
  for (const auto& [g, members] : groups) n_runs.push_back(members.size());
  agg.AddNumbers("n_runs", n_runs);
  // n_params of the configuration: the same for every seed (NaN when no run was read, or they differ).
  std::vector<double> agg_params;
  for (const auto& [g, members] : groups) {
    double value = NAN;
    bool same = true;
    for (size_t i : members) {
      if (!present[i]) continue;
      same = same && (std::isnan(value) || value == n_params[i]);
      value = n_params[i];
    }
    agg_params.push_back(same ? value : NAN);
  }
  agg.AddNumbers("n_params", agg_params);
  for (const auto& [name, col] : metric_cols) {
    std::vector<double> mean, sd, mn, mx, count, lo, hi;
    for (const auto& [g, members] : groups) {
      std::vector<double> x;
      for (size_t i : members)
        if (std::isfinite(col[i]) && status[i] == "complete") x.push_back(col[i]);
      double sum = 0.0;
      for (double v : x) sum += v;
      const double m = x.empty() ? NAN : sum / x.size();
      double ss = 0.0;
      for (double v : x) ss += (v - m) * (v - m);
      mean.push_back(m);
      sd.push_back(x.size() > 1 ? std::sqrt(ss / (x.size() - 1)) : NAN);
      mn.push_back(x.empty() ? NAN : *std::min_element(x.begin(), x.end()));
      mx.push_back(x.empty() ? NAN : *std::max_element(x.begin(), x.end()));
      count.push_back(x.size());
      double l, h;
      BootstrapMean(x, &l, &h);
      lo.push_back(l);
      hi.push_back(h);
    }
    agg.AddNumbers(name + "_mean", mean);
    agg.AddNumbers(name + "_std", sd);
    agg.AddNumbers(name + "_min", mn);
    agg.AddNumbers(name + "_max", mx);
    agg.AddNumbers(name + "_count", count);
    agg.AddNumbers(name + "_ci95_low", lo);
    agg.AddNumbers(name + "_ci95_high", hi);
  }
  const std::string out = cmd.flags["out"].as<std::string>();
  WriteSummaryFile(out, runs, agg, group_keys, missing, unfinished);

  std::printf("collected %zu runs of %s into %s: %zu missing, %zu not complete\n", entries.size(), dir.c_str(),
              out.c_str(), missing.size(), unfinished.size());
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += (list.empty() ? "" : ", ") + m;
    std::printf("missing runs: %s\n", list.c_str());
  }
  for (const std::string& u : unfinished) std::printf("not complete: run %s\n", u.c_str());
  // An unreadable run file (truncated, foreign) leaves a hole in the table, as a missing one does.
  const bool incomplete = !missing.empty() || !unreadable.empty();
  return !incomplete || cmd.flags.count("allow-missing") ? kExitOk : kExitIncomplete;
}

}  // namespace sim
