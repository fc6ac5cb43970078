// Checks a program against the op registry: every op known in its function's opset, inputs bound,
// dtypes in their domains, constness, and declared output types equal to inferred ones.
// Errors name the op, the input and what was expected.
#pragma once
#include "mil/ir.h"
#include "util/status.h"

namespace ironmill::mil {

Status verify(const Program& program);
// Same checks; also fills in output types the program left unset (used by the builder and importers).
Status infer_and_verify(Program& program);

}  // namespace ironmill::mil
