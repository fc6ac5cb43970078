#include "frontends/onnx/onnx_importer.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cctype>

#include "frontends/onnx/lowering.h"
#include "mil/builder.h"

namespace ironmill::frontends::onnx {
using mil::DType;
using mil::Tensor;
using ::onnx::TensorProto;

// ---- tensors and dtypes ----------------------------------------------------------------------------

mil::Tensor ti32(const std::vector<int64_t>& v) { return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v); }
mil::Tensor si32(int64_t v) { return Tensor::scalar_i64(DType::kInt32, v); }
mil::Tensor sf(DType dt, double v) { return Tensor::scalar_f64(dt, v); }
mil::Tensor sbool(bool v) { return Tensor::scalar_bool(v); }
mil::Tensor sstr(const std::string& s) { return Tensor::scalar_string(s); }
int normalize_axis(int64_t axis, int rank) { return static_cast<int>(axis < 0 ? axis + rank : axis); }

Result<DType> mil_dtype_for(int onnx_dtype) {
  switch (onnx_dtype) {
    case TensorProto::FLOAT: return DType::kFp32;
    case TensorProto::FLOAT16: return DType::kFp16;
    case TensorProto::BOOL: return DType::kBool;
    case TensorProto::INT8: case TensorProto::UINT8: case TensorProto::INT16: case TensorProto::UINT16:
    case TensorProto::INT32: case TensorProto::INT64: case TensorProto::UINT32: case TensorProto::UINT64:
      // MIL computes on int32; wider values are narrowed (saturating) where they enter the program.
      return DType::kInt32;
    case TensorProto::DOUBLE:
      // Conversion choice (as coremltools does): MIL / Core ML has no fp64 tensor type, so fp64 values
      // are carried as fp32. ImportResult::fp64_narrowed records that a model needed it.
      return DType::kFp32;
    case TensorProto::STRING:
      return unsupported("string tensors: MIL string values are scalar attributes only");
    case TensorProto::BFLOAT16:
      return unsupported("bfloat16 tensors are not converted (MIL bf16 is storage-only here)");
    default:
      return unsupported("element type " + formats::onnx::onnx_dtype_name(onnx_dtype));
  }
}

Result<Tensor> narrow_for_mil(const Tensor& t) {
  switch (t.dtype()) {
    case DType::kFp32: case DType::kFp16: case DType::kBool: case DType::kInt32: return t;
    case DType::kInt8: case DType::kUint8: case DType::kInt16: case DType::kUint16: case DType::kUint32:
    case DType::kInt64: case DType::kUint64:
      return t.cast_to(DType::kInt32);  // saturating: INT64_MAX (Slice's "to the end") -> INT32_MAX
    case DType::kFp64: return t.cast_to(DType::kFp32);  // fp64 -> fp32: see mil_dtype_for
    default: return unsupported(std::string("tensor of dtype ") + std::string(mil::dtype_name(t.dtype())));
  }
}

// ---- LowerContext ----------------------------------------------------------------------------------

Result<std::string> LowerContext::in(int i) {
  if (!has_input(i)) return invalid_argument("input #" + std::to_string(i) + " is missing");
  auto it = values_.find(node.input(i));
  if (it == values_.end()) return internal_error("value '" + node.input(i) + "' not converted yet");
  if (it->second.mil.empty()) {
    if (!it->second.konst) return internal_error("value '" + node.input(i) + "' has no MIL name");
    it->second.mil = b.constant(*it->second.konst);
  }
  return it->second.mil;
}

std::optional<Tensor> LowerContext::const_in(int i) const {
  if (!has_input(i)) return std::nullopt;
  auto it = values_.find(node.input(i));
  if (it == values_.end()) return std::nullopt;
  return it->second.konst;
}

Result<Tensor> LowerContext::need_const(int i, const std::string& what) {
  if (auto c = const_in(i)) return *c;
  if (!has_input(i)) return invalid_argument(what + " is missing");
  if (graph_inputs_.count(node.input(i))) {
    if (std::find(needs_constant_.begin(), needs_constant_.end(), node.input(i)) == needs_constant_.end())
      needs_constant_.push_back(node.input(i));
    return unsupported(what + " ('" + node.input(i) + "') must be a constant; it is a graph input");
  }
  return unsupported(what + " ('" + node.input(i) + "') must be a constant; it is computed at run time");
}

Result<mil::Type> LowerContext::type_in(int i) {
  IM_ASSIGN_OR_RETURN(auto n, in(i));
  const mil::Type* t = type(n);
  if (!t) return internal_error("no type for '" + n + "'");
  return *t;
}

void LowerContext::set_out(int i, const std::string& mil_name) {
  if (has_output(i)) values_[node.output(i)] = OnnxValue{mil_name, std::nullopt};
}
void LowerContext::set_out_const(int i, const Tensor& t, int onnx_dtype) {
  if (has_output(i)) values_[node.output(i)] = OnnxValue{"", t, onnx_dtype};
}
int LowerContext::onnx_dtype_in(int i) const {
  if (!has_input(i)) return 0;
  auto it = values_.find(node.input(i));
  return it == values_.end() ? 0 : it->second.onnx_dtype;
}

const ::onnx::AttributeProto* LowerContext::attr(const std::string& n) const {
  for (const auto& a : node.attribute())
    if (a.name() == n) return &a;
  return nullptr;
}
bool LowerContext::has_attr(const std::string& n) const { return attr(n) != nullptr; }
int64_t LowerContext::ai(const std::string& n, int64_t def) const { auto* a = attr(n); return a ? a->i() : def; }
float LowerContext::af(const std::string& n, float def) const { auto* a = attr(n); return a ? a->f() : def; }
std::string LowerContext::as(const std::string& n, const std::string& def) const { auto* a = attr(n); return a ? a->s() : def; }
std::vector<int64_t> LowerContext::aints(const std::string& n) const {
  auto* a = attr(n);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
}
std::vector<float> LowerContext::afloats(const std::string& n) const {
  auto* a = attr(n);
  return a ? std::vector<float>(a->floats().begin(), a->floats().end()) : std::vector<float>{};
}

std::string LowerContext::materialize(OnnxValue& v) {
  if (v.mil.empty() && v.konst) v.mil = b.constant(*v.konst);
  return v.mil;
}

Result<std::vector<std::string>> LowerContext::inline_graph(const ::onnx::GraphProto& g, const std::vector<std::string>& inputs) {
  if (static_cast<size_t>(g.input_size()) != inputs.size())
    return invalid_argument("subgraph '" + g.name() + "' takes " + std::to_string(g.input_size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  for (int i = 0; i < g.input_size(); ++i) values_[g.input(i).name()] = OnnxValue{inputs[i], std::nullopt, 0};
  for (const auto& t : g.initializer()) {
    IM_ASSIGN_OR_RETURN(auto raw, formats::onnx::tensor_from_proto(t, ""));
    IM_ASSIGN_OR_RETURN(auto narrowed, narrow_for_mil(raw));
    values_[t.name()] = OnnxValue{"", narrowed, t.data_type()};
  }
  for (const auto& n : g.node()) {
    const std::string who = "subgraph '" + g.name() + "' node '" + n.name() + "' (" + n.op_type() + ")";
    std::string why = check_node(n, opset);
    if (!why.empty()) return unsupported(who + ": " + why);
    for (const auto& in : n.input())
      if (!in.empty() && !values_.count(in)) return invalid_argument(who + ": input '" + in + "' is not defined before use");
    LowerContext sub(b, values_, graph_inputs_, needs_constant_, n, opset);
    Status st = lowering_table().at(n.op_type()).lower(sub);
    if (st.ok() && !b.status().ok()) st = b.status();
    if (!st.ok()) return st.with_context(who);
    for (int i = 0; i < n.output_size(); ++i)
      if (!n.output(i).empty() && !values_.count(n.output(i)))
        return unsupported(who + ": output #" + std::to_string(i) + " is not produced by the conversion");
  }
  std::vector<std::string> outs;
  for (const auto& o : g.output()) {
    auto it = values_.find(o.name());
    if (it == values_.end()) return invalid_argument("subgraph '" + g.name() + "' output '" + o.name() + "' is never produced");
    outs.push_back(materialize(it->second));
  }
  return outs;
}

// ---- capability --------------------------------------------------------------------------------------

std::vector<std::string> converted_onnx_ops() {
  std::vector<std::string> v;
  for (const auto& [k, _] : lowering_table()) v.push_back(k);
  return v;
}

std::string check_node(const ::onnx::NodeProto& node, int opset) {
  // ai.onnx.preview.training: only the optimizer updates, which are plain elementwise formulas.
  const bool training_update = node.domain() == "ai.onnx.preview.training" &&
                               (node.op_type() == "Adagrad" || node.op_type() == "Adam" || node.op_type() == "Momentum");
  if (!node.domain().empty() && node.domain() != "ai.onnx" && !training_update)
    return "domain '" + node.domain() + "' is not converted (only the default ai.onnx domain and the "
           "ai.onnx.preview.training optimizer updates)";
  for (const auto& u : unsupported_onnx_ops())
    if (node.op_type() == u.op_type) return u.reason;
  const auto& table = lowering_table();
  auto it = table.find(node.op_type());
  if (it == table.end()) return "no lowering for ONNX op " + node.op_type();
  if (it->second.check) return it->second.check(node, opset);
  return "";
}

// ---- import -------------------------------------------------------------------------------------------

namespace {

std::string sanitize(const std::string& n) {
  std::string s;
  for (char c : n) s += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) s = "v_" + s;
  return s;
}

Result<mil::Type> value_info_type(const ::onnx::ValueInfoProto& vi, int* onnx_dtype) {
  if (!vi.type().has_tensor_type()) return unsupported("'" + vi.name() + "' is not a tensor (sequence/map/optional)");
  const auto& tt = vi.type().tensor_type();
  *onnx_dtype = tt.elem_type();
  IM_ASSIGN_OR_RETURN(DType dt, mil_dtype_for(tt.elem_type()));
  if (!tt.has_shape()) return mil::Type::unknown_rank(dt);
  mil::Shape dims;
  for (const auto& d : tt.shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : mil::kUnknownDim);
  return mil::Type::tensor(dt, dims);
}

bool is_fp64_attr(const ::onnx::AttributeProto& a) {
  if ((a.name() == "to" || a.name() == "dtype" || a.name() == "output_datatype") && a.i() == TensorProto::DOUBLE) return true;
  return a.has_t() && a.t().data_type() == TensorProto::DOUBLE;
}

bool value_is_fp64(const ::onnx::ValueInfoProto& vi) {
  return vi.type().has_tensor_type() && vi.type().tensor_type().elem_type() == TensorProto::DOUBLE;
}

// True when any value of the graph is fp64 (inputs, outputs, initializers, constants, cast targets).
bool graph_uses_fp64(const ::onnx::GraphProto& g) {
  for (const auto& vi : g.input()) if (value_is_fp64(vi)) return true;
  for (const auto& vi : g.output()) if (value_is_fp64(vi)) return true;
  for (const auto& vi : g.value_info()) if (value_is_fp64(vi)) return true;
  for (const auto& t : g.initializer()) if (t.data_type() == TensorProto::DOUBLE) return true;
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (is_fp64_attr(a)) return true;
      if (a.has_g() && graph_uses_fp64(a.g())) return true;
    }
  return false;
}

}  // namespace

Result<ImportResult> import_model(const formats::onnx::OnnxModel& model, const ImportOptions& options,
                                  ImportError* error_detail) {
  ImportError local;
  ImportError& err = error_detail ? *error_detail : local;
  auto fail = [&](Status s) -> Status {
    err.status = s;
    return s;
  };
  const auto& g = model.graph();
  IM_ASSIGN_OR_RETURN(auto order, formats::onnx::topological_order(g));

  // Capability first: refuse the whole model before building anything, naming the first bad node.
  for (const auto* n : order) {
    std::string why = check_node(*n, model.opset);
    if (!why.empty())
      return fail(unsupported("node '" + n->name() + "' (" + n->op_type() + "): " + why));
  }

  ImportResult result;
  result.fp64_narrowed = graph_uses_fp64(g);
  mil::Builder b(result.program, "main", options.opset);
  std::map<std::string, OnnxValue> values;
  std::set<std::string> graph_inputs;
  std::set<std::string> initializer_names;
  for (const auto& t : g.initializer()) initializer_names.insert(t.name());

  for (const auto& t : g.initializer()) {
    auto raw = formats::onnx::tensor_from_proto(t, model.base_dir);
    if (!raw.ok()) return fail(raw.status().with_context("initializer '" + t.name() + "'"));
    auto narrowed = narrow_for_mil(*raw);
    if (!narrowed.ok()) return fail(narrowed.status().with_context("initializer '" + t.name() + "'"));
    values[t.name()] = OnnxValue{"", *narrowed, t.data_type()};
  }
  for (const auto& vi : g.input()) {
    if (initializer_names.count(vi.name())) continue;  // IR < 4: initializers are listed as inputs too
    auto fz = options.frozen_inputs.find(vi.name());
    if (fz != options.frozen_inputs.end()) {
      auto narrowed = narrow_for_mil(fz->second);
      if (!narrowed.ok()) return fail(narrowed.status().with_context("input '" + vi.name() + "'"));
      values[vi.name()] = OnnxValue{"", *narrowed, vi.type().tensor_type().elem_type()};
      continue;
    }
    IoInfo io;
    io.onnx_name = vi.name();
    auto t = value_info_type(vi, &io.onnx_dtype);
    if (!t.ok()) return fail(t.status().with_context("graph input '" + vi.name() + "'"));
    io.type = *t;
    io.mil_name = b.input(sanitize(vi.name()), io.type);
    values[vi.name()] = OnnxValue{io.mil_name, std::nullopt, io.onnx_dtype};
    graph_inputs.insert(vi.name());
    result.inputs.push_back(io);
  }

  for (const auto* n : order) {
    LowerContext ctx(b, values, graph_inputs, err.needs_constant, *n, model.opset);
    const std::string who = "node '" + n->name() + "' (" + n->op_type() + ")";
    Status s = lowering_table().at(n->op_type()).lower(ctx);
    if (s.ok() && !b.status().ok()) s = b.status();
    if (!s.ok()) return fail(s.with_context(who));
    for (int i = 0; i < n->output_size(); ++i)
      if (!n->output(i).empty() && !values.count(n->output(i)))
        return fail(unsupported(who + ": output #" + std::to_string(i) + " ('" + n->output(i) + "') is not produced by the conversion"));
  }

  for (const auto& vi : g.output()) {
    IoInfo io;
    io.onnx_name = vi.name();
    io.onnx_dtype = vi.type().has_tensor_type() ? vi.type().tensor_type().elem_type() : 0;
    auto it = values.find(vi.name());
    if (it == values.end()) return fail(invalid_argument("graph output '" + vi.name() + "' is never produced"));
    if (io.onnx_dtype) {
      auto dt = mil_dtype_for(io.onnx_dtype);
      if (!dt.ok()) return fail(dt.status().with_context("graph output '" + vi.name() + "'"));
    }
    std::string name = it->second.mil;
    if (name.empty()) name = b.constant(*it->second.konst);
    // An output must be an op result distinct from inputs and other outputs: route through identity.
    bool dup = graph_inputs.count(vi.name()) > 0;
    for (const auto& o : result.outputs) dup = dup || o.mil_name == name;
    if (dup || it->second.mil.empty()) name = b.op("identity", {{"x", name}});
    if (!b.status().ok()) return fail(b.status().with_context("graph output '" + vi.name() + "'"));
    io.mil_name = name;
    io.type = *b.type_of(name);
    b.output(name);
    result.outputs.push_back(io);
  }
  if (auto s = b.finish(); !s.ok()) return fail(s.with_context("verifying the converted program"));
  return result;
}

}  // namespace ironmill::frontends::onnx
