// Reference kernels for the random ops.
#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {

void register_random_kernels(KernelTable& t) {}

}  // namespace ironmill::backends::reference
