// ane-layout: ANE inputs and outputs are IOSurfaces of layout [1,C,1,S]. Each function input and
// output of another shape is retyped to [1, ∏ leading dims, 1, last dim] — the same row-major bytes,
// so no data moves — with a reshape to the original shape right after the input and a reshape to
// [1,C,1,S] right before the output. Names are kept. Values inside the program keep their shapes
// (ironmill's selective in-program re-layout heuristic is not copied: it is listed as fragile in §11).
#pragma once
#include "mil/type.h"
#include "passes/pass.h"

namespace ironmill::passes::ane {

// [d0..dn-1] -> [1, d0·…·dn-2, 1, dn-1]; scalars -> [1,1,1,1]; [1,C,1,S] unchanged.
mil::Shape ane_io_shape(const mil::Shape& dims);

class LayoutPass final : public Pass {
 public:
  std::string name() const override { return "ane-layout"; }
  Result<bool> run(mil::Program& program) override;
};

}  // namespace ironmill::passes::ane
