#include "passes/rewrite.h"

namespace ironmill::passes {

namespace {
void collect_names(const mil::Block& b, std::set<std::string>& used) {
  for (const auto& in : b.inputs) used.insert(in.name);
  for (const auto& op : b.operations) {
    for (const auto& o : op.outputs) used.insert(o.name);
    if (auto it = op.attributes.find("name"); it != op.attributes.end() && it->second.is_tensor())
      used.insert(it->second.tensor().get_string(0));
    for (const auto& nb : op.blocks) collect_names(nb, used);
  }
}
}  // namespace

OpEmitter::OpEmitter(const mil::Function& f, std::string prefix) : prefix_(std::move(prefix)) {
  for (const auto& in : f.inputs) used_.insert(in.name);
  collect_names(f.body, used_);
}

std::string OpEmitter::fresh(const std::string& stem) {
  std::string n;
  do n = prefix_ + "_" + stem + "_" + std::to_string(counter_++);
  while (used_.count(n));
  used_.insert(n);
  return n;
}

std::string OpEmitter::emit(const std::string& type, const std::map<std::string, mil::Binding>& inputs,
                            const std::string& out_name) {
  mil::Operation op;
  op.type = type;
  for (const auto& [k, b] : inputs) op.inputs[k].bindings = {b};
  std::string out = out_name.empty() ? fresh(type) : out_name;
  used_.insert(out);
  op.outputs.push_back({out, mil::Type()});
  op.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string(out));
  ops_.push_back(std::move(op));
  return out;
}

std::vector<std::string> OpEmitter::emit_multi(const std::string& type, const std::map<std::string, mil::Argument>& inputs,
                                               size_t outputs) {
  mil::Operation op;
  op.type = type;
  op.inputs = inputs;
  std::vector<std::string> names;
  for (size_t i = 0; i < outputs; ++i) {
    names.push_back(fresh(type));
    op.outputs.push_back({names.back(), mil::Type()});
  }
  op.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string(names[0]));
  ops_.push_back(std::move(op));
  return names;
}

mil::Binding use(const std::string& name) { return mil::Binding::ref(name); }
mil::Binding scalar(mil::DType dtype, double v) { return mil::Binding::constant(mil::Value::of(mil::Tensor::scalar_f64(dtype, v))); }
mil::Binding ints(const std::vector<int64_t>& v) {
  return mil::Binding::constant(mil::Value::of(mil::Tensor::from_i64(mil::DType::kInt32, {static_cast<int64_t>(v.size())}, v)));
}
mil::Binding boolean(bool v) { return mil::Binding::constant(mil::Value::of(mil::Tensor::scalar_bool(v))); }
mil::Binding str(const std::string& s) { return mil::Binding::constant(mil::Value::of(mil::Tensor::scalar_string(s))); }
mil::Binding tensor(const mil::Tensor& t) { return mil::Binding::constant(mil::Value::of(t)); }

void replace_uses(mil::Block& block, const std::string& from, const std::string& to, size_t start) {
  for (size_t i = start; i < block.operations.size(); ++i) {
    auto& op = block.operations[i];
    for (auto& [k, a] : op.inputs)
      for (auto& b : a.bindings)
        if (b.is_ref() && b.name == from) b.name = to;
    for (auto& nb : op.blocks) replace_uses(nb, from, to, 0);
  }
  for (auto& o : block.outputs)
    if (o == from) o = to;
}

int count_uses(const mil::Block& block, const std::string& name, size_t start) {
  int n = 0;
  for (size_t i = start; i < block.operations.size(); ++i) {
    const auto& op = block.operations[i];
    for (const auto& [k, a] : op.inputs)
      for (const auto& b : a.bindings)
        if (b.is_ref() && b.name == name) ++n;
    for (const auto& nb : op.blocks) n += count_uses(nb, name, 0);
  }
  for (const auto& o : block.outputs)
    if (o == name) ++n;
  return n;
}

std::map<std::string, mil::Type> value_types(const mil::Function& f) {
  std::map<std::string, mil::Type> t;
  for (const auto& in : f.inputs) t[in.name] = in.type;
  for (const auto& op : f.body.operations)
    for (const auto& o : op.outputs) t[o.name] = o.type;
  return t;
}

std::map<std::string, const mil::Value*> const_values(const mil::Function& f) {
  std::map<std::string, const mil::Value*> c;
  for (const auto& op : f.body.operations)
    if (op.type == "const")
      if (auto it = op.attributes.find("val"); it != op.attributes.end()) c[op.outputs.at(0).name] = &it->second;
  return c;
}

const mil::Value* const_binding(const mil::Operation& op, const std::string& input,
                                const std::map<std::string, const mil::Value*>& consts) {
  const mil::Argument* a = op.input(input);
  if (!a || a->bindings.size() != 1) return nullptr;
  const auto& b = a->bindings[0];
  if (!b.is_ref()) return &*b.value;
  auto it = consts.find(b.name);
  return it == consts.end() ? nullptr : it->second;
}

bool remove_dead_consts(mil::Block& block) {
  bool changed = false;
  for (size_t i = block.operations.size(); i-- > 0;) {
    const auto& op = block.operations[i];
    if (op.type != "const" || count_uses(block, op.outputs.at(0).name, i + 1) > 0) continue;
    block.operations.erase(block.operations.begin() + static_cast<long>(i));
    changed = true;
  }
  return changed;
}

}  // namespace ironmill::passes
