// Type inference and verification for the quantization ops (see ops/op_list.def for their signatures).
// Semantics follow coremltools (iOS17 quantization_ops.py, iOS16 constexpr_ops.py, iOS18 compression.py):
//
//  * quantize(input, scale, zero_point?, axis?, output_dtype): q = clip(round_half_even(input / scale) + zp)
//    to the range of output_dtype ("uint8" | "int8"); zero_point's dtype must equal output_dtype.
//    scale / zero_point are both scalars (then `axis` must be absent) or both 1-D of length
//    input.shape[axis] (then `axis` is required). Output shape = input shape.
//  * dequantize(input, scale, zero_point?, axis?): x = scale * (q - zp), dtype of scale; same shape rules.
//  * constexpr_affine_dequantize (iOS16): like dequantize but `axis` is required and zero_point may be fp32.
//  * constexpr_cast: fp16 -> "fp32" only (coremltools raises for any other output_dtype).
//  * constexpr_lut_to_dense iOS16: indices u8 [M] packed LSB-first with nbits = log2(len(lut)) in
//    {1,2,4,6,8}, M = ceil(nbits * prod(shape) / 8), output tensor<lut dtype, shape>.
//    iOS18: indices tensor<uN, S>, lut [*G, 2^N, VS] of rank(S) + 2 (S[i] % G[i] == 0); output S with
//    S[vector_axis] *= VS (vector_axis required when VS > 1).
//  * constexpr_sparse_to_dense iOS16: mask u8 [ceil(prod(shape)/8)] bitmask LSB-first, nonzero_data [popcount];
//    iOS18: mask tensor<uint1, S>, output tensor<T, S>.
//  * constexpr_blockwise_shift_scale: data, scale (and offset) of equal rank >= 1, data.shape[i] % scale.shape[i]
//    == 0, offset shape == scale shape, offset dtype float or == data dtype. Output tensor<scale dtype, data shape>.
//  * constexpr_lut_to_sparse -> (mask uint1 [mask shape, vector_axis dim * VS], values T [D * VS]).
//  * constexpr_sparse_blockwise_shift_scale -> (mask uint1 [mask shape], values scale dtype [D]).
#include <algorithm>
#include <bit>
#include <optional>
#include <string>
#include <utility>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

std::string shp(const Type& t) { return type_to_string(t); }

// quantize / dequantize: scale and zero_point both scalars (no axis) or both vectors along `axis`.
Status check_scale_zp(InferContext& c, const Type& in, bool axis_required) {
  IM_ASSIGN_OR_RETURN(Type scale, c.tensor_type("scale"));
  if (!scale.rank_known || scale.rank() > 1)
    return c.error("scale", "scalar or 1-D expected, got " + shp(scale));
  std::optional<Type> zp;
  if (c.has("zero_point")) {
    IM_ASSIGN_OR_RETURN(Type z, c.tensor_type("zero_point"));
    if (!z.rank_known || z.rank() != scale.rank())
      return c.error("zero_point", "must have the rank of `scale` (" + shp(scale) + "), got " + shp(z));
    zp = z;
  }
  const bool has_axis = c.has("axis");
  if (scale.rank() == 0 && !axis_required) {
    if (has_axis) return c.error("axis", "must be absent when scale and zero_point are scalars");
    return Status::Ok();
  }
  if (!has_axis) return c.error("axis", "required when scale / zero_point are vectors");
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  if (!in.rank_known) return Status::Ok();
  auto ax = infer::normalize_axis(axis, in.rank());
  if (!ax.ok()) return c.error("axis", ax.status().message());
  const int64_t dim = in.dims[static_cast<size_t>(*ax)];
  if (scale.rank() == 1 && dim >= 0 && scale.dims[0] >= 0 && scale.dims[0] != dim)
    return c.error("scale", "length " + std::to_string(scale.dims[0]) + " must equal the input's dim " +
                                std::to_string(dim) + " along axis " + std::to_string(axis));
  if (zp && zp->rank() == 1 && dim >= 0 && zp->dims[0] >= 0 && zp->dims[0] != dim)
    return c.error("zero_point", "length " + std::to_string(zp->dims[0]) + " must equal the input's dim " +
                                     std::to_string(dim) + " along axis " + std::to_string(axis));
  return Status::Ok();
}

Result<int> nbits_of(DType t) {
  switch (t) {
    case DType::kUint1: return 1;
    case DType::kUint2: return 2;
    case DType::kUint3: return 3;
    case DType::kUint4: return 4;
    case DType::kUint6: return 6;
    case DType::kUint8: return 8;
    default: return invalid_argument("not an index dtype");
  }
}

// iOS18 LUT checks shared by constexpr_lut_to_dense and constexpr_lut_to_sparse. `shape_input` names the
// input whose shape the indices have. Returns the output (dense) shape and the vector size.
Result<std::pair<Shape, int64_t>> check_lut18(InferContext& c, const std::string& shape_input, const Type& shape_t,
                                              DType index_dtype) {
  IM_ASSIGN_OR_RETURN(Type lut, c.tensor_type("lut"));
  if (shape_t.rank() < 1) return c.error(shape_input, "rank >= 1 expected, got " + shp(shape_t));
  if (lut.rank() != shape_t.rank() + 2)
    return c.error("lut", "rank must be rank(" + shape_input + ") + 2 = " + std::to_string(shape_t.rank() + 2) +
                              ", got " + shp(lut));
  for (int i = 0; i < shape_t.rank(); ++i) {
    const int64_t d = shape_t.dims[i], g = lut.dims[i];
    if (d >= 0 && g > 0 && d % g != 0)
      return c.error("lut", "dim " + std::to_string(i) + " (" + std::to_string(g) + ") must divide " + shape_input +
                                "'s dim " + std::to_string(d));
    if (g == 0) return c.error("lut", "zero-sized dim in " + shp(lut));
  }
  IM_ASSIGN_OR_RETURN(int nbits, nbits_of(index_dtype));
  const int64_t palettes = lut.dims[lut.dims.size() - 2];
  if (palettes >= 0 && palettes != (int64_t{1} << nbits))
    return c.error("lut", "second-to-last dim must be 2^" + std::to_string(nbits) + " = " +
                              std::to_string(int64_t{1} << nbits) + " for " + std::string(dtype_name(index_dtype)) +
                              " indices, got " + shp(lut));
  const int64_t vs = lut.dims.back();
  Shape out = shape_t.dims;
  if (c.has("vector_axis")) {
    IM_ASSIGN_OR_RETURN(int64_t va, c.const_int("vector_axis"));
    auto ax = infer::normalize_axis(va, shape_t.rank());
    if (!ax.ok()) return c.error("vector_axis", ax.status().message());
    if (vs != 1 && out[static_cast<size_t>(*ax)] >= 0) out[static_cast<size_t>(*ax)] *= vs;
    if (vs < 0) out[static_cast<size_t>(*ax)] = kUnknownDim;
  } else if (vs != 1) {
    return c.error("vector_axis", "required when the lut's vector size (last dim) is " + std::to_string(vs));
  }
  return std::make_pair(out, vs);
}

// Popcount check of an iOS18 uint1 mask against nonzero data, when both are known.
Status check_popcount(InferContext& c, const std::string& mask_in, const std::string& data_in) {
  IM_ASSIGN_OR_RETURN(Type data, c.tensor_type(data_in));
  if (data.rank() != 1) return c.error(data_in, "rank 1 expected, got " + shp(data));
  if (const Tensor* m = c.const_tensor(mask_in)) {
    int64_t ones = 0;
    for (int64_t i = 0; i < m->numel(); ++i) ones += m->get_i64(i) != 0;
    if (data.dims[0] >= 0 && ones != data.dims[0])
      return c.error(data_in, "has " + std::to_string(data.dims[0]) + " values but `" + mask_in + "` has " +
                                  std::to_string(ones) + " set bits");
  }
  return Status::Ok();
}

// constexpr_blockwise_shift_scale checks against the dense data shape.
Status check_shift_scale(InferContext& c, const std::string& data_in, const Type& data_shape, DType data_dtype) {
  IM_ASSIGN_OR_RETURN(Type scale, c.tensor_type("scale"));
  if (data_shape.rank() < 1) return c.error(data_in, "rank >= 1 expected, got " + shp(data_shape));
  if (scale.rank() != data_shape.rank())
    return c.error("scale", "must have the rank of `" + data_in + "` (" + shp(data_shape) + "), got " + shp(scale));
  for (int i = 0; i < scale.rank(); ++i) {
    const int64_t d = data_shape.dims[i], s = scale.dims[i];
    if (s == 0) return c.error("scale", "zero-sized dim in " + shp(scale));
    if (d >= 0 && s > 0 && d % s != 0)
      return c.error("scale", "dim " + std::to_string(i) + " (" + std::to_string(s) + ") must divide `" + data_in +
                                  "`'s dim " + std::to_string(d));
  }
  if (c.has("offset")) {
    IM_ASSIGN_OR_RETURN(Type off, c.tensor_type("offset"));
    if (off.dims != scale.dims) return c.error("offset", "shape must equal scale's " + shp(scale) + ", got " + shp(off));
    if (!is_float(off.dtype) && off.dtype != data_dtype)
      return c.error("offset", "dtype must be fp16/fp32 or the data dtype " + std::string(dtype_name(data_dtype)) +
                                   ", got " + std::string(dtype_name(off.dtype)));
  }
  return Status::Ok();
}

Result<Shape> const_shape(InferContext& c, const std::string& input) {
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> s, c.const_ints(input));
  const Type* t = c.type(input);
  if (t && t->rank() != 1) return c.error(input, "1-D shape expected, got " + shp(*t));
  for (int64_t d : s)
    if (d < 0) return c.error(input, "negative dim " + std::to_string(d));
  return Shape(s.begin(), s.end());
}

}  // namespace

void register_quantization_ops(OpRegistry& r) {
  r.mutable_schema("quantize")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type in, c.tensor_type("input"));
    IM_ASSIGN_OR_RETURN(std::string od, c.const_string("output_dtype"));
    DType out;
    if (od == "uint8") out = DType::kUint8;
    else if (od == "int8") out = DType::kInt8;
    else return c.error("output_dtype", "\"uint8\" or \"int8\" expected, got \"" + od + "\"");
    if (c.has("zero_point")) {
      IM_ASSIGN_OR_RETURN(Type zp, c.tensor_type("zero_point"));
      if (zp.dtype != out)
        return c.error("zero_point", "dtype " + std::string(dtype_name(zp.dtype)) + " must equal output_dtype " + od);
    }
    IM_RETURN_IF_ERROR(check_scale_zp(c, in, /*axis_required=*/false));
    Type t = in;
    t.dtype = out;
    return std::vector<Type>{t};
  };

  r.mutable_schema("dequantize")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type in, c.tensor_type("input"));
    IM_ASSIGN_OR_RETURN(Type scale, c.tensor_type("scale"));
    IM_RETURN_IF_ERROR(check_scale_zp(c, in, /*axis_required=*/false));
    Type t = in;
    t.dtype = scale.dtype;
    return std::vector<Type>{t};
  };

  r.mutable_schema("constexpr_affine_dequantize")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type in, c.tensor_type("quantized_data"));
    IM_ASSIGN_OR_RETURN(Type scale, c.tensor_type("scale"));
    if (in.rank() < 1) return c.error("quantized_data", "rank >= 1 expected, got " + shp(in));
    // Unlike dequantize, coremltools lets scale and zero_point be a scalar / vector independently.
    IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
    auto ax = infer::normalize_axis(axis, in.rank());
    if (!ax.ok()) return c.error("axis", ax.status().message());
    const int64_t dim = in.dims[static_cast<size_t>(*ax)];
    for (const char* p : {"scale", "zero_point"}) {
      IM_ASSIGN_OR_RETURN(Type t, c.tensor_type(p));
      if (t.rank() != 0 && t.rank() != 1) return c.error(p, "scalar or 1-D expected, got " + shp(t));
      if (t.rank() == 1 && dim >= 0 && t.dims[0] >= 0 && t.dims[0] != dim)
        return c.error(p, "length " + std::to_string(t.dims[0]) + " must equal quantized_data's dim " +
                              std::to_string(dim) + " along axis " + std::to_string(axis));
    }
    return std::vector<Type>{Type::tensor(scale.dtype, in.dims)};
  };

  auto cast_infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type in, c.tensor_type("source_val"));
    IM_ASSIGN_OR_RETURN(std::string od, c.const_string("output_dtype"));
    if (od != "fp32") return c.error("output_dtype", "only \"fp32\" is supported, got \"" + od + "\"");
    in.dtype = DType::kFp32;
    return std::vector<Type>{in};
  };
  r.mutable_schema("constexpr_cast")->infer = cast_infer;

  r.mutable_schema("constexpr_lut_to_dense")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type idx, c.tensor_type("indices"));
    IM_ASSIGN_OR_RETURN(Type lut, c.tensor_type("lut"));
    if (c.opset() < 18) {
      if (idx.rank() != 1) return c.error("indices", "1-D packed bytes expected, got " + shp(idx));
      if (lut.rank() != 1) return c.error("lut", "1-D expected, got " + shp(lut));
      const int64_t n = lut.dims[0];
      if (n != 2 && n != 4 && n != 16 && n != 64 && n != 256)
        return c.error("lut", "size must be one of 2, 4, 16, 64, 256, got " + std::to_string(n));
      IM_ASSIGN_OR_RETURN(Shape shape, const_shape(c, "shape"));
      const int64_t nbits = std::countr_zero(static_cast<uint64_t>(n));
      const int64_t m = (nbits * shape_numel(shape) + 7) / 8;
      if (idx.dims[0] >= 0 && idx.dims[0] != m)
        return c.error("indices", "needs ceil(" + std::to_string(nbits) + " * " + std::to_string(shape_numel(shape)) +
                                      " / 8) = " + std::to_string(m) + " bytes, got " + std::to_string(idx.dims[0]));
      return std::vector<Type>{Type::tensor(lut.dtype, shape)};
    }
    IM_ASSIGN_OR_RETURN(auto res, check_lut18(c, "indices", idx, idx.dtype));
    return std::vector<Type>{Type::tensor(lut.dtype, res.first)};
  };

  r.mutable_schema("constexpr_sparse_to_dense")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type data, c.tensor_type("nonzero_data"));
    IM_ASSIGN_OR_RETURN(Type mask, c.tensor_type("mask"));
    if (data.rank() != 1) return c.error("nonzero_data", "rank 1 expected, got " + shp(data));
    if (c.opset() < 18) {
      if (mask.rank() != 1) return c.error("mask", "1-D packed bytes expected, got " + shp(mask));
      IM_ASSIGN_OR_RETURN(Shape shape, const_shape(c, "shape"));
      const int64_t m = (shape_numel(shape) + 7) / 8;
      if (mask.dims[0] >= 0 && mask.dims[0] != m)
        return c.error("mask", "needs ceil(" + std::to_string(shape_numel(shape)) + " / 8) = " + std::to_string(m) +
                                   " bytes, got " + std::to_string(mask.dims[0]));
      if (const Tensor* mt = c.const_tensor("mask")) {
        int64_t ones = 0;
        for (int64_t i = 0; i < mt->numel(); ++i) {
          const uint64_t byte = static_cast<uint64_t>(mt->get_i64(i)) & 0xff;
          ones += std::popcount(byte);
          for (int b = 0; b < 8; ++b)
            if ((byte >> b & 1) && i * 8 + b >= shape_numel(shape))
              return c.error("mask", "padding bit " + std::to_string(i * 8 + b) + " is set");
        }
        if (data.dims[0] >= 0 && ones != data.dims[0])
          return c.error("nonzero_data", "has " + std::to_string(data.dims[0]) + " values but `mask` has " +
                                             std::to_string(ones) + " set bits");
      }
      return std::vector<Type>{Type::tensor(data.dtype, shape)};
    }
    IM_RETURN_IF_ERROR(check_popcount(c, "mask", "nonzero_data"));
    if (mask.rank() < 1) return c.error("mask", "rank >= 1 expected, got " + shp(mask));
    return std::vector<Type>{Type::tensor(data.dtype, mask.dims)};
  };

  r.mutable_schema("constexpr_blockwise_shift_scale")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type data, c.tensor_type("data"));
    IM_ASSIGN_OR_RETURN(Type scale, c.tensor_type("scale"));
    IM_RETURN_IF_ERROR(check_shift_scale(c, "data", data, data.dtype));
    return std::vector<Type>{Type::tensor(scale.dtype, data.dims)};
  };

  r.mutable_schema("constexpr_lut_to_sparse")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type mask, c.tensor_type("indices_mask"));
    IM_ASSIGN_OR_RETURN(Type data, c.tensor_type("indices_nonzero_data"));
    IM_ASSIGN_OR_RETURN(Type lut, c.tensor_type("lut"));
    IM_RETURN_IF_ERROR(check_popcount(c, "indices_mask", "indices_nonzero_data"));
    IM_ASSIGN_OR_RETURN(auto res, check_lut18(c, "indices_mask", mask, data.dtype));
    const int64_t vs = res.second;
    const int64_t d = data.dims[0] < 0 || vs < 0 ? kUnknownDim : data.dims[0] * vs;
    return std::vector<Type>{Type::tensor(DType::kUint1, res.first), Type::tensor(lut.dtype, {d})};
  };

  r.mutable_schema("constexpr_sparse_blockwise_shift_scale")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_ASSIGN_OR_RETURN(Type mask, c.tensor_type("data_mask"));
    IM_ASSIGN_OR_RETURN(Type data, c.tensor_type("nonzero_data"));
    IM_ASSIGN_OR_RETURN(Type scale, c.tensor_type("scale"));
    IM_RETURN_IF_ERROR(check_popcount(c, "data_mask", "nonzero_data"));
    IM_RETURN_IF_ERROR(check_shift_scale(c, "data_mask", mask, data.dtype));
    return std::vector<Type>{Type::tensor(DType::kUint1, mask.dims), Type::tensor(scale.dtype, data.dims)};
  };
}

}  // namespace ironmill::mil
