// Reference kernels for the state ops. A StateValue holds a shared_ptr to its tensor, so every copy of
// the value (function input, block input) sees what write_state stored; read_state returns a snapshot
// (Tensor storage is copy-on-write, so a later write_state does not change an earlier read).
#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

Result<StateValue> state_input(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(RtValue v, c.value("input"));
  auto* s = std::get_if<StateValue>(&v);
  if (!s || !s->tensor) return c.error("input `input`: state expected");
  return *s;
}

}  // namespace

void register_state_kernels(KernelTable& t) {
  t.add("read_state", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(StateValue s, state_input(c));
    c.set_output(0, *s.tensor);
    return Status::Ok();
  });
  t.add("write_state", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(StateValue s, state_input(c));
    IM_ASSIGN_OR_RETURN(mil::Tensor d, c.tensor("data"));
    if (d.dtype() != s.tensor->dtype() || d.shape() != s.tensor->shape())
      return c.error("data " + std::string(mil::dtype_name(d.dtype())) + mil::shape_to_string(d.shape()) +
                     " does not fit the state " + std::string(mil::dtype_name(s.tensor->dtype())) +
                     mil::shape_to_string(s.tensor->shape()));
    *s.tensor = d;
    return Status::Ok();
  });
}

}  // namespace ironmill::backends::reference
