#pragma once
#include <string>
#include <vector>

namespace ironmill::harness {
// `mill-harness op-eval [--backend NAME]... [--json FILE] [--md FILE] [--cases DIR] [--case FILE] [--quiet]`
int op_eval_command(const std::vector<std::string>& args);
}  // namespace ironmill::harness
