// Reference kernels for the state ops.
#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {

void register_state_kernels(KernelTable& t) {}

}  // namespace ironmill::backends::reference
