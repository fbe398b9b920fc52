#include "analysis/attention_analysis.h"

#include <algorithm>
#include <cmath>

#include "sim/core/check.h"
#include "tasks/icqa.h"
#include "tasks/template_task.h"

namespace sim {

namespace {

struct Probe {
  Batch batch;
  std::unique_ptr<Workspace> ws;
};

Probe RunProbe(const Transformer& model, const Task& task, const ProbeOptions& options) {
  const TaskInfo& info = task.info();
  SIM_CHECK(
      options.split > 0 && options.split < static_cast<int>(info.splits.size()) && info.split_size(options.split) == 0,
      "probe: split ", options.split, " is not an evaluation split drawn afresh");
  Probe p;
  Rng rng = Rng::ForStream(options.seed, "probe/" + info.splits[options.split]);
  task.Sample(options.split, rng, options.examples, p.batch);
  p.ws = model.MakeWorkspace(p.batch.shape, std::max(1, p.batch.n_scored()));
  model.Forward(p.batch, *p.ws);
  return p;
}

int MaxHeads(const Transformer& model) {
  int h = 0;
  for (int l = 0; l < model.n_layers(); ++l) h = std::max(h, model.config().heads_in_layer(l));
  return h;
}

// P(key, query) of example b, head h, layer l.
inline double Weight(const Mat& probs, int t_len, int n_heads, int b, int h, int key, int query) {
  return probs(key, static_cast<Index>(b * n_heads + h) * t_len + query);
}

}  // namespace

AnalysisArray AttentionMaps(const Transformer& model, const Task& task, const ProbeOptions& options) {
  Probe p = RunProbe(model, task, options);
  const int n_layers = model.n_layers(), n_heads = MaxHeads(model), t_len = p.batch.shape.length;
  const int batch = p.batch.shape.batch;
  AnalysisArray a;
  a.path = "attention";
  a.dims = {static_cast<uint64_t>(n_layers), static_cast<uint64_t>(n_heads), static_cast<uint64_t>(t_len),
            static_cast<uint64_t>(t_len)};
  a.data.assign(static_cast<size_t>(n_layers) * n_heads * t_len * t_len, NAN);
  for (int l = 0; l < n_layers; ++l) {
    const Mat* probs = model.AttentionProbs(*p.ws, l);
    if (probs == nullptr) continue;
    const int heads = model.config().heads_in_layer(l);
    for (int h = 0; h < heads; ++h)
      for (int q = 0; q < t_len; ++q)
        for (int k = 0; k < t_len; ++k) {
          double sum = 0.0;
          for (int b = 0; b < batch; ++b) sum += Weight(*probs, t_len, heads, b, h, k, q);
          a.data[((static_cast<size_t>(l) * n_heads + h) * t_len + q) * t_len + k] = sum / batch;
        }
  }
  a.number_attrs["probe_examples"] = batch;
  a.string_attrs["split"] = task.info().splits[options.split];
  const std::vector<std::string>& labels = task.info().position_labels;
  if (static_cast<int>(labels.size()) == t_len) {
    std::string joined;
    for (const std::string& l : labels) joined += (joined.empty() ? "" : ",") + l;
    a.string_attrs["positions"] = joined;
  }
  if (p.batch.input == InputKind::kTokens)
    a.int_array_attrs["tokens"] = std::vector<int64_t>(p.batch.tokens.begin(), p.batch.tokens.begin() + t_len);
  return a;
}

std::vector<AnalysisArray> MechanismMeasures(const Transformer& model, const Task& task, const ProbeOptions& options) {
  std::vector<AnalysisArray> out;
  const auto* icqa = dynamic_cast<const IcqaTask*>(&task);
  const auto* tmpl = dynamic_cast<const TemplateTask*>(&task);
  if (icqa == nullptr && tmpl == nullptr) return out;
  Probe p = RunProbe(model, task, options);
  const int t_len = p.batch.shape.length, batch = p.batch.shape.batch;
  const Mat& l1 = *model.AttentionProbs(*p.ws, 0);
  const int h1 = model.config().heads_in_layer(0);
  auto make = [](const std::string& path, std::vector<uint64_t> dims) {
    AnalysisArray a;
    a.path = path;
    a.dims = std::move(dims);
    size_t n = 1;
    for (uint64_t d : a.dims) n *= d;
    a.data.assign(n, 0.0);
    return a;
  };
  if (icqa != nullptr) {
    const int m = icqa->config().pairs, readout = 2 * m;
    AnalysisArray partner = make("mech/icqa_partner_mass", {2, static_cast<uint64_t>(h1)});
    AnalysisArray read_qj = make("mech/icqa_readout_qJ_mass", {static_cast<uint64_t>(h1)});
    std::vector<int> j_of(batch);
    for (int b = 0; b < batch; ++b) {
      const int32_t* t = p.batch.tokens.data() + static_cast<size_t>(b) * t_len;
      for (int j = 0; j < m; ++j)
        if (t[2 * j] == t[readout]) j_of[b] = j;
    }
    for (int h = 0; h < h1; ++h) {
      double q_to_a = 0, a_to_q = 0, qj = 0;
      for (int b = 0; b < batch; ++b) {
        for (int j = 0; j < m; ++j) {
          q_to_a += Weight(l1, t_len, h1, b, h, 2 * j + 1, 2 * j);
          a_to_q += Weight(l1, t_len, h1, b, h, 2 * j, 2 * j + 1);
        }
        qj += Weight(l1, t_len, h1, b, h, 2 * j_of[b], readout);
      }
      partner.data[h] = q_to_a / (batch * m);
      partner.data[h1 + h] = a_to_q / (batch * m);
      read_qj.data[h] = qj / batch;
    }
    out.push_back(partner);
    out.push_back(read_qj);
    if (model.n_layers() >= 2) {
      const Mat& l2 = *model.AttentionProbs(*p.ws, 1);
      const int h2 = model.config().heads_in_layer(1);
      AnalysisArray match = make("mech/icqa_match_mass", {2, static_cast<uint64_t>(h2)});
      for (int h = 0; h < h2; ++h) {
        double pair = 0, answer = 0;
        for (int b = 0; b < batch; ++b) {
          const double a = Weight(l2, t_len, h2, b, h, 2 * j_of[b] + 1, readout);
          pair += a + Weight(l2, t_len, h2, b, h, 2 * j_of[b], readout);
          answer += a;
        }
        match.data[h] = pair / batch;
        match.data[h2 + h] = answer / batch;
      }
      out.push_back(match);
    }
  }
  if (tmpl != nullptr) {
    const int len = t_len - 1, at_out = len;  // content positions 0..L-1, OUT at L
    AnalysisArray same = make("mech/template_same_token_mass", {2, static_cast<uint64_t>(h1)});
    AnalysisArray top2 = make("mech/template_out_top2_mass", {2, static_cast<uint64_t>(h1)});
    for (int h = 0; h < h1; ++h) {
      double self_and_partner = 0, partner_only = 0, top_mass = 0, top_same = 0;
      for (int b = 0; b < batch; ++b) {
        const int32_t* t = p.batch.tokens.data() + static_cast<size_t>(b) * t_len;
        for (int q = 0; q < len; ++q)
          for (int k = 0; k < len; ++k)
            if (t[k] == t[q]) {
              const double w = Weight(l1, t_len, h1, b, h, k, q);
              self_and_partner += w;
              if (k != q) partner_only += w;
            }
        int first = -1, second = -1;
        for (int k = 0; k < t_len; ++k) {
          const double w = Weight(l1, t_len, h1, b, h, k, at_out);
          if (first < 0 || w > Weight(l1, t_len, h1, b, h, first, at_out)) {
            second = first;
            first = k;
          } else if (second < 0 || w > Weight(l1, t_len, h1, b, h, second, at_out)) {
            second = k;
          }
        }
        top_mass += Weight(l1, t_len, h1, b, h, first, at_out) + Weight(l1, t_len, h1, b, h, second, at_out);
        top_same += t[first] == t[second] ? 1.0 : 0.0;
      }
      same.data[h] = self_and_partner / (batch * len);
      same.data[h1 + h] = partner_only / (batch * len);
      top2.data[h] = top_mass / batch;
      top2.data[h1 + h] = top_same / batch;
    }
    out.push_back(same);
    out.push_back(top2);
  }
  for (AnalysisArray& a : out) {
    a.number_attrs["probe_examples"] = batch;
    a.string_attrs["split"] = task.info().splits[options.split];
  }
  return out;
}

}  // namespace sim
