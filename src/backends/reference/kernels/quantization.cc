// Reference kernels for the quantization ops (semantics: ops/quantization.cc header comment).
// Values are computed in double and rounded once to the output dtype. quantize rounds half to even
// (coremltools value_inference uses np.around) after forming input / scale in the input's precision.
// Sub-byte dtypes sit one element per byte in memory (dtype.h); only the iOS16 LUT / sparse ops read
// bit-packed u8 bytes (LSB first, coreml-format.md §4.4).
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

// Coordinates of flat index `i` in `shape`.
void unravel(int64_t i, const Shape& shape, std::vector<int64_t>& coord) {
  coord.resize(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    coord[d] = shape[d] ? i % shape[d] : 0;
    i = shape[d] ? i / shape[d] : 0;
  }
}

// Value of a per-tensor (scalar) or per-axis (1-D) parameter for element `i` of a tensor of `shape`.
struct AxisParam {
  std::vector<double> v;
  int64_t inner = 1, dim = 1;
  double at(int64_t i) const { return v.size() == 1 ? v[0] : v[static_cast<size_t>((i / inner) % dim)]; }
};

Result<AxisParam> axis_param(KernelContext& c, const Tensor& p, const Shape& shape, std::optional<int64_t> axis,
                             const std::string& name) {
  AxisParam a;
  a.v = p.to_f64();
  if (p.numel() == 1 && p.rank() <= 1) return a;
  if (!axis) return c.error("input `" + name + "` is a vector but `axis` is absent");
  const int64_t r = static_cast<int64_t>(shape.size());
  IM_ASSIGN_OR_RETURN(const int64_t ax, kutil::normalize_axis(c, *axis, r));
  a.dim = shape[ax];
  for (int64_t d = ax + 1; d < r; ++d) a.inner *= shape[d];
  if (p.numel() != a.dim)
    return c.error("input `" + name + "` has " + std::to_string(p.numel()) + " values, the axis has " +
                   std::to_string(a.dim));
  return a;
}

Result<std::optional<int64_t>> opt_axis(KernelContext& c) {
  if (!c.has("axis")) return std::optional<int64_t>();
  IM_ASSIGN_OR_RETURN(int64_t a, c.get_int("axis"));
  return std::optional<int64_t>(a);
}

// Rounds v to the precision of float dtype `t` (the identity for fp64).
double round_to(DType t, double v) {
  uint8_t buf[8];
  mil::store_f64(t, buf, v);
  return mil::load_f64(t, buf);
}

// out = scale * (q - zp), per tensor or per axis.
Status affine_dequantize(KernelContext& c, const std::string& data_in) {
  IM_ASSIGN_OR_RETURN(Tensor q, c.tensor(data_in));
  IM_ASSIGN_OR_RETURN(Tensor scale, c.tensor("scale"));
  IM_ASSIGN_OR_RETURN(auto axis, opt_axis(c));
  IM_ASSIGN_OR_RETURN(AxisParam s, axis_param(c, scale, q.shape(), axis, "scale"));
  AxisParam z;
  z.v = {0.0};
  if (c.has("zero_point")) {
    IM_ASSIGN_OR_RETURN(Tensor zp, c.tensor("zero_point"));
    IM_ASSIGN_OR_RETURN(z, axis_param(c, zp, q.shape(), axis, "zero_point"));
  }
  Tensor out(kutil::out_dtype(c), q.shape());
  for (int64_t i = 0; i < q.numel(); ++i) out.set_f64(i, s.at(i) * (q.get_f64(i) - z.at(i)));
  c.set_output(0, out);
  return Status::Ok();
}

// iOS16 bit-packed fields: element i = bits [i*n, i*n+n) of the byte stream, LSB first.
std::vector<int64_t> unpack_bits(const Tensor& bytes, int nbits, int64_t count) {
  std::vector<int64_t> out(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    int64_t v = 0;
    for (int b = 0; b < nbits; ++b) {
      const int64_t bit = i * nbits + b;
      const int64_t byte = bytes.get_i64(bit / 8) & 0xff;
      v |= ((byte >> (bit % 8)) & 1) << b;
    }
    out[static_cast<size_t>(i)] = v;
  }
  return out;
}

// iOS18 LUT decompression: indices (shape S), lut [*G, P, VS] -> dense [S with S[va] *= VS].
Result<Tensor> lut_dense(KernelContext& c, const Tensor& indices, const Tensor& lut, std::optional<int64_t> vaxis,
                         DType out_dtype) {
  const Shape& s = indices.shape();
  const int k = indices.rank();
  if (lut.rank() != k + 2) return c.error("lut rank must be rank(indices) + 2");
  const int64_t palettes = lut.dim(-2), vs = lut.dim(-1);
  int64_t va = -1;
  if (vaxis) {
    va = *vaxis < 0 ? *vaxis + k : *vaxis;
    if (va < 0 || va >= k) return c.error("vector_axis " + std::to_string(*vaxis) + " out of range");
  } else if (vs != 1) {
    return c.error("vector_axis is required for vector palettization");
  }
  Shape out_shape = s;
  if (vs != 1) out_shape[va] *= vs;
  std::vector<int64_t> block(k);
  for (int d = 0; d < k; ++d) {
    if (lut.dim(d) <= 0 || s[d] % lut.dim(d) != 0) return c.error("lut group dims must divide the indices' dims");
    block[d] = s[d] / lut.dim(d);
  }
  const auto lut_strides = kutil::strides_of(lut.shape());
  const auto out_strides = kutil::strides_of(out_shape);
  const auto lut_vals = lut.to_f64();
  Tensor out(out_dtype, out_shape);
  std::vector<int64_t> coord, oc(k);
  for (int64_t i = 0; i < indices.numel(); ++i) {
    unravel(i, s, coord);
    const int64_t p = indices.get_i64(i);
    if (p < 0 || p >= palettes) return c.error("index " + std::to_string(p) + " outside the lut");
    int64_t lbase = p * lut_strides[k];
    for (int d = 0; d < k; ++d) lbase += (coord[d] / block[d]) * lut_strides[d];
    oc = coord;
    for (int64_t v = 0; v < vs; ++v) {
      if (vs != 1) oc[va] = coord[va] * vs + v;
      out.set_f64(kutil::flat_offset(oc, out_strides), lut_vals[static_cast<size_t>(lbase + v)]);
    }
  }
  return out;
}

// Dense tensor from a uint1 mask (any shape) and its nonzero values (row-major order); zeros elsewhere.
Result<Tensor> sparse_dense(KernelContext& c, const Tensor& mask, const Tensor& values, DType out_dtype) {
  Tensor out(out_dtype, mask.shape());
  int64_t k = 0;
  const bool ints = mil::is_int(out_dtype);
  for (int64_t i = 0; i < mask.numel(); ++i) {
    if (mask.get_i64(i) == 0) continue;
    if (k >= values.numel()) return c.error("the mask has more set bits than there are nonzero values");
    if (ints) out.set_i64(i, values.get_i64(k++));
    else out.set_f64(i, values.get_f64(k++));
  }
  if (k != values.numel())
    return c.error("the mask has " + std::to_string(k) + " set bits for " + std::to_string(values.numel()) + " values");
  return out;
}

// out[c] = scale[c / block] * (data[c] - offset[c / block]); all of rank(data).
Result<Tensor> shift_scale(KernelContext& c, const Tensor& data, DType out_dtype) {
  IM_ASSIGN_OR_RETURN(Tensor scale, c.tensor("scale"));
  std::optional<Tensor> offset;
  if (c.has("offset")) {
    IM_ASSIGN_OR_RETURN(Tensor o, c.tensor("offset"));
    if (o.shape() != scale.shape()) return c.error("offset's shape must equal scale's");
    offset = o;
  }
  const int r = data.rank();
  if (scale.rank() != r) return c.error("scale must have the rank of the data");
  std::vector<int64_t> block(r);
  for (int d = 0; d < r; ++d) {
    if (scale.dim(d) <= 0 || data.dim(d) % scale.dim(d) != 0) return c.error("scale dims must divide the data dims");
    block[d] = data.dim(d) / scale.dim(d);
  }
  const auto sst = kutil::strides_of(scale.shape());
  Tensor out(out_dtype, data.shape());
  std::vector<int64_t> coord;
  for (int64_t i = 0; i < data.numel(); ++i) {
    unravel(i, data.shape(), coord);
    int64_t si = 0;
    for (int d = 0; d < r; ++d) si += (coord[d] / block[d]) * sst[d];
    const double off = offset ? offset->get_f64(si) : 0.0;
    out.set_f64(i, scale.get_f64(si) * (data.get_f64(i) - off));
  }
  return out;
}

// Values of `dense` where `mask` is set, row-major.
Tensor gather_masked(const Tensor& dense, const Tensor& mask) {
  std::vector<double> v;
  for (int64_t i = 0; i < mask.numel(); ++i)
    if (mask.get_i64(i) != 0) v.push_back(dense.get_f64(i));
  return Tensor::from_f64(dense.dtype(), {static_cast<int64_t>(v.size())}, v);
}

Result<std::optional<int64_t>> opt_vector_axis(KernelContext& c) {
  if (!c.has("vector_axis")) return std::optional<int64_t>();
  IM_ASSIGN_OR_RETURN(int64_t a, c.get_int("vector_axis"));
  return std::optional<int64_t>(a);
}

}  // namespace

void register_quantization_kernels(KernelTable& t) {
  t.add("quantize", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("input"));
    IM_ASSIGN_OR_RETURN(Tensor scale, c.tensor("scale"));
    IM_ASSIGN_OR_RETURN(auto axis, opt_axis(c));
    IM_ASSIGN_OR_RETURN(AxisParam s, axis_param(c, scale, x.shape(), axis, "scale"));
    AxisParam z;
    z.v = {0.0};
    if (c.has("zero_point")) {
      IM_ASSIGN_OR_RETURN(Tensor zp, c.tensor("zero_point"));
      IM_ASSIGN_OR_RETURN(z, axis_param(c, zp, x.shape(), axis, "zero_point"));
    }
    const DType od = kutil::out_dtype(c);
    const double lo = static_cast<double>(mil::int_min(od)), hi = static_cast<double>(mil::int_max(od));
    Tensor out(od, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      // input / scale in the input's precision (numpy), then round half to even (np.around).
      const double q = std::nearbyint(round_to(x.dtype(), x.get_f64(i) / s.at(i))) + z.at(i);
      if (std::isnan(q)) return c.error("input / scale is NaN at element " + std::to_string(i));
      out.set_i64(i, static_cast<int64_t>(std::fmin(hi, std::fmax(lo, q))));
    }
    c.set_output(0, out);
    return Status::Ok();
  });

  t.add("dequantize", [](KernelContext& c) -> Status { return affine_dequantize(c, "input"); });

  t.add("constexpr_affine_dequantize", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor q, c.tensor("quantized_data"));
    IM_ASSIGN_OR_RETURN(Tensor scale, c.tensor("scale"));
    IM_ASSIGN_OR_RETURN(Tensor zp, c.tensor("zero_point"));
    IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
    // Scalar or vector independently (both broadcast along `axis`).
    IM_ASSIGN_OR_RETURN(AxisParam s, axis_param(c, scale, q.shape(), axis, "scale"));
    IM_ASSIGN_OR_RETURN(AxisParam z, axis_param(c, zp, q.shape(), axis, "zero_point"));
    Tensor out(kutil::out_dtype(c), q.shape());
    for (int64_t i = 0; i < q.numel(); ++i) out.set_f64(i, s.at(i) * (q.get_f64(i) - z.at(i)));
    c.set_output(0, out);
    return Status::Ok();
  });

  t.add("constexpr_cast", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("source_val"));
    c.set_output(0, x.cast_to(kutil::out_dtype(c)));
    return Status::Ok();
  });

  t.add("constexpr_lut_to_dense", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor indices, c.tensor("indices"));
    IM_ASSIGN_OR_RETURN(Tensor lut, c.tensor("lut"));
    const DType od = kutil::out_dtype(c);
    if (c.opset() < 18) {
      IM_ASSIGN_OR_RETURN(std::vector<int64_t> shape, c.get_ints("shape"));
      const int64_t n = lut.numel();
      int nbits = 0;
      while ((int64_t{1} << nbits) < n) ++nbits;
      if ((int64_t{1} << nbits) != n || nbits == 0) return c.error("lut size must be a power of two");
      const int64_t count = mil::shape_numel(shape);
      if (indices.numel() * 8 < count * nbits) return c.error("too few index bytes for the shape");
      const auto idx = unpack_bits(indices, nbits, count);
      Tensor out(od, Shape(shape.begin(), shape.end()));
      const bool ints = mil::is_int(od);
      for (int64_t i = 0; i < count; ++i) {
        if (ints) out.set_i64(i, lut.get_i64(idx[static_cast<size_t>(i)]));
        else out.set_f64(i, lut.get_f64(idx[static_cast<size_t>(i)]));
      }
      c.set_output(0, out);
      return Status::Ok();
    }
    IM_ASSIGN_OR_RETURN(auto va, opt_vector_axis(c));
    IM_ASSIGN_OR_RETURN(Tensor out, lut_dense(c, indices, lut, va, od));
    c.set_output(0, out);
    return Status::Ok();
  });

  t.add("constexpr_sparse_to_dense", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor data, c.tensor("nonzero_data"));
    IM_ASSIGN_OR_RETURN(Tensor mask, c.tensor("mask"));
    const DType od = kutil::out_dtype(c);
    if (c.opset() < 18) {
      IM_ASSIGN_OR_RETURN(std::vector<int64_t> shape, c.get_ints("shape"));
      const int64_t count = mil::shape_numel(shape);
      if (mask.numel() * 8 < count) return c.error("too few mask bytes for the shape");
      const auto bits = unpack_bits(mask, 1, count);
      Tensor m = Tensor::from_i64(DType::kUint1, Shape(shape.begin(), shape.end()), bits);
      IM_ASSIGN_OR_RETURN(Tensor out, sparse_dense(c, m, data, od));
      c.set_output(0, out);
      return Status::Ok();
    }
    IM_ASSIGN_OR_RETURN(Tensor out, sparse_dense(c, mask, data, od));
    c.set_output(0, out);
    return Status::Ok();
  });

  t.add("constexpr_blockwise_shift_scale", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor data, c.tensor("data"));
    IM_ASSIGN_OR_RETURN(Tensor out, shift_scale(c, data, kutil::out_dtype(c)));
    c.set_output(0, out);
    return Status::Ok();
  });

  t.add("constexpr_lut_to_sparse", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor mask, c.tensor("indices_mask"));
    IM_ASSIGN_OR_RETURN(Tensor nz, c.tensor("indices_nonzero_data"));
    IM_ASSIGN_OR_RETURN(Tensor lut, c.tensor("lut"));
    IM_ASSIGN_OR_RETURN(auto va, opt_vector_axis(c));
    // Dense indices (0 where masked out), de-palettize, then keep the entries under the expanded mask.
    IM_ASSIGN_OR_RETURN(Tensor idx, sparse_dense(c, mask, nz, DType::kInt32));
    const DType vd = kutil::out_dtype(c, 1);
    IM_ASSIGN_OR_RETURN(Tensor dense, lut_dense(c, idx, lut, va, vd));
    Tensor ones(DType::kUint1, mask.shape());
    for (int64_t i = 0; i < mask.numel(); ++i) ones.set_i64(i, mask.get_i64(i) != 0);
    // The expanded mask is lut_to_dense of the mask itself with a [.., 2, VS] table {0, 1}.
    Shape tshape(static_cast<size_t>(mask.rank()), 1);
    tshape.push_back(2);
    tshape.push_back(lut.dim(-1));
    Tensor table(DType::kUint1, tshape);
    for (int64_t v = 0; v < lut.dim(-1); ++v) table.set_i64(lut.dim(-1) + v, 1);
    IM_ASSIGN_OR_RETURN(Tensor out_mask, lut_dense(c, ones, table, va, DType::kUint1));
    c.set_output(0, out_mask);
    c.set_output(1, gather_masked(dense, out_mask));
    return Status::Ok();
  });

  t.add("constexpr_sparse_blockwise_shift_scale", [](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor mask, c.tensor("data_mask"));
    IM_ASSIGN_OR_RETURN(Tensor nz, c.tensor("nonzero_data"));
    IM_ASSIGN_OR_RETURN(Tensor dense_in, sparse_dense(c, mask, nz, DType::kFp64));
    IM_ASSIGN_OR_RETURN(Tensor dense, shift_scale(c, dense_in, kutil::out_dtype(c, 1)));
    Tensor out_mask(DType::kUint1, mask.shape());
    for (int64_t i = 0; i < mask.numel(); ++i) out_mask.set_i64(i, mask.get_i64(i) != 0);
    c.set_output(0, out_mask);
    c.set_output(1, gather_masked(dense, out_mask));
    return Status::Ok();
  });
}

}  // namespace ironmill::backends::reference
