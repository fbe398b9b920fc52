// Wiring: options -> task, model, initialized parameters and training configuration.
// The only place (with the rest of sim/cli) that knows both sim/ and tasks/.
#pragma once

#include <memory>
#include <string>

#include "analysis/analyses.h"
#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/models/transformer.h"
#include "sim/params/param_registry.h"
#include "sim/train/lora.h"
#include "sim/train/memory_estimate.h"
#include "sim/train/train_config.h"

namespace sim {

// Every option of every component, in help order: task, model, train, eval, optim.
OptionSet AllOptions();

struct Experiment {
  std::unique_ptr<Task> task;
  ModelConfig model_config;
  TrainConfig train;
  AnalysisConfig analysis;
  std::string resolved_ini;
  MemoryEstimate memory;  // what training needs (EstimateTrainingMemory)
  std::unique_ptr<ParamRegistry> registry;
  std::unique_ptr<Transformer> model;
  std::unique_ptr<LoraAdapters> lora;  // lora.targets' adapters (null without LoRA); the trainer needs it
  std::vector<std::string> notes;      // what the build decided for the user to know (a fresh readout), one line each
};

// What the analyses read of a built experiment (with trained parameters, after `steps_done` steps),
// its run's curves and its parameter snapshots: the same inputs inside sim train and in sim analyze.
AnalysisInputs AnalysisInputsOf(const Experiment& e, const std::vector<std::string>& curve_names,
                                const std::vector<std::vector<double>>& curves,
                                const std::vector<ParamSnapshot>& snapshots, int steps_done);

enum class BuildMode {
  kTrain,       // build everything; refuse (ConfigError) a run whose memory estimate exceeds what is available
  kConfigOnly,  // stop before the parameter buffers: task, configs, resolved INI and memory estimate only
                // (registry and model stay null), whatever the size (sim train --print-config)
};

// Reads and validates every option, builds the task and the model (with its LoRA adapters, registered
// after the model's parameters), initializes the parameters from the stream "init" under train.seed,
// loads train.init_from, applies the parameter-group rules and captures LoRA's base weights. Throws ConfigError
// listing every problem found. Before allocating the parameters it estimates the memory training
// needs and, in kTrain mode, refuses with both numbers when the machine cannot give that much.
Experiment BuildExperiment(Options& options, BuildMode mode = BuildMode::kTrain);

// "# memory: training needs about 1.2 GiB (...); this machine has 6.0 GiB available (...)": the
// comment line `sim train --print-config` prints above the resolved INI.
std::string MemoryComment(const MemoryEstimate& memory);

}  // namespace sim
