#pragma once
#include <string>
#include <vector>

namespace ironmill::harness {
// `mill-harness perplexity --model PATH --text FILE --protocol chunked:N|sliding:W:S [--backend B] [--json FILE]`
int perplexity_command(const std::vector<std::string>& args);
}  // namespace ironmill::harness
