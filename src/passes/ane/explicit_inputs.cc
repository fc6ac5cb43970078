#include "passes/ane/explicit_inputs.h"

#include "mil/op_registry.h"
#include "passes/rewrite.h"

namespace ironmill::passes::ane {

OpInputList default_explicit_inputs() {
  return {{"rsqrt", "epsilon"}, {"log", "epsilon"},       {"inverse", "epsilon"},
          {"layer_norm", "axes"}, {"layer_norm", "epsilon"}, {"softmax", "axis"}};
}

Result<bool> ExplicitInputsPass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions) {
    const int opset = mil::opset_version(f.opset).value_or(18);
    auto types = value_types(f);
    auto consts = const_values(f);
    for (auto& op : f.body.operations) {
      for (const auto& [type, input] : list_) {
        if (op.type != type || op.inputs.count(input) || op.attributes.count(input)) continue;
        const mil::OpSchema* s = mil::OpRegistry::get().find(op.type);
        const mil::OpVariant* v = s ? s->variant_for(opset) : nullptr;
        const mil::InputSpec* spec = v ? v->input(input) : nullptr;
        if (!spec) continue;
        mil::InferContext ctx(
            op, *s, *v, opset,
            [&](const std::string& n) -> const mil::Type* {
              auto it = types.find(n);
              return it == types.end() ? nullptr : &it->second;
            },
            [&](const std::string& n) -> const mil::Value* {
              auto it = consts.find(n);
              return it == consts.end() ? nullptr : it->second;
            });
        IM_ASSIGN_OR_RETURN(std::optional<mil::Value> d, mil::resolve_default(*spec, ctx));
        if (!d) continue;
        op.inputs[input].bindings = {mil::Binding::constant(*d)};
        changed = true;
      }
    }
  }
  return changed;
}

}  // namespace ironmill::passes::ane
