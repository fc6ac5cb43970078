#include "passes/ane/layout.h"

#include "passes/rewrite.h"

namespace ironmill::passes::ane {

namespace {
// Dtypes `reshape` takes; other I/O (int4, strings, ...) is left for the policy to reject.
bool reshapable(mil::DType d) {
  return d == mil::DType::kFp16 || d == mil::DType::kFp32 || d == mil::DType::kInt32 || d == mil::DType::kBool;
}
}  // namespace

mil::Shape ane_io_shape(const mil::Shape& d) {
  if (d.empty()) return {1, 1, 1, 1};
  if (d.size() == 4 && d[0] == 1 && d[2] == 1) return d;
  int64_t c = 1;
  for (size_t i = 0; i + 1 < d.size(); ++i) c *= d[i];
  return {1, c, 1, d.back()};
}

Result<bool> LayoutPass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions) {
    auto types = value_types(f);
    OpEmitter e(f, "layout");
    const std::vector<std::string> outputs_before = f.body.outputs;
    for (auto& in : f.inputs) {
      if (!in.type.is_tensor() || !in.type.fully_known() || !reshapable(in.type.dtype)) continue;
      const mil::Shape io = ane_io_shape(in.type.dims);
      if (io == in.type.dims) continue;
      const std::string natural = e.fresh(in.name);
      replace_uses(f.body, in.name, natural);
      e.emit("reshape", {{"x", use(in.name)}, {"shape", ints(in.type.dims)}}, natural);
      in.type.dims = io;
      changed = true;
    }
    // An input returned as an output stays the (retyped) input: same bytes, already [1,C,1,S].
    for (size_t j = 0; j < outputs_before.size(); ++j)
      for (const auto& in : f.inputs)
        if (outputs_before[j] == in.name) f.body.outputs[j] = in.name;
    auto& ops = f.body.operations;
    ops.insert(ops.begin(), e.ops().begin(), e.ops().end());
    e.ops().clear();
    std::set<std::string> inputs;
    for (const auto& in : f.inputs) inputs.insert(in.name);
    for (const auto& out : std::vector<std::string>(f.body.outputs)) {
      auto it = types.find(out);
      if (it == types.end() || inputs.count(out) || !it->second.is_tensor() || !it->second.fully_known() ||
          !reshapable(it->second.dtype))
        continue;
      const mil::Shape io = ane_io_shape(it->second.dims);
      if (io == it->second.dims) continue;
      const std::string natural = e.fresh(out);
      for (auto& op : ops)
        for (auto& o : op.outputs)
          if (o.name == out) {
            o.name = natural;
            op.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string(natural));
          }
      replace_uses(f.body, out, natural);
      e.emit("reshape", {{"x", use(natural)}, {"shape", ints(io)}}, out);
      ops.insert(ops.end(), e.ops().begin(), e.ops().end());
      e.ops().clear();
      for (auto& o : f.body.outputs)
        if (o == natural) o = out;
      changed = true;
    }
  }
  return changed;
}

}  // namespace ironmill::passes::ane
