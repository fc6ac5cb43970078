// Type inference and verification for the reduction ops (see ops/op_list.def for their signatures).
//
// Semantics follow coremltools (iOS15 reduction.py / tensor_operation.py):
//  * reduce_<kind>(x, axes?, keep_dims=F): `axes` omitted = every dim; output dtype = x dtype
//    (int32 inputs give int32 outputs, i.e. numpy's result `.astype(int32)`: truncation toward zero).
//  * reduce_argmax/argmin(x, axis=-1, keep_dims=F) -> int32 (iOS17: output_dtype "int32" | "uint16").
//  * argsort(x, axis=-1, ascending=F) -> int32 indices, same shape as x.
//  * topk(x, k=1, axis=-1, ascending=F[, sort, return_indices, output_indices_dtype]) -> (values, indices);
//    iOS16+ return_indices=F returns values only; k=-1 selects the whole axis (documented for iOS17).
//  * cumsum(x, axis=0, exclusive=F, reverse=F) -> same type as x.
#include <algorithm>
#include <set>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

// Normalises `axis` against `rank`, with an error naming op and input.
Result<int64_t> norm_axis(const InferContext& c, const std::string& input, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return c.error(input, "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

Result<std::vector<Type>> infer_reduce_axes(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(bool keep, c.const_bool("keep_dims"));
  if (!x.rank_known) return std::vector<Type>{Type::unknown_rank(x.dtype)};
  const int64_t rank = x.rank();
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (c.has("axes")) {
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.const_ints("axes"));
    const Tensor* t = c.const_tensor("axes");
    if (t && t->rank() > 1) return c.error("axes", "1-D tensor expected, got rank " + std::to_string(t->rank()));
    for (int64_t a : axes) {
      IM_ASSIGN_OR_RETURN(int64_t n, norm_axis(c, "axes", a, rank));
      if (reduced[static_cast<size_t>(n)]) return c.error("axes", "axis " + std::to_string(a) + " repeated");
      reduced[static_cast<size_t>(n)] = true;
    }
  } else {
    std::fill(reduced.begin(), reduced.end(), true);
  }
  Shape out;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[static_cast<size_t>(i)]) out.push_back(x.dims[static_cast<size_t>(i)]);
    else if (keep) out.push_back(1);
  }
  return std::vector<Type>{Type::tensor(x.dtype, out)};
}

Result<DType> index_dtype(const InferContext& c, const std::string& input) {
  IM_ASSIGN_OR_RETURN(std::string s, c.const_string(input));
  if (s == "int32") return DType::kInt32;
  if (s == "uint16") return DType::kUint16;
  return c.error(input, "\"int32\" or \"uint16\" expected, got \"" + s + "\"");
}

Result<std::vector<Type>> infer_reduce_arg(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  IM_ASSIGN_OR_RETURN(bool keep, c.const_bool("keep_dims"));
  DType out_dt = DType::kInt32;
  if (c.variant().input("output_dtype")) {
    IM_ASSIGN_OR_RETURN(out_dt, index_dtype(c, "output_dtype"));
  }
  if (!x.rank_known) return std::vector<Type>{Type::unknown_rank(out_dt)};
  if (x.rank() < 1) return c.error("x", "rank >= 1 expected, got a scalar");
  IM_ASSIGN_OR_RETURN(int64_t a, norm_axis(c, "axis", axis, x.rank()));
  Shape out = x.dims;
  if (keep) out[static_cast<size_t>(a)] = 1;
  else out.erase(out.begin() + a);
  return std::vector<Type>{Type::tensor(out_dt, out)};
}

Result<std::vector<Type>> infer_argsort(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  if (!x.rank_known) return std::vector<Type>{Type::unknown_rank(DType::kInt32)};
  if (x.rank() < 1) return c.error("x", "rank >= 1 expected, got a scalar");
  IM_RETURN_IF_ERROR(norm_axis(c, "axis", axis, x.rank()).status());
  return std::vector<Type>{Type::tensor(DType::kInt32, x.dims)};
}

Result<std::vector<Type>> infer_topk(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t k, c.const_int("k"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  bool return_indices = true;
  if (c.variant().input("return_indices")) {
    IM_ASSIGN_OR_RETURN(return_indices, c.const_bool("return_indices"));
  }
  DType idx_dt = DType::kInt32;
  if (c.variant().input("output_indices_dtype")) {
    if (!return_indices && c.has("output_indices_dtype"))
      return c.error("output_indices_dtype", "can only be set when return_indices is true");
    if (return_indices) {
      IM_ASSIGN_OR_RETURN(idx_dt, index_dtype(c, "output_indices_dtype"));
    }
  }
  if (k == 0 || k < -1) return c.error("k", "k >= 1 (or -1 for the whole axis) expected, got " + std::to_string(k));
  std::vector<Type> out;
  if (!x.rank_known) {
    out.push_back(Type::unknown_rank(x.dtype));
    if (return_indices) out.push_back(Type::unknown_rank(idx_dt));
    return out;
  }
  if (x.rank() < 1) return c.error("x", "rank >= 1 expected, got a scalar");
  IM_ASSIGN_OR_RETURN(int64_t a, norm_axis(c, "axis", axis, x.rank()));
  Shape s = x.dims;
  const int64_t d = s[static_cast<size_t>(a)];
  if (k == -1) {
    // whole axis: keeps the axis size (unknown stays unknown)
  } else {
    if (d >= 0 && k > d)
      return c.error("k", "k = " + std::to_string(k) + " exceeds the size " + std::to_string(d) + " of axis " +
                              std::to_string(axis));
    s[static_cast<size_t>(a)] = k;
  }
  out.push_back(Type::tensor(x.dtype, s));
  if (return_indices) out.push_back(Type::tensor(idx_dt, s));
  return out;
}

Result<std::vector<Type>> infer_cumsum(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  IM_RETURN_IF_ERROR(c.const_bool("exclusive").status());
  IM_RETURN_IF_ERROR(c.const_bool("reverse").status());
  if (x.rank_known) {
    if (x.rank() < 1) return c.error("x", "rank >= 1 expected, got a scalar");
    IM_RETURN_IF_ERROR(norm_axis(c, "axis", axis, x.rank()).status());
  }
  return std::vector<Type>{x};
}

}  // namespace

void register_reduction_ops(OpRegistry& r) {
  for (const char* n : {"reduce_l1_norm", "reduce_l2_norm", "reduce_log_sum", "reduce_log_sum_exp", "reduce_max",
                        "reduce_mean", "reduce_min", "reduce_prod", "reduce_sum", "reduce_sum_square"})
    r.mutable_schema(n)->infer = infer_reduce_axes;
  r.mutable_schema("reduce_argmax")->infer = infer_reduce_arg;
  r.mutable_schema("reduce_argmin")->infer = infer_reduce_arg;
  r.mutable_schema("argsort")->infer = infer_argsort;
  r.mutable_schema("topk")->infer = infer_topk;
  r.mutable_schema("cumsum")->infer = infer_cumsum;
}

}  // namespace ironmill::mil
