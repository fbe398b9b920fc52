#include "sim/io/case_file.h"

#include "sim/core/check.h"
#include "sim/io/hdf5_file.h"

namespace sim {

namespace {

std::vector<uint64_t> DiskDims(const ParamSpec& spec) {
  if (spec.cols == 1) return {static_cast<uint64_t>(spec.rows)};
  return {static_cast<uint64_t>(spec.cols), static_cast<uint64_t>(spec.rows)};
}

void WriteTensor(H5Writer& out, const std::string& path, const ParamSpec& spec, const Scalar* data) {
  out.Floats(path, data, DiskDims(spec));
  out.AttrInts(path, "engine_shape", {static_cast<int64_t>(spec.rows), static_cast<int64_t>(spec.cols)});
}

}  // namespace

void WriteCaseFile(const std::string& path, const CaseFileContents& c) {
  SIM_CHECK(c.task != nullptr && c.registry != nullptr && c.batch != nullptr, "WriteCaseFile: missing contents");
  const TaskInfo& info = *c.task;
  const ParamRegistry& registry = *c.registry;
  const Batch& batch = *c.batch;
  const BatchShape bt = batch.shape;
  const bool tokens = batch.input == InputKind::kTokens;
  const bool classes = batch.output == OutputKind::kClasses;
  H5Writer out(path);
  out.AttrString("/", "config", c.config);
  out.AttrString("/", "input", tokens ? "tokens" : "vectors");
  out.AttrString("/", "output", classes ? "classes" : "scalar");
  out.AttrInt("/", "vocab", info.vocab);
  out.AttrInt("/", "d_in", info.d_in);
  out.AttrInt("/", "n_classes", classes ? info.n_classes : 1);
  out.AttrInt("/", "T", bt.length);
  out.AttrInt("/", "B", bt.batch);
  for (ParamId id = 0; id < registry.size(); ++id)
    WriteTensor(out, "/params/" + registry.name(id), registry.spec(id), registry.values().data() + registry.offset(id));
  if (tokens) {
    out.Ints("/batch/tokens", batch.tokens.data(), {static_cast<uint64_t>(bt.batch), static_cast<uint64_t>(bt.length)});
  } else {
    out.Floats("/batch/vectors", batch.vectors.data(),
               {static_cast<uint64_t>(bt.tokens()), static_cast<uint64_t>(batch.vectors.rows())});
  }
  const uint64_t s = batch.scored.size();
  out.Ints("/batch/scored", batch.scored.data(), {s});
  if (classes)
    out.Ints("/batch/labels", batch.labels.data(), {s});
  else
    out.Floats("/batch/values", batch.values.data(), {s});
  if (c.head_gates != nullptr)
    for (size_t l = 0; l < c.head_gates->size(); ++l) {
      const Vec& g = (*c.head_gates)[l];
      out.Floats("/batch/head_gates/" + std::to_string(l), g.data(), {static_cast<uint64_t>(g.size())});
    }
  if (c.with_engine_results) {
    out.Scalar("/engine/loss", c.engine_loss);
    for (ParamId id = 0; id < registry.size(); ++id)
      WriteTensor(out, "/engine/grads/" + registry.name(id), registry.spec(id),
                  registry.grads().data() + registry.offset(id));
  }
  out.Close();
}

}  // namespace sim
