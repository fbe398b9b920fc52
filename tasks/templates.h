// Templates of the depth study (Chen & Zou 2024, ../specs/depth.md §3): patterns of L positions in
// which every symbol occurs exactly twice, so that the bag of tokens carries no class information
// and only which positions are equal does. For L = 6 these are the 15 perfect pairings of 6
// positions. A template is written with symbols numbered by first occurrence: 0 0 1 1 2 2, 0 1 0 1 2 2, ...
#pragma once

#include <cstdint>
#include <vector>

#include "sim/core/rng.h"

namespace sim {

using Template = std::vector<int>;  // (L) symbol of each position, 0..L/2-1

// Every pairing template of `length` positions (even), in lexicographic order of the symbol lists.
std::vector<Template> PairingTemplates(int length);

// Writes an instance of `t` into out[0..L): each symbol replaced by a distinct token drawn from
// tokens[0..n_tokens) (uniformly, without replacement).
void FillTemplate(const Template& t, const std::vector<int32_t>& tokens, Rng& rng, std::vector<int>& scratch,
                  int32_t* out);

}  // namespace sim
