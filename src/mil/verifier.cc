#include "mil/verifier.h"

#include <algorithm>
#include <set>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

struct Scope {
  const Scope* parent = nullptr;
  std::map<std::string, Type> types;
  std::map<std::string, Value> consts;     // const op outputs (known values)
  std::set<std::string> const_names;       // outputs of const and constexpr ops

  const Type* type(const std::string& n) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->types.find(n);
      if (it != s->types.end()) return &it->second;
    }
    return nullptr;
  }
  const Value* value(const std::string& n) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->consts.find(n);
      if (it != s->consts.end()) return &it->second;
    }
    return nullptr;
  }
  bool is_const(const std::string& n) const {
    for (const Scope* s = this; s; s = s->parent)
      if (s->const_names.count(n)) return true;
    return false;
  }
};

std::string dtype_list(const std::vector<DType>& ds) {
  std::string s;
  for (size_t i = 0; i < ds.size(); ++i) s += (i ? ", " : "") + std::string(dtype_name(ds[i]));
  return s;
}

class Verifier {
 public:
  explicit Verifier(bool fill) : fill_(fill) {}

  Status function(Function& f) {
    auto opset = opset_version(f.opset);
    if (!opset) return invalid_argument("function `" + f.name + "`: unknown opset `" + f.opset + "`");
    opset_ = *opset;
    Scope scope;
    for (const auto& in : f.inputs) {
      if (scope.types.count(in.name)) return invalid_argument("function `" + f.name + "`: duplicate input `" + in.name + "`");
      scope.types[in.name] = in.type;
    }
    return block(f.body, scope, "function `" + f.name + "`");
  }

 private:
  Status block(Block& b, Scope& scope, const std::string& where) {
    for (auto& op : b.operations) IM_RETURN_IF_ERROR(operation(op, scope));
    for (const auto& o : b.outputs)
      if (!scope.type(o)) return invalid_argument(where + ": output `" + o + "` is not defined");
    return Status::Ok();
  }

  Status operation(Operation& op, Scope& scope) {
    const OpSchema* schema = OpRegistry::get().find(op.type);
    const std::string who = "`" + op.type + "` (" + op.name() + ")";
    if (!schema) return invalid_argument("unknown op `" + op.type + "` (" + op.name() + ")");
    const OpVariant* variant = schema->variant_for(opset_);
    if (!variant)
      return invalid_argument(who + ": needs opset ios" + std::to_string(schema->since) + ", function is ios" +
                              std::to_string(opset_));
    // Inputs bound by the op must exist in the signature; constexpr params may sit in attributes.
    for (const auto& [name, arg] : op.inputs) {
      const InputSpec* spec = variant->input(name);
      if (!spec) return invalid_argument(who + ": unknown input `" + name + "`");
      if (arg.bindings.empty()) return invalid_argument(who + " input `" + name + "`: empty binding");
      if (spec->kind != InputKind::kTuple && arg.bindings.size() != 1)
        return invalid_argument(who + " input `" + name + "`: one value expected, got " +
                                std::to_string(arg.bindings.size()));
      for (const auto& b : arg.bindings) {
        if (b.is_ref() && !scope.type(b.name))
          return invalid_argument(who + " input `" + name + "`: value `" + b.name + "` is not defined");
      }
    }
    for (const auto& [name, v] : op.attributes) {
      if (name == "name" || (op.type == "const" && name == "val")) continue;
      if (variant->input(name) && op.inputs.count(name))
        return invalid_argument(who + ": `" + name + "` given both as input and attribute");
    }
    InferContext ctx(op, *schema, *variant, opset_, [&](const std::string& n) { return scope.type(n); },
                     [&](const std::string& n) { return scope.value(n); });
    std::map<std::string, DType> domain_binding;
    for (const auto& spec : variant->inputs) {
      if (!ctx.has(spec.name)) {
        if (!spec.optional) return ctx.error(spec.name, "required input missing");
        continue;
      }
      const Argument* arg = op.input(spec.name);
      if (spec.must_be_const && arg) {
        for (const auto& b : arg->bindings)
          if (b.is_ref() && !scope.is_const(b.name))
            return ctx.error(spec.name, "must be a compile-time constant, `" + b.name + "` is computed");
      }
      if (spec.kind == InputKind::kTuple || spec.kind == InputKind::kAny) continue;
      const Type* t = ctx.type(spec.name);
      if (!t) return ctx.error(spec.name, "has no type");
      if (spec.kind == InputKind::kList) {
        if (t->kind != Type::Kind::kList) return ctx.error(spec.name, "list expected, got " + type_to_string(*t));
        continue;
      }
      if (spec.kind == InputKind::kState) {
        if (t->kind != Type::Kind::kState) return ctx.error(spec.name, "state expected, got " + type_to_string(*t));
        continue;
      }
      if (!t->is_tensor()) return ctx.error(spec.name, "tensor expected, got " + type_to_string(*t));
      if (!spec.allowed.empty() &&
          std::find(spec.allowed.begin(), spec.allowed.end(), t->dtype) == spec.allowed.end())
        return ctx.error(spec.name, "dtype " + std::string(dtype_name(t->dtype)) + " not allowed (expected one of " +
                                        dtype_list(spec.allowed) + ")");
      if (!spec.domain.empty()) {
        auto [it, inserted] = domain_binding.emplace(spec.domain, t->dtype);
        if (!inserted && it->second != t->dtype)
          return ctx.error(spec.name, "dtype " + std::string(dtype_name(t->dtype)) + " must match the other " +
                                          spec.domain + " inputs (" + std::string(dtype_name(it->second)) + ")");
      }
    }
    if (op.type == "const") {
      auto it = op.attributes.find("val");
      if (it == op.attributes.end()) return invalid_argument(who + ": missing attribute `val`");
    }
    // Nested blocks see the enclosing scope.
    if (schema->num_blocks && static_cast<int>(op.blocks.size()) != schema->num_blocks)
      return invalid_argument(who + ": " + std::to_string(schema->num_blocks) + " nested blocks expected, got " +
                              std::to_string(op.blocks.size()));
    for (auto& nb : op.blocks) {
      Scope inner;
      inner.parent = &scope;
      for (const auto& in : nb.inputs) inner.types[in.name] = in.type;
      IM_RETURN_IF_ERROR(block(nb, inner, who + " nested block"));
      std::vector<Type> outs;
      for (const auto& o : nb.outputs) outs.push_back(*inner.type(o));
      ctx.block_output_types.push_back(std::move(outs));
    }
    // Output types: inferred by the op's family; checked against what the program declares.
    std::vector<Type> inferred;
    if (op.type == "const") {
      inferred = {op.attributes.at("val").type};
    } else if (schema->infer) {
      IM_ASSIGN_OR_RETURN(inferred, schema->infer(ctx));
    } else {
      return invalid_argument(who + ": no type inference registered for this op");
    }
    if (fill_ && op.outputs.size() <= inferred.size()) {
      for (size_t i = 0; i < inferred.size(); ++i) {
        if (i >= op.outputs.size()) op.outputs.push_back({op.type + "_" + std::to_string(i), inferred[i]});
        else op.outputs[i].type = inferred[i];
      }
    }
    if (op.outputs.size() != inferred.size())
      return invalid_argument(who + ": " + std::to_string(inferred.size()) + " outputs expected, got " +
                              std::to_string(op.outputs.size()));
    for (size_t i = 0; i < inferred.size(); ++i) {
      if (!type_compatible(op.outputs[i].type, inferred[i]) && !type_compatible(inferred[i], op.outputs[i].type))
        return invalid_argument(who + " output `" + op.outputs[i].name + "`: declared " +
                                type_to_string(op.outputs[i].type) + ", inferred " + type_to_string(inferred[i]));
    }
    const bool is_const = op.type == "const" || op.type.rfind("constexpr_", 0) == 0;
    for (const auto& o : op.outputs) {
      if (scope.types.count(o.name)) return invalid_argument(who + ": output `" + o.name + "` redefines a value");
      scope.types[o.name] = o.type;
      if (is_const) scope.const_names.insert(o.name);
    }
    if (op.type == "const") scope.consts[op.outputs[0].name] = op.attributes.at("val");
    return Status::Ok();
  }

  bool fill_;
  int opset_ = 18;
};

}  // namespace

Status infer_and_verify(Program& program) {
  if (program.functions.empty()) return invalid_argument("program has no functions");
  for (auto& f : program.functions) {
    Verifier v(/*fill=*/true);
    IM_RETURN_IF_ERROR(v.function(f));
  }
  return Status::Ok();
}

Status verify(const Program& program) {
  if (program.functions.empty()) return invalid_argument("program has no functions");
  for (const auto& f : program.functions) {
    Verifier v(/*fill=*/false);
    IM_RETURN_IF_ERROR(v.function(const_cast<Function&>(f)));  // fill=false never writes
  }
  return Status::Ok();
}

}  // namespace ironmill::mil
