#include "passes/ane/codebook_optimization.h"

#include <set>

#include "passes/ane/weight_compression.h"

namespace ironmill::passes::ane {

Result<bool> CodebookOptimizationPass::run(mil::Program& program) {
  IM_ASSIGN_OR_RETURN(WeightStrategy s, parse_weight_strategy("palettize_" + std::to_string(bits_) + "bit"));
  bool changed = false;
  for (auto& f : program.functions) {
    std::set<std::string> weights;  // values read as a weight
    for (const auto& op : f.body.operations) {
      const char* slot = op.type == "conv" || op.type == "linear" ? "weight" : op.type == "matmul" ? "y" : nullptr;
      if (!slot) continue;
      if (const auto* a = op.input(slot); a && a->bindings.size() == 1 && a->bindings[0].is_ref()) weights.insert(a->bindings[0].name);
      if (op.type == "matmul")
        if (const auto* a = op.input("x"); a && a->bindings.size() == 1 && a->bindings[0].is_ref()) weights.insert(a->bindings[0].name);
    }
    for (auto& op : f.body.operations) {
      if (!is_float_weight_const(op, min_elements_) || !weights.count(op.outputs.at(0).name)) continue;
      IM_ASSIGN_OR_RETURN(bool c, compress_weight(op, s, f.opset));
      changed |= c;
    }
  }
  return changed;
}

}  // namespace ironmill::passes::ane
