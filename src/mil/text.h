// MIL text: the `model.mil` format (reference/coreml-format.md §6). Both dialects: program(1.0)
// (`tensor<int32, []>(1)` scalars) and program(1.3) (`int32(1)`), hex-float literals, BLOBFILE
// references, nested blocks (cond, while_loop) and multi-output ops.
#pragma once
#include <string>
#include <string_view>

#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::mil {

// Prints in the dialect chosen by program.text_version ("1.0" or "1.3"). Deterministic: parameters
// in alphabetical order, floats as C hex-floats, so print(parse(print(p))) == print(p).
std::string print_mil_text(const Program& program);

// Parses MIL text. Errors carry "<filename>:<line>:<column>: message". Never aborts on bad input.
Result<Program> parse_mil_text(std::string_view text, std::string_view filename = "<input>");

}  // namespace ironmill::mil
