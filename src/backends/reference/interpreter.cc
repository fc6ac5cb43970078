#include "backends/reference/interpreter.h"

#include "backends/ane/ane_backend.h"
#include "backends/coreml/coreml_backend.h"
#include "backends/reference/kernel.h"
#include "mil/verifier.h"

namespace ironmill::backends::reference {
namespace {

using mil::Block;
using mil::Operation;
using mil::Tensor;
using mil::Type;
using mil::Value;

std::string describe(const RtValue& v) {
  if (const auto* t = std::get_if<Tensor>(&v)) return std::string(mil::dtype_name(t->dtype())) + mil::shape_to_string(t->shape());
  if (std::holds_alternative<ListValue>(v)) return "list";
  if (std::holds_alternative<StateValue>(v)) return "state";
  return "dict";
}

// Does a runtime value fit a declared type? Unknown dims match anything.
bool fits(const Type& t, const RtValue& v) {
  switch (t.kind) {
    case Type::Kind::kTensor: {
      const auto* x = std::get_if<Tensor>(&v);
      if (!x || x->dtype() != t.dtype) return false;
      if (!t.rank_known) return true;
      if (static_cast<size_t>(x->rank()) != t.dims.size()) return false;
      for (size_t i = 0; i < t.dims.size(); ++i)
        if (t.dims[i] >= 0 && t.dims[i] != x->shape()[i]) return false;
      return true;
    }
    case Type::Kind::kList: return std::holds_alternative<ListValue>(v);
    case Type::Kind::kState: return std::holds_alternative<StateValue>(v);
    case Type::Kind::kDict: return std::holds_alternative<DictValue>(v);
    case Type::Kind::kTuple: return false;
  }
  return false;
}

class Env {
 public:
  explicit Env(const Env* parent = nullptr) : parent_(parent) {}
  const RtValue* find(const std::string& n) const {
    for (const Env* e = this; e; e = e->parent_) {
      auto it = e->values_.find(n);
      if (it != e->values_.end()) return &it->second;
    }
    return nullptr;
  }
  void set(const std::string& n, RtValue v) { values_[n] = std::move(v); }

 private:
  const Env* parent_;
  std::map<std::string, RtValue> values_;
};

class Runner;

class Context final : public KernelContext {
 public:
  Context(Runner& runner, const Operation& op, const mil::OpSchema& schema, const mil::OpVariant& variant, int opset,
          Env& env, const CompileOptions& options)
      : runner_(runner), op_(op), schema_(schema), variant_(variant), opset_(opset), env_(env), options_(options),
        results_(op.outputs.size()) {}

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
    if (input != "name") {
      auto it = op_.attributes.find(input);
      if (it != op_.attributes.end()) return materialize(it->second, options_);
    }
    const mil::InputSpec* spec = variant_.input(input);
    if (!spec) return error("has no input `" + input + "`");
    auto d = mil::resolve_default(*spec, infer_context());
    if (!d.ok()) return d.status();
    if (!d->has_value()) return error("input `" + input + "` is absent and has no default");
    return materialize(**d, options_);
  }
  Result<Tensor> tensor(const std::string& input) const override {
    IM_ASSIGN_OR_RETURN(RtValue v, value(input));
    if (auto* t = std::get_if<Tensor>(&v)) return *t;
    return error("input `" + input + "`: tensor expected, got " + describe(v));
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
  void set_output(size_t index, RtValue value) override {
    if (index < results_.size()) results_[index] = std::move(value);
  }
  Result<std::vector<RtValue>> run_block(size_t index, const std::vector<RtValue>& inputs) override;

  std::vector<std::optional<RtValue>>& results() { return results_; }

 private:
  Result<RtValue> binding(const mil::Binding& b, const std::string& input) const {
    if (!b.is_ref()) return materialize(*b.value, options_);
    const RtValue* v = env_.find(b.name);
    if (!v) return error("input `" + input + "`: value `" + b.name + "` was not computed");
    return *v;
  }
  mil::InferContext infer_context() const {
    return mil::InferContext(
        op_, schema_, variant_, opset_,
        [this](const std::string& n) -> const Type* {
          // Types of computed values, synthesised from the runtime values.
          const RtValue* v = env_.find(n);
          if (!v) return nullptr;
          if (const auto* t = std::get_if<Tensor>(v)) {
            scratch_types_[n] = Type::tensor(t->dtype(), t->shape());
            return &scratch_types_[n];
          }
          return nullptr;
        },
        [](const std::string&) -> const Value* { return nullptr; });
  }

  Runner& runner_;
  const Operation& op_;
  const mil::OpSchema& schema_;
  const mil::OpVariant& variant_;
  int opset_;
  Env& env_;
  const CompileOptions& options_;
  std::vector<std::optional<RtValue>> results_;
  mutable std::map<std::string, Type> scratch_types_;
};

class Runner {
 public:
  Runner(const CompileOptions& options, int opset) : options_(options), opset_(opset) {}

  Status run_block(const Block& block, Env& env) {
    for (const auto& op : block.operations) IM_RETURN_IF_ERROR(run_op(op, env));
    return Status::Ok();
  }

  Status run_op(const Operation& op, Env& env) {
    const std::string who = "`" + op.type + "` (" + op.name() + ")";
    if (op.type == "const") {
      auto it = op.attributes.find("val");
      if (it == op.attributes.end()) return invalid_argument(who + ": missing `val`");
      IM_ASSIGN_OR_RETURN(RtValue v, materialize(it->second, options_));
      env.set(op.outputs.at(0).name, std::move(v));
      return Status::Ok();
    }
    const mil::OpSchema* schema = mil::OpRegistry::get().find(op.type);
    if (!schema) return unsupported("unknown op " + who);
    const mil::OpVariant* variant = schema->variant_for(opset_);
    if (!variant) return unsupported(who + " is not in opset ios" + std::to_string(opset_));
    const KernelFn* fn = KernelTable::get().find(op.type);
    if (!fn) return unsupported(who + ": the reference backend has no kernel");
    Context ctx(*this, op, *schema, *variant, opset_, env, options_);
    IM_RETURN_IF_ERROR((*fn)(ctx));
    for (size_t i = 0; i < op.outputs.size(); ++i) {
      auto& r = ctx.results()[i];
      if (!r) return internal_error(who + ": kernel did not produce output `" + op.outputs[i].name + "`");
      if (!fits(op.outputs[i].type, *r))
        return internal_error(who + ": kernel produced " + describe(*r) + " for output `" + op.outputs[i].name +
                              "` declared " + mil::type_to_string(op.outputs[i].type));
      env.set(op.outputs[i].name, std::move(*r));
    }
    return Status::Ok();
  }

 private:
  const CompileOptions& options_;
  int opset_;
};

Result<std::vector<RtValue>> Context::run_block(size_t index, const std::vector<RtValue>& inputs) {
  if (index >= op_.blocks.size()) return error("has no nested block " + std::to_string(index));
  const Block& b = op_.blocks[index];
  if (inputs.size() != b.inputs.size())
    return error("nested block " + std::to_string(index) + " takes " + std::to_string(b.inputs.size()) +
                 " inputs, got " + std::to_string(inputs.size()));
  Env inner(&env_);
  for (size_t i = 0; i < inputs.size(); ++i) inner.set(b.inputs[i].name, inputs[i]);
  IM_RETURN_IF_ERROR(runner_.run_block(b, inner));
  std::vector<RtValue> out;
  for (const auto& o : b.outputs) {
    const RtValue* v = inner.find(o);
    if (!v) return error("nested block output `" + o + "` was not computed");
    out.push_back(*v);
  }
  return out;
}

class ReferenceExecutable final : public Executable {
 public:
  ReferenceExecutable(mil::Program program, CompileOptions options, std::string function)
      : program_(std::move(program)), options_(std::move(options)), function_(std::move(function)) {}

  Result<NamedValues> run(const NamedValues& inputs) override {
    const mil::Function* f = program_.function(function_);
    Env env;
    for (const auto& in : f->inputs) {
      auto it = inputs.find(in.name);
      if (it == inputs.end()) return invalid_argument("missing input `" + in.name + "`");
      if (!fits(in.type, it->second))
        return invalid_argument("input `" + in.name + "`: expected " + mil::type_to_string(in.type) + ", got " +
                                describe(it->second));
      env.set(in.name, it->second);
    }
    for (const auto& [name, v] : inputs)
      if (!env.find(name)) return invalid_argument("unknown input `" + name + "`");
    Runner runner(options_, mil::opset_version(f->opset).value_or(18));
    IM_RETURN_IF_ERROR(runner.run_block(f->body, env));
    NamedValues out;
    for (const auto& o : f->body.outputs) out[o] = *env.find(o);
    return out;
  }

 private:
  mil::Program program_;
  CompileOptions options_;
  std::string function_;
};

}  // namespace

Result<RtValue> materialize(const Value& v, const CompileOptions& options) {
  if (const auto* t = std::get_if<Tensor>(&v.data)) return RtValue(*t);
  if (const auto* b = std::get_if<mil::BlobFileRef>(&v.data)) {
    if (!options.blob_resolver)
      return unsupported("BLOBFILE(" + b->path + ", offset " + std::to_string(b->offset) + ") but no weight file was given");
    IM_ASSIGN_OR_RETURN(Tensor t, options.blob_resolver(*b, v.type));
    return RtValue(std::move(t));
  }
  if (const auto* l = std::get_if<std::shared_ptr<const mil::LazyTensorSource>>(&v.data)) {
    IM_ASSIGN_OR_RETURN(Tensor t, (*l)->load());
    return RtValue(std::move(t));
  }
  if (const auto* l = std::get_if<Value::List>(&v.data)) {
    ListValue out;
    out.elem_type = v.type.children.empty() ? Type() : v.type.children[0];
    for (const auto& e : l->elems) {
      IM_ASSIGN_OR_RETURN(RtValue x, materialize(e, options));
      if (!std::holds_alternative<Tensor>(x)) return unsupported("nested non-tensor list constant");
      out.items.push_back(std::get<Tensor>(x));
    }
    return RtValue(std::move(out));
  }
  if (const auto* d = std::get_if<Value::Dict>(&v.data)) {
    DictValue out;
    for (const auto& [k, val] : d->items) {
      IM_ASSIGN_OR_RETURN(RtValue kk, materialize(k, options));
      IM_ASSIGN_OR_RETURN(RtValue vv, materialize(val, options));
      if (!std::holds_alternative<Tensor>(kk) || !std::holds_alternative<Tensor>(vv))
        return unsupported("dict constant with non-tensor entries");
      out.items.emplace_back(std::get<Tensor>(kk), std::get<Tensor>(vv));
    }
    return RtValue(std::move(out));
  }
  return unsupported("tuple constants cannot be materialised as one runtime value");
}

SupportVerdict ReferenceBackend::supports(const Operation& op, int opset) const {
  const mil::OpSchema* s = mil::OpRegistry::get().find(op.type);
  if (!s) return {false, "unknown op"};
  if (!s->variant_for(opset)) return {false, "op needs opset ios" + std::to_string(s->since)};
  if (op.type != "const" && !KernelTable::get().find(op.type)) return {false, "no reference kernel"};
  return {true, "reference kernel"};
}

Result<std::unique_ptr<Executable>> ReferenceBackend::compile(const mil::Program& program, const CompileOptions& options) {
  IM_RETURN_IF_ERROR(mil::verify(program));
  if (!program.function(options.function)) return not_found("function `" + options.function + "` not in program");
  return std::unique_ptr<Executable>(new ReferenceExecutable(program, options, options.function));
}

// ---- kernel table & helpers ------------------------------------------------------------------------

KernelTable::KernelTable() {
#define IM_X(f) register_##f##_kernels(*this);
  IM_OP_FAMILIES(IM_X)
#undef IM_X
}
const KernelTable& KernelTable::get() {
  static const KernelTable t;
  return t;
}
const KernelFn* KernelTable::find(const std::string& op) const {
  auto it = kernels_.find(op);
  return it == kernels_.end() ? nullptr : &it->second;
}
std::vector<std::string> KernelTable::names() const {
  std::vector<std::string> n;
  for (const auto& [k, v] : kernels_) n.push_back(k);
  return n;
}

Status KernelContext::error(const std::string& msg) const {
  return invalid_argument("`" + op().type + "` (" + op().name() + "): " + msg);
}
Result<int64_t> KernelContext::get_int(const std::string& input) const {
  IM_ASSIGN_OR_RETURN(Tensor t, tensor(input));
  if (t.numel() != 1) return error("input `" + input + "`: scalar expected, got " + mil::shape_to_string(t.shape()));
  return t.get_i64(0);
}
Result<std::vector<int64_t>> KernelContext::get_ints(const std::string& input) const {
  IM_ASSIGN_OR_RETURN(Tensor t, tensor(input));
  return t.to_i64();
}
Result<double> KernelContext::get_float(const std::string& input) const {
  IM_ASSIGN_OR_RETURN(Tensor t, tensor(input));
  if (t.numel() != 1) return error("input `" + input + "`: scalar expected, got " + mil::shape_to_string(t.shape()));
  return t.get_f64(0);
}
Result<bool> KernelContext::get_bool(const std::string& input) const {
  IM_ASSIGN_OR_RETURN(int64_t v, get_int(input));
  return v != 0;
}
Result<std::string> KernelContext::get_string(const std::string& input) const {
  IM_ASSIGN_OR_RETURN(Tensor t, tensor(input));
  if (t.dtype() != mil::DType::kString || t.numel() != 1) return error("input `" + input + "`: string expected");
  return t.get_string(0);
}

namespace kutil {
std::vector<int64_t> strides_of(const mil::Shape& s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int i = static_cast<int>(s.size()) - 2; i >= 0; --i) st[i] = st[i + 1] * s[i + 1];
  return st;
}
std::vector<int64_t> broadcast_index(const mil::Shape& out, const mil::Shape& in) {
  const int64_t n = mil::shape_numel(out);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  const size_t r = out.size(), ri = in.size();
  auto in_strides = strides_of(in);
  std::vector<int64_t> coord(r, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < ri; ++d) {
      int64_t c = coord[r - ri + d];
      if (in[d] != 1) off += c * in_strides[d];
    }
    idx[static_cast<size_t>(i)] = off;
    next_coord(coord, out);
  }
  return idx;
}
mil::DType out_dtype(const KernelContext& c, size_t i) { return c.outputs().at(i).type.dtype; }
Result<int64_t> normalize_axis(const KernelContext& c, int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank)
    return c.error(what + " " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}
void next_coord(std::vector<int64_t>& coord, const mil::Shape& shape) {
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    if (++coord[static_cast<size_t>(d)] < shape[static_cast<size_t>(d)]) return;
    coord[static_cast<size_t>(d)] = 0;
  }
}
int64_t flat_offset(const std::vector<int64_t>& coord, const std::vector<int64_t>& strides) {
  int64_t f = 0;
  for (size_t i = 0; i < coord.size(); ++i) f += coord[i] * strides[i];
  return f;
}
}  // namespace kutil

// ---- backend factory ------------------------------------------------------------------------------

}  // namespace ironmill::backends::reference

namespace ironmill::backends {
Result<std::unique_ptr<Backend>> make_backend(const std::string& name) {
  if (name == "reference") return std::unique_ptr<Backend>(new reference::ReferenceBackend());
  if (name == "coreml") return coreml::make_coreml_backend();
  if (name == "ane") return ane::make_ane_backend();
  if (name == "ane-hybrid") {  // ane with a CPU prologue (embedding gather, integer position math)
    ane::AneBackendOptions o;
    o.cpu_prologue = true;
    return ane::make_ane_backend(o);
  }
  return not_found("unknown backend `" + name + "` (available: reference, coreml, ane, ane-hybrid)");
}
std::vector<std::string> backend_names() { return {"reference", "coreml", "ane", "ane-hybrid"}; }
}  // namespace ironmill::backends
