#include "backends/ane/ane_backend.h"

#include <set>

#include "backends/reference/interpreter.h"
#include "formats/bundles/ironml.h"

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
