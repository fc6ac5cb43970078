// Type inference and verification for the control ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_control_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
