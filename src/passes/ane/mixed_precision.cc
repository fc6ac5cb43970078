#include "passes/ane/mixed_precision.h"

#include <map>

#include "passes/rewrite.h"

namespace ironmill::passes::ane {
namespace {

bool to_fp16(mil::Type& t) {
  bool c = false;
  if (t.is_tensor() && (t.dtype == mil::DType::kFp32 || t.dtype == mil::DType::kFp64)) {
    t.dtype = mil::DType::kFp16;
    c = true;
  }
  for (auto& ch : t.children) c |= to_fp16(ch);
  return c;
}

bool to_fp16(mil::Value& v) {
  if (!v.is_tensor()) return false;
  const mil::DType d = v.tensor().dtype();
  if (d != mil::DType::kFp32 && d != mil::DType::kFp64) return false;
  v = mil::Value::of(v.tensor().cast_to(mil::DType::kFp16));
  return true;
}

bool block_to_fp16(mil::Block& b) {
  bool c = false;
  for (auto& in : b.inputs) c |= to_fp16(in.type);
  std::map<std::string, std::string> string_consts;  // const op name -> its string value
  for (const auto& op : b.operations)
    if (op.type == "const")
      if (auto it = op.attributes.find("val"); it != op.attributes.end() && it->second.is_tensor() &&
                                                it->second.tensor().dtype() == mil::DType::kString && it->second.tensor().numel() == 1)
        string_consts[op.outputs.at(0).name] = it->second.tensor().get_string(0);
  for (auto& op : b.operations) {
    // cast(dtype = <const "fp32">): point the cast at fp16 instead.
    if (op.type == "cast")
      if (auto it = op.inputs.find("dtype"); it != op.inputs.end() && it->second.bindings.size() == 1 &&
                                             it->second.bindings[0].is_ref() &&
                                             string_consts[it->second.bindings[0].name] == "fp32") {
        it->second.bindings[0] = mil::Binding::constant(mil::Value::of(mil::Tensor::scalar_string("fp16")));
        c = true;
      }
    for (auto& [k, v] : op.attributes)
      if (k != "name") c |= to_fp16(v);
    for (auto& [k, a] : op.inputs)
      for (auto& bd : a.bindings)
        if (!bd.is_ref()) {
          if (op.type == "cast" && k == "dtype" && bd.value->is_tensor() && bd.value->tensor().get_string(0) == "fp32") {
            bd.value = mil::Value::of(mil::Tensor::scalar_string("fp16"));
            c = true;
          } else {
            c |= to_fp16(*bd.value);
          }
        }
    for (auto& o : op.outputs) c |= to_fp16(o.type);
    for (auto& nb : op.blocks) c |= block_to_fp16(nb);
  }
  return c;
}

}  // namespace

Result<bool> MixedPrecisionPass::run(mil::Program& program) {
  bool changed = false;
  for (auto& f : program.functions) {
    for (auto& in : f.inputs) changed |= to_fp16(in.type);
    if (block_to_fp16(f.body)) {
      changed = true;
      remove_dead_consts(f.body);  // e.g. the "fp32" string a retargeted cast no longer reads
    }
  }
  return changed;
}

}  // namespace ironmill::passes::ane
