#pragma once
#include <string>
#include <vector>

namespace ironmill::harness {
// `mill-harness parity --golden [--spec FILE] [--case NAME]... [--backend NAME]... [--json FILE] [--md FILE]`
int parity_command(const std::vector<std::string>& args);
}  // namespace ironmill::harness
