// Type inference and verification for the recurrent ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_recurrent_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
