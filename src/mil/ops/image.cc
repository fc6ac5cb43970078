// Type inference and verification for the image ops (see ops/op_list.def for their signatures).
#include "mil/op_registry.h"

namespace ironmill::mil {

void register_image_ops(OpRegistry& r) {}

}  // namespace ironmill::mil
