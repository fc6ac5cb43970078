// Reference kernels for the recurrent ops.
#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {

void register_recurrent_kernels(KernelTable& t) {}

}  // namespace ironmill::backends::reference
