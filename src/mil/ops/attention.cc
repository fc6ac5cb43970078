// Type inference and verification for the attention ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_attention_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
