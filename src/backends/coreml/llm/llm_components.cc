#include "backends/coreml/llm/llm_components.h"

#include <set>

#include "backends/coreml/multi_component.h"
#include "frontends/templates/graph.h"
#include "mil/verifier.h"

namespace ironmill::backends::coreml {

namespace {

// Values an op reads from outside itself (its own arguments and what its nested blocks read from
// enclosing scopes).
void collect_refs(const mil::Operation& op, std::vector<std::string>& out);

void collect_block_refs(const mil::Block& b, std::vector<std::string>& out) {
  std::set<std::string> local;
  for (const auto& in : b.inputs) local.insert(in.name);
  std::vector<std::string> inner;
  for (const auto& op : b.operations) {
    collect_refs(op, inner);
    for (const auto& o : op.outputs) local.insert(o.name);
  }
  inner.insert(inner.end(), b.outputs.begin(), b.outputs.end());
  for (auto& n : inner)
    if (!local.count(n)) out.push_back(n);
}

void collect_refs(const mil::Operation& op, std::vector<std::string>& out) {
  for (const auto& [k, a] : op.inputs)
    for (const auto& b : a.bindings)
      if (b.is_ref()) out.push_back(b.name);
  for (const auto& nb : op.blocks) collect_block_refs(nb, out);
}

}  // namespace

Result<mil::Program> extract_segment(const mil::Function& fn, const std::vector<std::string>& inputs,
                                     const std::vector<std::string>& outputs, const std::string& name,
                                     const std::map<std::string, std::string>& renames) {
  std::map<std::string, size_t> producer;
  std::map<std::string, mil::Type> types;
  std::set<std::string> fn_inputs;
  for (const auto& in : fn.inputs) {
    types[in.name] = in.type;
    fn_inputs.insert(in.name);
  }
  const auto& ops = fn.body.operations;
  for (size_t i = 0; i < ops.size(); ++i)
    for (const auto& o : ops[i].outputs) {
      producer[o.name] = i;
      types[o.name] = o.type;
    }
  const std::set<std::string> cut(inputs.begin(), inputs.end());
  for (const auto& n : inputs)
    if (!types.count(n)) return not_found("function `" + fn.name + "` has no value `" + n + "` to cut at");
  std::vector<bool> keep(ops.size(), false);
  std::vector<std::string> work(outputs.begin(), outputs.end());
  std::set<std::string> seen;
  while (!work.empty()) {
    std::string n = std::move(work.back());
    work.pop_back();
    if (!seen.insert(n).second || cut.count(n)) continue;
    auto it = producer.find(n);
    if (it == producer.end()) {
      if (fn_inputs.count(n))
        return invalid_argument("segment `" + name + "` of `" + fn.name + "` needs the function input `" + n +
                                "`, which is not among its inputs");
      return not_found("function `" + fn.name + "` has no value `" + n + "`");
    }
    if (keep[it->second]) continue;
    keep[it->second] = true;
    collect_refs(ops[it->second], work);
  }
  mil::Program p;
  mil::Function f;
  f.name = name;
  f.opset = fn.opset;
  for (const auto& n : inputs) {
    auto r = renames.find(n);
    f.inputs.push_back({r == renames.end() ? n : r->second, types[n]});
  }
  for (size_t i = 0; i < ops.size(); ++i)
    if (keep[i]) f.body.operations.push_back(ops[i]);
  f.body.outputs = outputs;
  templates::rename_values(f, renames);
  p.functions.push_back(std::move(f));
  IM_RETURN_IF_ERROR(mil::verify(p).with_context("segment `" + name + "` of `" + fn.name + "`"));
  return p;
}

std::string boundary_tensor(const templates::LoadedModel& model, int64_t layer) {
  return layer >= model.config.num_hidden_layers ? "hidden" : "hidden_" + std::to_string(layer);
}

Result<ComponentProgram> build_component(const templates::LoadedModel& model, const ComponentRequest& request,
                                         int64_t prefill_length, Precision precision) {
  const auto& c = model.config;
  const int64_t L = c.num_hidden_layers;
  templates::TemplateOptions to;
  to.prefill_length = prefill_length;
  to.hidden_states = true;
  IM_ASSIGN_OR_RETURN(templates::LlmProgram llm, templates::build_llm(c, *model.weights, to));
  const mil::Function* fn = llm.program.function("prefill");
  if (!fn) return internal_error("template program has no prefill function");
  ComponentProgram out;
  if (request.role == "embeddings") {
    out.inputs = {"input_ids"};
    out.outputs = {boundary_tensor(model, 0)};
    IM_ASSIGN_OR_RETURN(out.program, extract_segment(*fn, {"input_ids"}, {"hidden_0"}, "main", {{"hidden_0", out.outputs[0]}}));
  } else if (request.role == "transformer") {
    const int64_t a = request.first_layer, b = request.last_layer < 0 ? L - 1 : request.last_layer;
    if (a < 0 || a > b || b >= L)
      return invalid_argument("transformer layers " + std::to_string(a) + "-" + std::to_string(b) + ": the model has " +
                              std::to_string(L) + " layers (0-" + std::to_string(L - 1) + ")");
    const std::string from = "hidden_" + std::to_string(a), to_v = "hidden_" + std::to_string(b + 1);
    out.inputs = {boundary_tensor(model, a)};
    out.outputs = {boundary_tensor(model, b + 1)};
    IM_ASSIGN_OR_RETURN(out.program, extract_segment(*fn, {from}, {to_v}, "main",
                                                     {{from, out.inputs[0]}, {to_v, out.outputs[0]}}));
  } else if (request.role == "lm_head") {
    if (c.final_logit_softcapping) return unsupported(c.source + ": a split LM head with final logit soft-capping");
    const bool tied = c.tie_word_embeddings && !model.weights->shape("lm_head.weight");
    IM_ASSIGN_OR_RETURN(mil::Tensor w, model.weights->fp32_tensor(tied ? "model.embed_tokens.weight" : "lm_head.weight"));
    IM_ASSIGN_OR_RETURN(out.program, split_lm_head_program(mil::Type::tensor(mil::DType::kFp32, {prefill_length, c.hidden_size}),
                                                           w, request.lm_head_parts, fn->opset));
    out.inputs = {"hidden"};
    if (request.lm_head_parts == 1) out.outputs = {"logits"};
    for (int i = 1; request.lm_head_parts > 1 && i <= request.lm_head_parts; ++i) out.outputs.push_back("logits" + std::to_string(i));
  } else {
    return invalid_argument("component `" + request.role + "`: expected embeddings, transformer or lm_head");
  }
  IM_RETURN_IF_ERROR(apply_precision(out.program, precision));
  return out;
}

}  // namespace ironmill::backends::coreml
