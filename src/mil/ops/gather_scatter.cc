// Type inference and verification for the gather_scatter ops (see ops/op_list.def for their signatures).
// Semantics follow coremltools (mil/ops/defs/iOS15/scatter_gather.py, iOS16/scatter_gather.py,
// iOS17/scatter_gather.py). Index *values* are checked at compile time only when they are constants
// and iOS17 `validate_indices` is true; the reference kernels always check them at run time.
#include <string>
#include <vector>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

using Types = std::vector<Type>;
constexpr int64_t U = kUnknownDim;

bool dims_match(int64_t a, int64_t b) { return a < 0 || b < 0 || a == b; }

Result<int64_t> axis_of(InferContext& c, const std::string& name, int64_t rank) {
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int(name));
  auto a = infer::normalize_axis(axis, rank);
  if (!a.ok())
    return c.error(name, "axis " + std::to_string(axis) + " out of range [" + std::to_string(-rank) + ", " +
                             std::to_string(rank) + ")");
  return *a;
}

Status check_mode(InferContext& c) {
  IM_ASSIGN_OR_RETURN(std::string mode, c.const_string("mode"));
  for (const char* m : {"update", "add", "sub", "mul", "div", "max", "min"})
    if (mode == m) return Status::Ok();
  return c.error("mode", "must be one of update, add, sub, mul, div, max, min; got \"" + mode + "\"");
}

// iOS17 validate_indices=true with constant indices: every index must lie in [0, bound).
Status validate_const_indices(InferContext& c, const std::vector<int64_t>& bounds_per_last_dim, int64_t single_bound) {
  if (!c.variant().input("validate_indices")) return Status::Ok();
  auto v = c.const_bool("validate_indices");
  if (!v.ok() || !*v) return Status::Ok();
  const Tensor* idx = c.const_tensor("indices");
  if (!idx) return Status::Ok();
  const auto vals = idx->to_i64();
  for (size_t i = 0; i < vals.size(); ++i) {
    int64_t bound = single_bound;
    if (!bounds_per_last_dim.empty()) bound = bounds_per_last_dim[i % bounds_per_last_dim.size()];
    if (bound < 0) continue;
    if (vals[i] < 0 || vals[i] >= bound)
      return c.error("indices", "index " + std::to_string(vals[i]) + " out of bounds [0, " + std::to_string(bound) +
                                    ") with validate_indices=true");
  }
  return Status::Ok();
}

Result<int64_t> batch_dims_of(InferContext& c) {
  if (!c.variant().input("batch_dims")) return int64_t{0};
  IM_ASSIGN_OR_RETURN(int64_t b, c.const_int("batch_dims"));
  return b;
}

// ---- gathers -------------------------------------------------------------------------------------

Result<Types> infer_gather(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type idx, c.tensor_type("indices"));
  if (!x.rank_known || !idx.rank_known) return Types{Type::unknown_rank(x.dtype)};
  const int64_t r = x.rank();
  if (r == 0) return c.error("x", "must have rank >= 1, got a scalar");
  IM_ASSIGN_OR_RETURN(int64_t axis, axis_of(c, "axis", r));
  IM_ASSIGN_OR_RETURN(int64_t bd, batch_dims_of(c));
  if (bd < 0) bd += idx.rank();  // tf.gather: negative batch_dims count from the end of indices
  if (bd < 0 || bd > idx.rank())
    return c.error("batch_dims", "must be in [0, rank(indices) = " + std::to_string(idx.rank()) + "], got " + std::to_string(bd));
  if (bd >= r) return c.error("batch_dims", std::to_string(bd) + " must be less than rank(x) = " + std::to_string(r));
  if (bd > axis)
    return c.error("batch_dims", std::to_string(bd) + " must not exceed axis (" + std::to_string(axis) + ")");
  for (int64_t i = 0; i < bd; ++i)
    if (!dims_match(x.dims[static_cast<size_t>(i)], idx.dims[static_cast<size_t>(i)]))
      return c.error("indices", "batch dim " + std::to_string(i) + " of indices " + type_to_string(idx) +
                                    " must equal that of x " + type_to_string(x));
  IM_RETURN_IF_ERROR(validate_const_indices(c, {}, x.dims[static_cast<size_t>(axis)]));
  Shape out(x.dims.begin(), x.dims.begin() + axis);
  out.insert(out.end(), idx.dims.begin() + bd, idx.dims.end());
  out.insert(out.end(), x.dims.begin() + axis + 1, x.dims.end());
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_gather_along_axis(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type idx, c.tensor_type("indices"));
  if (!x.rank_known || !idx.rank_known) return Types{Type::tensor(x.dtype, idx.dims)};
  if (x.rank() != idx.rank())
    return c.error("indices", "rank " + std::to_string(idx.rank()) + " must equal the rank of x (" +
                                  std::to_string(x.rank()) + "), got " + type_to_string(idx));
  if (x.rank() == 0) return c.error("x", "must have rank >= 1, got a scalar");
  IM_ASSIGN_OR_RETURN(int64_t axis, axis_of(c, "axis", x.rank()));
  for (int64_t i = 0; i < x.rank(); ++i)
    if (i != axis && !dims_match(x.dims[static_cast<size_t>(i)], idx.dims[static_cast<size_t>(i)]))
      return c.error("indices", "shape " + shape_to_string(idx.dims) + " must equal x's " + shape_to_string(x.dims) +
                                    " except at axis " + std::to_string(axis));
  IM_RETURN_IF_ERROR(validate_const_indices(c, {}, x.dims[static_cast<size_t>(axis)]));
  return Types{Type::tensor(x.dtype, idx.dims)};
}

Result<Types> infer_gather_nd(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type idx, c.tensor_type("indices"));
  IM_ASSIGN_OR_RETURN(int64_t bd, batch_dims_of(c));
  if (!x.rank_known || !idx.rank_known) return Types{Type::unknown_rank(x.dtype)};
  if (idx.rank() < 1) return c.error("indices", "must have rank >= 1, got a scalar");
  const int64_t k = idx.dims.back();
  if (k < 0) return Types{Type::unknown_rank(x.dtype)};
  if (bd < 0 || bd >= idx.rank())
    return c.error("batch_dims", "must be in [0, rank(indices) - 1 = " + std::to_string(idx.rank() - 1) + "], got " +
                                     std::to_string(bd));
  if (k + bd > x.rank())
    return c.error("indices", "indices.shape[-1] (" + std::to_string(k) + ") + batch_dims (" + std::to_string(bd) +
                                  ") must not exceed rank(x) = " + std::to_string(x.rank()));
  for (int64_t i = 0; i < bd; ++i)
    if (!dims_match(x.dims[static_cast<size_t>(i)], idx.dims[static_cast<size_t>(i)]))
      return c.error("indices", "batch dim " + std::to_string(i) + " of indices " + type_to_string(idx) +
                                    " must equal that of x " + type_to_string(x));
  std::vector<int64_t> bounds(x.dims.begin() + bd, x.dims.begin() + bd + k);
  if (!bounds.empty()) IM_RETURN_IF_ERROR(validate_const_indices(c, bounds, U));
  Shape out(idx.dims.begin(), idx.dims.end() - 1);
  out.insert(out.end(), x.dims.begin() + bd + k, x.dims.end());
  return Types{Type::tensor(x.dtype, out)};
}

// ---- scatters ------------------------------------------------------------------------------------

Status updates_shape(InferContext& c, const Type& upd, const Shape& expected, const std::string& rule) {
  if (!upd.rank_known) return Status::Ok();
  bool ok = upd.dims.size() == expected.size();
  for (size_t i = 0; ok && i < expected.size(); ++i) ok = dims_match(upd.dims[i], expected[i]);
  if (!ok)
    return c.error("updates", "shape " + shape_to_string(upd.dims) + " must be " + shape_to_string(expected) + " (" + rule + ")");
  return Status::Ok();
}

// The inputs every scatter has; also checks `mode`.
Status read_scatter_inputs(InferContext& c, Type& data, Type& idx, Type& upd) {
  IM_ASSIGN_OR_RETURN(data, c.tensor_type("data"));
  IM_ASSIGN_OR_RETURN(idx, c.tensor_type("indices"));
  IM_ASSIGN_OR_RETURN(upd, c.tensor_type("updates"));
  return check_mode(c);
}

Result<Types> infer_scatter(InferContext& c) {
  Type data, idx, upd;
  IM_RETURN_IF_ERROR(read_scatter_inputs(c, data, idx, upd));
  if (!data.rank_known || !idx.rank_known) return Types{data};
  if (data.rank() == 0) return c.error("data", "must have rank >= 1, got a scalar");
  IM_ASSIGN_OR_RETURN(int64_t axis, axis_of(c, "axis", data.rank()));
  Shape expected(data.dims.begin(), data.dims.begin() + axis);
  expected.insert(expected.end(), idx.dims.begin(), idx.dims.end());
  expected.insert(expected.end(), data.dims.begin() + axis + 1, data.dims.end());
  IM_RETURN_IF_ERROR(updates_shape(c, upd, expected, "data.shape[:axis] + indices.shape + data.shape[axis+1:]"));
  IM_RETURN_IF_ERROR(validate_const_indices(c, {}, data.dims[static_cast<size_t>(axis)]));
  return Types{data};
}

Result<Types> infer_scatter_along_axis(InferContext& c) {
  Type data, idx, upd;
  IM_RETURN_IF_ERROR(read_scatter_inputs(c, data, idx, upd));
  if (!data.rank_known || !idx.rank_known) return Types{data};
  if (data.rank() == 0) return c.error("data", "must have rank >= 1, got a scalar");
  if (idx.rank() != data.rank())
    return c.error("indices", "rank " + std::to_string(idx.rank()) + " must equal the rank of data (" +
                                  std::to_string(data.rank()) + ")");
  IM_ASSIGN_OR_RETURN(int64_t axis, axis_of(c, "axis", data.rank()));
  for (int64_t i = 0; i < data.rank(); ++i)
    if (i != axis && !dims_match(data.dims[static_cast<size_t>(i)], idx.dims[static_cast<size_t>(i)]))
      return c.error("indices", "shape " + shape_to_string(idx.dims) + " must equal data's " + shape_to_string(data.dims) +
                                    " except at axis " + std::to_string(axis));
  IM_RETURN_IF_ERROR(updates_shape(c, upd, idx.dims, "the shape of indices"));
  IM_RETURN_IF_ERROR(validate_const_indices(c, {}, data.dims[static_cast<size_t>(axis)]));
  return Types{data};
}

Result<Types> infer_scatter_nd(InferContext& c) {
  Type data, idx, upd;
  IM_RETURN_IF_ERROR(read_scatter_inputs(c, data, idx, upd));
  if (!data.rank_known || !idx.rank_known) return Types{data};
  if (idx.rank() < 1) return c.error("indices", "must have rank >= 1, got a scalar");
  const int64_t k = idx.dims.back();
  if (k < 0) return Types{data};
  if (k > data.rank())
    return c.error("indices", "indices.shape[-1] (" + std::to_string(k) + ") must not exceed rank(data) = " +
                                  std::to_string(data.rank()));
  Shape expected(idx.dims.begin(), idx.dims.end() - 1);
  expected.insert(expected.end(), data.dims.begin() + k, data.dims.end());
  IM_RETURN_IF_ERROR(updates_shape(c, upd, expected, "indices.shape[:-1] + data.shape[indices.shape[-1]:]"));
  std::vector<int64_t> bounds(data.dims.begin(), data.dims.begin() + k);
  if (!bounds.empty()) IM_RETURN_IF_ERROR(validate_const_indices(c, bounds, U));
  return Types{data};
}

}  // namespace

void register_gather_scatter_ops(OpRegistry& r) {
  r.mutable_schema("gather")->infer = infer_gather;
  r.mutable_schema("gather_along_axis")->infer = infer_gather_along_axis;
  r.mutable_schema("gather_nd")->infer = infer_gather_nd;
  r.mutable_schema("scatter")->infer = infer_scatter;
  r.mutable_schema("scatter_along_axis")->infer = infer_scatter_along_axis;
  r.mutable_schema("scatter_nd")->infer = infer_scatter_nd;
}

}  // namespace ironmill::mil
