// Type inference and verification for the conv family: conv, conv_quantized, conv_transpose and the
// pools (see ops/op_list.def for their signatures).
//
// Shapes follow coremltools (iOS15 conv.py, pool.py, _utils.spatial_dimensions_out_shape):
//  * x [N, C, *D] with 1..3 spatial dims; per-spatial-dim params (strides, dilations, kernel_sizes) have
//    length #D and `pad` 2·#D ([before_0, after_0, ...], used only with pad_type "custom").
//  * pad_type valid | same | custom | same_lower (same_lower only from iOS16). Total `same` padding is
//    max(0, s·ceil(D/s) − D + K_eff − s); "same" puts the odd one after, "same_lower" before.
//  * out = floor((D + pad − K_eff)/s) + 1; pools with ceil_mode use floor((D + pad − K + s − 1)/s) + 1,
//    minus one when (out−1)·s ≥ D + pad/2 and pad > 0. ceil_mode needs 1-2 spatial dims, pad_type
//    valid/custom and symmetric padding.
//  * conv_transpose: weight [C_in, C_out/groups, *K]; out = output_shape if given (full rank, or the
//    spatial dims only), else same: s·D, valid: s·(D−1)+K_eff, custom: that minus pad_before+pad_after.
#include <algorithm>
#include <cctype>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

std::string ints_str(const std::vector<int64_t>& v) { return shape_to_string(v); }

// Reads a per-spatial-dim int vector input and checks its length.
Result<std::vector<int64_t>> spatial_ints(const InferContext& c, const std::string& name, size_t n, int64_t min_value) {
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> v, c.const_ints(name));
  if (v.size() != n)
    return c.error(name, std::to_string(n) + " values (one per spatial dim) expected, got " + std::to_string(v.size()));
  for (int64_t e : v)
    if (e < min_value) return c.error(name, "values >= " + std::to_string(min_value) + " expected, got " + ints_str(v));
  return v;
}

struct PadSpec {
  std::string type;
  std::vector<int64_t> custom;  // 2n, only for "custom"
};

Result<PadSpec> read_pad(const InferContext& c, size_t n, bool allow_same_lower = true) {
  PadSpec p;
  IM_ASSIGN_OR_RETURN(p.type, c.const_string("pad_type"));
  std::transform(p.type.begin(), p.type.end(), p.type.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (p.type != "valid" && p.type != "same" && p.type != "custom" && p.type != "same_lower")
    return c.error("pad_type", "one of valid, same, custom, same_lower expected, got \"" + p.type + "\"");
  if (p.type == "same_lower" && (!allow_same_lower || c.opset() < 16))
    return c.error("pad_type", allow_same_lower ? "\"same_lower\" needs iOS16 or later" : "\"same_lower\" is not supported");
  if (p.type == "custom") {
    IM_ASSIGN_OR_RETURN(p.custom, c.const_ints("pad"));
    if (p.custom.size() != 2 * n)
      return c.error("pad", std::to_string(2 * n) + " values ([before, after] per spatial dim) expected, got " +
                                std::to_string(p.custom.size()));
    for (int64_t e : p.custom)
      if (e < 0) return c.error("pad", "non-negative padding expected, got " + ints_str(p.custom));
  }
  return p;
}

// Output size of one spatial dim (kUnknownDim when the input size is unknown).
Result<int64_t> out_dim(const InferContext& c, const std::string& who, int64_t d, int64_t k, int64_t s, int64_t dil,
                        const PadSpec& p, size_t i, bool ceil_mode) {
  if (d < 0 || k < 0) return kUnknownDim;
  const int64_t keff = (k - 1) * dil + 1;
  int64_t pad = 0;
  if (p.type == "same" || p.type == "same_lower") pad = std::max<int64_t>(0, s * ((d + s - 1) / s) - d + keff - s);
  else if (p.type == "custom") pad = p.custom[2 * i] + p.custom[2 * i + 1];
  int64_t o;
  const int64_t num = d + pad - keff;
  auto floordiv = [](int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); };
  if (!ceil_mode) {
    o = floordiv(num, s) + 1;
  } else {
    o = floordiv(num + s - 1, s) + 1;
    if (pad > 0 && 2 * (o - 1) * s >= 2 * d + pad) --o;  // (o-1)·s >= d + pad/2
  }
  if (o <= 0)
    return c.error(who, "spatial dim " + std::to_string(i) + " has output size " + std::to_string(o) + " (input " +
                            std::to_string(d) + ", kernel " + std::to_string(k) + ", dilation " + std::to_string(dil) +
                            ", stride " + std::to_string(s) + ", total pad " + std::to_string(pad) + ")");
  return o;
}

struct ConvOperands {
  Type x, w;
  size_t n = 0;  // spatial dims
  int64_t groups = 1;
};

// x and weight of a conv-like op, and `groups`. When x's rank is unknown only x and w are read; otherwise x
// must have rank 3..5, weight the same rank (its dims are `weight_dims`, for errors), and groups be positive.
Result<ConvOperands> conv_operands(InferContext& c, const std::string& weight_dims) {
  ConvOperands o;
  IM_ASSIGN_OR_RETURN(o.x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(o.w, c.tensor_type("weight"));
  const Type& x = o.x;
  const Type& w = o.w;
  if (!x.rank_known) return o;
  if (x.rank() < 3 || x.rank() > 5)
    return c.error("x", "rank 3..5 ([N, C_in, *D], 1-3 spatial dims) expected, got rank " + std::to_string(x.rank()));
  o.n = static_cast<size_t>(x.rank() - 2);
  if (!w.rank_known || w.rank() != x.rank())
    return c.error("weight", "rank " + std::to_string(x.rank()) + " (" + weight_dims + ") expected, got " + type_to_string(w));
  IM_ASSIGN_OR_RETURN(o.groups, c.const_int("groups"));
  if (o.groups < 1) return c.error("groups", "positive value expected, got " + std::to_string(o.groups));
  return o;
}

// An optional bias must have shape [cout].
Status check_bias(InferContext& c, int64_t cout) {
  if (!c.has("bias")) return Status::Ok();
  IM_ASSIGN_OR_RETURN(Type b, c.tensor_type("bias"));
  if (b.rank_known && (b.rank() != 1 || (b.dims[0] >= 0 && cout >= 0 && b.dims[0] != cout)))
    return c.error("bias", "shape [" + std::to_string(cout) + "] expected, got " + shape_to_string(b.dims));
  return Status::Ok();
}

Result<std::vector<Type>> infer_conv_like(InferContext& c, bool quantized) {
  IM_ASSIGN_OR_RETURN(ConvOperands ops, conv_operands(c, "[C_out, C_in/groups, *K]"));
  if (!ops.x.rank_known) return std::vector<Type>{Type::unknown_rank(ops.x.dtype)};
  const auto& [x, w, n, groups] = ops;
  const int64_t cin = x.dims[1], cout = w.dims[0];
  if (cin >= 0 && cin % groups != 0)
    return c.error("groups", "C_in " + std::to_string(cin) + " is not divisible by groups " + std::to_string(groups));
  if (cout >= 0 && cout % groups != 0)
    return c.error("groups", "C_out " + std::to_string(cout) + " is not divisible by groups " + std::to_string(groups));
  if (cin >= 0 && w.dims[1] >= 0 && cin / groups != w.dims[1])
    return c.error("weight", "dim 1 must be C_in/groups = " + std::to_string(cin / groups) + ", got " +
                                 std::to_string(w.dims[1]) + " (weight " + shape_to_string(w.dims) + ")");
  IM_RETURN_IF_ERROR(check_bias(c, cout));
  if (quantized) {
    IM_ASSIGN_OR_RETURN(std::string qt, c.const_string("quantization_type"));
    if (qt != "linear" && qt != "lut")
      return c.error("quantization_type", "\"linear\" or \"lut\" expected, got \"" + qt + "\"");
    IM_ASSIGN_OR_RETURN(int64_t nbits, c.const_int("nbits"));
    if (nbits < 1 || nbits > 8) return c.error("nbits", "1..8 expected, got " + std::to_string(nbits));
    for (const char* p : {"quant_scale", "quant_bias"}) {
      IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(p));
      if (qt == "linear" && t.rank_known && t.fully_known()) {
        const int64_t ne = shape_numel(t.dims);
        if (ne != 1 && ne != cout)
          return c.error(p, "1 or C_out = " + std::to_string(cout) + " values expected, got shape " + shape_to_string(t.dims));
      }
    }
  }
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> strides, spatial_ints(c, "strides", n, 1));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> dil, spatial_ints(c, "dilations", n, 1));
  IM_ASSIGN_OR_RETURN(PadSpec pad, read_pad(c, n));
  Shape out = {x.dims[0], cout};
  for (size_t i = 0; i < n; ++i) {
    IM_ASSIGN_OR_RETURN(int64_t o, out_dim(c, "x", x.dims[i + 2], w.dims[i + 2], strides[i], dil[i], pad, i, false));
    out.push_back(o);
  }
  return std::vector<Type>{Type::tensor(x.dtype, out)};
}

Result<std::vector<Type>> infer_conv_transpose(InferContext& c) {
  IM_ASSIGN_OR_RETURN(ConvOperands ops, conv_operands(c, "[C_in, C_out/groups, *K]"));
  if (!ops.x.rank_known) return std::vector<Type>{Type::unknown_rank(ops.x.dtype)};
  const auto& [x, w, n, groups] = ops;
  const int64_t cin = x.dims[1];
  if (cin >= 0 && w.dims[0] >= 0 && cin != w.dims[0])
    return c.error("weight", "dim 0 must be C_in = " + std::to_string(cin) + ", got " + std::to_string(w.dims[0]) +
                                 " (weight " + shape_to_string(w.dims) + ")");
  if (cin >= 0 && cin % groups != 0)
    return c.error("groups", "C_in " + std::to_string(cin) + " is not divisible by groups " + std::to_string(groups));
  const int64_t cout = w.dims[1] < 0 ? kUnknownDim : w.dims[1] * groups;
  IM_RETURN_IF_ERROR(check_bias(c, cout));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> strides, spatial_ints(c, "strides", n, 1));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> dil, spatial_ints(c, "dilations", n, 1));
  IM_ASSIGN_OR_RETURN(PadSpec pad, read_pad(c, n, /*allow_same_lower=*/false));
  Shape out = {x.dims[0], cout};
  if (c.has("output_shape")) {
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> os, c.const_ints("output_shape"));
    if (os.size() == n + 2) {
      if ((x.dims[0] >= 0 && os[0] != x.dims[0]) || (cout >= 0 && os[1] != cout))
        return c.error("output_shape", ints_str(os) + " must start with [N, C_out] = [" + std::to_string(x.dims[0]) +
                                           ", " + std::to_string(cout) + "]");
      os.erase(os.begin(), os.begin() + 2);
    } else if (os.size() != n) {
      return c.error("output_shape", std::to_string(n + 2) + " (or " + std::to_string(n) + " spatial) values expected, got " +
                                         std::to_string(os.size()));
    }
    for (int64_t e : os)
      if (e < 1) return c.error("output_shape", "positive sizes expected, got " + ints_str(os));
    out.insert(out.end(), os.begin(), os.end());
    return std::vector<Type>{Type::tensor(x.dtype, out)};
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t d = x.dims[i + 2], k = w.dims[i + 2];
    if (d < 0 || k < 0) { out.push_back(kUnknownDim); continue; }
    const int64_t keff = (k - 1) * dil[i] + 1;
    int64_t o = strides[i] * (d - 1) + keff;
    if (pad.type == "same") o = strides[i] * d;
    else if (pad.type == "custom") o -= pad.custom[2 * i] + pad.custom[2 * i + 1];
    if (o <= 0) return c.error("pad", "spatial dim " + std::to_string(i) + " has output size " + std::to_string(o));
    out.push_back(o);
  }
  return std::vector<Type>{Type::tensor(x.dtype, out)};
}

Result<std::vector<Type>> infer_pool(InferContext& c, int max_spatial) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  if (!x.rank_known) return std::vector<Type>{Type::unknown_rank(x.dtype)};
  if (x.rank() < 3 || x.rank() > 2 + max_spatial)
    return c.error("x", "rank 3.." + std::to_string(2 + max_spatial) + " ([N, C, *D]) expected, got rank " +
                            std::to_string(x.rank()));
  const size_t n = static_cast<size_t>(x.rank() - 2);
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> ks, spatial_ints(c, "kernel_sizes", n, 1));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> strides, spatial_ints(c, "strides", n, 1));
  IM_ASSIGN_OR_RETURN(PadSpec pad, read_pad(c, n));
  IM_ASSIGN_OR_RETURN(bool ceil_mode, c.const_bool("ceil_mode"));
  if (ceil_mode) {
    if (n > 2) return c.error("ceil_mode", "only supported for 1-D and 2-D pooling");
    if (pad.type == "same" || pad.type == "same_lower")
      return c.error("ceil_mode", "must be false with pad_type \"" + pad.type + "\"");
    for (size_t i = 0; i < pad.custom.size(); i += 2)
      if (pad.custom[i] != pad.custom[i + 1]) return c.error("pad", "must be symmetric when ceil_mode is true, got " + ints_str(pad.custom));
  }
  Shape out = {x.dims[0], x.dims[1]};
  for (size_t i = 0; i < n; ++i) {
    IM_ASSIGN_OR_RETURN(int64_t o, out_dim(c, "x", x.dims[i + 2], ks[i], strides[i], 1, pad, i, ceil_mode));
    out.push_back(o);
  }
  return std::vector<Type>{Type::tensor(x.dtype, out)};
}

}  // namespace

void register_conv_ops(OpRegistry& r) {
  r.mutable_schema("conv")->infer = [](InferContext& c) { return infer_conv_like(c, false); };
  r.mutable_schema("conv_quantized")->infer = [](InferContext& c) { return infer_conv_like(c, true); };
  r.mutable_schema("conv_transpose")->infer = infer_conv_transpose;
  r.mutable_schema("avg_pool")->infer = [](InferContext& c) { return infer_pool(c, 3); };
  r.mutable_schema("max_pool")->infer = [](InferContext& c) { return infer_pool(c, 3); };
  r.mutable_schema("l2_pool")->infer = [](InferContext& c) { return infer_pool(c, 2); };
}

}  // namespace ironmill::mil
