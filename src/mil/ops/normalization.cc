// Type inference and verification for the normalization ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_normalization_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
