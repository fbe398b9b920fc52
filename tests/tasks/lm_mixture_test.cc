// lm_mixture and its language (tasks/lm_language.h) against their definitions: the chain, the
// segment grammar by an independent parser, the targets, the per-kind metrics, the splits.
#include "tasks/lm_mixture.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "sim/cli/experiment.h"

namespace sim {
namespace {

using namespace lm_tokens;

LmMixtureConfig SmallConfig() {
  LmMixtureConfig c;
  c.language = {64, 7, 3};
  c.length = 48;
  c.pairs = 5;
  c.copy_length = 6;
  c.text_length = 10;
  return c;
}

// The T + 1 tokens of example b: the input, then the last target.
std::vector<int32_t> FullSequence(const Batch& batch, int b) {
  const int t_len = batch.shape.length;
  std::vector<int32_t> seq(batch.tokens.begin() + b * t_len, batch.tokens.begin() + (b + 1) * t_len);
  seq.push_back(batch.labels[(b + 1) * t_len - 1]);
  return seq;
}

TEST(LmLanguageTest, ChainIsASparseStochasticTableWithItsStationaryDistribution) {
  const LmLanguage lang({64, 3, 4});
  ASSERT_EQ(lang.n_content(), 56);
  ASSERT_EQ(lang.n_keys(), 28);
  EXPECT_EQ(lang.key(0), 8);
  EXPECT_EQ(lang.value(0), 36);
  EXPECT_EQ(lang.value(27), 63);
  std::vector<double> next(64, 0.0);
  double pi_total = 0.0;
  for (int32_t a = kFirstContent; a < 64; ++a) {
    std::set<int32_t> succ(lang.successors(a), lang.successors(a) + 4);
    EXPECT_EQ(succ.size(), 4u) << "distinct successors of " << a;
    double total = 0.0;
    for (int i = 0; i < 4; ++i) {
      EXPECT_TRUE(lang.is_content(lang.successors(a)[i]));
      EXPECT_GT(lang.successor_probs(a)[i], 0.0);
      total += lang.successor_probs(a)[i];
      next[lang.successors(a)[i]] += lang.stationary(a) * lang.successor_probs(a)[i];
    }
    EXPECT_NEAR(total, 1.0, 1e-12);
    pi_total += lang.stationary(a);
  }
  EXPECT_NEAR(pi_total, 1.0, 1e-9);
  for (int32_t a = kFirstContent; a < 64; ++a) EXPECT_NEAR(next[a], lang.stationary(a), 1e-6) << "pi P = pi at " << a;
}

TEST(LmLanguageTest, WalksFollowTheChainWithItsProbabilities) {
  const LmLanguage lang({64, 3, 4});
  Rng rng = Rng::ForStream(1, "test");
  std::vector<int32_t> walk(20000);
  lang.Walk(rng, 20000, walk.data());
  std::map<std::pair<int32_t, int32_t>, int> pairs;
  std::map<int32_t, int> from;
  for (int i = 1; i < 20000; ++i) {
    ASSERT_GT(lang.TransitionProb(walk[i - 1], walk[i]), 0.0) << "step " << i;
    ++pairs[{walk[i - 1], walk[i]}];
    ++from[walk[i - 1]];
  }
  // The most visited token's empirical transition frequencies match its row.
  int32_t busiest = walk[0];
  for (const auto& [a, n] : from)
    if (n > from[busiest]) busiest = a;
  for (int i = 0; i < 4; ++i) {
    const int32_t b = lang.successors(busiest)[i];
    const double p = lang.successor_probs(busiest)[i], n = from[busiest];
    const int hits = pairs[std::make_pair(busiest, b)];
    EXPECT_NEAR(hits / n, p, 4.0 * std::sqrt(p * (1 - p) / n) + 1e-3);
  }
}

TEST(LmLanguageTest, NonSuccessorsAreNeverSuccessors) {
  const LmLanguage lang({32, 5, 4});
  Rng rng = Rng::ForStream(2, "test");
  for (int i = 0; i < 2000; ++i) {
    const int32_t a = lang.content(static_cast<int>(rng.Below(lang.n_content())));
    const int32_t c = lang.SampleNonSuccessor(a, a, rng);
    EXPECT_TRUE(lang.is_content(c));
    EXPECT_NE(c, a);
    EXPECT_EQ(lang.TransitionProb(a, c), 0.0);
  }
}

// The language depends on task.chain_seed (and vocab, degree) only: train.seed does not change it.
TEST(LmLanguageTest, TheChainSeedAloneFixesTheLanguage) {
  const OptionSet set = AllOptions();
  auto make = [&](const std::string& train_seed, const std::string& chain_seed) {
    Options options(set, {{"task.name", "lm_mixture"}, {"train.seed", train_seed}, {"task.chain_seed", chain_seed}});
    std::unique_ptr<Task> task = MakeLmMixture(options);
    EXPECT_TRUE(options.errors().empty()) << options.errors().front();
    std::vector<int32_t> table;
    const LmLanguage& lang = static_cast<const LmMixtureTask&>(*task).language();
    for (int32_t a = kFirstContent; a < lang.vocab(); ++a)
      table.insert(table.end(), lang.successors(a), lang.successors(a) + lang.degree());
    return table;
  };
  EXPECT_EQ(make("1", "0"), make("2", "0"));
  EXPECT_NE(make("1", "0"), make("1", "1"));
}

// An independent parse of every example: BOS, then whole segments of the grammar; text follows the
// chain, recall queries name context keys and are followed by their values, copies repeat. The
// target of position t is token t + 1, and its kind (Batch::groups) is what the parse says.
TEST(LmMixtureTest, ExamplesFollowTheGrammarAndTargetsAreTheNextTokens) {
  const LmMixtureConfig c = SmallConfig();
  LmMixtureTask task(c);
  const LmLanguage& lang = task.language();
  Rng rng = Rng::ForStream(3, "data/train");
  Batch batch;
  task.Sample(0, rng, 300, batch);
  batch.Validate(task.info().n_classes);
  const int t_len = c.length;
  ASSERT_EQ(batch.n_scored(), 300 * t_len);
  ASSERT_EQ(batch.groups.size(), batch.scored.size());
  std::map<int32_t, int> markers;
  for (int b = 0; b < 300; ++b) {
    for (int t = 0; t < t_len; ++t) {
      ASSERT_EQ(batch.scored[b * t_len + t], b * t_len + t) << "every position is scored";
      if (t + 1 < t_len) ASSERT_EQ(batch.labels[b * t_len + t], batch.tokens[b * t_len + t + 1]) << "next token";
    }
    const std::vector<int32_t> seq = FullSequence(batch, b);
    std::vector<int32_t> kind(seq.size(), static_cast<int32_t>(LmMixtureTarget::kOther));
    ASSERT_EQ(seq[0], kBos);
    size_t p = 1;
    while (p < seq.size()) {
      const int32_t marker = seq[p];
      ++markers[marker];
      if (marker == kText) {
        size_t e = p + 1;
        while (e < seq.size() && lang.is_content(seq[e])) ++e;
        ASSERT_LE(e - p - 1, static_cast<size_t>(c.text_length));
        for (size_t i = p + 2; i < e; ++i) {
          ASSERT_GT(lang.TransitionProb(seq[i - 1], seq[i]), 0.0) << "text follows the chain";
          kind[i] = static_cast<int32_t>(LmMixtureTarget::kText);
        }
        p = e;
      } else if (marker == kKv) {
        std::map<int32_t, int32_t> bound;
        std::set<int32_t> values;
        size_t i = p + 1;
        for (; seq[i] != kSep; i += 2) {
          ASSERT_GE(seq[i], lang.key(0));
          ASSERT_LT(seq[i], lang.value(0)) << "a key";
          ASSERT_GE(seq[i + 1], lang.value(0)) << "a value";
          ASSERT_TRUE(bound.emplace(seq[i], seq[i + 1]).second) << "distinct keys";
          ASSERT_TRUE(values.insert(seq[i + 1]).second) << "distinct values";
        }
        const size_t k = bound.size();
        ASSERT_GE(k, 1u);
        ASSERT_LE(k, static_cast<size_t>(c.pairs));
        std::set<int32_t> asked;
        for (size_t q = 0; q < k; ++q) {
          const size_t at = i + 1 + 2 * q;
          ASSERT_LT(at + 1, seq.size());
          ASSERT_TRUE(bound.count(seq[at])) << "a query names a context key";
          ASSERT_TRUE(asked.insert(seq[at]).second) << "each key once";
          EXPECT_EQ(seq[at + 1], bound[seq[at]]) << "the query is followed by its value";
          kind[at + 1] = static_cast<int32_t>(LmMixtureTarget::kMqar);
        }
        p = i + 1 + 2 * k;
      } else if (marker == kCopy) {
        size_t i = p + 1;
        while (seq[i] != kSep) ASSERT_TRUE(lang.is_content(seq[i++]));
        const size_t len = i - p - 1;
        ASSERT_GE(len, 1u);
        ASSERT_LE(len, static_cast<size_t>(c.copy_length));
        ASSERT_LE(i + 1 + len, seq.size());
        for (size_t j = 0; j < len; ++j) {
          EXPECT_EQ(seq[i + 1 + j], seq[p + 1 + j]) << "the repeat";
          kind[i + 1 + j] = static_cast<int32_t>(LmMixtureTarget::kCopy);
        }
        p = i + 1 + len;
      } else {
        FAIL() << "example " << b << ": token " << marker << " at " << p << " starts no segment";
      }
    }
    ASSERT_EQ(p, seq.size()) << "segments end with the sequence";
    for (int t = 0; t < t_len; ++t)
      EXPECT_EQ(batch.groups[b * t_len + t], kind[t + 1]) << "example " << b << " t " << t;
  }
  EXPECT_GT(markers[kText], 100);
  EXPECT_GT(markers[kKv], 100);
  EXPECT_GT(markers[kCopy], 100);
}

TEST(LmMixtureTest, ZeroWeightsLeaveSegmentKindsOut) {
  LmMixtureConfig c = SmallConfig();
  c.mix_text = 0.0;
  c.mix_mqar = 1.0;
  c.mix_copy = 0.0;
  LmMixtureTask task(c);
  Rng rng = Rng::ForStream(4, "data/train");
  Batch batch;
  task.Sample(0, rng, 200, batch);
  int kv = 0, text = 0;
  for (int b = 0; b < 200; ++b) {
    const std::vector<int32_t> seq = FullSequence(batch, b);
    for (int32_t x : seq) {
      EXPECT_NE(x, kCopy);
      kv += x == kKv;
      text += x == kText;
    }
  }
  EXPECT_GE(kv, 200);
  EXPECT_LE(text, 200) << "text only where a recall segment no longer fits";
}

TEST(LmMixtureTest, TokenTypesFollowTheGrammar) {
  LmMixtureTask task(SmallConfig());
  const LmLanguage& lang = task.language();
  Rng rng = Rng::ForStream(5, "data/train");
  Batch batch;
  task.Sample(0, rng, 100, batch);
  std::map<LmTokenType, int> seen;
  for (int b = 0; b < 100; ++b) {
    const std::vector<int32_t> seq = FullSequence(batch, b);
    std::vector<LmTokenType> types(seq.size());
    LmTokenTypes(seq.data(), static_cast<int>(seq.size()), types.data());
    int32_t segment = kBos;
    for (size_t t = 0; t < seq.size(); ++t) {
      ++seen[types[t]];
      if (seq[t] == kText || seq[t] == kKv || seq[t] == kCopy) segment = seq[t];
      switch (types[t]) {
        case LmTokenType::kBos:
          EXPECT_EQ(t, 0u);
          break;
        case LmTokenType::kMarker:
          EXPECT_TRUE(seq[t] == kText || seq[t] == kKv || seq[t] == kCopy);
          break;
        case LmTokenType::kDelimiter:
          EXPECT_EQ(seq[t], kSep);
          break;
        case LmTokenType::kKey:
          EXPECT_EQ(segment, kKv);
          EXPECT_TRUE(seq[t] >= lang.key(0) && seq[t] < lang.value(0)) << seq[t];
          break;
        case LmTokenType::kValue:
          EXPECT_EQ(segment, kKv);
          EXPECT_GE(seq[t], lang.value(0));
          break;
        case LmTokenType::kContent:
          EXPECT_NE(segment, kKv);
          EXPECT_TRUE(lang.is_content(seq[t]));
          break;
        default:
          FAIL();
      }
    }
  }
  EXPECT_EQ(seen.size(), 6u) << "every type occurs";
  EXPECT_EQ(LmTokenTypeNames().size(), static_cast<size_t>(LmTokenType::kCount));
}

// Per-kind metrics from chosen logits: right exactly at the recall targets, uniform elsewhere.
TEST(LmMixtureTest, ScoreCountsEachKindAndTheChainsReferences) {
  LmMixtureTask task(SmallConfig());
  const LmLanguage& lang = task.language();
  Rng rng = Rng::ForStream(6, "eval/test");
  Batch batch;
  task.Sample(1, rng, 50, batch);
  Mat logits = Mat::Zero(64, batch.n_scored());  // argmax of a zero column: token 0 (BOS), never a target
  double entropy = 0.0, bayes = 0.0, n_text = 0.0;
  for (int j = 0; j < batch.n_scored(); ++j) {
    if (batch.groups[j] == static_cast<int32_t>(LmMixtureTarget::kMqar)) logits(batch.labels[j], j) = 5.0f;
    if (batch.groups[j] == static_cast<int32_t>(LmMixtureTarget::kText)) {
      entropy += lang.Entropy(batch.tokens[batch.scored[j]]);
      bayes += lang.MaxProb(batch.tokens[batch.scored[j]]);
      n_text += 1.0;
    }
  }
  // The chance of "some value of the segment": each segment's K queries add 1/K each, so the mean
  // is the number of recall segments over the number of recall targets.
  double segments = 0.0, recall_targets = 0.0;
  for (int b = 0; b < 50; ++b)
    for (int32_t x : FullSequence(batch, b)) segments += x == kKv;
  for (int32_t g : batch.groups) recall_targets += g == static_cast<int32_t>(LmMixtureTarget::kMqar);
  MetricSums sums;
  task.Score(batch, logits, sums);
  const std::map<std::string, double> m = sums.Means();
  EXPECT_DOUBLE_EQ(m.at("acc_mqar"), 1.0);
  EXPECT_DOUBLE_EQ(m.at("acc_copy"), 0.0);
  EXPECT_NEAR(m.at("acc_mqar_chance"), segments / recall_targets, 1e-12);
  EXPECT_DOUBLE_EQ(m.at("acc_text"), 0.0);
  EXPECT_NEAR(m.at("loss_text"), std::log(64.0), 1e-9);
  EXPECT_NEAR(m.at("text_entropy"), entropy / n_text, 1e-12);
  EXPECT_NEAR(m.at("text_bayes_accuracy"), bayes / n_text, 1e-12);
  EXPECT_GT(m.at("text_bayes_accuracy"), 0.25) << "at most 3 successors";
  EXPECT_TRUE(std::isnan(task.info().chance));
  EXPECT_TRUE(task.info().requires_causal);
}

TEST(LmMixtureTest, SameStreamSameBatchAndTheTestStreamIsHeldOut) {
  LmMixtureTask task(SmallConfig());
  Rng r1 = Rng::ForStream(5, "data/train"), r2 = Rng::ForStream(5, "data/train"), test = Rng::ForStream(5, "eval/test");
  Batch a, b, c;
  task.Sample(0, r1, 200, a);
  task.Sample(0, r2, 200, b);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.groups, b.groups);
  task.Sample(1, test, 200, c);
  std::set<std::vector<int32_t>> train;
  for (int i = 0; i < 200; ++i) train.insert(FullSequence(a, i));
  for (int i = 0; i < 200; ++i) EXPECT_FALSE(train.count(FullSequence(c, i)));
}

// Every problem names its key; relations are checked only between values that read cleanly.
TEST(LmMixtureTest, BadOptionsNameTheirKeys) {
  const OptionSet set = AllOptions();
  auto errors = [&](std::map<std::string, std::string> given) {
    given["task.name"] = "lm_mixture";
    Options options(set, given);
    EXPECT_EQ(MakeLmMixture(options), nullptr);
    std::string all;
    for (const std::string& e : options.errors()) all += e + "\n";
    return all;
  };
  EXPECT_NE(errors({{"task.mix_text", "0"}, {"task.mix_mqar", "0"}, {"task.mix_copy", "0"}}).find("task.mix_text"),
            std::string::npos);
  EXPECT_NE(errors({{"task.mix_copy", "-1"}}).find("task.mix_copy"), std::string::npos);
  EXPECT_NE(errors({{"task.vocab", "32"}, {"task.pairs", "13"}}).find("task.pairs: must be <= 12"), std::string::npos);
  EXPECT_NE(errors({{"task.vocab", "16"}, {"task.chain_degree", "7"}}).find("task.chain_degree"), std::string::npos);
  const std::string one = errors({{"task.vocab", "many"}, {"task.pairs", "200"}});
  EXPECT_NE(one.find("task.vocab"), std::string::npos) << one;
  EXPECT_EQ(one.find("task.pairs"), std::string::npos) << "no relation quoted against a fallback: " << one;
}

}  // namespace
}  // namespace sim
