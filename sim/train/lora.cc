#include "sim/train/lora.h"

#include <algorithm>
#include <cmath>

#include "sim/core/check.h"
#include "sim/core/error.h"
#include "sim/core/glob.h"
#include "sim/kernels/gemm.h"

namespace sim {

namespace {
constexpr const char* kAdapterPrefix = "lora.";

bool IsAdapter(const std::string& name) { return name.rfind(kAdapterPrefix, 0) == 0; }
}  // namespace

void DeclareLoraOptions(OptionSet& set) {
  // Added after runs existed: omitted at their defaults, so runs without LoRA keep their config text.
  OptionDecl targets{"lora.targets", "none",
                     "LoRA adapters on these weights: comma-separated glob patterns over 2-D parameter names "
                     "(blocks.*.attn.wq,blocks.*.attn.wv); each target W (out, in) computes with W + (alpha/rank) B A, "
                     "A (rank, in) and B (out, rank) trained as lora.<name>.a and lora.<name>.b, W frozen; with "
                     "optim.trainable unset only lora.* and head.* train; none = off",
                     ""};
  OptionDecl rank{"lora.rank", "4", "LoRA rank r (1 <= r <= min(in, out) of every target)", ""};
  OptionDecl alpha{"lora.alpha", "auto", "LoRA alpha: the update is scaled by alpha / rank; auto = rank (scale 1)", ""};
  OptionDecl a_std{"lora.a_std", "auto",
                   "standard deviation of the LoRA A matrices' initial entries (B starts at 0); auto = 1/sqrt(rank)",
                   ""};
  for (OptionDecl* d : {&targets, &rank, &alpha, &a_std}) {
    d->omit_at_default = true;
    set.Declare(*d);
  }
}

LoraConfig ReadLoraConfig(Options& options) {
  LoraConfig c;
  c.targets = options.StringList("lora.targets");
  c.rank = static_cast<int>(options.Int("lora.rank", 1, 1 << 20));
  c.alpha = options.String("lora.alpha") == "auto" ? c.rank : options.Double("lora.alpha", 0, 1e9);
  c.a_std = options.String("lora.a_std") == "auto" ? 1.0 / std::sqrt(static_cast<double>(c.rank))
                                                   : options.Double("lora.a_std", 0, 1e9);
  return c;
}

LoraAdapters::LoraAdapters(const LoraConfig& config, ParamRegistry& registry) : cfg_(config), registry_(&registry) {
  SIM_CHECK(!registry.finalized(), "LoraAdapters: adapters are registered before ParamRegistry::Finalize");
  SIM_CHECK(cfg_.rank >= 1, "LoraAdapters: rank ", cfg_.rank);
  std::vector<ParamId> weights;
  for (const std::string& pattern : cfg_.targets) {
    bool any = false;
    for (ParamId id : registry.Match(pattern)) {
      const ParamSpec& spec = registry.spec(id);
      if (spec.rows < 2 || spec.cols < 2 || IsAdapter(spec.name)) continue;  // vectors (biases, gains) are not
      any = true;
      if (std::find(weights.begin(), weights.end(), id) == weights.end()) weights.push_back(id);
    }
    if (!any) {
      std::string names;
      int shown = 0;
      for (ParamId id = 0; id < registry.size() && shown < 12; ++id)
        if (registry.spec(id).rows > 1 && registry.spec(id).cols > 1 && !IsAdapter(registry.name(id)))
          names += (shown++ ? ", " : "") + registry.name(id);
      throw ConfigError(Concat("lora.targets: pattern '", pattern,
                               "' matches no 2-D weight of this model; its weights are: ", names,
                               shown == 12 ? ", ..." : ""));
    }
  }
  std::sort(weights.begin(), weights.end());  // registration order, whatever the pattern order
  for (ParamId id : weights) {
    const ParamSpec spec = registry.spec(id);  // a copy: Add() may move the specs
    const Index out = spec.rows, in = spec.cols;
    if (cfg_.rank > std::min(out, in))
      throw ConfigError(Concat("lora.rank: expected 1 <= rank <= min(out, in) = ", std::min(out, in), " of target ",
                               spec.name, " (", out, ", ", in, "), got ", cfg_.rank));
    Target t;
    t.weight = id;
    t.a = registry.Add({Concat(kAdapterPrefix, spec.name, ".a"), cfg_.rank, in, InitKind::kNormal, cfg_.a_std, true});
    t.b = registry.Add({Concat(kAdapterPrefix, spec.name, ".b"), out, cfg_.rank, InitKind::kZeros, 0.0, true});
    t.scaled_a = Mat::Zero(cfg_.rank, in);
    t.scaled_b = Mat::Zero(out, cfg_.rank);
    targets_.push_back(std::move(t));
  }
}

void LoraAdapters::CaptureBase() {
  SIM_CHECK(registry_->finalized(), "LoraAdapters::CaptureBase before ParamRegistry::Finalize");
  for (Target& t : targets_) {
    t.base = registry_->Value(t.weight);
    registry_->group(t.weight).trainable = false;
  }
  captured_ = true;
}

void LoraAdapters::Merge() {
  SIM_CHECK(captured_, "LoraAdapters::Merge before CaptureBase");
  const Scalar s = static_cast<Scalar>(cfg_.scale());
  for (Target& t : targets_) {
    t.scaled_b.noalias() = s * registry_->Value(t.b);  // (out, r)
    MatMap w = registry_->Value(t.weight);             // (out, in)
    w = t.base;
    Gemm(t.scaled_b, Op::kN, registry_->Value(t.a), Op::kN, w, /*accumulate=*/true);  // W0 + (sB) A
  }
}

void LoraAdapters::AddAdapterGrads() {
  SIM_CHECK(captured_, "LoraAdapters::AddAdapterGrads before CaptureBase");
  const Scalar s = static_cast<Scalar>(cfg_.scale());
  for (Target& t : targets_) {
    // s·A and s·B of the parameters the forward pass merged (A, B change only in optimizer steps).
    t.scaled_a.noalias() = s * registry_->Value(t.a);  // (r, in)
    t.scaled_b.noalias() = s * registry_->Value(t.b);  // (out, r)
    const MatMap d_w = registry_->Grad(t.weight);      // (out, in) dL/dW_eff
    MatMap d_a = registry_->Grad(t.a), d_b = registry_->Grad(t.b);
    Gemm(t.scaled_b, Op::kT, d_w, Op::kN, d_a, /*accumulate=*/true);  // dA += (sB)ᵀ dW   (r, in)
    Gemm(d_w, Op::kN, t.scaled_a, Op::kT, d_b, /*accumulate=*/true);  // dB += dW (sA)ᵀ   (out, r)
  }
}

std::vector<std::string> LoraDefaultTrainable(const ParamRegistry& registry) {
  std::vector<std::string> patterns = {"lora.*"};
  if (!registry.Match("head.*").empty()) patterns.push_back("head.*");
  return patterns;
}

std::vector<std::string> ParamsWithoutAdapters(const ParamRegistry& registry,
                                               const std::vector<std::string>& patterns) {
  std::vector<std::string> names;
  for (ParamId id = 0; id < registry.size(); ++id) {
    const std::string& name = registry.name(id);
    if (IsAdapter(name)) continue;
    bool wanted = patterns.empty();
    for (const std::string& pattern : patterns) wanted = wanted || GlobMatch(pattern, name);
    if (wanted) names.push_back(name);
  }
  return names;
}

}  // namespace sim
