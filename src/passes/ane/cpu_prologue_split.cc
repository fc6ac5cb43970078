#include "passes/ane/cpu_prologue_split.h"

#include <algorithm>
#include <set>

#include "mil/dtype.h"
#include "passes/rewrite.h"

namespace ironmill::passes::ane {

bool has_integer_or_bool_tensor(const mil::Operation& op, const std::map<std::string, mil::Type>& types) {
  auto bad = [](const mil::Type& t) { return t.is_tensor() && (mil::is_int(t.dtype) || t.dtype == mil::DType::kBool); };
  for (const auto& o : op.outputs)
    if (bad(o.type)) return true;
  for (const auto& [k, a] : op.inputs)
    for (const auto& b : a.bindings)
      if (b.is_ref()) {
        auto it = types.find(b.name);
        if (it != types.end() && bad(it->second)) return true;
      }
  return false;
}

std::string prologue_function_name(const std::string& function) { return function + "_cpu_prologue"; }

Result<bool> CpuPrologueSplitPass::run(mil::Program& program) {
  mil::Function* f = program.function(function_);
  if (!f) return not_found("ane-cpu-prologue-split: function `" + function_ + "` not in program");
  const auto types = value_types(*f);
  std::set<std::string> cpu_vals, consts, inputs;
  for (const auto& in : f->inputs) cpu_vals.insert(in.name), inputs.insert(in.name);
  std::vector<const mil::Operation*> pro, rest;
  for (const auto& op : f->body.operations) {
    if (op.type == "const") {
      consts.insert(op.outputs[0].name);
      continue;
    }
    bool fed = op.blocks.empty();
    for (const auto& [k, a] : op.inputs)
      for (const auto& b : a.bindings)
        if (b.is_ref() && !cpu_vals.count(b.name) && !consts.count(b.name)) fed = false;
    if (fed && cpu_only_(op, types)) {
      pro.push_back(&op);
      for (const auto& o : op.outputs) cpu_vals.insert(o.name);
    } else {
      rest.push_back(&op);
    }
  }
  if (pro.empty() || rest.empty()) return false;
  auto uses = [](const std::vector<const mil::Operation*>& ops) {
    std::set<std::string> u;
    for (const auto* op : ops)
      for (const auto& [k, a] : op->inputs)
        for (const auto& b : a.bindings)
          if (b.is_ref()) u.insert(b.name);
    return u;
  };
  const std::set<std::string> pro_uses = uses(pro), rest_uses = uses(rest);
  mil::Function cpu, ane;
  cpu.name = prologue_function_name(function_);
  ane.name = function_;
  cpu.opset = ane.opset = f->opset;
  cpu.inputs = f->inputs;
  // ANE inputs: original inputs it still reads, then the prologue values it reads (sorted).
  for (const auto& in : f->inputs)
    if (rest_uses.count(in.name)) ane.inputs.push_back(in);
  for (const auto& n : rest_uses)
    if (cpu_vals.count(n) && !inputs.count(n)) {
      ane.inputs.push_back({n, types.at(n)});
      cpu.body.outputs.push_back(n);
    }
  for (const auto& o : f->body.outputs)
    if (cpu_vals.count(o) && std::find(cpu.body.outputs.begin(), cpu.body.outputs.end(), o) == cpu.body.outputs.end())
      cpu.body.outputs.push_back(o);
  for (const auto& op : f->body.operations)
    if (op.type == "const") {
      if (pro_uses.count(op.outputs[0].name)) cpu.body.operations.push_back(op);
      if (rest_uses.count(op.outputs[0].name)) ane.body.operations.push_back(op);
    }
  for (const auto* op : pro) cpu.body.operations.push_back(*op);
  for (const auto* op : rest) ane.body.operations.push_back(*op);
  for (const auto& o : f->body.outputs)
    if (!cpu_vals.count(o)) ane.body.outputs.push_back(o);
  *f = std::move(ane);
  program.functions.push_back(std::move(cpu));
  return true;
}

}  // namespace ironmill::passes::ane
