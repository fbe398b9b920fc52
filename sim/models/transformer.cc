#include "sim/models/transformer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "sim/core/check.h"
#include "sim/kernels/parallel.h"
#include "sim/core/rng.h"

namespace sim {

namespace {

// Entries per parallel item when the readout gathers its scored columns.
constexpr Index kMinGatherEntries = 1 << 15;

struct InitStds {
  double embed, pos, in_proj, attn, attn_out, mlp_in, mlp_out, head;
};

// Per model.init (sim/models/model_config.h), then model.pos_std for the positions when given.
InitStds SchemeInitStds(const ModelConfig& c) {
  if (c.init == InitScheme::kGpt2) {
    const double residual = 0.02 / std::sqrt(2.0 * c.layers);
    return {0.02, 0.02, 0.02, 0.02, residual, 0.02, residual, 0.02};
  }
  const double d = c.d_model;
  InitStds fan_in{1.0,
                  1.0,
                  1.0 / std::sqrt(std::max(1, c.d_in)),
                  1.0 / std::sqrt(d),
                  1.0 / std::sqrt(d),
                  1.0 / std::sqrt(d),
                  1.0 / std::sqrt(std::max(1, c.d_mlp)),
                  1.0 / std::sqrt(d)};
  if (c.init == InitScheme::kHeads) {  // heads.md §4: W2 N(0, 1/D), positions N(0, 0.2²)
    fan_in.mlp_out = 1.0 / std::sqrt(d);
    fan_in.pos = 0.2;
  }
  return fan_in;
}

InitStds ComputeInitStds(const ModelConfig& c) {
  InitStds stds = SchemeInitStds(c);
  if (!std::isnan(c.pos_std)) stds.pos = c.pos_std;
  return stds;
}

// Layer l's mixer from the registry, its parameters under blocks.<l>.<param_name>.
std::unique_ptr<Mixer> MakeMixer(const ModelConfig& c, int layer, const InitStds& stds, ParamRegistry& registry,
                                 const std::string& prefix) {
  const MixerEntry& entry = c.mixer_entry(layer);
  MixerArgs args = c.mixer_args(layer);
  args.init_std = stds.attn;
  args.init_std_out = stds.attn_out;
  return entry.make(args, registry, prefix + "." + entry.param_name);
}

}  // namespace

void InitializeParams(ParamRegistry& registry, Rng& rng) {
  SIM_CHECK(registry.finalized(), "InitializeParams before ParamRegistry::Finalize");
  for (ParamId id = 0; id < registry.size(); ++id) {
    const ParamSpec& spec = registry.spec(id);
    MatMap value = registry.Value(id);
    switch (spec.init) {
      case InitKind::kZeros:
        value.setZero();
        break;
      case InitKind::kOnes:
        value.setOnes();
        break;
      case InitKind::kNormal:
        for (Index j = 0; j < value.cols(); ++j)
          for (Index i = 0; i < value.rows(); ++i) value(i, j) = static_cast<Scalar>(spec.init_std * rng.Normal());
        break;
    }
  }
}

Transformer::Transformer(const ModelConfig& config, ParamRegistry& registry) : cfg_(config), registry_(&registry) {
  cfg_.Validate();
  const InitStds stds = ComputeInitStds(cfg_);
  const int d = cfg_.d_model;
  if (cfg_.input == InputKind::kTokens) {
    tok_ = std::make_unique<TokenEmbedding>(cfg_.vocab, d, stds.embed, registry, "embed");
  } else {
    in_proj_ = std::make_unique<Linear>(LinearConfig{cfg_.d_in, d, true, stds.in_proj, true}, registry, "embed.in");
  }
  pos_ = std::make_unique<PositionalEncoding>(cfg_.pos, cfg_.max_len, d, stds.pos, registry, "embed", cfg_.segment);
  for (int l = 0; l < cfg_.layers; ++l) {
    const std::string prefix = "blocks." + std::to_string(l);
    Block block;
    if (cfg_.norm == NormKind::kPreLn) block.norm1 = std::make_unique<LayerNorm>(d, registry, prefix + ".norm1");
    block.mixer = MakeMixer(cfg_, l, stds, registry, prefix);
    block.mixer_entry = &cfg_.mixer_entry(l);
    if (cfg_.d_mlp > 0) {
      if (cfg_.norm == NormKind::kPreLn) block.norm2 = std::make_unique<LayerNorm>(d, registry, prefix + ".norm2");
      MlpConfig mc{d, cfg_.d_mlp, cfg_.act, cfg_.bias, stds.mlp_in, stds.mlp_out};
      block.mlp = std::make_unique<Mlp>(mc, registry, prefix + ".mlp");
    }
    blocks_.push_back(std::move(block));
    // model.head_mask: a fixed gate of 1s with 0 at the masked heads.
    Vec mask;
    if (!cfg_.head_mask.empty() && !cfg_.head_mask[l].empty()) {
      mask = Vec::Ones(cfg_.heads_in_layer(l));
      for (int h : cfg_.head_mask[l]) mask(h) = 0;
    }
    mask_gates_.push_back(mask);
  }
  if (cfg_.norm == NormKind::kPreLn) norm_f_ = std::make_unique<LayerNorm>(d, registry, "norm_f");
  head_ = std::make_unique<Linear>(LinearConfig{d, cfg_.n_classes, true, stds.head, true}, registry, "head");
}

std::unique_ptr<Workspace> Transformer::MakeWorkspace(BatchShape shape, int max_scored) const {
  SIM_CHECK(shape.batch > 0 && shape.length > 0 && shape.length <= cfg_.max_len,
            "MakeWorkspace: shape (B=", shape.batch, ", T=", shape.length, ") with max_len ", cfg_.max_len);
  SIM_CHECK(max_scored > 0 && max_scored <= shape.tokens(), "MakeWorkspace: max_scored=", max_scored,
            " outside [1, N=", shape.tokens(), "]");
  auto ws = std::make_unique<Workspace>();
  const int d = cfg_.d_model, n = shape.tokens(), s = max_scored;
  ws->shape = shape;
  ws->max_scored = s;
  ws->stream.assign(cfg_.layers + 1, Mat(d, n));
  ws->blocks.resize(cfg_.layers);
  ws->gates.resize(cfg_.layers);
  ws->gate_grads.resize(cfg_.layers);
  ws->gate_grads_out.assign(cfg_.layers, nullptr);
  for (int l = 0; l < cfg_.layers; ++l) {
    const int heads = blocks_[l].mixer->n_heads();
    ws->gates[l].resize(heads);
    ws->gate_grads[l].resize(heads);
  }
  for (int l = 0; l < cfg_.layers; ++l) {
    BlockCache& bc = ws->blocks[l];
    if (cfg_.norm == NormKind::kPreLn) {
      bc.ln1.Resize(d, n);
      bc.ln1_out.resize(d, n);
    }
    bc.mixer = blocks_[l].mixer->MakeCache(shape);
    if (cfg_.d_mlp > 0) {
      bc.mid.resize(d, n);
      bc.mlp.Resize(cfg_.d_mlp, n);
      if (cfg_.norm == NormKind::kPreLn) {
        bc.ln2.Resize(d, n);
        bc.ln2_out.resize(d, n);
      }
    }
  }
  ws->gathered.resize(d, s);
  if (cfg_.norm == NormKind::kPreLn) {
    ws->ln_f.Resize(d, s);
    ws->ln_f_out.resize(d, s);
  }
  ws->outputs.resize(cfg_.n_classes, s);
  ws->d_outputs.resize(cfg_.n_classes, s);
  ws->d_readout.resize(d, s);
  ws->d_gathered.resize(d, s);
  ws->d_stream.resize(d, n);
  if (cfg_.norm == NormKind::kPreLn) ws->d_branch.resize(d, n);
  return ws;
}

void Transformer::Forward(const Batch& batch, Workspace& ws, const ForwardHooks* hooks) const {
  const BatchShape bt = batch.shape;
  const int s = batch.n_scored();
  SIM_CHECK(bt.batch == ws.shape.batch && bt.length == ws.shape.length, "Transformer::Forward: batch (B=", bt.batch,
            ", T=", bt.length, ") but workspace (B=", ws.shape.batch, ", T=", ws.shape.length, ")");
  SIM_CHECK(s >= 1 && s <= ws.max_scored, "Transformer::Forward: ", s, " scored positions, workspace holds ",
            ws.max_scored);
  SIM_CHECK(batch.input == cfg_.input, "Transformer::Forward: batch input kind differs from the model's");
  if (hooks != nullptr) {
    const auto check_layers = [&](size_t n, const char* what) {
      SIM_CHECK(static_cast<int>(n) == cfg_.layers, "ForwardHooks: ", n, " ", what, " for ", cfg_.layers, " layers");
    };
    if (hooks->head_gates != nullptr) check_layers(hooks->head_gates->size(), "gate vectors");
    if (hooks->head_gate_grads != nullptr) check_layers(hooks->head_gate_grads->size(), "gate gradients");
    if (hooks->edits != nullptr) check_layers(hooks->edits->size(), "edits");
  }

  // Embedding and positions.
  Mat& x0 = ws.stream[0];
  if (tok_) {
    tok_->Forward(batch.tokens, x0);
  } else {
    SIM_CHECK_SHAPE("Transformer::Forward", batch.vectors, "Din", cfg_.d_in, "B*T", bt.tokens());
    in_proj_->Forward(batch.vectors, x0, false);
  }
  pos_->Forward(bt, x0);

  for (int l = 0; l < cfg_.layers; ++l) {
    const Block& block = blocks_[l];
    BlockCache& bc = ws.blocks[l];
    const Mat& x = ws.stream[l];
    Mat& mid = block.mlp ? bc.mid : ws.stream[l + 1];
    const Mat* mixer_in = &x;
    if (block.norm1) {
      block.norm1->Forward(x, bc.ln1, bc.ln1_out);
      mixer_in = &bc.ln1_out;
    }
    const MixerHooks mh = LayerHooks(l, hooks, ws);
    ParallelAssign(mid, x);
    block.mixer->Forward(*mixer_in, bt, mh, *bc.mixer, mid, /*accumulate=*/true);
    if (block.mlp) {
      const Mat* mlp_in = &mid;
      if (block.norm2) {
        block.norm2->Forward(mid, bc.ln2, bc.ln2_out);
        mlp_in = &bc.ln2_out;
      }
      ParallelAssign(ws.stream[l + 1], mid);
      block.mlp->Forward(*mlp_in, bc.mlp, ws.stream[l + 1], /*accumulate=*/true);
    }
  }

  // Readout at the scored positions only.
  const Mat& last = ws.stream[cfg_.layers];
  {
    const int block =
        std::max(1, static_cast<int>(kMinGatherEntries / std::max<Index>(1, last.rows())));  // columns per item
    ParallelFor((s + block - 1) / block, [&](int b) {
      for (int j = b * block; j < std::min(s, (b + 1) * block); ++j) ws.gathered.col(j) = last.col(batch.scored[j]);
    });
  }
  auto gathered = ws.gathered.leftCols(s);
  if (norm_f_) {
    norm_f_->Forward(gathered, ws.ln_f, ws.ln_f_out.leftCols(s));
    head_->Forward(ws.ln_f_out.leftCols(s), ws.outputs.leftCols(s), false);
  } else {
    head_->Forward(gathered, ws.outputs.leftCols(s), false);
  }
  ws.n_scored = s;
}

MixerHooks Transformer::LayerHooks(int l, const ForwardHooks* hooks, Workspace& ws) const {
  MixerHooks mh;
  const MixerEntry& entry = *blocks_[l].mixer_entry;
  const int heads = blocks_[l].mixer->n_heads();
  const auto check_size = [&](const Vec& v, const char* what) {
    SIM_CHECK(entry.Supports(MixerHook::kHeadGate), "ForwardHooks: layer ", l, "'s mixer (", entry.name,
              ") has no head ", what);
    SIM_CHECK(v.size() == heads, "ForwardHooks: layer ", l, " ", what, " has ", v.size(), " entries for ", heads,
              " heads");
  };
  const Vec& mask = mask_gates_[l];
  const Vec* gate = nullptr;
  if (hooks != nullptr && hooks->head_gates != nullptr && (*hooks->head_gates)[l].size() > 0) {
    gate = &(*hooks->head_gates)[l];
    check_size(*gate, "gates");
  }
  if (gate != nullptr && mask.size() > 0) {
    ws.gates[l] = gate->cwiseProduct(mask);
    mh.head_gate = ws.gates[l].data();
  } else if (gate != nullptr) {
    mh.head_gate = gate->data();
  } else if (mask.size() > 0) {
    mh.head_gate = mask.data();
  }
  ws.gate_grads_out[l] = nullptr;
  if (hooks != nullptr && hooks->head_gate_grads != nullptr && (*hooks->head_gate_grads)[l].size() > 0) {
    Vec& out = (*hooks->head_gate_grads)[l];
    check_size(out, "gate gradients");
    if (mask.size() > 0) {  // through the workspace, then times the mask (Backward)
      ws.gate_grads[l].setZero();
      ws.gate_grads_out[l] = &out;
      mh.d_head_gate = ws.gate_grads[l].data();
    } else {
      mh.d_head_gate = out.data();
    }
  }
  if (hooks != nullptr && hooks->edits != nullptr && (*hooks->edits)[l] != nullptr) {
    SIM_CHECK(entry.Supports(MixerHook::kAttentionEdit), "ForwardHooks: layer ", l, "'s mixer (", entry.name,
              ") has no attention probabilities to edit");
    mh.edit = (*hooks->edits)[l];
  }
  return mh;
}

void Transformer::Backward(const Batch& batch, Workspace& ws) const {
  const BatchShape bt = batch.shape;
  const int s = ws.n_scored;
  SIM_CHECK(s == batch.n_scored(), "Transformer::Backward: batch differs from the last Forward");

  // Readout: outputs = W h + b, h = norm_f(gathered).
  if (norm_f_) {
    head_->Backward(ws.ln_f_out.leftCols(s), ws.d_outputs.leftCols(s), ws.d_readout.leftCols(s), false);
    ws.d_gathered.leftCols(s).setZero();
    norm_f_->Backward(ws.d_readout.leftCols(s), ws.ln_f, ws.d_gathered.leftCols(s));
  } else {
    head_->Backward(ws.gathered.leftCols(s), ws.d_outputs.leftCols(s), ws.d_gathered.leftCols(s), false);
  }
  ParallelSetZero(ws.d_stream);
  for (int j = 0; j < s; ++j) ws.d_stream.col(batch.scored[j]) += ws.d_gathered.col(j);

  // Blocks in reverse; d_stream holds dL/d stream[l+1] on entry and dL/d stream[l] on exit.
  // Branch backwards accumulate into d_stream, which is the residual connection's gradient.
  for (int l = cfg_.layers - 1; l >= 0; --l) {
    const Block& block = blocks_[l];
    BlockCache& bc = ws.blocks[l];
    if (block.mlp) {
      const Mat& mid = bc.mid;
      if (block.norm2) {
        ParallelSetZero(ws.d_branch);
        block.mlp->Backward(bc.ln2_out, ws.d_stream, bc.mlp, ws.d_branch);
        block.norm2->Backward(ws.d_branch, bc.ln2, ws.d_stream);
      } else {
        block.mlp->Backward(mid, ws.d_stream, bc.mlp, ws.d_stream);
      }
    }
    const Mat& x = ws.stream[l];
    if (block.norm1) {
      ParallelSetZero(ws.d_branch);
      block.mixer->Backward(bc.ln1_out, ws.d_stream, bt, *bc.mixer, ws.d_branch);
      block.norm1->Backward(ws.d_branch, bc.ln1, ws.d_stream);
    } else {
      block.mixer->Backward(x, ws.d_stream, bt, *bc.mixer, ws.d_stream);
    }
    if (ws.gate_grads_out[l] != nullptr) *ws.gate_grads_out[l] += ws.gate_grads[l].cwiseProduct(mask_gates_[l]);
  }

  // Embedding and positions.
  pos_->Backward(bt, ws.d_stream);
  if (tok_)
    tok_->Backward(batch.tokens, ws.d_stream);
  else
    in_proj_->BackwardParams(batch.vectors, ws.d_stream);
}

size_t Workspace::bytes() const {
  size_t n = gathered.size() + ln_f.xhat.size() + ln_f.rstd.size() + ln_f_out.size() + outputs.size() +
             d_outputs.size() + d_readout.size() + d_gathered.size() + d_stream.size() + d_branch.size();
  for (const Mat& m : stream) n += m.size();
  size_t mixers = 0;
  for (const BlockCache& bc : blocks) {
    n += bc.ln1.xhat.size() + bc.ln1.rstd.size() + bc.ln2.xhat.size() + bc.ln2.rstd.size() + bc.ln1_out.size() +
         bc.ln2_out.size() + bc.mid.size() + bc.mlp.h.size() + bc.mlp.a.size() + bc.mlp.d_h.size();
    if (bc.mixer) mixers += bc.mixer->bytes();
  }
  return n * sizeof(Scalar) + mixers;
}

double TrainingFlopsPerStep(const ModelConfig& c, BatchShape shape, int n_scored) {
  const double n = shape.tokens(), d = c.d_model;
  double per_token_macs = c.input == InputKind::kVectors ? d * c.d_in : 0.0;
  per_token_macs += c.layers * 2.0 * d * c.d_mlp;
  double mixer_flops_per_token = 0.0;
  for (int l = 0; l < c.layers; ++l)
    mixer_flops_per_token += c.mixer_entry(l).flops_per_token(c.mixer_args(l), shape.length);
  const double readout_macs = d * c.n_classes * n_scored;
  return 6.0 * (per_token_macs * n + readout_macs) + mixer_flops_per_token * n;
}

const Mat* Transformer::AttentionProbs(const Workspace& ws, int layer) const {
  SIM_CHECK(layer >= 0 && layer < cfg_.layers, "AttentionProbs: layer ", layer, " of ", cfg_.layers);
  return blocks_[layer].mixer->AttentionProbs(*ws.blocks[layer].mixer);
}

}  // namespace sim
