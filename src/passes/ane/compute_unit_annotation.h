// ane-compute-unit-annotation: writes the attribute compute_unit = "ane" | "cpu" | "any" on every
// op, from a capability function the backend supplies (passes do not know the ANE policy; the
// dependency points from backends to passes). Constants are "any".
#pragma once
#include <functional>
#include <string>

#include "passes/pass.h"

namespace ironmill::passes::ane {

// True when the op would run on the ANE.
using CapabilityFn = std::function<bool(const mil::Operation&)>;

class ComputeUnitAnnotationPass final : public Pass {
 public:
  explicit ComputeUnitAnnotationPass(CapabilityFn on_ane) : on_ane_(std::move(on_ane)) {}
  std::string name() const override { return "ane-compute-unit-annotation"; }
  Result<bool> run(mil::Program& program) override;

 private:
  CapabilityFn on_ane_;
};

}  // namespace ironmill::passes::ane
