// ane-mixed-precision: the ANE computes in fp16 only (fp32 annotations do not reach the silicon as
// wider arithmetic, anchors.md §6.1), so every fp32 value — function inputs, constants, op outputs,
// cast targets — becomes fp16. Integer and bool values are left alone. Per-op rules (keeping some
// ops fp32 or int8 weights) are not implemented yet.
#pragma once
#include "passes/pass.h"

namespace ironmill::passes::ane {

class MixedPrecisionPass final : public Pass {
 public:
  std::string name() const override { return "ane-mixed-precision"; }
  Result<bool> run(mil::Program& program) override;
};

}  // namespace ironmill::passes::ane
