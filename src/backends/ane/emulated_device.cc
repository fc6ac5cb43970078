#include "backends/ane/emulated_device.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backends/reference/interpreter.h"
#include "backends/reference/kernel.h"
#include "formats/bundles/blob_storage.h"
#include "mil/op_registry.h"
#include "mil/text.h"
#include "mil/verifier.h"
#include "util/float16.h"

namespace ironmill::backends::ane {
namespace {

using mil::Operation;
using mil::Tensor;
using mil::Type;

constexpr double kFp16Max = 65504.0;

// Applies the ANE's fp16 activation storage to a float tensor (other dtypes pass through).
void to_ane_fp16(RtValue& v) {
  auto* t = std::get_if<Tensor>(&v);
  if (!t || !mil::is_float(t->dtype())) return;
  Tensor out(t->dtype(), t->shape());
  for (int64_t i = 0; i < t->numel(); ++i) out.set_f64(i, ane_fp16(t->get_f64(i)));
  *t = std::move(out);
}

// Kernel context over one op: binds inputs from the environment, falls back to schema defaults.
class Context final : public reference::KernelContext {
 public:
  Context(const Operation& op, const mil::OpSchema& schema, const mil::OpVariant& variant, int opset,
          const std::map<std::string, RtValue>& env, const CompileOptions& options)
      : op_(op), schema_(schema), variant_(variant), opset_(opset), env_(env), options_(options), results_(op.outputs.size()) {}
  const Operation& op() const override { return op_; }
  const mil::OpSchema& schema() const override { return schema_; }
  int opset() const override { return opset_; }
  bool has(const std::string& input) const override {
    return op_.inputs.count(input) || (input != "name" && op_.attributes.count(input));
  }
  Result<RtValue> value(const std::string& input) const override {
    if (const mil::Argument* a = op_.input(input)) {
      if (a->bindings.size() != 1) return error("input `" + input + "` is a tuple");
      return binding(a->bindings[0], input);
    }
    if (input != "name")
      if (auto it = op_.attributes.find(input); it != op_.attributes.end()) return fp16_const(it->second);
    const mil::InputSpec* spec = variant_.input(input);
    if (!spec) return error("has no input `" + input + "`");
    mil::InferContext ictx(
        op_, schema_, variant_, opset_,
        [this](const std::string& n) -> const Type* {
          auto it = env_.find(n);
          if (it == env_.end()) return nullptr;
          if (const auto* t = std::get_if<Tensor>(&it->second)) {
            scratch_[n] = Type::tensor(t->dtype(), t->shape());
            return &scratch_[n];
          }
          return nullptr;
        },
        [](const std::string&) -> const mil::Value* { return nullptr; });
    auto d = mil::resolve_default(*spec, ictx);
    if (!d.ok()) return d.status();
    if (!d->has_value()) return error("input `" + input + "` is absent and has no default");
    return fp16_const(**d);
  }
  Result<Tensor> tensor(const std::string& input) const override {
    IM_ASSIGN_OR_RETURN(RtValue v, value(input));
    if (auto* t = std::get_if<Tensor>(&v)) return *t;
    return error("input `" + input + "`: tensor expected");
  }
  Result<std::vector<RtValue>> tuple(const std::string& input) const override {
    const mil::Argument* a = op_.input(input);
    if (!a) return error("input `" + input + "` is absent");
    std::vector<RtValue> out;
    for (const auto& b : a->bindings) {
      IM_ASSIGN_OR_RETURN(RtValue v, binding(b, input));
      out.push_back(std::move(v));
    }
    return out;
  }
  const std::vector<mil::NamedType>& outputs() const override { return op_.outputs; }
  void set_output(size_t i, RtValue v) override {
    if (i < results_.size()) results_[i] = std::move(v);
  }
  Result<std::vector<RtValue>> run_block(size_t, const std::vector<RtValue>&) override {
    return unsupported("nested blocks do not run on the ANE");
  }
  std::vector<std::optional<RtValue>>& results() { return results_; }

 private:
  // Constants reach the ANE as fp16 weights.
  Result<RtValue> fp16_const(const mil::Value& v) const {
    IM_ASSIGN_OR_RETURN(RtValue r, reference::materialize(v, options_));
    to_ane_fp16(r);
    return r;
  }
  Result<RtValue> binding(const mil::Binding& b, const std::string& input) const {
    if (!b.is_ref()) return fp16_const(*b.value);
    auto it = env_.find(b.name);
    if (it == env_.end()) return error("input `" + input + "`: value `" + b.name + "` was not computed");
    return it->second;
  }
  const Operation& op_;
  const mil::OpSchema& schema_;
  const mil::OpVariant& variant_;
  int opset_;
  const std::map<std::string, RtValue>& env_;
  const CompileOptions& options_;
  std::vector<std::optional<RtValue>> results_;
  mutable std::map<std::string, Type> scratch_;
};

Status run_function(const mil::Function& f, std::map<std::string, RtValue>& env) {
  const int opset = mil::opset_version(f.opset).value_or(18);
  CompileOptions options;  // weights were resolved at compile time
  for (const auto& op : f.body.operations) {
    const std::string who = "`" + op.type + "` (" + op.name() + ")";
    if (op.type == "const") {
      IM_ASSIGN_OR_RETURN(RtValue v, reference::materialize(op.attributes.at("val"), options));
      to_ane_fp16(v);
      env[op.outputs.at(0).name] = std::move(v);
      continue;
    }
    const mil::OpSchema* schema = mil::OpRegistry::get().find(op.type);
    const mil::OpVariant* variant = schema ? schema->variant_for(opset) : nullptr;
    const reference::KernelFn* fn = reference::KernelTable::get().find(op.type);
    if (!schema || !variant || !fn) return unsupported(who + ": no kernel");
    Context ctx(op, *schema, *variant, opset, env, options);
    IM_RETURN_IF_ERROR((*fn)(ctx));
    for (size_t i = 0; i < op.outputs.size(); ++i) {
      auto& r = ctx.results()[i];
      if (!r) return internal_error(who + ": kernel did not produce `" + op.outputs[i].name + "`");
      to_ane_fp16(*r);  // fp16 between ops, saturating at ±65504
      env[op.outputs[i].name] = std::move(*r);
    }
  }
  return Status::Ok();
}

Result<IoDesc> io_desc(const std::string& name, const Type& t) {
  if (!t.is_tensor() || !t.fully_known() || t.rank() != 4 || t.dims[0] != 1 || t.dims[2] != 1)
    return invalid_argument("I/O `" + name + "` is " + mil::type_to_string(t) + ", not [1,C,1,S]");
  return IoDesc{name, t.dtype, t.dims[1], t.dims[3]};
}

// Replaces BLOBFILE references by the tensors they point at in `weights`.
Status resolve_blobs(mil::Block& block, const WeightFiles& weights) {
  for (auto& op : block.operations) {
    auto fix = [&](mil::Value& v) -> Status {
      if (const auto* b = std::get_if<mil::BlobFileRef>(&v.data)) {
        auto it = weights.find(b->path);
        if (it == weights.end()) return not_found("weight file `" + b->path + "` was not given to compile");
        IM_ASSIGN_OR_RETURN(Tensor t, formats::bundles::read_blob(it->second, b->offset, v.type.dtype, v.type.dims, b->path));
        v.data = std::move(t);
      }
      return Status::Ok();
    };
    for (auto& [k, v] : op.attributes) IM_RETURN_IF_ERROR(fix(v));
    for (auto& [k, a] : op.inputs)
      for (auto& b : a.bindings)
        if (!b.is_ref()) IM_RETURN_IF_ERROR(fix(*b.value));
    for (auto& nb : op.blocks) IM_RETURN_IF_ERROR(resolve_blobs(nb, weights));
  }
  return Status::Ok();
}

}  // namespace

double ane_fp16(double v) {
  if (std::isnan(v)) return v;
  if (v > kFp16Max) v = kFp16Max;
  if (v < -kFp16Max) v = -kFp16Max;
  return fp16_bits_to_fp32(fp64_to_fp16_bits(v));
}

AneTensor AneTensor::make(int64_t channels, int64_t seq, size_t min_alloc, mil::DType dtype) {
  AneTensor t;
  t.dtype = dtype;
  t.channels = channels;
  t.seq = seq;
  t.alloc_bytes = std::max(t.logical_bytes(), min_alloc);
  t.storage.assign(t.alloc_bytes, 0);
  return t;
}

Tensor AneTensor::to_tensor() const {
  Tensor t(dtype, {1, channels, 1, seq});
  std::memcpy(t.mutable_raw(), storage.data(), std::min(logical_bytes(), storage.size()));
  return t;
}

Status AneTensor::from_tensor(const Tensor& t) {
  if (t.numel() != channels * seq)
    return invalid_argument("buffer [1," + std::to_string(channels) + ",1," + std::to_string(seq) + "] cannot hold " +
                            mil::shape_to_string(t.shape()));
  Tensor c = t.dtype() == dtype ? t : t.cast_to(dtype);
  if (storage.size() < logical_bytes()) storage.resize(std::max(alloc_bytes, logical_bytes()));
  std::memcpy(storage.data(), c.raw(), logical_bytes());
  return Status::Ok();
}

EmulatedAneDevice::EmulatedAneDevice(AneProfile profile) : profile_(std::move(profile)) {}

int EmulatedAneDevice::remaining_budget() const {
  return std::max(0, static_cast<int>(profile_.limit("compile_budget", 119)) - compiles_);
}
size_t EmulatedAneDevice::min_buffer_bytes() const {
  return static_cast<size_t>(profile_.limit("min_buffer_bytes", 16384));
}

Result<ProgramHandle> EmulatedAneDevice::compile(const std::string& mil_text, const WeightFiles& weights) {
  if (remaining_budget() == 0) {
    const auto& l = profile_.limits.at("compile_budget");
    return unsupported("emulated ANE: per-process compile budget of " + std::to_string(l.value) +
                       " compilations exhausted [" + l.source + "]");
  }
  ++compiles_;  // a failed compile spends a slot too, as ANECCompile() does
  IM_ASSIGN_OR_RETURN(mil::Program p, mil::parse_mil_text(mil_text, "model.mil"));
  IM_RETURN_IF_ERROR(mil::verify(p));
  last_report_ = evaluate_program(p, profile_);
  if (!last_report_.compiles()) {
    std::string why;
    for (const auto& f : last_report_.findings)
      if (f.error && why.empty()) why = f.rule + " [" + f.source + "]: " + f.message;
    for (const auto& o : last_report_.ops)
      if (!o.on_ane() && why.empty()) why = "`" + o.type + "` (" + o.name + "): " + o.rule + " [" + o.source + "]: " + o.message;
    return unsupported("emulated ANE compiler rejects the program (profile " + profile_.name + "): " + why);
  }
  auto c = std::make_unique<Compiled>();
  c->program = std::move(p);
  mil::Function* f = c->program.function("main");
  if (!f) return invalid_argument("emulated ANE: the program has no `main` function");
  IM_RETURN_IF_ERROR(resolve_blobs(f->body, weights));
  std::map<std::string, Type> types;
  for (const auto& in : f->inputs) types[in.name] = in.type;
  for (const auto& op : f->body.operations)
    for (const auto& o : op.outputs) types[o.name] = o.type;
  for (const auto& in : f->inputs) {
    IM_ASSIGN_OR_RETURN(IoDesc d, io_desc(in.name, in.type));
    c->ins.push_back(d);
  }
  for (const auto& o : f->body.outputs) {
    IM_ASSIGN_OR_RETURN(IoDesc d, io_desc(o, types[o]));
    c->outs.push_back(d);
  }
  // The ANE binds IOSurfaces in alphabetical order of the MIL variable names.
  auto by_name = [](const IoDesc& a, const IoDesc& b) { return a.name < b.name; };
  std::sort(c->ins.begin(), c->ins.end(), by_name);
  std::sort(c->outs.begin(), c->outs.end(), by_name);
  programs_.push_back(std::move(c));
  return static_cast<ProgramHandle>(programs_.size() - 1);
}

Result<std::vector<IoDesc>> EmulatedAneDevice::inputs(ProgramHandle h) const {
  if (h < 0 || static_cast<size_t>(h) >= programs_.size()) return invalid_argument("unknown program handle");
  return programs_[h]->ins;
}
Result<std::vector<IoDesc>> EmulatedAneDevice::outputs(ProgramHandle h) const {
  if (h < 0 || static_cast<size_t>(h) >= programs_.size()) return invalid_argument("unknown program handle");
  return programs_[h]->outs;
}

Status EmulatedAneDevice::eval(ProgramHandle h, const std::vector<const AneTensor*>& inputs,
                               const std::vector<AneTensor*>& outputs) {
  if (h < 0 || static_cast<size_t>(h) >= programs_.size()) return invalid_argument("emulated ANE: unknown program handle");
  const Compiled& c = *programs_[h];
  if (inputs.size() != c.ins.size() || outputs.size() != c.outs.size())
    return invalid_argument("emulated ANE: program takes " + std::to_string(c.ins.size()) + " inputs and " +
                            std::to_string(c.outs.size()) + " outputs, got " + std::to_string(inputs.size()) + " and " +
                            std::to_string(outputs.size()));
  const size_t min_alloc = min_buffer_bytes();
  const std::string min_src = profile_.limits.count("min_buffer_bytes") ? profile_.limits.at("min_buffer_bytes").source : "";
  auto check = [&](const AneTensor& t, const IoDesc& d, const char* what) -> Status {
    if (t.channels != d.channels || t.seq != d.seq || t.dtype != d.dtype)
      return invalid_argument(std::string("emulated ANE: ") + what + " `" + d.name + "` (bound alphabetically) needs [1," +
                              std::to_string(d.channels) + ",1," + std::to_string(d.seq) + "] " +
                              std::string(mil::dtype_name(d.dtype)) + ", got [1," + std::to_string(t.channels) + ",1," +
                              std::to_string(t.seq) + "] " + std::string(mil::dtype_name(t.dtype)));
    if (t.alloc_bytes < min_alloc || t.storage.size() < t.alloc_bytes || t.alloc_bytes < t.logical_bytes())
      return invalid_argument(std::string("emulated ANE: eval status 0x1d: ") + what + " `" + d.name + "` buffer of " +
                              std::to_string(t.alloc_bytes) + " bytes is below the minimum IOSurface allocation of " +
                              std::to_string(min_alloc) + " bytes [" + min_src + "]");
    return Status::Ok();
  };
  std::map<std::string, RtValue> env;
  for (size_t i = 0; i < inputs.size(); ++i) {
    IM_RETURN_IF_ERROR(check(*inputs[i], c.ins[i], "input"));
    RtValue v = inputs[i]->to_tensor();
    to_ane_fp16(v);
    env[c.ins[i].name] = std::move(v);
  }
  for (size_t i = 0; i < outputs.size(); ++i) IM_RETURN_IF_ERROR(check(*outputs[i], c.outs[i], "output"));
  IM_RETURN_IF_ERROR(run_function(*c.program.function("main"), env));
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto* t = std::get_if<Tensor>(&env.at(c.outs[i].name));
    if (!t) return internal_error("emulated ANE: output `" + c.outs[i].name + "` is not a tensor");
    IM_RETURN_IF_ERROR(outputs[i]->from_tensor(*t));
  }
  return Status::Ok();
}

}  // namespace ironmill::backends::ane
