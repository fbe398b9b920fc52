// Glob patterns over dotted parameter names: `*` matches any run of characters (dots included),
// `?` matches one character. Example: "blocks.*.attn.w[qk]" is not supported; write two patterns.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sim {

bool GlobMatch(std::string_view pattern, std::string_view text);

// Splits "a, b,c" into {"a", "b", "c"}; empty items are dropped.
std::vector<std::string> SplitList(std::string_view text, char sep = ',');

std::string Trim(std::string_view text);

}  // namespace sim
