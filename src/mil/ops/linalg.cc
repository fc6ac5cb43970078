// Type inference and verification for the linalg ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_linalg_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
