// Reference kernels for the gather_scatter ops.
#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {

void register_gather_scatter_kernels(KernelTable& t) {}

}  // namespace ironmill::backends::reference
