#include "backends/coreml/llm/llm_package.h"

#include <algorithm>

#include "formats/coreml/mlpackage.h"
#include "mil/verifier.h"
#include "passes/ane/mixed_precision.h"

namespace ironmill::backends::coreml {
namespace fc = formats::coreml;

Result<Precision> parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "fp16") return Precision::kFp16;
  return invalid_argument("precision `" + name + "`: expected fp32 or fp16");
}

std::string precision_name(Precision p) { return p == Precision::kFp16 ? "fp16" : "fp32"; }

namespace {

// Lazily loaded fp32 weights (SafeTensors views) become fp16 tensors now: the precision pass rewrites
// immediate tensors only.
Status load_fp32_lazy(mil::Value& v) {
  auto* lazy = std::get_if<std::shared_ptr<const mil::LazyTensorSource>>(&v.data);
  if (!lazy || !v.type.is_tensor() || v.type.dtype != mil::DType::kFp32) return Status::Ok();
  IM_ASSIGN_OR_RETURN(mil::Tensor t, (*lazy)->load());
  v = mil::Value::of(t.cast_to(mil::DType::kFp16));
  return Status::Ok();
}

Status load_fp32_lazy(mil::Block& b) {
  for (auto& op : b.operations) {
    for (auto& [k, v] : op.attributes) IM_RETURN_IF_ERROR(load_fp32_lazy(v));
    for (auto& [k, a] : op.inputs)
      for (auto& bd : a.bindings)
        if (!bd.is_ref()) IM_RETURN_IF_ERROR(load_fp32_lazy(*bd.value));
    for (auto& nb : op.blocks) IM_RETURN_IF_ERROR(load_fp32_lazy(nb));
  }
  return Status::Ok();
}

}  // namespace

Status apply_precision(mil::Program& program, Precision precision) {
  if (precision == Precision::kFp32) return Status::Ok();
  for (auto& f : program.functions) IM_RETURN_IF_ERROR(load_fp32_lazy(f.body));
  passes::ane::MixedPrecisionPass pass;
  IM_ASSIGN_OR_RETURN(bool changed, pass.run(program));
  (void)changed;
  return mil::verify(program).with_context("fp16 program");
}

Status retarget_opset(mil::Program& program, const std::string& tag) {
  for (auto& f : program.functions) f.opset = tag;
  return mil::verify(program).with_context("program retargeted to " + tag);
}

Status make_cache_stateful(mil::Program& program) {
  // The cache tensors: decode's inputs that come back as <name>_out.
  mil::Function* decode = program.function("decode");
  if (!decode) return invalid_argument("stateful cache: the program has no decode function (cache length 0)");
  std::map<std::string, mil::Type> caches;
  for (const auto& in : decode->inputs)
    if (std::find(decode->body.outputs.begin(), decode->body.outputs.end(), in.name + "_out") != decode->body.outputs.end())
      caches[in.name] = in.type;
  if (caches.empty()) return invalid_argument("stateful cache: decode has no cache tensors");
  for (const auto& [name, t] : caches)
    if (t.dtype != mil::DType::kFp16)
      return unsupported("stateful cache: `" + name + "` is " + mil::type_to_string(t) + "; Core ML states are fp16 (use fp16 precision)");
  for (auto& f : program.functions) {
    std::map<std::string, std::string> renames;
    std::vector<mil::Operation> reads;
    for (const auto& [name, t] : caches) {
      auto in = std::find_if(f.inputs.begin(), f.inputs.end(), [&](const mil::NamedType& n) { return n.name == name; });
      if (in != f.inputs.end()) {
        // decode: the explicit input becomes the state, read once at the top.
        in->type = mil::Type::state(t);
        mil::Operation r;
        r.type = "read_state";
        r.inputs["input"].bindings.push_back(mil::Binding::ref(name));
        r.outputs.push_back({name + "__read", t});
        r.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string(name + "__read"));
        reads.push_back(std::move(r));
        renames[name] = name + "__read";
      } else {
        f.inputs.push_back({name, mil::Type::state(t)});  // prefill: only writes it
      }
    }
    for (auto& op : f.body.operations)
      for (auto& [k, a] : op.inputs)
        for (auto& b : a.bindings)
          if (b.is_ref())
            if (auto it = renames.find(b.name); it != renames.end()) b.name = it->second;
    for (auto& o : f.body.outputs)
      if (auto it = renames.find(o); it != renames.end()) o = it->second;
    f.body.operations.insert(f.body.operations.begin(), reads.begin(), reads.end());
    std::vector<std::string> outputs;
    for (const auto& o : f.body.outputs) {
      const std::string base = o.size() > 4 && o.compare(o.size() - 4, 4, "_out") == 0 ? o.substr(0, o.size() - 4) : "";
      if (base.empty() || !caches.count(base)) { outputs.push_back(o); continue; }
      mil::Operation w;
      w.type = "write_state";
      w.inputs["data"].bindings.push_back(mil::Binding::ref(o));
      w.inputs["input"].bindings.push_back(mil::Binding::ref(base));
      w.attributes["name"] = mil::Value::of(mil::Tensor::scalar_string(base + "__write"));
      f.body.operations.push_back(std::move(w));
    }
    f.body.outputs = std::move(outputs);
  }
  return mil::verify(program).with_context("stateful cache");
}

Result<LlmPackageProgram> build_llm_package_program(const templates::LoadedModel& model, const LlmPackageOptions& options) {
  if (options.prefill_length <= 0) return invalid_argument("prefill length must be positive");
  templates::TemplateOptions to;
  to.prefill_length = options.prefill_length;
  to.max_context = options.max_context;
  to.hidden_states = options.hidden_states;
  IM_ASSIGN_OR_RETURN(templates::LlmProgram llm, templates::build_llm(model.config, *model.weights, to));
  LlmPackageProgram out;
  out.program = std::move(llm.program);
  IM_RETURN_IF_ERROR(apply_precision(out.program, options.precision));
  if (options.stateful) IM_RETURN_IF_ERROR(make_cache_stateful(out.program));
  if (options.spec_version > 0)
    IM_RETURN_IF_ERROR(retarget_opset(out.program, "ios" + std::to_string(fc::opset_for_spec(options.spec_version))));
  fc::ModelInfo& info = out.write_options.info;
  info.spec_version = options.spec_version;
  if (out.program.functions.size() > 1) info.default_function = "prefill";
  info.metadata.short_description = model.config.source + " (" + precision_name(options.precision) + ")";
  info.metadata.user_defined["com.ironmill.source"] = model.config.source;
  info.metadata.user_defined["com.ironmill.precision"] = precision_name(options.precision);
  info.metadata.user_defined["com.ironmill.prefill_length"] = std::to_string(options.prefill_length);
  info.metadata.user_defined["com.ironmill.max_context"] = std::to_string(options.max_context);
  return out;
}

Result<fc::SerializedModel> write_llm_package(const templates::LoadedModel& model, const LlmPackageOptions& options,
                                              const std::string& path) {
  IM_ASSIGN_OR_RETURN(LlmPackageProgram p, build_llm_package_program(model, options));
  IM_ASSIGN_OR_RETURN(fc::SerializedModel s, fc::serialize_model(p.program, p.write_options));
  IM_RETURN_IF_ERROR(fc::write_package(path, {s.model_bytes, s.weights}));
  return s;
}

}  // namespace ironmill::backends::coreml
