#include "sim/io/summary_file.h"

#include <ctime>

#include "sim/io/atomic_file.h"
#include "sim/io/hdf5_file.h"

namespace sim {

void SummaryTable::AddNumbers(const std::string& name, std::vector<double> values) {
  Column c;
  c.name = name;
  c.numbers = std::move(values);
  columns_.push_back(std::move(c));
}

void SummaryTable::AddStrings(const std::string& name, std::vector<std::string> values) {
  Column c;
  c.name = name;
  c.numeric = false;
  c.strings = std::move(values);
  columns_.push_back(std::move(c));
}

namespace {

std::string Join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

void WriteTable(H5Writer& out, const std::string& group, const SummaryTable& table) {
  out.Group(group);
  std::vector<std::string> names;
  for (const SummaryTable::Column& c : table.columns()) {
    // Option names contain dots, which are fine in HDF5 names; a '/' (analysis/<path>) makes the
    // column a nested dataset, found by its name all the same.
    const std::string path = group + "/" + c.name;
    if (c.numeric)
      out.Doubles(path, c.numbers.data(), {c.numbers.size()});
    else
      out.Strings(path, c.strings);
    names.push_back(c.name);
  }
  out.AttrString(group, "columns", Join(names, ","));
}

}  // namespace

void WriteSummaryFile(const std::string& path, const SummaryTable& runs, const SummaryTable& aggregate,
                      const std::vector<std::string>& group_keys, const std::vector<std::string>& missing,
                      const std::vector<std::string>& not_complete) {
  WriteAtomically(path, [&](const std::string& tmp) {
    H5Writer out(tmp);
    out.AttrString("/", "format", "attnsim.summary");
    out.AttrInt("/", "format_version", 1);
    out.AttrString("/", "group_keys", Join(group_keys, ","));
    out.AttrString("/", "missing", Join(missing, ","));
    out.AttrString("/", "not_complete", Join(not_complete, "; "));
    WriteTable(out, "/runs", runs);
    WriteTable(out, "/aggregate", aggregate);
    out.Close();
  });
}

}  // namespace sim
