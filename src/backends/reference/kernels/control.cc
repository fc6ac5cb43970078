// Reference kernels for the control ops.
#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {

void register_control_kernels(KernelTable& t) {}

}  // namespace ironmill::backends::reference
