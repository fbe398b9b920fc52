#include "tasks/task_registry.h"

#include "tasks/ft_tasks.h"
#include "tasks/icqa.h"
#include "tasks/ictemplate.h"
#include "tasks/linreg.h"
#include "tasks/lm_mixture.h"
#include "tasks/mqar.h"
#include "tasks/seqclass.h"
#include "tasks/sparse_linreg.h"
#include "tasks/template_task.h"
#include "tasks/uniform.h"

namespace sim {

const std::vector<TaskEntry>& TaskRegistry() {
  static const std::vector<TaskEntry> entries = {
      {"mqar", "multi-query associative recall (Arora et al. 2023, Zoology)", DeclareMqarOptions, MakeMqar},
      {"linreg", "in-context linear regression (Garg et al. 2022)", DeclareLinregOptions, MakeLinreg},
      {"sparse_linreg", "in-context sparse linear regression (Garg et al. 2022; heads study, Chen et al. 2024)",
       DeclareSparseLinregOptions, MakeSparseLinreg},
      {"seqclass", "memorization: N random sequences with random labels (Chen & Zou 2024, T1)", DeclareSeqclassOptions,
       MakeSeqclass},
      {"icqa", "in-context question answering (Chen & Zou 2024, T2)", DeclareIcqaOptions, MakeIcqa, IcqaMeasures},
      {"template", "template matching, in- and out-of-vocabulary (Chen & Zou 2024, T3)", DeclareTemplateOptions,
       MakeTemplate, TemplateMeasures},
      {"ictemplate", "in-context template matching (Chen & Zou 2024, T4; not validated)", DeclareIctemplateOptions,
       MakeIctemplate, IctemplateMeasures},
      {"uniform", "random tokens and labels: nothing to learn (benchmarks, smoke tests)", DeclareUniformOptions,
       MakeUniform},
      {"lm_mixture", "next-token prediction on Markov text, recall and copy segments (fine-tuning pre-training)",
       DeclareLmMixtureOptions, MakeLmMixture},
      {"ft_majority", "fine-tuning: which of two indicator-token sets occurs more often in chain text",
       DeclareFtMajorityOptions, MakeFtMajority},
      {"ft_key_value_set", "fine-tuning: is the value bound to the last (repeated) key in a fixed set S",
       DeclareFtKeyValueSetOptions, MakeFtKeyValueSet},
      {"ft_chain_valid", "fine-tuning: do all transitions follow the shared Markov chain", DeclareFtChainValidOptions,
       MakeFtChainValid},
      {"ft_value_perm", "fine-tuning control: the class of the recalled value under a fixed permutation",
       DeclareFtValuePermOptions, MakeFtValuePerm},
  };
  return entries;
}

void DeclareTaskOptions(OptionSet& set) {
  std::string names;
  for (const TaskEntry& e : TaskRegistry()) names += (names.empty() ? "" : " | ") + e.name;
  set.Declare({"task.name", TaskRegistry().front().name, "task: " + names, ""});
  for (const TaskEntry& e : TaskRegistry()) e.declare(set);
}

std::unique_ptr<Task> MakeTask(Options& options) {
  const std::string name = options.task();
  for (const TaskEntry& e : TaskRegistry())
    if (e.name == name) return e.make(options);
  std::string names;
  for (const TaskEntry& e : TaskRegistry()) names += (names.empty() ? "" : ", ") + e.name;
  options.Fail("task.name", "unknown task; valid tasks: " + names);
  return nullptr;
}

}  // namespace sim

namespace sim {

TaskMeasureFn TaskMeasures(const std::string& name) {
  for (const TaskEntry& e : TaskRegistry())
    if (e.name == name) return e.measures;
  return nullptr;
}

}  // namespace sim
