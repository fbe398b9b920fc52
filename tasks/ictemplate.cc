#include "tasks/ictemplate.h"

#include <algorithm>
#include <cmath>

#include "sim/core/check.h"

namespace sim {

IctemplateTask::IctemplateTask(const IctemplateConfig& config) : cfg_(config) {
  std::vector<Template> all = PairingTemplates(cfg_.length);
  Rng rng = Rng::ForStream(0, "task/ictemplate/pools");
  std::vector<int> order(all.size()), scratch;
  rng.SampleWithoutReplacement(static_cast<int>(all.size()), static_cast<int>(all.size()), scratch, order.data());
  for (size_t i = 0; i < all.size(); ++i)
    (static_cast<int>(i) < cfg_.templates_train ? train_pool_ : test_pool_).push_back(all[order[i]]);
  for (int t = 0; t < cfg_.vocab; ++t) filler_.push_back(t);
  const int seg = cfg_.length + 1;
  info_.name = "ictemplate";
  info_.input = InputKind::kTokens;
  info_.vocab = cfg_.vocab + cfg_.labels + 2;  // + OUT + PAD
  info_.output = OutputKind::kClasses;
  info_.n_classes = cfg_.labels + n_aux_classes();
  info_.length = std::max(seg * cfg_.pairs + seg * cfg_.n_queries, cfg_.pad_to);
  // With the auxiliary target every segment's second tokens of its L/2 pairs may be scored too.
  info_.max_scored_per_example =
      cfg_.n_queries + (cfg_.aux_partner > 0 ? (cfg_.pairs + cfg_.n_queries) * cfg_.length / 2 : 0);
  info_.splits = {"train", "test_id"};
  if (static_cast<int>(test_pool_.size()) >= cfg_.pairs) info_.splits.push_back("test_ood");
  info_.chance = 1.0 / cfg_.pairs;
  // Segment j holds instance j (x_j1 .. x_jL) then its label y_j; query segments end in OUT (or PAD
  // in evaluation prompts, which have a single query).
  for (int j = 1; j <= cfg_.pairs + cfg_.n_queries; ++j) {
    const bool query = j > cfg_.pairs;
    const std::string seg = !query ? Concat(j) : cfg_.n_queries == 1 ? std::string("*") : Concat("*", j - cfg_.pairs);
    for (int i = 1; i <= cfg_.length; ++i) info_.position_labels.push_back(Concat("x", seg, ".", i));
    info_.position_labels.push_back(query ? Concat("OUT", seg.substr(1)) : Concat("y", seg));
  }
  while (static_cast<int>(info_.position_labels.size()) < info_.length) info_.position_labels.push_back("PAD");
  RequireCausalForQueries(info_, cfg_.n_queries);
  which_.resize(cfg_.pairs);
  label_of_.resize(cfg_.pairs);
  asked_.resize(cfg_.n_queries);
}

void IctemplateTask::Sample(int split, Rng& rng, int batch_size, Batch& batch) const {
  SampleWith(split, rng, batch_size, 0.0, 0.0, batch);
}

void IctemplateTask::SampleTraining(Rng& rng, int batch_size, int step, Batch& batch) const {
  SampleWith(0, rng, batch_size, KeepAt(step), AuxAt(step), batch);
}

double IctemplateTask::KeepAt(int step) const {
  const IctemplateConfig& c = cfg_;
  if (c.keep_context <= 0 || step >= c.keep_context_hold + c.keep_context_anneal) return 0.0;
  if (step < c.keep_context_hold) return c.keep_context;
  return c.keep_context * (1.0 - static_cast<double>(step - c.keep_context_hold) / c.keep_context_anneal);
}

double IctemplateTask::AuxAt(int step) const {
  return cfg_.aux_partner_until > 0 && step >= cfg_.aux_partner_until ? 0.0 : cfg_.aux_partner;
}

void IctemplateTask::FillQuery(const Template& t, const int32_t* context, double keep, Rng& rng, int32_t* out) const {
  const int n_symbols = cfg_.length / 2;
  // kept_[s]: symbol s's context token, or kFresh; each symbol draws once, at its first position.
  constexpr int kUndecided = -1, kFresh = -2;
  kept_.assign(n_symbols, kUndecided);
  for (int i = 0; i < cfg_.length; ++i)
    if (kept_[t[i]] == kUndecided) kept_[t[i]] = rng.Uniform() < keep ? context[i] : kFresh;
  available_.clear();
  for (int32_t token : filler_)
    if (std::find(kept_.begin(), kept_.end(), token) == kept_.end()) available_.push_back(token);
  const int n_fresh = static_cast<int>(std::count(kept_.begin(), kept_.end(), kFresh));
  fresh_.resize(n_fresh);
  rng.SampleWithoutReplacement(static_cast<int>(available_.size()), n_fresh, scratch_, fresh_.data());
  int next = 0;
  for (int s = 0; s < n_symbols; ++s)
    if (kept_[s] == kFresh) kept_[s] = available_[fresh_[next++]];
  for (int i = 0; i < cfg_.length; ++i) out[i] = kept_[t[i]];
}

void IctemplateTask::AddPartnerTargets(const Template& t, int b, int first, double aux, Rng& rng, Batch& batch) const {
  for (int i = 1; i < cfg_.length; ++i) {
    int partner = 0;
    while (partner < i && t[partner] != t[i]) ++partner;
    if (partner == i) continue;  // the first of its pair
    if (aux < 1.0 && !(rng.Uniform() < aux)) continue;
    batch.AddClassTarget(b, first + i, cfg_.labels + partner);
  }
}

void IctemplateTask::SampleWith(int split, Rng& rng, int batch_size, double keep, double aux, Batch& batch) const {
  const int m = cfg_.pairs, seg = cfg_.length + 1, t_len = info_.length;
  const int k = split == 0 ? cfg_.n_queries : 1;
  const std::vector<Template>& pool = split == 2 ? test_pool_ : train_pool_;
  const int32_t label0 = cfg_.vocab, out = cfg_.vocab + cfg_.labels, pad = out + 1;
  batch.Reset({batch_size, t_len}, InputKind::kTokens, OutputKind::kClasses, 0);
  for (int b = 0; b < batch_size; ++b) {
    int32_t* tokens = batch.tokens.data() + static_cast<size_t>(b) * t_len;
    rng.SampleWithoutReplacement(static_cast<int>(pool.size()), m, scratch_, which_.data());
    rng.SampleWithoutReplacement(cfg_.labels, m, scratch_, label_of_.data());
    for (int j = 0; j < m; ++j) {
      FillTemplate(pool[which_[j]], filler_, rng, scratch_, tokens + j * seg);
      tokens[j * seg + cfg_.length] = label0 + label_of_[j];
    }
    // Scored positions must increase: the context segments' auxiliary targets come first.
    if (aux > 0)
      for (int j = 0; j < m; ++j) AddPartnerTargets(pool[which_[j]], b, j * seg, aux, rng, batch);
    rng.SampleWithoutReplacement(m, k, scratch_, asked_.data());
    for (int i = 0; i < k; ++i) {
      int32_t* query = tokens + (m + i) * seg;
      const Template& t = pool[which_[asked_[i]]];
      // keep = 0 takes the task's own path, so its random draws (and prompts) stay the same.
      if (keep > 0)
        FillQuery(t, tokens + asked_[i] * seg, keep, rng, query);
      else
        FillTemplate(t, filler_, rng, scratch_, query);
      query[cfg_.length] = out;
      if (aux > 0) AddPartnerTargets(t, b, (m + i) * seg, aux, rng, batch);
      batch.AddClassTarget(b, (m + i) * seg + cfg_.length, label_of_[asked_[i]]);
    }
    for (int t = (m + k) * seg; t < t_len; ++t) tokens[t] = pad;
  }
}

void DeclareIctemplateOptions(OptionSet& set) {
  const std::string owner = "task:ictemplate";
  set.Declare({"task.vocab", "32", "filler tokens V", owner});
  set.Declare({"task.labels", "8", "label tokens |Y| (the classes)", owner});
  set.Declare({"task.pairs", "4", "(instance, label) segments m per prompt (chance 1/m)", owner});
  set.Declare({"task.length", "6", "template length L (even)", owner});
  set.Declare({"task.templates_train", "10", "templates in the training pool; the other pairing templates are held out",
               owner});
  DeclareNQueries(set, owner);
  set.Declare({"task.pad_to", "0",
               "prompt length in tokens, filled with PAD after the last query (0 = (m + k)(L + 1)); lets the stages of "
               "a curriculum over m share one model",
               owner});
  // Training aids, added after runs existed: omitted at their defaults, so those runs keep their
  // config text (and their sweep file names).
  auto declare_new = [&](const std::string& key, const std::string& value, const std::string& help) {
    OptionDecl decl{key, value, help, owner};
    decl.omit_at_default = true;
    set.Declare(decl);
  };
  declare_new("task.aux_partner", "0",
              "training only: probability of also scoring each filler whose partner is earlier in its segment, with "
              "class task.labels + the partner's offset (0..L-2) in the same readout (the readout then has "
              "labels + L - 1 classes); 0 = off");
  declare_new("task.aux_partner_until", "0",
              "training step from which task.aux_partner is off (a curriculum stage); 0 = for the whole run");
  declare_new("task.keep_context", "0",
              "training only: probability q0 that each symbol of a query instance keeps its token from the context "
              "instance of its template (1 = exact copies); 0 = off (the task itself)");
  declare_new("task.keep_context_hold", "0", "training steps at q = task.keep_context");
  declare_new("task.keep_context_anneal", "0",
              "after the hold, training steps over which q falls linearly to 0 (then stays 0)");
}

std::unique_ptr<Task> MakeIctemplate(Options& options) {
  const OptionErrorScope read(options);
  IctemplateConfig c;
  c.vocab = static_cast<int>(options.Int("task.vocab", 1, 1 << 16));
  c.labels = static_cast<int>(options.Int("task.labels", 2, 1 << 16));
  c.pairs = static_cast<int>(options.Int("task.pairs", 1, 1 << 10));
  c.length = static_cast<int>(options.Int("task.length", 2, 16));
  c.templates_train = static_cast<int>(options.Int("task.templates_train", 1, 1 << 20));
  c.n_queries = static_cast<int>(options.Int("task.n_queries", 1, 1 << 10));
  c.pad_to = static_cast<int>(options.Int("task.pad_to", 0, 1 << 16));
  c.aux_partner = options.Double("task.aux_partner", 0.0, 1.0);
  c.aux_partner_until = static_cast<int>(options.Int("task.aux_partner_until", 0, 1 << 30));
  c.keep_context = options.Double("task.keep_context", 0.0, 1.0);
  c.keep_context_hold = static_cast<int>(options.Int("task.keep_context_hold", 0, 1 << 30));
  c.keep_context_anneal = static_cast<int>(options.Int("task.keep_context_anneal", 0, 1 << 30));
  if (read.ok()) {
    if (c.length % 2 != 0) {
      options.Fail("task.length", "must be even (every symbol occurs twice)");
    } else {
      const int n = static_cast<int>(PairingTemplates(c.length).size());
      if (c.templates_train > n)
        options.Fail("task.templates_train", Concat("at most ", n, " templates of length ", c.length));
      if (c.pairs > c.templates_train)
        options.Fail("task.pairs",
                     Concat("must be <= task.templates_train=", c.templates_train, " (distinct templates per prompt)"));
    }
    if (c.pairs > c.labels)
      options.Fail("task.pairs", Concat("must be <= task.labels=", c.labels, " (distinct labels)"));
    if (c.vocab < c.length / 2) options.Fail("task.vocab", Concat("needs >= ", c.length / 2, " tokens"));
    CheckNQueries(options, c.n_queries, c.pairs);
    if (c.keep_context > 0 && c.keep_context_hold + c.keep_context_anneal == 0)
      options.Fail("task.keep_context",
                   Concat("= ", c.keep_context,
                          " needs task.keep_context_hold or task.keep_context_anneal > 0 (else q is 0 from step 0)"));
    if (c.aux_partner == 0 && c.aux_partner_until != 0)
      options.Fail("task.aux_partner_until", Concat("= ", c.aux_partner_until, " needs task.aux_partner > 0"));
    if (c.keep_context == 0 && c.keep_context_hold + c.keep_context_anneal != 0)
      options.Fail("task.keep_context_hold", Concat("and task.keep_context_anneal (", c.keep_context_hold, ", ",
                                                    c.keep_context_anneal, ") need task.keep_context > 0"));
    const int natural = (c.pairs + c.n_queries) * (c.length + 1);
    if (c.pad_to != 0 && c.pad_to < natural)
      options.Fail(
          "task.pad_to",
          Concat("must be 0 or >= the prompt's length (task.pairs + task.n_queries) * (task.length + 1) = ", natural));
  }
  return MakeIfClean<IctemplateTask>(read, c);
}

std::vector<AnalysisArray> IctemplateMeasures(const Task& task, const AttentionCapture& p) {
  std::vector<AnalysisArray> out;
  const auto* ictemplate = dynamic_cast<const IctemplateTask*>(&task);
  if (ictemplate == nullptr || p.n_layers() < 1 || p.probs[0] == nullptr) return out;
  const int length = ictemplate->length(), seg = length + 1;
  const int t_len = p.length(), batch = p.examples(), h1 = p.heads[0];
  AnalysisArray mass = ZeroArray("mech/ictemplate_partner_mass", {3, static_cast<uint64_t>(h1)});
  mass.string_attrs["dims"] = "row,head";
  const int32_t n_fillers = ictemplate->n_fillers();
  double n_queries = 0;  // fillers with an earlier partner, over the probe
  for (int b = 0; b < batch; ++b) {
    const int32_t* t = p.batch->tokens.data() + static_cast<size_t>(b) * t_len;
    for (int q = 0; q < t_len; ++q) {
      const int offset = q % seg, first = q - offset;
      if (offset >= length || t[q] >= n_fillers) continue;
      int partner = -1;
      for (int k = first; k < q; ++k)
        if (t[k] == t[q]) partner = k;
      if (partner < 0) continue;
      n_queries += 1;
      for (int h = 0; h < h1; ++h) {
        mass.data[h] += p.Weight(0, b, h, partner, q);
        mass.data[h1 + h] += p.Weight(0, b, h, q, q);
        for (int k = 0; k < first; ++k)
          if (t[k] == t[q]) mass.data[2 * h1 + h] += p.Weight(0, b, h, k, q);
      }
    }
  }
  for (double& v : mass.data) v = n_queries > 0 ? v / n_queries : NAN;
  out.push_back(mass);
  return out;
}

}  // namespace sim
