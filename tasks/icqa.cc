#include "tasks/icqa.h"

#include "sim/core/check.h"

namespace sim {

IcqaTask::IcqaTask(const IcqaConfig& config) : cfg_(config) {
  info_.name = "icqa";
  info_.input = InputKind::kTokens;
  info_.vocab = cfg_.questions + cfg_.answers + (cfg_.n_queries > 1 ? 1 : 0);  // + PAD with multi-query
  info_.output = OutputKind::kClasses;
  info_.n_classes = cfg_.answers;
  info_.length = 2 * cfg_.pairs + cfg_.n_queries;
  info_.max_scored_per_example = cfg_.n_queries;
  info_.splits = {"train", "test"};
  info_.chance = 1.0 / cfg_.pairs;
  for (int j = 1; j <= cfg_.pairs; ++j) {
    info_.position_labels.push_back(Concat("q", j));
    info_.position_labels.push_back(Concat("a", j));
  }
  for (int i = 1; i <= cfg_.n_queries; ++i)
    info_.position_labels.push_back(cfg_.n_queries == 1 ? "q*" : Concat("q*", i));
  RequireCausalForQueries(info_, cfg_.n_queries);
  q_.resize(cfg_.pairs);
  a_.resize(cfg_.pairs);
  asked_.resize(cfg_.n_queries);
}

void IcqaTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  const int m = cfg_.pairs, t_len = info_.length;
  const int k = split == 0 ? cfg_.n_queries : 1;  // evaluation: single-query prompts
  const int32_t pad = cfg_.questions + cfg_.answers;
  batch.Reset({batch_size, t_len}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    int32_t* tokens = batch.tokens.data() + static_cast<size_t>(b) * t_len;
    rng.SampleWithoutReplacement(cfg_.questions, m, scratch_, q_.data());
    rng.SampleWithoutReplacement(cfg_.answers, m, scratch_, a_.data());
    for (int j = 0; j < m; ++j) {
      tokens[2 * j] = q_[j];
      tokens[2 * j + 1] = cfg_.questions + a_[j];
    }
    rng.SampleWithoutReplacement(m, k, scratch_, asked_.data());
    for (int i = 0; i < k; ++i) {
      tokens[2 * m + i] = q_[asked_[i]];
      batch.AddClassTarget(b, 2 * m + i, a_[asked_[i]]);
    }
    for (int t = 2 * m + k; t < t_len; ++t) tokens[t] = pad;
  }
}

void DeclareIcqaOptions(OptionSet& set) {
  const std::string owner = "task:icqa";
  set.Declare({"task.questions", "32", "question vocabulary |Q| (tokens 0..|Q|-1)", owner});
  set.Declare({"task.answers", "16", "answer vocabulary |A| (tokens |Q|..|Q|+|A|-1; the classes)", owner});
  set.Declare({"task.pairs", "6", "question-answer pairs m per prompt (chance 1/m)", owner});
  DeclareNQueries(set, owner);
}

std::unique_ptr<Task> MakeIcqa(Options& options) {
  const OptionErrorScope read(options);
  IcqaConfig c;
  c.questions = static_cast<int>(options.Int("task.questions", 1, 1 << 16));
  c.answers = static_cast<int>(options.Int("task.answers", 2, 1 << 16));
  c.pairs = static_cast<int>(options.Int("task.pairs", 1, 1 << 12));
  c.n_queries = static_cast<int>(options.Int("task.n_queries", 1, 1 << 12));
  if (read.ok()) {
    if (c.pairs > c.questions)
      options.Fail("task.pairs", Concat("must be <= task.questions=", c.questions, " (distinct questions)"));
    if (c.pairs > c.answers)
      options.Fail("task.pairs", Concat("must be <= task.answers=", c.answers, " (distinct answers)"));
    CheckNQueries(options, c.n_queries, c.pairs);
  }
  return MakeIfClean<IcqaTask>(read, c);
}

}  // namespace sim

namespace sim {

std::vector<AnalysisArray> IcqaMeasures(const Task& task, const AttentionCapture& p) {
  const auto& icqa = dynamic_cast<const IcqaTask&>(task);
  std::vector<AnalysisArray> out;
  if (p.n_layers() < 1 || p.probs[0] == nullptr) return out;
  const int t_len = p.length(), batch = p.examples(), h1 = p.heads[0];
  const int m = icqa.config().pairs, readout = 2 * m;
  AnalysisArray partner = ZeroArray("mech/icqa_partner_mass", {2, static_cast<uint64_t>(h1)});
  partner.string_attrs["dims"] = "row,head";
  AnalysisArray read_qj = ZeroArray("mech/icqa_readout_qJ_mass", {static_cast<uint64_t>(h1)});
  read_qj.string_attrs["dims"] = "head";
  std::vector<int> j_of(batch);  // the asked pair of each prompt
  for (int b = 0; b < batch; ++b) {
    const int32_t* t = p.batch->tokens.data() + static_cast<size_t>(b) * t_len;
    for (int j = 0; j < m; ++j)
      if (t[2 * j] == t[readout]) j_of[b] = j;
  }
  for (int h = 0; h < h1; ++h) {
    double q_to_a = 0, a_to_q = 0, qj = 0;
    for (int b = 0; b < batch; ++b) {
      for (int j = 0; j < m; ++j) {
        q_to_a += p.Weight(0, b, h, 2 * j + 1, 2 * j);
        a_to_q += p.Weight(0, b, h, 2 * j, 2 * j + 1);
      }
      qj += p.Weight(0, b, h, 2 * j_of[b], readout);
    }
    partner.data[h] = q_to_a / (batch * m);
    partner.data[h1 + h] = a_to_q / (batch * m);
    read_qj.data[h] = qj / batch;
  }
  out.push_back(partner);
  out.push_back(read_qj);
  if (p.n_layers() >= 2 && p.probs[1] != nullptr) {
    const int h2 = p.heads[1];
    AnalysisArray match = ZeroArray("mech/icqa_match_mass", {2, static_cast<uint64_t>(h2)});
    match.string_attrs["dims"] = "row,head";
    for (int h = 0; h < h2; ++h) {
      double pair = 0, answer = 0;
      for (int b = 0; b < batch; ++b) {
        const double a = p.Weight(1, b, h, 2 * j_of[b] + 1, readout);
        pair += a + p.Weight(1, b, h, 2 * j_of[b], readout);
        answer += a;
      }
      match.data[h] = pair / batch;
      match.data[h2 + h] = answer / batch;
    }
    out.push_back(match);
  }
  return out;
}

}  // namespace sim
