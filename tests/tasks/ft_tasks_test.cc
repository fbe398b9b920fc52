// The fine-tuning tasks against their definitions (tasks/ft_tasks.h): each label checked by an
// independent look at the tokens, balance, determinism per seed, the shared language, held-out test
// examples, the fixed pool as a split, and bad options.
#include "tasks/ft_tasks.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "sim/cli/experiment.h"
#include "tasks/lm_mixture.h"
#include "tasks/task_registry.h"

namespace sim {
namespace {

using namespace lm_tokens;
using Seq = std::vector<int32_t>;

std::unique_ptr<Task> Make(const std::string& name, std::map<std::string, std::string> given,
                           std::string* errors = nullptr) {
  given["task.name"] = name;
  const OptionSet set = AllOptions();
  Options options(set, given);
  std::unique_ptr<Task> task = MakeTask(options);
  if (errors != nullptr)
    for (const std::string& e : options.errors()) *errors += e + "\n";
  else
    options.ThrowIfErrors();
  return task;
}

// Every example of `batch` with its label (each example has one scored position, the last).
std::vector<std::pair<Seq, int32_t>> Examples(const Batch& batch) {
  const int t_len = batch.shape.length;
  std::vector<std::pair<Seq, int32_t>> out;
  for (int j = 0; j < batch.n_scored(); ++j) {
    const int b = batch.scored[j] / t_len;
    EXPECT_EQ(batch.scored[j] % t_len, t_len - 1) << "read out at the last position";
    out.push_back({Seq(batch.tokens.begin() + b * t_len, batch.tokens.begin() + (b + 1) * t_len), batch.labels[j]});
  }
  return out;
}

// The pool, a training batch and a test batch, all labelled, for checks of the definition.
std::vector<std::pair<Seq, int32_t>> Sampled(const FtTask& task) {
  const int t_len = task.info().length;
  std::vector<std::pair<Seq, int32_t>> all;
  for (size_t i = 0; i < task.pool_labels().size(); ++i)
    all.push_back({Seq(task.pool_tokens().begin() + i * t_len, task.pool_tokens().begin() + (i + 1) * t_len),
                   task.pool_labels()[i]});
  Batch batch;
  Rng train = Rng::ForStream(0, "data/train"), test = Rng::ForStream(0, "eval/test");
  task.Sample(0, train, 200, batch);
  for (auto& e : Examples(batch)) all.push_back(e);
  task.Sample(1, test, 400, batch);
  for (auto& e : Examples(batch)) all.push_back(e);
  return all;
}

// Checks every example's label with `oracle`, and that each starts BOS TXT.
void ExpectLabels(const FtTask& task, const std::function<int32_t(const Seq&)>& oracle) {
  for (const auto& [seq, label] : Sampled(task)) {
    ASSERT_EQ(seq[0], kBos);
    ASSERT_EQ(seq[1], kText);
    ASSERT_EQ(oracle(seq), label);
  }
}

// The value bound to the last token (a key) in a recall example's KV segment.
int32_t RecalledValue(const Seq& seq, int pairs) {
  const size_t kv = seq.size() - 2 * pairs - 3;
  EXPECT_EQ(seq[kv], kKv);
  EXPECT_EQ(seq[seq.size() - 2], kSep);
  for (int i = 0; i < pairs; ++i)
    if (seq[kv + 1 + 2 * i] == seq.back()) return seq[kv + 2 + 2 * i];
  ADD_FAILURE() << "the last token is not a key of the context";
  return -1;
}

TEST(FtTasksTest, MajorityLabelIsWhichIndicatorSetOccursMoreOften) {
  const std::unique_ptr<Task> made = Make("ft_majority", {{"task.train_size", "600"}});
  const auto& task = static_cast<const FtMajorityTask&>(*made);
  int in_a = 0, in_b = 0;
  for (int32_t t = 0; t < 256; ++t) {
    in_a += task.IndicatorSet(t) == 1;
    in_b += task.IndicatorSet(t) == 2;
  }
  EXPECT_EQ(in_a, 4);
  EXPECT_EQ(in_b, 4);
  std::map<int32_t, std::vector<int>> totals;  // label -> total indicator count
  ExpectLabels(task, [&](const Seq& seq) {
    int a = 0, b = 0;
    for (size_t t = 2; t < seq.size(); ++t) {
      a += task.IndicatorSet(seq[t]) == 1;
      b += task.IndicatorSet(seq[t]) == 2;
    }
    EXPECT_NE(a, b) << "never a tie";
    EXPECT_LE(std::abs(a - b), 2) << "margin";
    return b > a ? 1 : 0;
  });
  for (const auto& [seq, label] : Sampled(task)) {
    int total = 0;
    for (int32_t x : seq) total += task.IndicatorSet(x) != 0;
    totals[label].push_back(total);
  }
  // The counts' distribution does not depend on the label: only the comparison decides.
  auto mean = [](const std::vector<int>& v) {
    double s = 0;
    for (int x : v) s += x;
    return s / v.size();
  };
  EXPECT_NEAR(mean(totals[0]), mean(totals[1]), 0.25);
}

TEST(FtTasksTest, ChainValidLabelIsWhetherEveryTransitionFollowsTheChain) {
  for (const std::string mode : {"jump", "substitute", "mixed"}) {
    SCOPED_TRACE(mode);
    const std::unique_ptr<Task> made = Make("ft_chain_valid", {{"task.train_size", "600"}, {"task.corruption", mode}});
    const auto& task = static_cast<const FtChainValidTask&>(*made);
    const LmLanguage& lang = task.language();
    std::map<int, int> invalid_counts;
    ExpectLabels(task, [&](const Seq& seq) {
      int invalid = 0;
      for (size_t t = 3; t < seq.size(); ++t) invalid += lang.TransitionProb(seq[t - 1], seq[t]) == 0.0;
      ++invalid_counts[invalid];
      return invalid == 0 ? 1 : 0;
    });
    EXPECT_LE(invalid_counts.rbegin()->first, 2) << "one corrupted position";
    if (mode == "jump") EXPECT_EQ(invalid_counts.rbegin()->first, 1) << "a jump is one invalid transition";
  }
}

// Unigram statistics do not separate the classes of ft_chain_valid: the stationary log-likelihood of
// the tokens has nearly the same mean in both, while the transitions separate them perfectly.
TEST(FtTasksTest, ChainValidIsNotSolvableFromUnigrams) {
  const std::unique_ptr<Task> made = Make("ft_chain_valid", {{"task.train_size", "2000"}});
  const auto& task = static_cast<const FtChainValidTask&>(*made);
  const LmLanguage& lang = task.language();
  double sum[2] = {0, 0}, sum2[2] = {0, 0}, n[2] = {0, 0};
  for (const auto& [seq, label] : Sampled(task)) {
    double ll = 0.0;
    for (size_t t = 2; t < seq.size(); ++t) ll += std::log(lang.stationary(seq[t]));
    sum[label] += ll;
    sum2[label] += ll * ll;
    n[label] += 1;
  }
  const double m0 = sum[0] / n[0], m1 = sum[1] / n[1];
  const double sd = std::sqrt(sum2[1] / n[1] - m1 * m1);
  EXPECT_LT(std::abs(m0 - m1), 0.1 * sd) << "means " << m0 << ", " << m1 << ", sd " << sd;
}

TEST(FtTasksTest, KeyValueSetLabelIsWhetherTheRecalledValueIsInS) {
  const std::unique_ptr<Task> made = Make("ft_key_value_set", {{"task.train_size", "600"}});
  const auto& task = static_cast<const FtKeyValueSetTask&>(*made);
  const LmLanguage& lang = task.language();
  int in_s = 0;
  for (int i = 0; i < lang.n_keys(); ++i) in_s += task.InSet(lang.value(i));
  EXPECT_EQ(in_s, lang.n_keys() / 2);
  ExpectLabels(task, [&](const Seq& seq) {
    const size_t kv = seq.size() - 2 * 8 - 3;
    std::set<int32_t> keys, values;
    int context_in_s = 0;
    for (int i = 0; i < 8; ++i) {
      keys.insert(seq[kv + 1 + 2 * i]);
      values.insert(seq[kv + 2 + 2 * i]);
      EXPECT_LT(seq[kv + 1 + 2 * i], lang.value(0)) << "a key";
      EXPECT_GE(seq[kv + 2 + 2 * i], lang.value(0)) << "a value";
      context_in_s += task.InSet(seq[kv + 2 + 2 * i]);
    }
    EXPECT_EQ(keys.size(), 8u);
    EXPECT_EQ(values.size(), 8u);
    EXPECT_EQ(context_in_s, 4) << "half the context's values in S, whatever the label";
    return task.InSet(RecalledValue(seq, 8)) ? 1 : 0;
  });
}

TEST(FtTasksTest, ValuePermLabelIsTheClassOfTheRecalledValue) {
  const std::unique_ptr<Task> made =
      Make("ft_value_perm", {{"task.train_size", "600"}, {"task.classes", "4"}, {"task.pairs", "8"}});
  const auto& task = static_cast<const FtValuePermTask&>(*made);
  EXPECT_EQ(task.info().n_classes, 4);
  EXPECT_DOUBLE_EQ(task.info().chance, 0.25);
  std::map<int, int> class_sizes;
  for (int i = 0; i < task.language().n_keys(); ++i) ++class_sizes[task.ClassOf(task.language().value(i))];
  ASSERT_EQ(class_sizes.size(), 4u);
  for (const auto& [c, size] : class_sizes) EXPECT_NEAR(size, task.language().n_keys() / 4.0, 1.0);
  ExpectLabels(task, [&](const Seq& seq) {
    const size_t kv = seq.size() - 2 * 8 - 3;
    std::map<int, int> per_class;
    for (int i = 0; i < 8; ++i) ++per_class[task.ClassOf(seq[kv + 2 + 2 * i])];
    for (int c = 0; c < 4; ++c) EXPECT_EQ(per_class[c], 2) << "K/C values of each class in every context";
    return task.ClassOf(RecalledValue(seq, 8));
  });
}

TEST(FtTasksTest, LabelsAreBalancedAndChanceIsStated) {
  for (const std::string name : {"ft_majority", "ft_key_value_set", "ft_chain_valid", "ft_value_perm"}) {
    SCOPED_TRACE(name);
    const std::unique_ptr<Task> made = Make(name, {});
    const auto& task = static_cast<const FtTask&>(*made);
    const int c = task.info().n_classes;
    EXPECT_DOUBLE_EQ(task.info().chance, 1.0 / c);
    ASSERT_EQ(task.pool_labels().size(), 2000u) << "default task.train_size";
    std::map<int32_t, int> pool, test;
    for (int32_t l : task.pool_labels()) ++pool[l];
    Batch batch;
    Rng rng = Rng::ForStream(0, "eval/test");
    task.Sample(task.SplitIndex("test"), rng, 400, batch);
    for (int32_t l : batch.labels) ++test[l];
    ASSERT_EQ(static_cast<int>(pool.size()), c);
    for (const auto& [label, n] : pool) EXPECT_EQ(n, 2000 / c) << "label " << label;
    for (const auto& [label, n] : test) EXPECT_NEAR(n, 400.0 / c, 1.0) << "label " << label;
    EXPECT_EQ(task.info().vocab, 256);
    EXPECT_EQ(task.info().length, 64);
    EXPECT_EQ(task.info().split_size(task.SplitIndex("trainset")), 2000);
    EXPECT_EQ(static_cast<int>(task.info().position_labels.size()), 64);
  }
}

// The pool comes from train.seed (each seed its own data set); the language from task.chain_seed
// alone, the same as lm_mixture's at the same options.
TEST(FtTasksTest, PoolsFollowTrainSeedAndTheLanguageIsLmMixtures) {
  const std::map<std::string, std::string> small = {{"task.train_size", "100"}};
  auto with_seed = [&](const std::string& seed) {
    std::map<std::string, std::string> given = small;
    given["train.seed"] = seed;
    return given;
  };
  for (const std::string name : {"ft_majority", "ft_key_value_set", "ft_chain_valid", "ft_value_perm"}) {
    SCOPED_TRACE(name);
    const std::unique_ptr<Task> a = Make(name, with_seed("1")), b = Make(name, with_seed("1")),
                                c = Make(name, with_seed("2"));
    const auto& fa = static_cast<const FtTask&>(*a);
    EXPECT_EQ(fa.pool_tokens(), static_cast<const FtTask&>(*b).pool_tokens());
    EXPECT_EQ(fa.pool_labels(), static_cast<const FtTask&>(*b).pool_labels());
    EXPECT_NE(fa.pool_tokens(), static_cast<const FtTask&>(*c).pool_tokens());
    Batch x, y;
    Rng r1 = Rng::ForStream(3, "eval/test"), r2 = Rng::ForStream(3, "eval/test");
    fa.Sample(1, r1, 50, x);
    fa.Sample(1, r2, 50, y);
    EXPECT_EQ(x.tokens, y.tokens);
    EXPECT_EQ(x.labels, y.labels);
    // The same chain as lm_mixture at the same (default) options.
    const std::unique_ptr<Task> lm = Make("lm_mixture", {});
    const LmLanguage& l1 = fa.language();
    const LmLanguage& l2 = static_cast<const LmMixtureTask&>(*lm).language();
    for (int32_t t = kFirstContent; t < 256; ++t)
      for (int i = 0; i < l1.degree(); ++i) ASSERT_EQ(l1.successors(t)[i], l2.successors(t)[i]);
  }
}

// No test example occurs in the pool, also where collisions would be common (a tiny language:
// 8 content tokens, 2 successors each, 3 text tokens), so the rejection is what holds it out.
TEST(FtTasksTest, TestExamplesNeverOccurInThePool) {
  const std::vector<std::pair<std::string, std::map<std::string, std::string>>> cases = {
      {"ft_chain_valid",
       {{"task.vocab", "16"}, {"task.length", "5"}, {"task.chain_degree", "2"}, {"task.train_size", "12"}}},
      {"ft_majority", {}},
      {"ft_key_value_set", {}},
      {"ft_value_perm", {}},
  };
  for (const auto& [name, given] : cases) {
    SCOPED_TRACE(name);
    const std::unique_ptr<Task> made = Make(name, given);
    const auto& task = static_cast<const FtTask&>(*made);
    const int t_len = task.info().length;
    std::set<Seq> pool;
    for (size_t i = 0; i < task.pool_labels().size(); ++i)
      pool.insert(Seq(task.pool_tokens().begin() + i * t_len, task.pool_tokens().begin() + (i + 1) * t_len));
    EXPECT_EQ(pool.size(), task.pool_labels().size()) << "distinct pool examples";
    for (const std::string split : {"test", "val"}) {  // both held out from the pool
      Batch batch;
      Rng rng = Rng::ForStream(0, "eval/" + split);
      task.Sample(task.SplitIndex(split), rng, 1000, batch);
      int in_pool = 0;
      for (const auto& [seq, label] : Examples(batch)) in_pool += pool.count(seq);
      EXPECT_EQ(in_pool, 0) << split;
    }
  }
  // Without the rejection the tiny language would repeat pool examples often: raw draws of its
  // definition land in the pool.
  const std::unique_ptr<Task> made = Make("ft_chain_valid", cases[0].second);
  const auto& tiny = static_cast<const FtTask&>(*made);
  std::set<Seq> pool;
  for (size_t i = 0; i < tiny.pool_labels().size(); ++i)
    pool.insert(Seq(tiny.pool_tokens().begin() + i * 5, tiny.pool_tokens().begin() + (i + 1) * 5));
  Rng rng = Rng::ForStream(0, "eval/test");
  Seq raw(5);
  int raw_in_pool = 0;
  for (int i = 0; i < 1000; ++i) {
    tiny.Generate(rng, i % 2, raw.data());
    raw_in_pool += pool.count(raw);
  }
  EXPECT_GT(raw_in_pool, 50);
}

// The trainset split is the pool in order, padded with unscored copies; training batches are pool
// examples with their labels.
TEST(FtTasksTest, TrainingDrawsFromThePoolAndTrainsetEvaluatesItWhole) {
  const std::unique_ptr<Task> made = Make("ft_key_value_set", {{"task.train_size", "50"}});
  const auto& task = static_cast<const FtTask&>(*made);
  const int t_len = 64;
  Batch batch;
  task.SampleFixed(task.SplitIndex("trainset"), 45, 5, 8, batch);
  batch.Validate(2);
  ASSERT_EQ(batch.n_scored(), 5);
  for (int b = 0; b < 8; ++b) {
    const int i = b < 5 ? 45 + b : 45;
    EXPECT_TRUE(std::equal(batch.tokens.begin() + b * t_len, batch.tokens.begin() + (b + 1) * t_len,
                           task.pool_tokens().begin() + i * t_len));
    if (b < 5) EXPECT_EQ(batch.labels[b], task.pool_labels()[i]);
  }
  std::map<Seq, int32_t> pool;
  for (int i = 0; i < 50; ++i)
    pool[Seq(task.pool_tokens().begin() + i * t_len, task.pool_tokens().begin() + (i + 1) * t_len)] =
        task.pool_labels()[i];
  Rng rng = Rng::ForStream(1, "data/train");
  task.Sample(0, rng, 100, batch);
  batch.Validate(2);
  for (const auto& [seq, label] : Examples(batch)) {
    ASSERT_TRUE(pool.count(seq)) << "a training example outside the pool";
    EXPECT_EQ(pool[seq], label);
  }
}

TEST(FtTasksTest, BadOptionsNameTheirKeys) {
  auto errors = [](const std::string& name, std::map<std::string, std::string> given) {
    std::string all;
    EXPECT_EQ(Make(name, given, &all), nullptr);
    return all;
  };
  EXPECT_NE(errors("ft_key_value_set", {{"task.pairs", "7"}}).find("task.pairs: must be even"), std::string::npos);
  EXPECT_NE(errors("ft_key_value_set", {{"task.pairs", "30"}}).find("task.length: must be >= 2*task.pairs + 6 = 66"),
            std::string::npos);
  EXPECT_NE(
      errors("ft_value_perm", {{"task.pairs", "6"}, {"task.classes", "4"}}).find("task.pairs: must be a multiple"),
      std::string::npos);
  EXPECT_NE(errors("ft_value_perm", {{"task.train_size", "5"}}).find("task.train_size"), std::string::npos);
  EXPECT_NE(errors("ft_majority", {{"task.vocab", "16"}, {"task.indicators", "5"}}).find("task.indicators"),
            std::string::npos);
  EXPECT_NE(errors("ft_majority", {{"task.length", "11"}})
                .find("task.length: must be >= 2*task.max_count + task.margin + 2 = 12"),
            std::string::npos);
  EXPECT_NE(errors("ft_chain_valid", {{"task.corruption", "swap"}}).find("task.corruption"), std::string::npos);
  EXPECT_NE(errors("ft_chain_valid", {{"task.train_size", "1"}}).find("task.train_size"), std::string::npos);
}

}  // namespace
}  // namespace sim
