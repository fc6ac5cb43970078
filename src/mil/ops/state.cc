// Type inference and verification for the state ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_state_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
