#include "tasks/ft_tasks.h"

#include <algorithm>

#include "sim/core/check.h"
#include "tasks/task_helpers.h"

namespace sim {

namespace {

// "BOS", "TXT", "w1", ..., "w<n>".
std::vector<std::string> TextLabels(int n) {
  std::vector<std::string> labels = {"BOS", "TXT"};
  for (int i = 1; i <= n; ++i) labels.push_back(Concat("w", i));
  return labels;
}

// Draws `per_group` distinct members of each group into values[] in a random order; returns the
// place of a uniformly chosen member of group `label`. groups: (G) value indices.
int DrawGrouped(Rng& rng, const std::vector<std::vector<int>>& groups, int per_group, int32_t label,
                std::vector<int>& scratch, std::vector<int>& pick, std::vector<int>& order, std::vector<int>& tmp,
                int* values) {
  const int g_count = static_cast<int>(groups.size()), k = g_count * per_group;
  tmp.resize(k);
  pick.resize(per_group);
  for (int g = 0; g < g_count; ++g) {
    rng.SampleWithoutReplacement(static_cast<int>(groups[g].size()), per_group, scratch, pick.data());
    for (int i = 0; i < per_group; ++i) tmp[g * per_group + i] = groups[g][pick[i]];
  }
  order.resize(k);
  rng.SampleWithoutReplacement(k, k, scratch, order.data());
  for (int i = 0; i < k; ++i) values[i] = tmp[order[i]];
  int r = static_cast<int>(rng.Below(per_group));  // the r-th member of group `label`, in context order
  for (int i = 0; i < k; ++i)
    if (order[i] / per_group == label && r-- == 0) return i;
  SIM_CHECK(false, "DrawGrouped: group ", label, " has no member in the context");
  return 0;
}

}  // namespace

// ---- ft_majority ---------------------------------------------------------------------------------

FtMajorityTask::FtMajorityTask(const FtMajorityConfig& config)
    : FtTask("ft_majority", config.common, 2), cfg_(config), set_of_(lang_.vocab(), 0) {
  // The 2k rarest content tokens under pi (ties in a random order), alternately to A and B.
  Rng rng = Rng::ForStream(common_.language.chain_seed, "task/ft_majority/indicators");
  std::vector<int> order(lang_.n_content());
  rng.SampleWithoutReplacement(lang_.n_content(), lang_.n_content(), scratch_, order.data());
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
    return lang_.stationary(lang_.content(x)) < lang_.stationary(lang_.content(y));
  });
  for (int r = 0; r < 2 * cfg_.indicators; ++r) {
    const int32_t token = lang_.content(order[r]);
    sets_[r % 2].push_back(token);
    set_of_[token] = r % 2 + 1;
  }
  info_.position_labels = TextLabels(common_.length - 2);
  BuildPool();
}

void FtMajorityTask::Generate(Rng& rng, int32_t label, int32_t* tokens) const {
  const int n = common_.length - 2;
  int32_t* w = tokens + 2;
  tokens[0] = lm_tokens::kBos;
  tokens[1] = lm_tokens::kText;
  for (int attempt = 0;; ++attempt) {  // a text without indicator tokens
    SIM_CHECK(attempt < 10000, "ft_majority: no text of ", n, " tokens without indicators in 10000 draws");
    lang_.Walk(rng, n, w);
    bool clean = true;
    for (int i = 0; i < n && clean; ++i) clean = set_of_[w[i]] == 0;
    if (clean) break;
  }
  const int major = label, minor = 1 - label;  // label 0: A (set 0) in the majority
  const int d = 1 + static_cast<int>(rng.Below(cfg_.margin));
  const int n_minor = static_cast<int>(rng.Below(cfg_.max_count + 1)), n_major = n_minor + d;
  chosen_.resize(n_minor + n_major);
  rng.SampleWithoutReplacement(n, n_minor + n_major, scratch_, chosen_.data());
  for (int i = 0; i < n_minor + n_major; ++i) {
    const std::vector<int32_t>& set = sets_[i < n_major ? major : minor];
    w[chosen_[i]] = set[rng.Below(set.size())];
  }
}

// ---- ft_chain_valid ------------------------------------------------------------------------------

FtChainValidTask::FtChainValidTask(const FtChainValidConfig& config)
    : FtTask("ft_chain_valid", config.common, 2), cfg_(config) {
  info_.position_labels = TextLabels(common_.length - 2);
  BuildPool();
}

void FtChainValidTask::Generate(Rng& rng, int32_t label, int32_t* tokens) const {
  const int n = common_.length - 2;
  int32_t* w = tokens + 2;
  tokens[0] = lm_tokens::kBos;
  tokens[1] = lm_tokens::kText;
  if (label == 1) {
    lang_.Walk(rng, n, w);
    return;
  }
  const int j = 1 + static_cast<int>(rng.Below(n - 1));  // w[j] follows w[j-1] invalidly
  const bool jump =
      cfg_.corruption == FtCorruption::kJump || (cfg_.corruption == FtCorruption::kMixed && rng.Below(2) == 0);
  if (jump) {
    lang_.Walk(rng, j, w);
    w[j] = lang_.SampleNonSuccessor(w[j - 1], -1, rng);
    for (int i = j + 1; i < n; ++i) w[i] = lang_.SampleNext(w[i - 1], rng);
  } else {
    lang_.Walk(rng, n, w);
    w[j] = lang_.SampleNonSuccessor(w[j - 1], w[j], rng);
  }
}

// ---- the recall tasks ----------------------------------------------------------------------------

FtRecallTask::FtRecallTask(const std::string& name, const FtCommonConfig& common, int n_classes, int pairs)
    : FtTask(name, common, n_classes), pairs_(pairs) {
  const int m = common_.length - 2 * pairs_ - 5;
  SIM_CHECK(m >= 1, name, ": length ", common_.length, " leaves no text before ", pairs_, " pairs");
  info_.position_labels = TextLabels(m);
  info_.position_labels.push_back("KV");
  for (int i = 1; i <= pairs_; ++i) {
    info_.position_labels.push_back(Concat("k", i));
    info_.position_labels.push_back(Concat("v", i));
  }
  info_.position_labels.push_back("SEP");
  info_.position_labels.push_back("q");
}

void FtRecallTask::Generate(Rng& rng, int32_t label, int32_t* tokens) const {
  const int k = pairs_, m = common_.length - 2 * k - 5;
  tokens[0] = lm_tokens::kBos;
  tokens[1] = lm_tokens::kText;
  lang_.Walk(rng, m, tokens + 2);
  int32_t* kv = tokens + 2 + m;
  keys_.resize(k);
  values_.resize(k);
  rng.SampleWithoutReplacement(lang_.n_keys(), k, scratch_, keys_.data());
  const int query = ChooseValues(rng, label, values_.data());
  kv[0] = lm_tokens::kKv;
  for (int i = 0; i < k; ++i) {
    kv[1 + 2 * i] = lang_.key(keys_[i]);
    kv[2 + 2 * i] = lang_.value(values_[i]);
  }
  kv[1 + 2 * k] = lm_tokens::kSep;
  kv[2 + 2 * k] = lang_.key(keys_[query]);
}

FtKeyValueSetTask::FtKeyValueSetTask(const FtKeyValueSetConfig& config)
    : FtRecallTask("ft_key_value_set", config.common, 2, config.pairs) {
  const int nv = lang_.n_keys();
  Rng rng = Rng::ForStream(common_.language.chain_seed, "task/ft_key_value_set/set");
  std::vector<int> perm(nv);
  rng.SampleWithoutReplacement(nv, nv, scratch_, perm.data());
  in_set_.assign(nv, 0);
  for (int p = 0; p < nv / 2; ++p) in_set_[perm[p]] = 1;
  members_.assign(2, {});
  for (int v = 0; v < nv; ++v) members_[in_set_[v]].push_back(v);
  BuildPool();
}

int FtKeyValueSetTask::ChooseValues(Rng& rng, int32_t label, int* values) const {
  return DrawGrouped(rng, members_, pairs_ / 2, label, scratch_, pick_, order_, tmp_, values);
}

FtValuePermTask::FtValuePermTask(const FtValuePermConfig& config)
    : FtRecallTask("ft_value_perm", config.common, config.classes, config.pairs), classes_(config.classes) {
  const int nv = lang_.n_keys();
  Rng rng = Rng::ForStream(common_.language.chain_seed, "task/ft_value_perm/classes");
  std::vector<int> perm(nv);
  rng.SampleWithoutReplacement(nv, nv, scratch_, perm.data());
  class_of_.assign(nv, 0);
  for (int p = 0; p < nv; ++p) class_of_[perm[p]] = p % classes_;
  members_.assign(classes_, {});
  for (int v = 0; v < nv; ++v) members_[class_of_[v]].push_back(v);
  BuildPool();
}

int FtValuePermTask::ChooseValues(Rng& rng, int32_t label, int* values) const {
  return DrawGrouped(rng, members_, pairs_ / classes_, label, scratch_, pick_, order_, tmp_, values);
}

// ---- options -------------------------------------------------------------------------------------

void DeclareFtMajorityOptions(OptionSet& set) {
  const std::string owner = "task:ft_majority";
  DeclareFtCommonOptions(set, owner);
  set.Declare({"task.indicators", "4", "indicator tokens in each of the two sets A and B", owner});
  set.Declare({"task.max_count", "4", "the minority set occurs u times, u uniform in 0..max_count", owner});
  set.Declare({"task.margin", "2", "the majority set occurs d more times, d uniform in 1..margin", owner});
}

std::unique_ptr<Task> MakeFtMajority(Options& options) {
  const OptionErrorScope read(options);
  FtMajorityConfig c;
  c.common = ReadFtCommonOptions(options, 4);
  const bool common_ok = read.ok();
  const OptionErrorScope own(options);
  c.indicators = static_cast<int>(options.Int("task.indicators", 1, 1 << 15));
  c.max_count = static_cast<int>(options.Int("task.max_count", 0, 1 << 15));
  c.margin = static_cast<int>(options.Int("task.margin", 1, 1 << 15));
  if (common_ok && own.ok()) {
    const int n_content = c.common.language.vocab - lm_tokens::kFirstContent;
    if (2 * c.indicators > n_content)
      options.Fail("task.indicators", Concat("must be <= ", n_content / 2, " (two disjoint sets of the ", n_content,
                                             " content tokens of task.vocab = ", c.common.language.vocab, ")"));
    const int room = 2 * c.max_count + c.margin + 2;
    if (c.common.length < room)
      options.Fail("task.length", Concat("must be >= 2*task.max_count + task.margin + 2 = ", room,
                                         " (BOS TXT and a text position per indicator)"));
  }
  return MakeIfClean<FtMajorityTask>(read, c);
}

void DeclareFtChainValidOptions(OptionSet& set) {
  const std::string owner = "task:ft_chain_valid";
  DeclareFtCommonOptions(set, owner);
  set.Declare({"task.corruption", "mixed",
               "how a label-0 sequence breaks the chain: jump (a continuation drawn elsewhere) | substitute (one "
               "token replaced) | mixed (each half the time)",
               owner});
}

std::unique_ptr<Task> MakeFtChainValid(Options& options) {
  const OptionErrorScope read(options);
  FtChainValidConfig c;
  c.common = ReadFtCommonOptions(options, 4);
  const std::string mode = options.Choice("task.corruption", {"jump", "substitute", "mixed"});
  c.corruption = mode == "jump"         ? FtCorruption::kJump
                 : mode == "substitute" ? FtCorruption::kSubstitute
                                        : FtCorruption::kMixed;
  return MakeIfClean<FtChainValidTask>(read, c);
}

namespace {

// task.pairs against task.length and the key range; `multiple` is the divisor pairs must have.
void CheckRecallPairs(Options& options, const FtCommonConfig& common, int pairs) {
  const int n_keys = (common.language.vocab - lm_tokens::kFirstContent) / 2;
  if (pairs > n_keys)
    options.Fail("task.pairs",
                 Concat("must be <= ", n_keys, " (distinct keys of task.vocab = ", common.language.vocab, ")"));
  if (common.length < 2 * pairs + 6)
    options.Fail("task.length", Concat("must be >= 2*task.pairs + 6 = ", 2 * pairs + 6,
                                       " (BOS TXT, one text token, KV, the pairs, SEP, the query)"));
}

}  // namespace

void DeclareFtKeyValueSetOptions(OptionSet& set) {
  const std::string owner = "task:ft_key_value_set";
  DeclareFtCommonOptions(set, owner);
  set.Declare({"task.pairs", "8", "key-value pairs K in the context (even: K/2 values in S, K/2 outside)", owner});
}

std::unique_ptr<Task> MakeFtKeyValueSet(Options& options) {
  const OptionErrorScope read(options);
  FtKeyValueSetConfig c;
  c.common = ReadFtCommonOptions(options, 8);
  const bool common_ok = read.ok();
  const OptionErrorScope own(options);
  c.pairs = static_cast<int>(options.Int("task.pairs", 2, 1 << 15));
  if (own.ok() && c.pairs % 2 != 0)
    options.Fail("task.pairs", Concat("must be even (half the values in S), given ", c.pairs));
  if (common_ok && own.ok()) CheckRecallPairs(options, c.common, c.pairs);
  return MakeIfClean<FtKeyValueSetTask>(read, c);
}

void DeclareFtValuePermOptions(OptionSet& set) {
  const std::string owner = "task:ft_value_perm";
  DeclareFtCommonOptions(set, owner);
  set.Declare({"task.pairs", "8", "key-value pairs K in the context (a multiple of task.classes)", owner});
  set.Declare({"task.classes", "8", "classes C: value tokens split into C classes by a fixed permutation", owner});
}

std::unique_ptr<Task> MakeFtValuePerm(Options& options) {
  const OptionErrorScope read(options);
  FtValuePermConfig c;
  c.common = ReadFtCommonOptions(options, 8);
  const bool common_ok = read.ok();
  const OptionErrorScope own(options);
  c.pairs = static_cast<int>(options.Int("task.pairs", 2, 1 << 15));
  c.classes = static_cast<int>(options.Int("task.classes", 2, 1 << 15));
  if (own.ok() && c.pairs % c.classes != 0)
    options.Fail("task.pairs", Concat("must be a multiple of task.classes = ", c.classes,
                                      " (K/C values of each class)"
                                      ", given ",
                                      c.pairs));
  if (common_ok && own.ok()) {
    CheckRecallPairs(options, c.common, c.pairs);
    const int n_values = (c.common.language.vocab - lm_tokens::kFirstContent) / 2;
    if (c.classes > n_values)
      options.Fail("task.classes",
                   Concat("must be <= ", n_values, " value tokens of task.vocab = ", c.common.language.vocab));
    else if (c.pairs / c.classes > n_values / c.classes)
      options.Fail("task.pairs", Concat("must be <= ", n_values / c.classes * c.classes, " (", n_values / c.classes,
                                        " distinct values per class)"));
    if (c.common.train_size < c.classes)
      options.Fail("task.train_size", Concat("must be >= task.classes = ", c.classes, " (balanced labels)"));
  }
  return MakeIfClean<FtValuePermTask>(read, c);
}

}  // namespace sim
