#include "tasks/templates.h"

#include <algorithm>

#include "sim/core/check.h"

namespace sim {

namespace {
void Pairings(Template& current, int next_symbol, std::vector<Template>& out) {
  const auto first_free = std::find(current.begin(), current.end(), -1);
  if (first_free == current.end()) {
    out.push_back(current);
    return;
  }
  // The first free position opens a new symbol; its partner is any later free position.
  *first_free = next_symbol;
  for (auto it = first_free + 1; it != current.end(); ++it) {
    if (*it != -1) continue;
    *it = next_symbol;
    Pairings(current, next_symbol + 1, out);
    *it = -1;
  }
  *first_free = -1;
}
}  // namespace

std::vector<Template> PairingTemplates(int length) {
  SIM_CHECK(length >= 2 && length % 2 == 0, "PairingTemplates: length ", length, " must be even");
  std::vector<Template> out;
  Template current(length, -1);
  Pairings(current, 0, out);
  std::sort(out.begin(), out.end());
  return out;
}

void FillTemplate(const Template& t, const std::vector<int32_t>& tokens, Rng& rng, std::vector<int>& scratch,
                  int32_t* out) {
  const int n_symbols = static_cast<int>(t.size()) / 2;
  int chosen[32];
  SIM_CHECK(n_symbols <= 32 && static_cast<int>(tokens.size()) >= n_symbols, "FillTemplate: ", n_symbols,
            " symbols from ", tokens.size(), " tokens");
  rng.SampleWithoutReplacement(static_cast<int>(tokens.size()), n_symbols, scratch, chosen);
  for (size_t i = 0; i < t.size(); ++i) out[i] = tokens[chosen[t[i]]];
}

}  // namespace sim
