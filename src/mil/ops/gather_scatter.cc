// Type inference and verification for the gather_scatter ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_gather_scatter_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
