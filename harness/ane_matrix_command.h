#pragma once
#include <string>
#include <vector>

namespace ironmill::harness {
// mill-harness ane-matrix: the ANE op matrix (published hardware result vs emulated verdict).
int ane_matrix_command(const std::vector<std::string>& args);
}  // namespace ironmill::harness
