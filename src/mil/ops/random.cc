// Type inference and verification for the random ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_random_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
