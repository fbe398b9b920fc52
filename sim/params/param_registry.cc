#include "sim/params/param_registry.h"

#include <algorithm>

#include "sim/core/check.h"
#include "sim/kernels/parallel.h"
#include "sim/core/glob.h"

namespace sim {

ParamRegistry::ScopedGradBuffer::ScopedGradBuffer(const ParamRegistry& registry, Scalar* buffer) {
  SIM_CHECK(grad_redirect.registry == nullptr, "ScopedGradBuffer: scopes do not nest");
  grad_redirect = GradRedirect{&registry, buffer};
}

ParamRegistry::ScopedGradBuffer::~ScopedGradBuffer() { grad_redirect = GradRedirect{}; }

ParamId ParamRegistry::Add(ParamSpec spec) {
  SIM_CHECK(!finalized_, "ParamRegistry::Add(", spec.name, ") after Finalize()");
  SIM_CHECK(Find(spec.name) < 0, "ParamRegistry::Add: duplicate parameter name ", spec.name);
  SIM_CHECK(spec.rows > 0 && spec.cols > 0, "ParamRegistry::Add: ", spec.name, " has shape (", spec.rows, ", ",
            spec.cols, ")");
  specs_.push_back(std::move(spec));
  offsets_.push_back(total_);
  total_ += specs_.back().rows * specs_.back().cols;
  ParamGroupSettings settings;
  settings.decay_mult = specs_.back().decay ? 1.0 : 0.0;
  groups_.push_back(settings);
  return static_cast<ParamId>(specs_.size() - 1);
}

void ParamRegistry::Finalize() {
  SIM_CHECK(!finalized_, "ParamRegistry::Finalize called twice");
  values_ = Vec::Zero(total_);
  grads_ = Vec::Zero(total_);
  finalized_ = true;
}

ParamId ParamRegistry::Find(std::string_view name) const {
  for (size_t i = 0; i < specs_.size(); ++i)
    if (specs_[i].name == name) return static_cast<ParamId>(i);
  return -1;
}

std::vector<ParamId> ParamRegistry::Match(std::string_view pattern) const {
  std::vector<ParamId> ids;
  for (size_t i = 0; i < specs_.size(); ++i)
    if (GlobMatch(pattern, specs_[i].name)) ids.push_back(static_cast<ParamId>(i));
  return ids;
}

Index ParamRegistry::trainable_size() const {
  Index n = 0;
  for (int i = 0; i < size(); ++i)
    if (groups_[i].trainable) n += numel(i);
  return n;
}

namespace {
std::vector<ParamId> MatchOrThrow(const ParamRegistry& registry, const std::string& option,
                                  const std::string& pattern) {
  std::vector<ParamId> ids = registry.Match(pattern);
  if (ids.empty()) {
    std::string names;
    for (int i = 0; i < registry.size() && i < 12; ++i) names += (i ? ", " : "") + registry.name(i);
    if (registry.size() > 12) names += ", ...";
    throw ConfigError(Concat(option, ": pattern '", pattern, "' matches no parameter; parameters are: ", names));
  }
  return ids;
}
}  // namespace

void ParamGroupRules::Apply(ParamRegistry& registry) const {
  if (!trainable.empty()) {
    for (int i = 0; i < registry.size(); ++i) registry.group(i).trainable = false;
    for (const std::string& pattern : trainable)
      for (ParamId id : MatchOrThrow(registry, "optim.trainable", pattern)) registry.group(id).trainable = true;
  }
  for (const std::string& pattern : freeze)
    for (ParamId id : MatchOrThrow(registry, "optim.freeze", pattern)) registry.group(id).trainable = false;
  for (const auto& [pattern, mult] : lr_mult)
    for (ParamId id : MatchOrThrow(registry, "optim.lr_mult", pattern)) registry.group(id).lr_mult = mult;
  for (const auto& [pattern, mult] : decay_mult)
    for (ParamId id : MatchOrThrow(registry, "optim.decay_mult", pattern)) registry.group(id).decay_mult = mult;
  if (lr_ratio == 1.0) return;
  int values = 0;
  for (int id = 0; id < registry.size(); ++id) {
    const std::string& name = registry.name(id);
    if (IsValueParam(name)) {
      registry.group(id).lr_mult *= lr_ratio;
      ++values;
    } else if (lr_ratio_value_and_1d && registry.spec(id).cols == 1 && !IsQueryOrKeyParam(name)) {
      registry.group(id).lr_mult *= lr_ratio;
      registry.group(id).decay_mult = 0.0;
    }
  }
  if (values == 0)
    throw ConfigError(Concat("optim.lr_ratio = ", lr_ratio,
                             ": the model has no attention value parameter (blocks.<l>.attn.wv) to give the ratio to; "
                             "use optim.lr_mult for other parameters"));
}

char AttentionProjection(std::string_view name) {
  const size_t at = name.find(".attn.");
  if (at == std::string_view::npos) return 0;
  std::string_view rest = name.substr(at + 6);
  if (rest.size() < 2 || (rest[0] != 'w' && rest[0] != 'b')) return 0;
  if (rest.size() > 2 && rest[2] != '.') return 0;
  return rest[1] == 'q' || rest[1] == 'k' || rest[1] == 'v' || rest[1] == 'o' ? rest[1] : 0;
}

bool IsValueParam(std::string_view name) { return AttentionProjection(name) == 'v'; }
bool IsQueryOrKeyParam(std::string_view name) {
  const char p = AttentionProjection(name);
  return p == 'q' || p == 'k';
}

void ParamRegistry::ZeroGrads() {
  constexpr Index kBlock = 1 << 16;  // floats per item (256 KiB)
  const Index n = grads_.size();
  if (n < 2 * kBlock) {
    grads_.setZero();
    return;
  }
  ParallelFor(static_cast<int>((n + kBlock - 1) / kBlock), [&](int i) {
    const Index start = static_cast<Index>(i) * kBlock;
    grads_.segment(start, std::min(kBlock, n - start)).setZero();
  });
}

}  // namespace sim
