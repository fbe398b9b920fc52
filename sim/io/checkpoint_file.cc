#include "sim/io/checkpoint_file.h"

#include <cstdio>
#include <cstring>
#include <sstream>

#include "sim/core/error.h"
#include "sim/io/atomic_file.h"
#include "sim/io/hdf5_file.h"

namespace sim {

namespace {

int64_t AsInt64(uint64_t v) {
  int64_t out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

uint64_t AsUint64(int64_t v) {
  uint64_t out;
  std::memcpy(&out, &v, sizeof out);
  return out;
}

void WriteVec(H5Writer& out, const std::string& path, const Vec& v) {
  out.Floats(path, v.data(), {static_cast<uint64_t>(v.size())});
}

Vec ReadVec(const H5Reader& in, const std::string& path) {
  const std::vector<float> values = in.Floats(path);
  return Eigen::Map<const Vec>(values.data(), static_cast<Index>(values.size()));
}

}  // namespace

std::string CheckpointPath(const std::string& out) { return out + ".ckpt"; }

void WriteCheckpoint(const std::string& path, const std::string& config, const Checkpoint& c) {
  static_assert(std::is_same_v<Scalar, float>, "checkpoints store float32 state");
  WriteAtomically(path, [&](const std::string& tmp) {
    H5Writer out(tmp);
    const TrainerState& st = c.state;
    out.AttrString("/", "format", kCheckpointFormat);
    out.AttrInt("/", "format_version", kCheckpointFormatVersion);
    out.AttrString("/", "config", config);
    out.AttrInt("/", "step", st.step);
    out.AttrDouble("/", "loss_sum", st.loss_sum);
    out.AttrInt("/", "loss_count", st.loss_count);
    out.AttrDouble("/", "last_train_loss", st.last_train_loss);
    out.AttrInt("/", "last_eval_step", st.last_eval_step);
    out.AttrInt("/", "target_step", st.target_step);
    out.AttrInt("/", "diverged", st.diverged ? 1 : 0);
    out.AttrDouble("/", "wall_seconds", st.wall_seconds);
    out.AttrInt("/", "train_rng_position", AsInt64(c.train_rng_position));
    out.AttrInt("/", "optimizer_steps", c.optimizer_steps);
    std::vector<int64_t> eval_positions;
    for (uint64_t p : c.eval_rng_positions) eval_positions.push_back(AsInt64(p));
    out.AttrInts("/", "eval_rng_positions", eval_positions.empty() ? std::vector<int64_t>{} : eval_positions);
    std::string order;
    for (const std::string& name : st.curve_names) order += (order.empty() ? "" : "\n") + name;
    out.AttrString("/", "curve_order", order);
    out.Group("/curves");
    for (size_t i = 0; i < st.curve_names.size(); ++i)
      out.Doubles("/curves/" + st.curve_names[i], st.curves[i].data(), {st.curves[i].size()});
    out.Group("/final");
    for (const auto& [split, metrics] : st.final_metrics)
      for (const auto& [metric, value] : metrics) out.Scalar("/final/" + split + "/" + metric, value);
    WriteVec(out, "/params", c.params);
    WriteVec(out, "/moment1", c.moment1);
    WriteVec(out, "/moment2", c.moment2);
    // Parameter snapshots taken so far (train.snapshot_steps): /snapshots/<step>, flat like /params,
    // with their steps in the root attribute snapshot_steps. Absent when there are none.
    if (!st.snapshots.empty()) {
      std::vector<int64_t> steps;
      for (const ParamSnapshot& snap : st.snapshots) {
        WriteVec(out, "/snapshots/" + std::to_string(snap.step), snap.values);
        steps.push_back(snap.step);
      }
      out.AttrInts("/", "snapshot_steps", steps);
    }
    out.Close();
  });
}

Checkpoint ReadCheckpoint(const std::string& path, std::string* config) {
  H5Reader in(path);
  if (!in.HasAttr("/", "format") || in.AttrString("/", "format") != kCheckpointFormat)
    throw InputError(
        Concat(path, ": not an attnsim checkpoint (root attribute 'format' is not '", kCheckpointFormat, "')"));
  const int64_t version = in.AttrInt("/", "format_version");
  if (version != kCheckpointFormatVersion)
    throw InputError(
        Concat(path, ": checkpoint format_version ", version, ", this build reads ", kCheckpointFormatVersion));
  Checkpoint c;
  TrainerState& st = c.state;
  if (config != nullptr) *config = in.AttrString("/", "config");
  st.step = static_cast<int>(in.AttrInt("/", "step"));
  st.loss_sum = in.AttrDouble("/", "loss_sum");
  st.loss_count = static_cast<int>(in.AttrInt("/", "loss_count"));
  st.last_train_loss = in.AttrDouble("/", "last_train_loss");
  st.last_eval_step = static_cast<int>(in.AttrInt("/", "last_eval_step"));
  st.target_step = static_cast<int>(in.AttrInt("/", "target_step"));
  // Absent in checkpoints of engines that checkpointed only while training went on.
  st.diverged = in.HasAttr("/", "diverged") && in.AttrInt("/", "diverged") != 0;
  st.wall_seconds = in.AttrDouble("/", "wall_seconds");
  c.train_rng_position = AsUint64(in.AttrInt("/", "train_rng_position"));
  c.optimizer_steps = in.AttrInt("/", "optimizer_steps");
  for (int64_t p : in.AttrInts("/", "eval_rng_positions")) c.eval_rng_positions.push_back(AsUint64(p));
  std::istringstream order(in.AttrString("/", "curve_order"));
  for (std::string name; std::getline(order, name);) {
    st.curve_names.push_back(name);
    st.curves.push_back(in.Doubles("/curves/" + name));
  }
  for (const std::string& split : in.List("/final"))
    for (const std::string& metric : in.List("/final/" + split))
      st.final_metrics[split][metric] = in.Doubles("/final/" + split + "/" + metric).at(0);
  c.params = ReadVec(in, "/params");
  c.moment1 = ReadVec(in, "/moment1");
  c.moment2 = ReadVec(in, "/moment2");
  if (in.HasAttr("/", "snapshot_steps"))
    for (int64_t step : in.AttrInts("/", "snapshot_steps"))
      st.snapshots.push_back({static_cast<int>(step), ReadVec(in, "/snapshots/" + std::to_string(step))});
  return c;
}

}  // namespace sim
