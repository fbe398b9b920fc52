#include "sim/cli/experiment.h"

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
    try {
      // Never the adapters: they start fresh (a LoRA source's /params weights have its adapters merged).
      const std::vector<std::string> patterns =
          e.lora ? ParamsWithoutAdapters(*e.registry, e.train.init_params) : e.train.init_params;
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
