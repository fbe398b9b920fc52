// The summary file of a sweep (sim collect): format "attnsim.summary", version 1.
//
//   /runs/<column>        one 1-D dataset per column, one row per run: float64 numbers or UTF-8
//                         strings. Columns named analysis/<path> are nested datasets; read the
//                         table through the attribute `columns` (docs/sweeps.md)
//   /aggregate/<column>   one row per configuration of the swept options other than the seed:
//                         the group's option values, n_runs, n_params, and per final metric and
//                         /analysis scalar <m>_mean, _std, _min, _max, _count, _ci95_low, _ci95_high
//                         (over complete runs)
//   root attributes       format, format_version, group_keys, missing (run indices), not_complete
// Columns keep their order in the attribute `columns` of each group.
#pragma once

#include <string>
#include <vector>

namespace sim {

class SummaryTable {
 public:
  void AddNumbers(const std::string& name, std::vector<double> values);
  void AddStrings(const std::string& name, std::vector<std::string> values);

  struct Column {
    std::string name;
    bool numeric = true;
    std::vector<double> numbers;
    std::vector<std::string> strings;
  };
  const std::vector<Column>& columns() const { return columns_; }

 private:
  std::vector<Column> columns_;
};

void WriteSummaryFile(const std::string& path, const SummaryTable& runs, const SummaryTable& aggregate,
                      const std::vector<std::string>& group_keys, const std::vector<std::string>& missing,
                      const std::vector<std::string>& not_complete);

}  // namespace sim
