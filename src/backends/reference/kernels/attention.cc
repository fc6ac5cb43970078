// Reference kernels for the attention ops.
#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {

void register_attention_kernels(KernelTable& t) {}

}  // namespace ironmill::backends::reference
