#pragma once
#include <string>
#include <vector>

namespace ironmill::harness {
// `mill-harness onnx-conformance [--data DIR] [--json FILE] [--md FILE] [--filter SUBSTR] [--min-pass N] [--quiet]`
// Imports each ONNX backend node test, runs it on the reference interpreter and judges it with
// ONNX's rule (rtol 1e-3, atol 1e-7; exact for integers and bools).
int onnx_conformance_command(const std::vector<std::string>& args);
}  // namespace ironmill::harness
