// Type inference and verification for the activation ops (see ops/op_list.def for their signatures).
// Semantics and checks follow coremltools (mil/ops/defs/iOS15/activation.py, iOS17/activation.py).
#include <cmath>
#include <string>
#include <vector>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

using Types = std::vector<Type>;

// alpha / beta of the scalar-parameter activations: rank 0 or a single element.
Status check_scalar_param(InferContext& c, const std::string& name) {
  const Type* t = c.type(name);
  if (!t || !t->is_tensor()) return c.error(name, "missing");
  if (!t->rank_known) return c.error(name, "must be a scalar, got unknown rank");
  for (int64_t d : t->dims)
    if (d != 1) return c.error(name, "must be a scalar, got shape " + shape_to_string(t->dims));
  return Status::Ok();
}

InferFn with_scalars(std::vector<std::string> params) {
  return [params](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    for (const auto& p : params) IM_RETURN_IF_ERROR(check_scalar_param(c, p));
    return Types{x};
  };
}

// A per-channel parameter: rank 1 of length C = x.shape[1].
Status check_channel_param(InferContext& c, const Type& x, const std::string& name) {
  const Type* t = c.type(name);
  if (!t || !t->is_tensor()) return c.error(name, "missing");
  if (t->rank() != 1) return c.error(name, "must be rank 1 (one value per channel), got " + type_to_string(*t));
  const int64_t channels = x.dims[1];
  if (channels >= 0 && t->dims[0] >= 0 && t->dims[0] != channels)
    return c.error(name, "length " + std::to_string(t->dims[0]) + " must equal the channel dimension of `x` (dim 1 = " +
                             std::to_string(channels) + ", x is " + type_to_string(x) + ")");
  return Status::Ok();
}

}  // namespace

void register_activation_ops(OpRegistry& r) {
  for (const char* n : {"relu", "relu6", "sigmoid", "silu", "softplus", "softsign"})
    r.mutable_schema(n)->infer = infer::same_as("x");
  for (const char* n : {"elu", "leaky_relu", "thresholded_relu"}) r.mutable_schema(n)->infer = with_scalars({"alpha"});
  for (const char* n : {"clamped_relu", "linear_activation", "scaled_tanh", "sigmoid_hard"})
    r.mutable_schema(n)->infer = with_scalars({"alpha", "beta"});

  r.mutable_schema("gelu")->infer = [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    IM_ASSIGN_OR_RETURN(std::string mode, c.const_string("mode"));
    if (mode != "EXACT" && mode != "TANH_APPROXIMATION" && mode != "SIGMOID_APPROXIMATION")
      return c.error("mode", "unrecognized value \"" + mode +
                                 "\" (expected EXACT, TANH_APPROXIMATION or SIGMOID_APPROXIMATION)");
    return Types{x};
  };

  r.mutable_schema("softmax")->infer = [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
    if (x.rank_known) {
      auto a = infer::normalize_axis(axis, x.rank());
      if (!a.ok()) return c.error("axis", a.status().message() + " of `x` " + type_to_string(x));
    }
    return Types{x};
  };

  // prelu: x is [B, C, *] of rank 3, 4 or 5, alpha is [C]. Like coremltools, rank 3 and 5 inputs need
  // all alpha values equal (a Core ML runtime restriction).
  r.mutable_schema("prelu")->infer = [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    if (!x.rank_known) return c.error("x", "rank must be known (3, 4 or 5)");
    if (x.rank() < 3 || x.rank() > 5) return c.error("x", "must be rank 3, 4 or 5, got " + type_to_string(x));
    IM_RETURN_IF_ERROR(check_channel_param(c, x, "alpha"));
    if (x.rank() != 4) {
      if (const Tensor* a = c.const_tensor("alpha")) {
        auto v = a->to_f64();
        for (double e : v)
          if (std::fabs(e - v[0]) > 1e-5)
            return c.error("alpha", "rank-" + std::to_string(x.rank()) +
                                        " input is only supported when all alpha values are equal (coremltools)");
      }
    }
    return Types{x};
  };

  // softplus_parametric: x of rank >= 3 ([B, C, ...]), alpha and beta are [C].
  r.mutable_schema("softplus_parametric")->infer = [](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
    if (!x.rank_known) return c.error("x", "rank must be known (at least 3)");
    if (x.rank() < 3) return c.error("x", "must be at least rank 3 ([B, C, ...]), got " + type_to_string(x));
    IM_RETURN_IF_ERROR(check_channel_param(c, x, "alpha"));
    IM_RETURN_IF_ERROR(check_channel_param(c, x, "beta"));
    return Types{x};
  };
}

}  // namespace ironmill::mil
