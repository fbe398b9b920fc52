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
  std::unique_ptr<ParamRegistry> registry;
  std::unique_ptr<Transformer> model;
};

// Reads and validates every option, builds the task and the model, initializes the parameters from
// the stream "init" under train.seed and applies the parameter-group rules. Throws ConfigError
// listing every problem found.
Experiment BuildExperiment(Options& options);

}  // namespace sim
