#include "passes/ane/draft_split.h"

#include <algorithm>
#include <map>
#include <set>

namespace ironmill::passes::ane {
namespace {

std::string single_ref(const mil::Operation& op, const std::string& slot) {
  const auto* a = op.input(slot);
  return a && a->bindings.size() == 1 && a->bindings[0].is_ref() ? a->bindings[0].name : "";
}

}  // namespace

std::vector<size_t> layer_boundaries(const mil::Function& f) {
  const auto& ops = f.body.operations;
  std::map<std::string, const mil::Operation*> producer;
  for (const auto& op : ops)
    for (const auto& o : op.outputs) producer[o.name] = &op;
  std::vector<size_t> out;
  for (size_t i = 0; i < ops.size(); ++i) {
    const auto& op = ops[i];
    if (op.type == "layer_norm") {
      out.push_back(i);
      continue;
    }
    if (op.type != "reduce_mean") continue;
    auto it = producer.find(single_ref(op, "x"));
    if (it == producer.end()) continue;
    const mil::Operation& sq = *it->second;
    const bool square = sq.type == "square" || (sq.type == "mul" && !single_ref(sq, "x").empty() &&
                                                single_ref(sq, "x") == single_ref(sq, "y"));
    if (square) out.push_back(i);
  }
  return out;
}

Result<bool> DraftVerifierSplitPass::run(mil::Program& program) {
  if (draft_layers_ < 1) return invalid_argument("ane-draft-verifier-split: draft_layers must be >= 1");
  const std::string draft_name = function_ + "_draft", verifier_name = function_ + "_verifier";
  if (program.function(draft_name) && program.function(verifier_name)) return false;
  const mil::Function* f = program.function(function_);
  if (!f) return not_found("ane-draft-verifier-split: function `" + function_ + "` not in program");
  const auto bounds = layer_boundaries(*f);
  if (static_cast<int64_t>(bounds.size()) <= draft_layers_)
    return invalid_argument("ane-draft-verifier-split: " + std::to_string(draft_layers_) + " draft layers requested but `" +
                            function_ + "` has " + std::to_string(bounds.size()) + " layer boundaries");
  const mil::Operation& cut = f->body.operations[bounds[static_cast<size_t>(draft_layers_)]];
  // For the RMS form the boundary's input is the square's input.
  std::string hidden = single_ref(cut, "x");
  if (cut.type == "reduce_mean")
    for (const auto& op : f->body.operations)
      if (op.outputs.at(0).name == hidden) hidden = single_ref(op, "x");
  // Keep what `hidden` depends on (ops are topologically sorted: walk backwards).
  std::set<std::string> needed{hidden};
  std::vector<bool> keep(f->body.operations.size(), false);
  for (size_t i = f->body.operations.size(); i-- > 0;) {
    const auto& op = f->body.operations[i];
    bool used = false;
    for (const auto& o : op.outputs) used |= needed.count(o.name) > 0;
    if (!used) continue;
    keep[i] = true;
    for (const auto& [k, a] : op.inputs)
      for (const auto& b : a.bindings)
        if (b.is_ref()) needed.insert(b.name);
  }
  mil::Function draft;
  draft.name = draft_name;
  draft.opset = f->opset;
  for (const auto& in : f->inputs)
    if (needed.count(in.name)) draft.inputs.push_back(in);
  for (size_t i = 0; i < f->body.operations.size(); ++i)
    if (keep[i]) draft.body.operations.push_back(f->body.operations[i]);
  std::string out = hidden;
  if (std::none_of(draft.body.operations.begin(), draft.body.operations.end(),
                   [&](const mil::Operation& op) { return op.outputs.at(0).name == hidden; })) {
    // The hidden state is a function input (cut before the first layer's work): pass it through.
    mil::Operation id;
    id.type = "identity";
    id.inputs["x"].bindings = {mil::Binding::ref(hidden)};
    id.outputs = {{"draft_hidden", mil::Type{}}};
    draft.body.operations.push_back(id);
    out = "draft_hidden";
  }
  draft.body.outputs = {out};
  mil::Function verifier = *f;
  verifier.name = verifier_name;
  program.functions.push_back(std::move(draft));
  program.functions.push_back(std::move(verifier));
  return true;
}

}  // namespace ironmill::passes::ane
