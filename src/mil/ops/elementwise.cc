// Type inference and verification for the elementwise ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_elementwise_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
