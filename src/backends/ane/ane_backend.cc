#include "backends/ane/ane_backend.h"

#include <algorithm>
#include <set>

#include "backends/reference/interpreter.h"
#include "formats/bundles/ironml.h"
#include "mil/verifier.h"
#include "passes/ane/cpu_prologue_split.h"

namespace ironmill::backends::ane {
namespace {

using mil::Tensor;

class AneExecutable final : public Executable {
 public:
  AneExecutable(std::shared_ptr<AneDevice> device, ProgramHandle h, std::map<std::string, mil::Type> natural_outputs)
      : device_(std::move(device)), handle_(h), natural_outputs_(std::move(natural_outputs)) {}

  Result<NamedValues> run(const NamedValues& inputs) override {
    IM_ASSIGN_OR_RETURN(std::vector<IoDesc> ins, device_->inputs(handle_));
    IM_ASSIGN_OR_RETURN(std::vector<IoDesc> outs, device_->outputs(handle_));
    const size_t min_alloc = device_->min_buffer_bytes();
    std::vector<AneTensor> in_bufs, out_bufs;
    for (const auto& d : ins) {
      auto it = inputs.find(d.name);
      if (it == inputs.end()) return invalid_argument("missing input `" + d.name + "`");
      const auto* t = std::get_if<Tensor>(&it->second);
      if (!t) return unsupported("input `" + d.name + "`: only tensors reach the ANE");
      in_bufs.push_back(AneTensor::make(d.channels, d.seq, min_alloc, d.dtype));
      IM_RETURN_IF_ERROR(in_bufs.back().from_tensor(*t).with_context("input `" + d.name + "`"));
    }
    for (const auto& d : outs) out_bufs.push_back(AneTensor::make(d.channels, d.seq, min_alloc, d.dtype));
    std::vector<const AneTensor*> in_ptrs;
    std::vector<AneTensor*> out_ptrs;
    for (auto& b : in_bufs) in_ptrs.push_back(&b);
    for (auto& b : out_bufs) out_ptrs.push_back(&b);
    IM_RETURN_IF_ERROR(device_->eval(handle_, in_ptrs, out_ptrs));
    NamedValues result;
    for (size_t i = 0; i < outs.size(); ++i) {
      Tensor t = out_bufs[i].to_tensor();
      auto nat = natural_outputs_.find(outs[i].name);
      if (nat != natural_outputs_.end() && nat->second.is_tensor()) {
        IM_ASSIGN_OR_RETURN(t, t.reshaped(nat->second.dims));
        if (t.dtype() != nat->second.dtype) t = t.cast_to(nat->second.dtype);
      }
      result[outs[i].name] = std::move(t);
    }
    return result;
  }

 private:
  std::shared_ptr<AneDevice> device_;
  ProgramHandle handle_;
  std::map<std::string, mil::Type> natural_outputs_;
};

// Runs a CPU prologue on the reference backend, then the ANE part with the prologue's values as inputs.
class HybridExecutable final : public Executable {
 public:
  HybridExecutable(std::unique_ptr<Executable> cpu, std::unique_ptr<Executable> ane, std::set<std::string> ane_inputs)
      : cpu_(std::move(cpu)), ane_(std::move(ane)), ane_inputs_(std::move(ane_inputs)) {}
  Result<NamedValues> run(const NamedValues& inputs) override {
    IM_ASSIGN_OR_RETURN(NamedValues pro, cpu_->run(inputs));
    NamedValues in;
    for (const auto& n : ane_inputs_) {
      if (auto it = pro.find(n); it != pro.end()) in[n] = it->second;
      else if (auto jt = inputs.find(n); jt != inputs.end()) in[n] = jt->second;
      else return invalid_argument("missing input `" + n + "`");
    }
    IM_ASSIGN_OR_RETURN(NamedValues out, ane_->run(in));
    for (const auto& k : outputs_)
      if (auto it = pro.find(k); it != pro.end()) out[k] = it->second;  // program outputs the CPU computed
    return out;
  }
  std::set<std::string> outputs_;  // program outputs computed by the prologue

 private:
  std::unique_ptr<Executable> cpu_, ane_;
  std::set<std::string> ane_inputs_;
};

// Turns BLOBFILE / lazy constants into immediate tensors, so lowering can read weights.
Status materialize_constants(mil::Block& b, const CompileOptions& options) {
  for (auto& op : b.operations) {
    auto fix = [&](mil::Value& v) -> Status {
      if (v.is_tensor() || (!std::holds_alternative<mil::BlobFileRef>(v.data) &&
                            !std::holds_alternative<std::shared_ptr<const mil::LazyTensorSource>>(v.data)))
        return Status::Ok();
      IM_ASSIGN_OR_RETURN(RtValue r, reference::materialize(v, options));
      if (auto* t = std::get_if<Tensor>(&r)) v = mil::Value::of(*t);
      return Status::Ok();
    };
    for (auto& [k, v] : op.attributes) IM_RETURN_IF_ERROR(fix(v));
    for (auto& [k, a] : op.inputs)
      for (auto& bd : a.bindings)
        if (!bd.is_ref()) IM_RETURN_IF_ERROR(fix(*bd.value));
  }
  return Status::Ok();
}

}  // namespace

bool lowering_rewrites(const std::string& op) {
  static const std::set<std::string> kRewritten = {
      "gelu", "mod", "sinh", "cosh", "sin", "cos", "tan", "asin", "acos", "logical_and", "logical_or", "logical_xor",
      "batch_norm", "linear", "scaled_dot_product_attention"};
  return kRewritten.count(op) > 0;
}

AneBackend::AneBackend(AneProfile profile, AneBackendOptions options)
    : profile_(std::move(profile)), options_(std::move(options)) {
  if (options_.shared_device) shared_ = std::make_shared<EmulatedAneDevice>(profile_);
}

SupportVerdict AneBackend::supports(const mil::Operation& op, int) const {
  const OpVerdict v = evaluate_op_kind(op.type, profile_);
  if (v.on_ane())
    return {true, std::string(op_status_name(v.status)) + " (" + v.rule + " [" + v.source + "], emulated)"};
  if (lowering_rewrites(op.type)) return {true, "rewritten by the ANE lowering into accepted ops (emulated)"};
  return {false, "rejected: " + v.rule + " [" + v.source + "]" + (v.message.empty() ? "" : ": " + v.message)};
}

Result<std::unique_ptr<Executable>> AneBackend::compile(const mil::Program& program, const CompileOptions& options) {
  const mil::Function* f0 = program.function(options.function);
  if (!f0) return not_found("function `" + options.function + "` not in program");
  mil::Program p;
  p.text_version = "1.3";
  p.functions = {*f0};
  p.functions[0].name = "main";
  IM_RETURN_IF_ERROR(materialize_constants(p.functions[0].body, options));
  // What the caller expects back: the original output types (shape and dtype).
  std::map<std::string, mil::Type> natural;
  {
    std::map<std::string, mil::Type> types;
    for (const auto& in : f0->inputs) types[in.name] = in.type;
    for (const auto& op : f0->body.operations)
      for (const auto& o : op.outputs) types[o.name] = o.type;
    for (const auto& o : f0->body.outputs) natural[o] = types[o];
  }
  if (options_.cpu_prologue) {
    // Ops the ANE cannot take that depend only on inputs/constants (embedding gather, integer position
    // math, decode's masks and RoPE rows) run on the CPU first (passes/ane/cpu_prologue_split.h).
    mil::Program split = p;
    const AneProfile& prof = profile_;
    passes::ane::CpuPrologueSplitPass pass(
        [&prof](const mil::Operation& op, const std::map<std::string, mil::Type>& types) {
          return (!evaluate_op_kind(op.type, prof).on_ane() && !lowering_rewrites(op.type)) ||
                 passes::ane::has_integer_or_bool_tensor(op, types);
        });
    IM_ASSIGN_OR_RETURN(bool changed, pass.run(split));
    if (changed) {
      mil::Program cpu_p, ane_p;
      cpu_p.functions = {*split.function(passes::ane::prologue_function_name("main"))};
      cpu_p.functions[0].name = "main";
      ane_p.functions = {*split.function("main")};
      IM_RETURN_IF_ERROR(mil::infer_and_verify(cpu_p).with_context("CPU prologue"));
      IM_RETURN_IF_ERROR(mil::infer_and_verify(ane_p).with_context("ANE part"));
      const mil::Function& cpu_f = cpu_p.functions[0];
      const mil::Function& ane_f = ane_p.functions[0];
      reference::ReferenceBackend ref;
      IM_ASSIGN_OR_RETURN(auto cpu_exe, ref.compile(cpu_p, {}));
      AneBackendOptions inner = options_;
      inner.cpu_prologue = false;
      AneBackend ane_be(profile_, inner);
      CompileOptions ane_options;
      auto ane_exe = ane_be.compile(ane_p, ane_options);
      last_lowered_ = ane_be.last_lowered();
      last_report_ = ane_be.last_report();
      if (!ane_exe.ok())
        return ane_exe.status().with_context("after a CPU prologue of " + std::to_string(cpu_f.body.operations.size()) + " ops");
      std::set<std::string> ane_inputs;
      for (const auto& in : ane_f.inputs) ane_inputs.insert(in.name);
      auto* h = new HybridExecutable(std::move(cpu_exe), std::move(*ane_exe), std::move(ane_inputs));
      for (const auto& o : p.functions[0].body.outputs)
        if (std::find(cpu_f.body.outputs.begin(), cpu_f.body.outputs.end(), o) != cpu_f.body.outputs.end()) h->outputs_.insert(o);
      return std::unique_ptr<Executable>(h);
    }
  }
  auto pm = passes::ane::make_ane_pipeline(options_.lowering);
  IM_RETURN_IF_ERROR(pm.run(p).with_context("ANE lowering"));
  last_lowered_ = p;
  last_report_ = evaluate_program(p, profile_);
  // A program the policy rejects is reported as the device would (rule + source), before bundling,
  // which needs static [N,C,H,W] I/O.
  if (!last_report_.compiles()) {
    std::string why;
    for (const auto& f : last_report_.findings)
      if (f.error && why.empty()) why = f.rule + " [" + f.source + "]: " + f.message;
    for (const auto& o : last_report_.ops)
      if (!o.on_ane() && why.empty()) why = "`" + o.type + "` (" + o.name + "): " + o.rule + " [" + o.source + "]: " + o.message;
    return unsupported("emulated ANE compiler rejects the program (profile " + profile_.name + "): " + why);
  }
  IM_ASSIGN_OR_RETURN(formats::bundles::SubProgram sub, formats::bundles::make_sub_program(p, "main"));
  WeightFiles weights;
  if (!sub.weights.empty()) weights[formats::bundles::weight_path_for("main")] = sub.weights;
  std::shared_ptr<EmulatedAneDevice> device = shared_ ? shared_ : std::make_shared<EmulatedAneDevice>(profile_);
  IM_ASSIGN_OR_RETURN(ProgramHandle h, device->compile(sub.mil_text, weights));
  return std::unique_ptr<Executable>(new AneExecutable(device, h, std::move(natural)));
}

Result<std::unique_ptr<Backend>> make_ane_backend(const AneBackendOptions& options) {
  IM_ASSIGN_OR_RETURN(AneProfile p, load_profile(options.profile));
  return std::unique_ptr<Backend>(new AneBackend(std::move(p), options));
}

}  // namespace ironmill::backends::ane
