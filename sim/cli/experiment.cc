#include "sim/cli/experiment.h"

#include <algorithm>
#include <map>

#include "sim/cli/cli_options.h"
#include "sim/core/error.h"
#include "sim/core/rng.h"
#include "sim/io/run_file.h"
#include "analysis/analyses.h"
#include "tasks/task_registry.h"

namespace sim {

OptionSet AllOptions() {
  OptionSet set;
  DeclareTaskOptions(set);
  DeclareModelOptions(set);
  DeclareTrainOptions(set);
  DeclareLoraOptions(set);
  DeclareAnalysisOptions(set);
  return set;
}

namespace {

// train.init_from: model options without parameters that still change what the model computes
// (causal masking, positions, norms, activation, attention weights, mixers) must be the source run's,
// or its parameters would be read by another computation. Throws ConfigError naming both values.
void RequireSameComputation(const std::string& source, const std::map<std::string, std::string>& source_given,
                            Options& options, const ModelConfig& mine) {
  const OptionSet set = AllOptions();
  Options theirs_options(set, source_given);
  const ModelConfig theirs = ReadModelConfig(theirs_options);
  auto text = [&](const std::string& key) {
    auto it = source_given.find(key);
    if (it != source_given.end()) return it->second;
    const OptionDecl* decl = set.FindActive(key, "");
    return decl ? decl->default_value : std::string();
  };
  std::vector<std::string> keys;
  if (theirs.causal != mine.causal) keys.push_back("model.causal");
  if (theirs.pos != mine.pos) keys.push_back("model.pos");
  if (mine.pos == PosKind::kLearnedFactored && theirs.segment != mine.segment) keys.push_back("model.segment");
  if (theirs.norm != mine.norm) keys.push_back("model.norm");
  if (theirs.act != mine.act) keys.push_back("model.act");
  if (theirs.attention != mine.attention) keys.push_back("model.attention");
  if (theirs.mixers != mine.mixers && theirs.layers == mine.layers) {
    bool same = true;  // "attention" and "attention,attention" are the same model
    for (int l = 0; l < mine.layers; ++l) same = same && theirs.mixer_in_layer(l) == mine.mixer_in_layer(l);
    if (!same) keys.push_back("model.mixer");
  }
  if (keys.empty()) return;
  std::string what;
  for (const std::string& key : keys)
    what += Concat(what.empty() ? "" : "; ", key, " = ", options.String(key), " here, ", text(key), " in the source");
  throw ConfigError(Concat("train.init_from = ", source, ": ", what,
                           ". These options have no parameters but change what the model computes: set them as the "
                           "source run has them"));
}

// The parameters train.init_from loads. At the default (every parameter), a readout the source stores
// with another shape (another task's classes) is left at its fresh init, noted in e.notes (sim train prints it).
std::vector<std::string> InitPatterns(Experiment& e, const std::string& source_task) {
  const std::vector<std::string>& patterns = e.train.init_params;
  const bool every = patterns.empty() || (patterns.size() == 1 && patterns[0] == "*");
  if (!every || source_task == e.task->info().name) return patterns;
  std::vector<std::string> fresh;
  for (const std::string& name : ParamsWithOtherShapes(e.train.init_from, *e.registry))
    if (name.rfind("head.", 0) == 0) fresh.push_back(name);
  if (fresh.empty()) return patterns;
  std::vector<std::string> names;
  for (ParamId id = 0; id < e.registry->size(); ++id)
    if (std::find(fresh.begin(), fresh.end(), e.registry->name(id)) == fresh.end())
      names.push_back(e.registry->name(id));
  std::string listed;
  for (const std::string& name : fresh) listed += (listed.empty() ? "" : ", ") + name;
  e.notes.push_back(Concat("train.init_from: the source run's task is ", source_task, ", this run's ",
                           e.task->info().name, ": ", listed, " start fresh (a new readout)"));
  return names;
}

}  // namespace

Experiment BuildExperiment(Options& options, BuildMode mode) {
  Experiment e;
  e.task = MakeTask(options);
  const OptionErrorScope model_read(options);
  e.model_config = ReadModelConfig(options);
  e.train = ReadTrainConfig(options);
  const LoraConfig lora = ReadLoraConfig(options);
  e.analysis = ReadAnalysisConfig(options);
  if (e.task) {
    const TaskInfo& info = e.task->info();
    // Whether the model is causal is the mixers' to say (once the model options read cleanly).
    if (info.requires_causal && model_read.ok() && !e.model_config.causal_everywhere())
      options.Fail("model.causal", Concat("task '", info.name, "' needs causal attention here (",
                                          info.causal_reason.empty() ? "bidirectional attention would see the targets"
                                                                     : info.causal_reason,
                                          "); set model.causal = true"));
    for (const std::string& split : e.train.eval.skip) {
      const int index = e.task->SplitIndex(split);
      if (index < 0 || !info.evaluated(index)) {
        std::string splits;
        for (size_t i = 1; i < info.splits.size(); ++i)
          if (info.evaluated(static_cast<int>(i))) splits += (splits.empty() ? "" : ", ") + info.splits[i];
        options.Fail("eval.skip", Concat("'", split, "' is not an evaluation split of task '", info.name,
                                         "' (splits: ", splits, ")"));
      } else if (!e.train.target_metric.empty() && split == e.train.target_split) {
        options.Fail("eval.skip", Concat("'", split, "' is train.target_split: the early stop watches it"));
      }
    }
    if (!e.train.target_metric.empty() && !info.evaluated(e.task->SplitIndex(e.train.target_split))) {
      std::string splits;
      for (size_t i = 1; i < info.splits.size(); ++i)
        if (info.evaluated(static_cast<int>(i))) splits += (splits.empty() ? "" : ", ") + info.splits[i];
      options.Fail("train.target_split",
                   Concat("not an evaluation split of task '", info.name, "' (splits: ", splits, ")"));
    }
  }
  options.ThrowIfErrors();
  e.resolved_ini = options.ResolvedIni();
  e.model_config.ApplyTask(e.task->info());
  e.model_config.Validate();
  ResolveAutoChunk(e.train, e.task->info().length, e.model_config.d_model);
  // Constructing the model registers the parameters (their count) without allocating them.
  auto registry = std::make_unique<ParamRegistry>();
  auto model = std::make_unique<Transformer>(e.model_config, *registry);
  auto adapters = lora.enabled() ? std::make_unique<LoraAdapters>(lora, *registry) : nullptr;
  e.memory =
      EstimateTrainingMemory(e.model_config, e.train, e.task->info(), static_cast<uint64_t>(registry->total_size()));
  if (mode == BuildMode::kConfigOnly) return e;
  const AvailableMemory available = QueryAvailableMemory();
  if (available.bytes > 0 && e.memory.total() > available.bytes)
    throw ConfigError(Concat("not enough memory for this run: it needs about ", e.memory.Describe(), "; ",
                             available.source, " leaves ", FormatBytes(available.bytes),
                             "; make the model smaller (model.d_model, model.layers, model.d_mlp), or lower "
                             "train.batch, train.chunk, train.threads or eval.batch (sim train --print-config shows "
                             "the estimate)"));
  e.registry = std::move(registry);
  e.model = std::move(model);
  e.lora = std::move(adapters);
  e.registry->Finalize();
  Rng init = Rng::ForStream(e.train.seed, "init");
  InitializeParams(*e.registry, init);
  if (e.train.init_from.rfind("sweep:", 0) == 0)  // sim sweep resolves it to a run file before this
    throw ConfigError(
        Concat("train.init_from = ", e.train.init_from,
               ": a sweep's runs are picked only in a sweep (sim sweep, sim slurm); give a run file here"));
  if (!e.train.init_from.empty()) {
    std::map<std::string, std::string> source_given;
    try {
      source_given = ParseIniText(ReadRunFile(e.train.init_from).config, AllOptions());
    } catch (const InputError& error) {
      throw InputError(Concat("train.init_from: ", error.what()));
    } catch (const ConfigError& error) {
      throw InputError(Concat("train.init_from = ", e.train.init_from, ": its config does not parse: ", error.what()));
    }
    RequireSameComputation(e.train.init_from, source_given, options, e.model_config);
    const auto task = source_given.find("task.name");
    const std::string source_task = task != source_given.end() ? task->second : "";
    try {
      std::vector<std::string> patterns = InitPatterns(e, source_task);
      // Never the adapters: they start fresh (a LoRA source's /params weights have its adapters merged).
      if (e.lora) patterns = ParamsWithoutAdapters(*e.registry, patterns);
      if ((e.lora && patterns.empty()) || ReadParams(e.train.init_from, *e.registry, patterns) == 0)
        throw InputError(Concat("no parameter matches train.init_params (", options.String("train.init_params"), ")"));
    } catch (const InputError& error) {
      throw InputError(Concat("train.init_from: ", error.what()));
    }
  }
  if (e.lora && e.train.groups.trainable.empty()) e.train.groups.trainable = LoraDefaultTrainable(*e.registry);
  e.train.groups.Apply(*e.registry);
  if (e.lora) e.lora->CaptureBase();  // W0 = the weights as initialized and loaded; frozen
  return e;
}

std::string MemoryComment(const MemoryEstimate& memory) {
  const AvailableMemory available = QueryAvailableMemory();
  std::string text = Concat("# memory: training needs about ", memory.Describe());
  if (available.bytes > 0) text += Concat("; ", available.source, " leaves ", FormatBytes(available.bytes));
  return text + "\n";
}

AnalysisInputs AnalysisInputsOf(const Experiment& e, const std::vector<std::string>& curve_names,
                                const std::vector<std::vector<double>>& curves,
                                const std::vector<ParamSnapshot>& snapshots, int steps_done) {
  AnalysisInputs in;
  in.snapshots = &snapshots;
  in.final_step = steps_done;
  in.registry = e.registry.get();
  in.model = e.model.get();
  in.task = e.task.get();
  in.train = &e.train;
  in.curve_names = &curve_names;
  in.curves = &curves;
  in.task_measures = TaskMeasures(e.task->info().name);
  return in;
}

}  // namespace sim
