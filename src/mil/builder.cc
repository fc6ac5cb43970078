#include "mil/builder.h"

#include "mil/op_registry.h"
#include "mil/verifier.h"

namespace ironmill::mil {

Builder::Builder(Program& program, std::string function, std::string opset) : program_(program) {
  Function f;
  f.name = std::move(function);
  f.opset = std::move(opset);
  program_.functions.push_back(std::move(f));
  function_index_ = program_.functions.size() - 1;
}

std::string Builder::fresh(const std::string& prefix) {
  int& n = counters_[prefix];
  std::string name;
  do {
    name = prefix + "_" + std::to_string(n++);
  } while (types_.count(name));
  return name;
}

std::string Builder::input(const std::string& name, const Type& type) {
  program_.functions[function_index_].inputs.push_back({name, type});
  types_[name] = type;
  return name;
}

std::string Builder::constant(const Tensor& value, const std::string& name) { return constant(Value::of(value), name); }

std::string Builder::constant(const Value& value, const std::string& name) {
  Operation op;
  op.type = "const";
  std::string out = name.empty() ? fresh("const") : name;
  op.attributes["name"] = Value::of(Tensor::scalar_string(out));
  op.attributes["val"] = value;
  op.outputs.push_back({out, value.type});
  program_.functions[function_index_].body.operations.push_back(std::move(op));
  types_[out] = value.type;
  consts_[out] = value;
  return out;
}

std::vector<std::string> Builder::ops(const std::string& type, const std::map<std::string, Arg>& inputs,
                                      const std::map<std::string, Value>& attributes) {
  if (!status_.ok()) return {};
  const OpSchema* schema = OpRegistry::get().find(type);
  if (!schema) {
    status_ = invalid_argument("unknown op `" + type + "`");
    return {};
  }
  Operation op;
  op.type = type;
  const std::string base = fresh(type);
  for (const auto& [name, arg] : inputs) {
    Argument a;
    if (const auto* s = std::get_if<std::string>(&arg)) {
      a.bindings.push_back(Binding::ref(*s));
    } else if (const auto* t = std::get_if<Tensor>(&arg)) {
      a.bindings.push_back(Binding::ref(constant(*t, base + "_" + name)));
    } else {
      a.is_tuple = true;
      for (const auto& n : std::get<std::vector<std::string>>(arg)) a.bindings.push_back(Binding::ref(n));
    }
    op.inputs[name] = std::move(a);
  }
  op.attributes = attributes;
  op.attributes["name"] = Value::of(Tensor::scalar_string(base));
  auto opset = opset_version(program_.functions[function_index_].opset).value_or(18);
  const OpVariant* variant = schema->variant_for(opset);
  if (!variant) {
    status_ = invalid_argument("`" + type + "` is not available in opset ios" + std::to_string(opset));
    return {};
  }
  InferContext ctx(op, *schema, *variant, opset,
                   [&](const std::string& n) -> const Type* {
                     auto it = types_.find(n);
                     return it == types_.end() ? nullptr : &it->second;
                   },
                   [&](const std::string& n) -> const Value* {
                     auto it = consts_.find(n);
                     return it == consts_.end() ? nullptr : &it->second;
                   });
  if (!schema->infer) {
    status_ = invalid_argument("`" + type + "`: no type inference registered");
    return {};
  }
  auto inferred = schema->infer(ctx);
  if (!inferred.ok()) {
    status_ = inferred.status();
    return {};
  }
  std::vector<std::string> names;
  for (size_t i = 0; i < inferred->size(); ++i) {
    std::string n = inferred->size() == 1 ? base : base + "_" + std::to_string(i);
    op.outputs.push_back({n, (*inferred)[i]});
    types_[n] = (*inferred)[i];
    names.push_back(n);
  }
  program_.functions[function_index_].body.operations.push_back(std::move(op));
  return names;
}

std::string Builder::op(const std::string& type, const std::map<std::string, Arg>& inputs,
                        const std::map<std::string, Value>& attributes) {
  auto outs = ops(type, inputs, attributes);
  return outs.empty() ? std::string() : outs[0];
}

void Builder::output(const std::string& name) { program_.functions[function_index_].body.outputs.push_back(name); }

const Type* Builder::type_of(const std::string& name) const {
  auto it = types_.find(name);
  return it == types_.end() ? nullptr : &it->second;
}

Status Builder::finish() {
  if (!status_.ok()) return status_;
  return verify(program_);
}

}  // namespace ironmill::mil
