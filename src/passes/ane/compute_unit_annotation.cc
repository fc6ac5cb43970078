#include "passes/ane/compute_unit_annotation.h"

namespace ironmill::passes::ane {

Result<bool> ComputeUnitAnnotationPass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions)
    for (auto& op : f.body.operations) {
      const std::string unit = op.type == "const" ? "any" : on_ane_(op) ? "ane" : "cpu";
      auto it = op.attributes.find("compute_unit");
      if (it != op.attributes.end() && it->second.is_tensor() && it->second.tensor().get_string(0) == unit) continue;
      op.attributes["compute_unit"] = mil::Value::of(mil::Tensor::scalar_string(unit));
      changed = true;
    }
  return changed;
}

}  // namespace ironmill::passes::ane
