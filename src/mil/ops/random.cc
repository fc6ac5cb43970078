// Type inference and verification for the random ops (see ops/op_list.def for their signatures).
// random_bernoulli/normal/uniform: output shape = the value of `shape` (unknown dims when it is computed),
// dtype = that of the distribution parameters (prob / mean+stddev / low+high), fp32 when none is given
// (coremltools' Python-float defaults). random_categorical: x.shape[:-1] + [size], x's dtype.
#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

Result<Type> shape_output(InferContext& c, DType dt) {
  IM_ASSIGN_OR_RETURN(Type st, c.tensor_type("shape"));
  if (st.rank_known && st.rank() != 1) return c.error("shape", "rank 1 expected, got " + type_to_string(st));
  if (const Tensor* t = c.const_tensor("shape")) {
    Shape dims;
    for (int64_t i = 0; i < t->numel(); ++i) {
      int64_t d = t->get_i64(i);
      if (d < 0) return c.error("shape", "dims must be >= 0, got " + std::to_string(d));
      dims.push_back(d);
    }
    return Type::tensor(dt, dims);
  }
  if (st.rank_known && st.dims[0] >= 0) return Type::tensor(dt, Shape(static_cast<size_t>(st.dims[0]), kUnknownDim));
  return Type::unknown_rank(dt);
}

// dtype shared by the distribution parameters `a` and `b` (either may be omitted).
Result<DType> param_dtype(InferContext& c, const std::string& a, const std::string& b) {
  const bool ha = c.has(a), hb = c.has(b);
  if (ha && hb) {
    IM_ASSIGN_OR_RETURN(Type ta, c.tensor_type(a));
    IM_ASSIGN_OR_RETURN(Type tb, c.tensor_type(b));
    if (ta.dtype != tb.dtype)
      return c.error(b, "dtype " + std::string(dtype_name(tb.dtype)) + " differs from `" + a + "` (" +
                            std::string(dtype_name(ta.dtype)) + ")");
    return ta.dtype;
  }
  if (ha || hb) {
    IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(ha ? a : b));
    return t.dtype;
  }
  return DType::kFp32;
}

// Checks the constant `seed`; the output has dtype `dt` and the shape given by `shape`.
Result<std::vector<Type>> seeded_output(InferContext& c, DType dt) {
  IM_RETURN_IF_ERROR(c.const_int("seed").status());
  IM_ASSIGN_OR_RETURN(Type out, shape_output(c, dt));
  return std::vector<Type>{out};
}

Result<std::vector<Type>> infer_bernoulli(InferContext& c) {
  DType dt = DType::kFp32;
  if (c.has("prob")) {
    IM_ASSIGN_OR_RETURN(Type p, c.tensor_type("prob"));
    dt = p.dtype;
  }
  IM_ASSIGN_OR_RETURN(double p, c.const_float("prob"));
  if (!(p >= 0 && p <= 1)) return c.error("prob", "must be in [0, 1], got " + std::to_string(p));
  return seeded_output(c, dt);
}

Result<std::vector<Type>> infer_normal(InferContext& c) {
  IM_ASSIGN_OR_RETURN(DType dt, param_dtype(c, "mean", "stddev"));
  IM_ASSIGN_OR_RETURN(double sd, c.const_float("stddev"));
  if (!(sd >= 0)) return c.error("stddev", "must be >= 0, got " + std::to_string(sd));
  IM_RETURN_IF_ERROR(c.const_float("mean").status());
  return seeded_output(c, dt);
}

Result<std::vector<Type>> infer_uniform(InferContext& c) {
  IM_ASSIGN_OR_RETURN(DType dt, param_dtype(c, "low", "high"));
  IM_ASSIGN_OR_RETURN(double lo, c.const_float("low"));
  IM_ASSIGN_OR_RETURN(double hi, c.const_float("high"));
  if (hi < lo) return c.error("high", "must be >= low (" + std::to_string(lo) + "), got " + std::to_string(hi));
  return seeded_output(c, dt);
}

Result<std::vector<Type>> infer_categorical(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(std::string mode, c.const_string("mode"));
  if (mode != "logits" && mode != "probs") return c.error("mode", "must be \"logits\" or \"probs\", got \"" + mode + "\"");
  IM_ASSIGN_OR_RETURN(int64_t size, c.const_int("size"));
  if (size <= 0) return c.error("size", "must be > 0, got " + std::to_string(size));
  IM_RETURN_IF_ERROR(c.const_int("seed").status());
  if (!x.rank_known) return std::vector<Type>{Type::unknown_rank(x.dtype)};
  if (x.rank() < 1) return c.error("x", "rank >= 1 expected (the last axis holds the classes), got " + type_to_string(x));
  x.dims.back() = size;
  return std::vector<Type>{x};
}

}  // namespace

void register_random_ops(OpRegistry& r) {
  r.mutable_schema("random_bernoulli")->infer = infer_bernoulli;
  r.mutable_schema("random_normal")->infer = infer_normal;
  r.mutable_schema("random_uniform")->infer = infer_uniform;
  r.mutable_schema("random_categorical")->infer = infer_categorical;
}

}  // namespace ironmill::mil
