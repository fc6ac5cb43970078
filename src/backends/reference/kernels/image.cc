// Reference kernels for the image ops.
#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {

void register_image_kernels(KernelTable& t) {}

}  // namespace ironmill::backends::reference
