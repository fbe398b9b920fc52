// The list of tasks: each entry declares its options (owner "task:<name>"), builds the task from
// resolved options, and may offer measures on a trained model's attention (analysis.attention).
// Adding a task means adding its files and one line in task_registry.cc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sim/config/options.h"
#include "sim/data/task.h"
#include "sim/data/task_measures.h"

namespace sim {

struct TaskEntry {
  std::string name;
  std::string summary;
  void (*declare)(OptionSet& set);                  // declares task.* options for this task
  std::unique_ptr<Task> (*make)(Options& options);  // reads them; problems go to options
  // The task's mechanism measures on a model's attention (analysis.attention), or null.
  TaskMeasureFn measures = nullptr;
};

const std::vector<TaskEntry>& TaskRegistry();

// Declares task.name and every task's options.
void DeclareTaskOptions(OptionSet& set);

// Builds the task named by task.name; an unknown name records an error listing the valid ones and
// returns null.
std::unique_ptr<Task> MakeTask(Options& options);

// The measures the task named `name` offers (TaskEntry::measures), or null.
TaskMeasureFn TaskMeasures(const std::string& name);

}  // namespace sim
