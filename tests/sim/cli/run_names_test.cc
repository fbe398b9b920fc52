// What names a run's results (ResultDeterminingConfig, sim/cli/run_training.h): sweep file names and
// checkpoints follow the options that can change training, and nothing else.
//   - A sweep directory made before a new option is declared is still complete after it: the
//     option is omitted from the resolved text at its default. Checked in process (the test
//     declares the option itself), with run files trained by TrainToFile, and every option outside
//     the frozen list of keys that existing run files carry is checked to be declared so.
//   - analysis.* options and train.threads leave the names alone; the results epoch renames every
//     run, and at 0 adds nothing (existing names stay: tests/cli/sweep_test.cc keeps a few).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "sim/cli/experiment.h"
#include "sim/cli/run_training.h"
#include "sim/cli/sweep.h"

namespace sim {
namespace {

namespace fs = std::filesystem;

// Every option that run files made before omit_at_default carry in their config text, by owner
// (a task's options: "task:<name>"). Never add to it: a new option is declared omit_at_default.
// clang-format off
const std::set<std::pair<std::string, std::string>> kKeysOfExistingRuns = {
    {"", "task.name"},
    {"task:mqar", "task.vocab"}, {"task:mqar", "task.length"}, {"task:mqar", "task.pairs"},
    {"task:mqar", "task.queries"}, {"task:mqar", "task.power_a"}, {"task:mqar", "task.random_fill"},
    {"task:linreg", "task.d"}, {"task:linreg", "task.points"}, {"task:linreg", "task.noise"},
    {"task:linreg", "task.score"},
    {"task:seqclass", "task.vocab"}, {"task:seqclass", "task.length"}, {"task:seqclass", "task.classes"},
    {"task:seqclass", "task.n"},
    {"task:icqa", "task.questions"}, {"task:icqa", "task.answers"}, {"task:icqa", "task.pairs"},
    {"task:icqa", "task.n_queries"},
    {"task:template", "task.vocab_train"}, {"task:template", "task.vocab_test"}, {"task:template", "task.length"},
    {"task:template", "task.templates"}, {"task:template", "task.train_size"},
    {"task:ictemplate", "task.vocab"}, {"task:ictemplate", "task.labels"}, {"task:ictemplate", "task.pairs"},
    {"task:ictemplate", "task.length"}, {"task:ictemplate", "task.templates_train"},
    {"task:ictemplate", "task.n_queries"}, {"task:ictemplate", "task.pad_to"},
    {"task:uniform", "task.vocab"}, {"task:uniform", "task.length"}, {"task:uniform", "task.classes"},
    {"task:uniform", "task.score"},
    {"", "model.layers"}, {"", "model.heads"}, {"", "model.d_model"}, {"", "model.d_mlp"}, {"", "model.norm"},
    {"", "model.pos"}, {"", "model.segment"}, {"", "model.causal"}, {"", "model.mixer"}, {"", "model.act"},
    {"", "model.bias"}, {"", "model.init"},
    {"", "train.steps"}, {"", "train.batch"}, {"", "train.chunk"}, {"", "train.lr"}, {"", "train.optimizer"},
    {"", "train.seed"}, {"", "train.threads"}, {"", "train.eval_every"}, {"", "train.weight_decay"},
    {"", "train.beta1"}, {"", "train.beta2"}, {"", "train.eps"}, {"", "train.momentum"}, {"", "train.clip"},
    {"", "train.schedule"}, {"", "train.warmup"}, {"", "train.min_lr_ratio"}, {"", "train.target_metric"},
    {"", "train.target_split"}, {"", "train.init_from"}, {"", "train.init_params"}, {"", "train.target_value"},
    {"", "eval.size"}, {"", "eval.batch"}, {"", "eval.mode"}, {"", "eval.seed"},
    {"", "optim.freeze"}, {"", "optim.trainable"}, {"", "optim.lr_mult"}, {"", "optim.decay_mult"},
    {"", "analysis.attention"}, {"", "analysis.probe"}, {"", "analysis.steps_to"},
};
// clang-format on

// Task owners of the list: a task added later brings its own options (active only for it), which no
// existing run has, so they need not be omitted at their default.
std::set<std::string> ExistingTasks() {
  std::set<std::string> tasks;
  for (const auto& [owner, key] : kKeysOfExistingRuns)
    if (owner.rfind("task:", 0) == 0) tasks.insert(owner);
  return tasks;
}

TEST(RunNamesTest, EveryNewOptionIsOmittedAtItsDefault) {
  const std::set<std::string> tasks = ExistingTasks();
  const OptionSet set = AllOptions();
  for (const OptionDecl& d : set.decls()) {
    if (d.omit_at_default || kKeysOfExistingRuns.count({d.owner, d.key})) continue;
    if (d.owner.rfind("task:", 0) == 0 && !tasks.count(d.owner)) continue;  // a new task's own option
    ADD_FAILURE() << d.key << (d.owner.empty() ? "" : " (" + d.owner + ")")
                  << ": declare it with omit_at_default = true, or every existing run and sweep file changes "
                     "its name (and sweeps rerun)";
  }
}

const std::map<std::string, std::string> kBase = {
    {"task.name", "mqar"}, {"task.vocab", "32"},  {"task.length", "16"},      {"task.pairs", "4"},
    {"task.queries", "4"}, {"model.layers", "1"}, {"model.heads", "2"},       {"model.d_model", "16"},
    {"model.d_mlp", "0"},  {"train.steps", "10"}, {"train.eval_every", "10"}, {"train.batch", "8"},
    {"eval.size", "32"},   {"eval.batch", "32"},
};

std::string Identity(const OptionSet& set, std::map<std::string, std::string> given, int epoch = kResultsEpoch) {
  Options options(set, given);
  return ResultDeterminingConfig(options.ResolvedIni(), epoch);
}

TEST(RunNamesTest, AnalysisOptionsAndThreadsDoNotChangeWhatNamesTheResults) {
  const OptionSet set = AllOptions();
  const std::string plain = Identity(set, kBase);
  std::map<std::string, std::string> given = kBase;
  for (const auto& [key, value] : std::map<std::string, std::string>{{"analysis.attention", "true"},
                                                                     {"analysis.probe", "32"},
                                                                     {"analysis.steps_to", "none"},
                                                                     {"analysis.steps_to.curve", "test_loss"},
                                                                     {"analysis.head_ablation", "true"},
                                                                     {"analysis.sinks", "true"},
                                                                     {"train.threads", "2"}}) {
    given[key] = value;
    EXPECT_EQ(Identity(set, given), plain) << key;
  }
  given["train.lr"] = "0.002";
  EXPECT_NE(Identity(set, given), plain) << "a training option does";
  // At epoch 0 it is the text existing run names were hashed from: the resolved INI without threads.
  Options options(set, kBase);
  std::string legacy = options.ResolvedIni();
  legacy.erase(legacy.find("threads = 1\n"), 12);
  EXPECT_EQ(kResultsEpoch, 0);
  EXPECT_EQ(plain, legacy);
  EXPECT_NE(Identity(set, kBase, 1), plain) << "raising the epoch renames every run";
  EXPECT_NE(Identity(set, kBase, 2), Identity(set, kBase, 1));
}

// A scratch directory removed at the end of the test.
struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("run_names_test." + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() { fs::remove_all(dir); }
};

std::vector<std::string> FileNames(const std::vector<SweepAxis>& axes, const std::map<std::string, std::string>& base,
                                   const OptionSet& set) {
  SweepRuns runs(axes, base, {}, set);
  std::vector<std::string> files;
  for (size_t i = 0; i < runs.size(); ++i) files.push_back(runs.Resolve(i).file);
  return files;
}

TEST(RunNamesTest, ASweepDirectoryMadeBeforeANewOptionIsStillCompleteAfterIt) {
  const Scratch scratch;
  const std::vector<SweepAxis> axes = {{{"train.seed"}, {{"0"}, {"1"}}}};
  const OptionSet before = AllOptions();
  SweepRuns runs(axes, kBase, {}, before);
  for (size_t i = 0; i < runs.size(); ++i) {
    const SweepRun run = runs.Resolve(i);
    RunRequest request;
    request.given = run.given;
    request.out = (scratch.dir / run.file).string();
    request.quiet = true;
    request.label = "run";  // named by a sweep
    request.checkpoint_seconds = 0;
    ASSERT_EQ(TrainToFile(request), 0);
  }
  auto complete = [&](const std::vector<std::string>& files) {
    for (const std::string& file : files)
      if (RunFileState((scratch.dir / file).string()) != "complete") return false;
    return true;
  };
  ASSERT_TRUE(complete(FileNames(axes, kBase, before)));

  OptionSet after = AllOptions();  // the engine with a new option, declared as the rule says
  OptionDecl added{"train.new_option", "7", "an option added after the runs were made", ""};
  added.omit_at_default = true;
  after.Declare(added);
  EXPECT_EQ(FileNames(axes, kBase, after), FileNames(axes, kBase, before));
  EXPECT_TRUE(complete(FileNames(axes, kBase, after))) << "the directory is still complete";
  std::map<std::string, std::string> with_analyses = kBase;  // and a sweep that asks for analyses
  with_analyses["analysis.attention"] = "true";
  with_analyses["analysis.head_ablation"] = "true";
  EXPECT_TRUE(complete(FileNames(axes, with_analyses, after)));
  std::map<std::string, std::string> set_it = kBase;  // the option set away from its default
  set_it["train.new_option"] = "8";
  EXPECT_NE(FileNames(axes, set_it, after), FileNames(axes, kBase, before));

  OptionSet unruly = AllOptions();  // what the rule prevents: the same option in every config text
  added.omit_at_default = false;
  unruly.Declare(added);
  EXPECT_FALSE(complete(FileNames(axes, kBase, unruly)));
}

}  // namespace
}  // namespace sim
