// Type inference and verification for the normalization ops (see ops/op_list.def for their signatures).
//
// All outputs have x's type. Checked shapes (coremltools iOS15 normalization.py):
//  * batch_norm(x [N,C,*D], mean/variance/gamma/beta [C]); rank 2..5 accepted (coremltools documents 3..5).
//  * instance_norm(x [N,C,*D], gamma/beta [C]); rank >= 3, statistics over *D per (n, c).
//  * layer_norm(x, axes, gamma/beta of shape x.shape[sorted(axes)]).
//  * l2_norm(x [*B, D1, D2, D3]): rank >= 3, normalised over the last three dims.
//  * local_response_norm(x [N,C,*D], size >= 1): rank >= 3, window over channels.
#include <algorithm>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

// Checks that optional per-channel parameter `name` (if bound) is a 1-D tensor of length `c_dim`.
Status check_channel_param(const InferContext& c, const std::string& name, int64_t c_dim, bool required = false) {
  if (!c.has(name)) return required ? c.error(name, "required input missing") : Status::Ok();
  IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(name));
  if (!t.rank_known) return Status::Ok();
  if (t.rank() != 1) return c.error(name, "rank 1 [C] expected, got " + type_to_string(t));
  if (t.dims[0] >= 0 && c_dim >= 0 && t.dims[0] != c_dim)
    return c.error(name, "length " + std::to_string(c_dim) + " (x's channel dim) expected, got " + std::to_string(t.dims[0]));
  return Status::Ok();
}

Status check_scalar(const InferContext& c, const std::string& name) {
  if (!c.type(name)) return Status::Ok();
  IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(name));
  if (t.rank_known && t.rank() != 0 && !(t.rank() == 1 && t.dims[0] == 1))
    return c.error(name, "scalar expected, got " + type_to_string(t));
  return Status::Ok();
}

Result<std::vector<Type>> infer_batch_norm(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_RETURN_IF_ERROR(check_scalar(c, "epsilon"));
  if (!x.rank_known) return std::vector<Type>{x};
  if (x.rank() < 2 || x.rank() > 5) return c.error("x", "rank 2..5 ([N, C, *D]) expected, got rank " + std::to_string(x.rank()));
  for (const char* p : {"mean", "variance"}) IM_RETURN_IF_ERROR(check_channel_param(c, p, x.dims[1], true));
  for (const char* p : {"gamma", "beta"}) IM_RETURN_IF_ERROR(check_channel_param(c, p, x.dims[1]));
  return std::vector<Type>{x};
}

Result<std::vector<Type>> infer_instance_norm(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_RETURN_IF_ERROR(check_scalar(c, "epsilon"));
  if (!x.rank_known) return std::vector<Type>{x};
  if (x.rank() < 3) return c.error("x", "rank >= 3 ([N, C, *D]) expected, got rank " + std::to_string(x.rank()));
  for (const char* p : {"gamma", "beta"}) IM_RETURN_IF_ERROR(check_channel_param(c, p, x.dims[1]));
  return std::vector<Type>{x};
}

Result<std::vector<Type>> infer_layer_norm(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_RETURN_IF_ERROR(check_scalar(c, "epsilon"));
  if (!x.rank_known) return std::vector<Type>{x};
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.const_ints("axes"));
  const int64_t rank = x.rank();
  std::vector<bool> norm(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return c.error("axes", "axis " + std::to_string(a) + " out of range for rank " + std::to_string(rank));
    const int64_t n = a < 0 ? a + rank : a;
    if (norm[static_cast<size_t>(n)]) return c.error("axes", "axis " + std::to_string(a) + " repeated");
    norm[static_cast<size_t>(n)] = true;
  }
  Shape expect;
  for (int64_t i = 0; i < rank; ++i)
    if (norm[static_cast<size_t>(i)]) expect.push_back(x.dims[static_cast<size_t>(i)]);
  for (const char* p : {"gamma", "beta"}) {
    if (!c.has(p)) continue;
    IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(p));
    if (!t.rank_known) continue;
    bool ok = t.dims.size() == expect.size();
    for (size_t i = 0; ok && i < expect.size(); ++i)
      ok = t.dims[i] < 0 || expect[i] < 0 || t.dims[i] == expect[i];
    if (!ok) return c.error(p, "shape " + shape_to_string(expect) + " (x.shape[axes]) expected, got " + shape_to_string(t.dims));
  }
  return std::vector<Type>{x};
}

Result<std::vector<Type>> infer_l2_norm(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_RETURN_IF_ERROR(check_scalar(c, "epsilon"));
  if (x.rank_known && x.rank() < 3) return c.error("x", "rank >= 3 expected, got rank " + std::to_string(x.rank()));
  return std::vector<Type>{x};
}

Result<std::vector<Type>> infer_lrn(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t size, c.const_int("size"));
  if (size < 1) return c.error("size", "positive window size expected, got " + std::to_string(size));
  for (const char* p : {"alpha", "beta", "k"}) IM_RETURN_IF_ERROR(check_scalar(c, p));
  if (x.rank_known && x.rank() < 3) return c.error("x", "rank >= 3 ([N, C, *D]) expected, got rank " + std::to_string(x.rank()));
  return std::vector<Type>{x};
}

}  // namespace

void register_normalization_ops(OpRegistry& r) {
  r.mutable_schema("batch_norm")->infer = infer_batch_norm;
  r.mutable_schema("instance_norm")->infer = infer_instance_norm;
  r.mutable_schema("layer_norm")->infer = infer_layer_norm;
  r.mutable_schema("l2_norm")->infer = infer_l2_norm;
  r.mutable_schema("local_response_norm")->infer = infer_lrn;
}

}  // namespace ironmill::mil
