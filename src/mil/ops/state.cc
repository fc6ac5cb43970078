// Type inference and verification for the state ops (see ops/op_list.def for their signatures).
//
//  * read_state(input: state<tensor<T, S>>) -> tensor<T, S>: the current contents (a copy).
//  * write_state(input: state<tensor<T, S>>, data: tensor<T, S>) -> no outputs. The proto-level op behind
//    coremltools' `coreml_update_state` (which is write_state followed by read_state); data must have the
//    wrapped tensor's dtype and a compatible shape.
#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

Result<Type> wrapped(InferContext& c) {
  const Type* t = c.type("input");
  if (!t) return c.error("input", "missing");
  if (t->kind != Type::Kind::kState || t->children.size() != 1 || !t->children[0].is_tensor())
    return c.error("input", "state<tensor<...>> expected, got " + type_to_string(*t));
  return t->children[0];
}

}  // namespace

void register_state_ops(OpRegistry& r) {
  r.mutable_schema("read_state")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type w, wrapped(c));
    return std::vector<Type>{w};
  };
  r.mutable_schema("write_state")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type w, wrapped(c));
    IM_ASSIGN_OR_RETURN(Type d, c.tensor_type("data"));
    if (d.dtype != w.dtype)
      return c.error("data", "dtype " + std::string(dtype_name(d.dtype)) + " must equal the state's " +
                                 std::string(dtype_name(w.dtype)));
    if (!type_compatible(w, d))
      return c.error("data", "shape of " + type_to_string(d) + " does not fit the state's " + type_to_string(w));
    return std::vector<Type>{};
  };
}

}  // namespace ironmill::mil
