#include "mil/op_registry.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace ironmill::mil {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Splits on commas that are not nested inside brackets, braces or quotes.
std::vector<std::string> split_top(const std::string& s, char sep) {
  std::vector<std::string> out;
  int depth = 0;
  bool quoted = false;
  std::string cur;
  for (char c : s) {
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == '[' || c == '{' || c == '(')) ++depth;
    if (!quoted && (c == ']' || c == '}' || c == ')')) --depth;
    if (c == sep && depth == 0 && !quoted) {
      out.push_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!trim(cur).empty()) out.push_back(trim(cur));
  return out;
}

std::optional<DType> short_dtype(const std::string& s) {
  static const std::map<std::string, DType> kMap = {
      {"f16", DType::kFp16}, {"f32", DType::kFp32}, {"f64", DType::kFp64}, {"bf16", DType::kBf16},
      {"i4", DType::kInt4}, {"i8", DType::kInt8}, {"i16", DType::kInt16}, {"i32", DType::kInt32},
      {"i64", DType::kInt64}, {"u1", DType::kUint1}, {"u2", DType::kUint2}, {"u3", DType::kUint3},
      {"u4", DType::kUint4}, {"u6", DType::kUint6}, {"u8", DType::kUint8}, {"u16", DType::kUint16},
      {"u32", DType::kUint32}, {"u64", DType::kUint64}, {"bool", DType::kBool}, {"str", DType::kString}};
  auto it = kMap.find(s);
  if (it != kMap.end()) return it->second;
  return dtype_from_name(s);
}

}  // namespace

Result<OpVariant> parse_signature(int since, const std::string& signature, const std::string& domains) {
  OpVariant v;
  v.since = since;
  for (const std::string& d : split_top(domains, ';')) {
    auto eq = d.find('=');
    if (eq == std::string::npos || d.size() < eq + 3 || d[eq + 1] != '{' || d.back() != '}')
      return internal_error("bad type domain '" + d + "'");
    std::vector<DType> members;
    for (const std::string& m : split_top(d.substr(eq + 2, d.size() - eq - 3), ',')) {
      auto dt = short_dtype(m);
      if (!dt) return internal_error("unknown dtype '" + m + "' in domain '" + d + "'");
      members.push_back(*dt);
    }
    v.domains[trim(d.substr(0, eq))] = members;
  }
  for (const std::string& item : split_top(signature, ',')) {
    InputSpec in;
    auto colon = item.find(':');
    if (colon == std::string::npos) return internal_error("input without type: '" + item + "'");
    in.name = trim(item.substr(0, colon));
    std::string rest = trim(item.substr(colon + 1));
    // Default first: everything after " =" (may contain spaces inside quotes).
    auto eqpos = rest.find(" =");
    if (eqpos == std::string::npos && rest.find('=') == 0) eqpos = 0;
    if (eqpos != std::string::npos) {
      in.default_spec = trim(rest.substr(eqpos + 2));
      in.optional = true;
      rest = trim(rest.substr(0, eqpos));
    }
    std::istringstream ss(rest);
    std::string tyname, flag;
    ss >> tyname;
    while (ss >> flag) {
      if (flag == "c") in.must_be_const = true;
      else if (flag == "?") in.optional = true;
      else return internal_error("unknown flag '" + flag + "' in '" + item + "'");
    }
    if (tyname == "tuple") in.kind = InputKind::kTuple;
    else if (tyname == "list") in.kind = InputKind::kList;
    else if (tyname == "state") in.kind = InputKind::kState;
    else if (tyname == "any") in.kind = InputKind::kAny;
    else if (auto dt = short_dtype(tyname)) in.allowed = {*dt};
    else if (v.domains.count(tyname)) { in.domain = tyname; in.allowed = v.domains[tyname]; }
    else return internal_error("unknown type '" + tyname + "' in '" + item + "'");
    v.inputs.push_back(std::move(in));
  }
  return v;
}

const InputSpec* OpVariant::input(const std::string& name) const {
  for (const auto& i : inputs)
    if (i.name == name) return &i;
  return nullptr;
}

const OpVariant* OpSchema::variant_for(int opset) const {
  const OpVariant* best = nullptr;
  for (const auto& v : variants)
    if (v.since <= opset) best = &v;
  return best;
}

OpRegistry::OpRegistry() {
  int count = 0;
  auto add = [&](const char* name, const char* family, int since, const char* sig, const char* dom) {
    OpSchema s;
    s.name = name;
    s.family = family;
    s.since = since;
    auto v = parse_signature(since, sig, dom);
    if (!v.ok()) {
      // The table is compiled in; a bad row is a programming error caught by the registry test.
      s.family = "BROKEN: " + v.status().message();
    } else {
      s.variants.push_back(std::move(*v));
    }
    if (s.name.rfind("constexpr_", 0) == 0) s.params_in_attributes_before_ios18 = true;
    schemas_[name] = std::move(s);
    ++count;
  };
  auto add_variant = [&](const char* name, int since, const char* sig, const char* dom) {
    auto v = parse_signature(since, sig, dom);
    auto& s = schemas_[name];
    if (!v.ok()) s.family = "BROKEN: " + v.status().message();
    else s.variants.push_back(std::move(*v));
  };
#define IM_OP(name, family, since, sig, dom) add(#name, #family, since, sig, dom);
#define IM_VARIANT(name, since, sig, dom) add_variant(#name, since, sig, dom);
#include "mil/ops/op_list.def"
#undef IM_OP
#undef IM_VARIANT
  (void)count;
#define IM_X(f) register_##f##_ops(*this);
  IM_OP_FAMILIES(IM_X)
#undef IM_X
  for (auto& [n, s] : schemas_) ordered_.push_back(&s);
}

// 167 ops of coremltools' iOS15-iOS18 registry + write_state (proto-only).
static constexpr int kExpectedOpCount = 168;
static_assert(kExpectedOpCount == 0
#define IM_OP(name, family, since, sig, dom) +1
#define IM_VARIANT(name, since, sig, dom)
#include "mil/ops/op_list.def"
#undef IM_OP
#undef IM_VARIANT
              , "op_list.def changed: update kExpectedOpCount, kernels and op-eval cases");

const OpRegistry& OpRegistry::get() {
  static const OpRegistry r;
  return r;
}
const OpSchema* OpRegistry::find(const std::string& name) const {
  auto it = schemas_.find(name);
  return it == schemas_.end() ? nullptr : &it->second;
}
OpSchema* OpRegistry::mutable_schema(const std::string& name) {
  auto it = schemas_.find(name);
  return it == schemas_.end() ? nullptr : &it->second;
}
std::vector<std::string> OpRegistry::families() const {
  std::vector<std::string> f;
  for (const auto* s : ordered_)
    if (std::find(f.begin(), f.end(), s->family) == f.end()) f.push_back(s->family);
  return f;
}

// ---- InferContext ----------------------------------------------------------------------------------

InferContext::InferContext(const Operation& op, const OpSchema& schema, const OpVariant& variant, int opset,
                           TypeLookup types, ConstLookup consts)
    : op_(op), schema_(schema), variant_(variant), opset_(opset), types_(std::move(types)), consts_(std::move(consts)) {}

namespace {
// Constexpr params of iOS16/17 live in attributes; treat them as inline inputs.
const Value* attribute_input(const Operation& op, const std::string& name) {
  if (name == "name") return nullptr;
  auto it = op.attributes.find(name);
  return it == op.attributes.end() ? nullptr : &it->second;
}
}  // namespace

bool InferContext::has(const std::string& input) const {
  return op_.inputs.count(input) > 0 || attribute_input(op_, input) != nullptr;
}

const Type* InferContext::type(const std::string& input) const {
  if (const Argument* a = op_.input(input)) {
    if (a->bindings.empty()) return nullptr;
    const Binding& b = a->bindings[0];
    if (b.is_ref()) return types_(b.name);
    return &b.value->type;
  }
  if (const Value* v = attribute_input(op_, input)) return &v->type;
  if (const Value* d = const_value(input)) return &d->type;
  return nullptr;
}

std::vector<const Type*> InferContext::tuple_types(const std::string& input) const {
  std::vector<const Type*> out;
  if (const Argument* a = op_.input(input)) {
    for (const auto& b : a->bindings) out.push_back(b.is_ref() ? types_(b.name) : &b.value->type);
  }
  return out;
}

std::vector<const Value*> InferContext::tuple_consts(const std::string& input) const {
  std::vector<const Value*> out;
  if (const Argument* a = op_.input(input)) {
    for (const auto& b : a->bindings) out.push_back(b.is_ref() ? consts_(b.name) : &*b.value);
  }
  return out;
}

const Value* InferContext::const_value(const std::string& input) const {
  if (const Argument* a = op_.input(input)) {
    if (a->bindings.size() != 1) return nullptr;
    const Binding& b = a->bindings[0];
    return b.is_ref() ? consts_(b.name) : &*b.value;
  }
  if (const Value* v = attribute_input(op_, input)) return v;
  auto it = defaults_.find(input);
  if (it != defaults_.end()) return &it->second;
  const InputSpec* spec = variant_.input(input);
  if (!spec) return nullptr;
  auto d = resolve_default(*spec, *this);
  if (!d.ok() || !d->has_value()) return nullptr;
  return &(defaults_[input] = std::move(**d));
}

const Tensor* InferContext::const_tensor(const std::string& input) const {
  const Value* v = const_value(input);
  return (v && v->is_tensor()) ? &v->tensor() : nullptr;
}

Result<int64_t> InferContext::const_int(const std::string& input) const {
  const Tensor* t = const_tensor(input);
  if (!t) return error(input, "must be a compile-time constant");
  if (t->numel() != 1) return error(input, "scalar expected, got shape " + shape_to_string(t->shape()));
  return t->get_i64(0);
}
Result<std::vector<int64_t>> InferContext::const_ints(const std::string& input) const {
  const Tensor* t = const_tensor(input);
  if (!t) return error(input, "must be a compile-time constant");
  return t->to_i64();
}
Result<double> InferContext::const_float(const std::string& input) const {
  const Tensor* t = const_tensor(input);
  if (!t) return error(input, "must be a compile-time constant");
  if (t->numel() != 1) return error(input, "scalar expected, got shape " + shape_to_string(t->shape()));
  return t->get_f64(0);
}
Result<bool> InferContext::const_bool(const std::string& input) const {
  IM_ASSIGN_OR_RETURN(int64_t v, const_int(input));
  return v != 0;
}
Result<std::string> InferContext::const_string(const std::string& input) const {
  const Tensor* t = const_tensor(input);
  if (!t || t->dtype() != DType::kString || t->numel() != 1) return error(input, "constant string expected");
  return t->get_string(0);
}

Result<Type> InferContext::tensor_type(const std::string& input) const {
  const Type* t = type(input);
  if (!t) return error(input, "missing");
  if (!t->is_tensor()) return error(input, "tensor expected, got " + type_to_string(*t));
  return *t;
}

Status InferContext::error(const std::string& input, const std::string& msg) const {
  return invalid_argument("`" + schema_.name + "` (" + op_.name() + ") input `" + input + "`: " + msg);
}
Status InferContext::op_error(const std::string& msg) const {
  return invalid_argument("`" + schema_.name + "` (" + op_.name() + "): " + msg);
}

// ---- defaults --------------------------------------------------------------------------------------

Result<std::optional<Value>> resolve_default(const InputSpec& spec, const InferContext& ctx) {
  if (!spec.default_spec) return std::optional<Value>();
  std::string d = *spec.default_spec;
  auto x_type = [&]() -> const Type* {
    for (const char* n : {"x", "input", "data", "probabilities", "boxes", "indices", "ref_tensor", "shape"}) {
      if (!ctx.has(n)) continue;
      const Type* t = ctx.type(n);
      if (t && t->is_tensor()) return t;
    }
    return nullptr;
  };
  // Dtype of the default: fixed dtype, else the dtype bound to the same domain letter, else x's dtype.
  auto value_dtype = [&]() -> DType {
    if (spec.domain.empty() && spec.allowed.size() == 1) return spec.allowed[0];
    for (const auto& other : ctx.variant().inputs) {
      if (other.name == spec.name || other.domain != spec.domain || !ctx.has(other.name)) continue;
      const Type* t = ctx.type(other.name);
      if (t && t->is_tensor()) return t->dtype;
    }
    if (const Type* x = x_type()) {
      if (std::find(spec.allowed.begin(), spec.allowed.end(), x->dtype) != spec.allowed.end()) return x->dtype;
    }
    return spec.allowed.empty() ? DType::kFp32 : spec.allowed[0];
  };
  auto ints = [](std::vector<int64_t> v) {
    return Value::of(Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v));
  };
  if (d == "1s" || d == "0s") {
    const Type* x = x_type();
    if (!x || !x->rank_known) return ctx.error(spec.name, "default needs the rank of x");
    int64_t spatial = std::max<int64_t>(0, x->rank() - 2);
    int64_t n = spec.name == "pad" ? 2 * spatial : spatial;
    return std::optional<Value>(ints(std::vector<int64_t>(static_cast<size_t>(n), d == "1s" ? 1 : 0)));
  }
  if (d == "[0..rank-1]") {
    const Type* x = x_type();
    if (!x || !x->rank_known) return ctx.error(spec.name, "default needs the rank of x");
    std::vector<int64_t> v(static_cast<size_t>(x->rank()));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<int64_t>(i);
    return std::optional<Value>(ints(v));
  }
  if (d == "zeros[Dout]") {
    const Type* w = ctx.type("weight");
    if (!w || !w->rank_known || w->dims.empty() || w->dims[0] < 0) return ctx.error(spec.name, "default needs weight's shape");
    return std::optional<Value>(Value::of(Tensor(w->dtype, {w->dims[0]})));
  }
  if (d == "T" || d == "F") return std::optional<Value>(Value::of(Tensor::scalar_bool(d == "T")));
  if (d.size() >= 2 && d.front() == '"' && d.back() == '"')
    return std::optional<Value>(Value::of(Tensor::scalar_string(d.substr(1, d.size() - 2))));
  DType dt = value_dtype();
  auto paren = d.find("(x.dtype)");
  if (paren != std::string::npos) {
    d = d.substr(0, paren);
    if (const Type* x = x_type()) dt = x->dtype;
  }
  char* end = nullptr;
  double num = std::strtod(d.c_str(), &end);
  if (end == d.c_str() || *end != '\0') return internal_error("unparsable default '" + d + "' for " + spec.name);
  if (dt == DType::kString) return internal_error("numeric default for string input " + spec.name);
  return std::optional<Value>(Value::of(Tensor::scalar_f64(dt, num)));
}

// ---- shared inference helpers ------------------------------------------------------------------------

namespace infer {
Result<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == 1) out[i] = db;
    else if (db == 1) out[i] = da;
    else if (da < 0 || db < 0) out[i] = da < 0 ? db : da;
    else if (da == db) out[i] = da;
    else return invalid_argument("shapes " + shape_to_string(a) + " and " + shape_to_string(b) + " do not broadcast");
  }
  return out;
}
Result<int64_t> normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return invalid_argument("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}
InferFn same_as(const std::string& input) {
  return [input](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(input));
    return std::vector<Type>{t};
  };
}
}  // namespace infer

}  // namespace ironmill::mil
