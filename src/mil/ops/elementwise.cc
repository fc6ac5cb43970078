// Type inference and verification for the elementwise ops (see ops/op_list.def for their signatures).
// Semantics follow coremltools (mil/ops/defs/iOS15/elementwise_{unary,binary}.py, iOS17/elementwise_unary.py);
// the dtype domains themselves are checked by the verifier from the signatures.
#include <string>
#include <vector>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

using Types = std::vector<Type>;

// numpy broadcasting of the named tensor inputs; the output has dtype `out`. Unknown rank anywhere
// gives an unknown-rank result.
Result<Type> broadcast_inputs(InferContext& c, const std::vector<std::string>& names, DType out) {
  Shape shape;
  bool first = true;
  std::string first_name;
  for (const auto& n : names) {
    IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(n));
    if (!t.rank_known) return Type::unknown_rank(out);
    if (first) {
      shape = t.dims;
      first = false;
      first_name = n;
      continue;
    }
    auto b = infer::broadcast_shapes(shape, t.dims);
    if (!b.ok())
      return c.error(n, "shape " + shape_to_string(t.dims) + " does not broadcast with " +
                            (names.size() > 2 ? "the other inputs' shape " : "`" + first_name + "` shape ") +
                            shape_to_string(shape) + " (numpy broadcasting)");
    shape = std::move(*b);
  }
  return Type::tensor(out, shape);
}

InferFn binary_same_dtype() {
  return [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    IM_ASSIGN_OR_RETURN(Type out, broadcast_inputs(c, {"x", "y"}, x.dtype));
    return Types{out};
  };
}

InferFn binary_bool_out() {
  return [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type out, broadcast_inputs(c, {"x", "y"}, DType::kBool));
    return Types{out};
  };
}

// A scalar parameter (alpha, beta, epsilon): rank 0, or a single element.
Status check_scalar_param(InferContext& c, const std::string& name) {
  const Type* t = c.type(name);
  if (!t || !t->is_tensor()) return Status::Ok();  // absent optional input: its default is a scalar
  if (!t->rank_known) return c.error(name, "must be a scalar, got unknown rank");
  for (int64_t d : t->dims)
    if (d != 1) return c.error(name, "must be a scalar, got shape " + shape_to_string(t->dims));
  return Status::Ok();
}

// Unary op whose output is x's type, after checking that the given parameters are scalars.
InferFn unary_with_scalars(std::vector<std::string> params) {
  return [params](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    for (const auto& p : params) IM_RETURN_IF_ERROR(check_scalar_param(c, p));
    return Types{x};
  };
}

}  // namespace

void register_elementwise_ops(OpRegistry& r) {
  // Unary ops: output type = x's type.
  for (const char* n : {"abs", "acos", "asin", "atan", "atanh", "ceil", "cos", "cosh", "erf", "exp", "exp2",
                        "floor", "logical_not", "round", "sign", "sin", "sinh", "sqrt", "square", "tan", "tanh"})
    r.mutable_schema(n)->infer = infer::same_as("x");
  // y = f(x + epsilon) with a scalar epsilon (iOS17: epsilon may have another float dtype).
  for (const char* n : {"inverse", "log", "rsqrt"}) r.mutable_schema(n)->infer = unary_with_scalars({"epsilon"});
  // threshold(x, alpha) = max(x, alpha).
  r.mutable_schema("threshold")->infer = unary_with_scalars({"alpha"});

  // clip(x, alpha, beta) = min(max(x, alpha), beta). The iOS17 re-registration validates strictly that
  // alpha < beta (coremltools iOS17/elementwise_unary.py); iOS15 accepts any order.
  r.mutable_schema("clip")->infer = [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    IM_RETURN_IF_ERROR(check_scalar_param(c, "alpha"));
    IM_RETURN_IF_ERROR(check_scalar_param(c, "beta"));
    if (c.opset() >= 17) {
      const Tensor* a = c.const_tensor("alpha");
      const Tensor* b = c.const_tensor("beta");
      if (a && b && a->numel() == 1 && b->numel() == 1 && !(a->get_f64(0) < b->get_f64(0)))
        return c.error("alpha", "must be smaller than `beta` from iOS17 on, got alpha " +
                                    std::to_string(a->get_f64(0)) + " and beta " + std::to_string(b->get_f64(0)));
    }
    return Types{x};
  };

  // Binary arithmetic: x, y share the dtype (checked by the verifier), shapes broadcast.
  for (const char* n : {"add", "sub", "mul", "real_div", "floor_div", "mod", "pow", "maximum", "minimum"})
    r.mutable_schema(n)->infer = binary_same_dtype();
  // Comparisons and logical ops return bool.
  for (const char* n : {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
                        "logical_or", "logical_xor"})
    r.mutable_schema(n)->infer = binary_bool_out();

  // select(cond, a, b): all three broadcast; the output has a's dtype.
  r.mutable_schema("select")->infer = [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type a, c.tensor_type("a"));
    IM_ASSIGN_OR_RETURN(Type out, broadcast_inputs(c, {"cond", "a", "b"}, a.dtype));
    return Types{out};
  };

  // cast(x, dtype): dtype string int32 / fp16 / fp32 / bool, plus int8 / uint8 / int16 / uint16 from iOS17.
  r.mutable_schema("cast")->infer = [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    IM_ASSIGN_OR_RETURN(std::string name, c.const_string("dtype"));
    static const std::vector<std::string> kIos15 = {"int32", "fp16", "fp32", "bool"};
    static const std::vector<std::string> kIos17 = {"int8", "uint8", "int16", "uint16"};
    bool ok = false;
    for (const auto& s : kIos15) ok = ok || s == name;
    bool ios17_only = false;
    for (const auto& s : kIos17) ios17_only = ios17_only || s == name;
    if (ios17_only && c.opset() < 17)
      return c.error("dtype", "\"" + name + "\" needs opset ios17 or later (function is ios" +
                                  std::to_string(c.opset()) + "); ios15/16 allow int32, fp16, fp32, bool");
    if (!ok && !ios17_only)
      return c.error("dtype", "unsupported cast target \"" + name + "\" (expected one of int32, fp16, fp32, bool" +
                                  std::string(c.opset() >= 17 ? ", int8, uint8, int16, uint16" : "") + ")");
    Type out = x;
    out.dtype = *dtype_from_name(name);
    return Types{out};
  };
}

}  // namespace ironmill::mil
