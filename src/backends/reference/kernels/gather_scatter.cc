// Reference kernels for the gather_scatter ops.
//
// Gathers copy raw element bytes. Indices are always checked: iOS15/16 accept negative indices in
// [-D, D) (counted from the end); from iOS17 on coremltools documents negative indices as out of
// bounds, so they are errors here (with validate_indices=false Core ML leaves them undefined).
// Scatters apply the updates one at a time in row-major order of `updates` (repeated indices
// accumulate, like numpy's ufunc.at), computing floats in double and rounding to the data dtype after
// every step; integer modes are exact in int64 (div truncates toward zero; division by zero is an error).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

// A checked index into a dim of size `dim`.
Result<int64_t> index_into(const KernelContext& c, int64_t v, int64_t dim) {
  int64_t i = v;
  if (i < 0 && c.opset() < 17) i += dim;
  if (i < 0 || i >= dim)
    return c.error("index " + std::to_string(v) + " out of bounds for a dim of size " + std::to_string(dim) +
                   (v < 0 && c.opset() >= 17 ? " (negative indices are out of bounds from iOS17 on)" : ""));
  return i;
}

// out[i] = x[src[i]] for all i, by bytes.
Tensor take(const Tensor& x, const Shape& shape, const std::vector<int64_t>& src) {
  Tensor out(x.dtype(), shape);
  if (x.dtype() == DType::kString) {
    auto& s = out.mutable_strings();
    for (size_t i = 0; i < src.size(); ++i) s[i] = x.get_string(src[i]);
    return out;
  }
  const size_t b = static_cast<size_t>(mil::dtype_element_bytes(x.dtype()));
  const uint8_t* in = x.raw();
  uint8_t* o = out.mutable_raw();
  for (size_t i = 0; i < src.size(); ++i) std::memcpy(o + i * b, in + static_cast<size_t>(src[i]) * b, b);
  return out;
}

// ---- gathers -------------------------------------------------------------------------------------

Status k_gather(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor idx, c.tensor("indices"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  int64_t bd = 0;
  if (c.schema().variant_for(c.opset()) && c.schema().variant_for(c.opset())->input("batch_dims")) {
    IM_ASSIGN_OR_RETURN(bd, c.get_int("batch_dims"));
  }
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, x.rank()));
  if (bd < 0) bd += idx.rank();
  if (bd < 0 || bd > idx.rank() || bd > axis) return c.error("batch_dims " + std::to_string(bd) + " invalid");
  for (int64_t i = 0; i < bd; ++i)
    if (x.dim(static_cast<int>(i)) != idx.dim(static_cast<int>(i))) return c.error("batch dims of x and indices differ");
  const Shape& xs = x.shape();
  const Shape& is = idx.shape();
  Shape out(xs.begin(), xs.begin() + axis);
  out.insert(out.end(), is.begin() + bd, is.end());
  out.insert(out.end(), xs.begin() + axis + 1, xs.end());
  const auto xst = kutil::strides_of(xs), ist = kutil::strides_of(is);
  const auto iv = idx.to_i64();
  const int64_t n = mil::shape_numel(out);
  const size_t ni = is.size() - static_cast<size_t>(bd), a = static_cast<size_t>(axis);
  std::vector<int64_t> src(static_cast<size_t>(n)), co(out.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    // out coord = p[0:axis] + j[0:ni] + q; indices coord = p[0:bd] + j
    int64_t ii = 0;
    for (size_t k = 0; k < static_cast<size_t>(bd); ++k) ii += co[k] * ist[k];
    for (size_t k = 0; k < ni; ++k) ii += co[a + k] * ist[static_cast<size_t>(bd) + k];
    IM_ASSIGN_OR_RETURN(int64_t v, index_into(c, iv[static_cast<size_t>(ii)], xs[a]));
    int64_t f = v * xst[a];
    for (size_t k = 0; k < a; ++k) f += co[k] * xst[k];
    for (size_t k = a + 1; k < xs.size(); ++k) f += co[k - 1 + ni] * xst[k];
    src[static_cast<size_t>(i)] = f;
    kutil::next_coord(co, out);
  }
  c.set_output(0, take(x, out, src));
  return Status::Ok();
}

Status k_gather_along_axis(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor idx, c.tensor("indices"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  if (x.rank() != idx.rank()) return c.error("indices must have the rank of x");
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, x.rank()));
  const size_t a = static_cast<size_t>(axis);
  for (int i = 0; i < x.rank(); ++i)
    if (static_cast<size_t>(i) != a && x.dim(i) != idx.dim(i))
      return c.error("indices shape " + mil::shape_to_string(idx.shape()) + " must equal x's " +
                     mil::shape_to_string(x.shape()) + " except at the axis");
  const auto xst = kutil::strides_of(x.shape());
  const auto iv = idx.to_i64();
  std::vector<int64_t> src(iv.size()), co(idx.shape().size(), 0);
  for (size_t i = 0; i < iv.size(); ++i) {
    IM_ASSIGN_OR_RETURN(int64_t v, index_into(c, iv[i], x.shape()[a]));
    src[i] = kutil::flat_offset(co, xst) + (v - co[a]) * xst[a];
    kutil::next_coord(co, idx.shape());
  }
  c.set_output(0, take(x, idx.shape(), src));
  return Status::Ok();
}

Status k_gather_nd(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor idx, c.tensor("indices"));
  int64_t bd = 0;
  if (c.schema().variant_for(c.opset()) && c.schema().variant_for(c.opset())->input("batch_dims")) {
    IM_ASSIGN_OR_RETURN(bd, c.get_int("batch_dims"));
  }
  if (idx.rank() < 1) return c.error("indices must have rank >= 1");
  const int64_t k = idx.dim(-1);
  if (bd < 0 || bd >= idx.rank() || bd + k > x.rank()) return c.error("indices.shape[-1] + batch_dims exceeds rank(x)");
  for (int64_t i = 0; i < bd; ++i)
    if (x.dim(static_cast<int>(i)) != idx.dim(static_cast<int>(i))) return c.error("batch dims of x and indices differ");
  const Shape& xs = x.shape();
  const Shape& is = idx.shape();
  Shape out(is.begin(), is.end() - 1);
  const size_t lead = out.size();
  out.insert(out.end(), xs.begin() + bd + k, xs.end());
  const auto xst = kutil::strides_of(xs);
  const auto iv = idx.to_i64();
  const int64_t n = mil::shape_numel(out);
  std::vector<int64_t> src(static_cast<size_t>(n)), co(out.size(), 0);
  const auto ist = kutil::strides_of(Shape(is.begin(), is.end() - 1));
  for (int64_t i = 0; i < n; ++i) {
    int64_t row = 0;  // flat index of the index tuple
    for (size_t d = 0; d < lead; ++d) row += co[d] * ist[d];
    int64_t f = 0;
    for (size_t d = 0; d < static_cast<size_t>(bd); ++d) f += co[d] * xst[d];
    for (int64_t j = 0; j < k; ++j) {
      const size_t xd = static_cast<size_t>(bd + j);
      IM_ASSIGN_OR_RETURN(int64_t v, index_into(c, iv[static_cast<size_t>(row * k + j)], xs[xd]));
      f += v * xst[xd];
    }
    for (size_t d = lead; d < out.size(); ++d) f += co[d] * xst[d - lead + static_cast<size_t>(bd + k)];
    src[static_cast<size_t>(i)] = f;
    kutil::next_coord(co, out);
  }
  c.set_output(0, take(x, out, src));
  return Status::Ok();
}

// ---- scatters ------------------------------------------------------------------------------------

enum class Mode { kUpdate, kAdd, kSub, kMul, kDiv, kMax, kMin };

Result<Mode> scatter_mode(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(std::string m, c.get_string("mode"));
  if (m == "update") return Mode::kUpdate;
  if (m == "add") return Mode::kAdd;
  if (m == "sub") return Mode::kSub;
  if (m == "mul") return Mode::kMul;
  if (m == "div") return Mode::kDiv;
  if (m == "max") return Mode::kMax;
  if (m == "min") return Mode::kMin;
  return c.error("unknown scatter mode \"" + m + "\"");
}

// Applies updates[u] to out[dst] for each (dst, u) pair in order.
Status apply_scatter(KernelContext& c, Tensor& out, const Tensor& upd, Mode mode, const std::vector<int64_t>& dst) {
  const DType dt = out.dtype();
  if (upd.dtype() != dt) return c.error("updates dtype must match data");
  const size_t b = static_cast<size_t>(mil::dtype_element_bytes(dt));
  uint8_t* o = out.mutable_raw();
  const uint8_t* u = upd.raw();
  const bool is_int = !mil::is_float(dt);
  for (size_t i = 0; i < dst.size(); ++i) {
    uint8_t* p = o + static_cast<size_t>(dst[i]) * b;
    const uint8_t* q = u + i * b;
    if (mode == Mode::kUpdate) {
      std::memcpy(p, q, b);
      continue;
    }
    if (is_int) {
      const int64_t a = mil::load_i64(dt, p), v = mil::load_i64(dt, q);
      int64_t r = 0;
      switch (mode) {
        case Mode::kAdd: r = a + v; break;
        case Mode::kSub: r = a - v; break;
        case Mode::kMul: r = a * v; break;
        case Mode::kDiv:
          if (v == 0) return c.error("integer division by zero in scatter mode div");
          r = a / v;
          break;
        case Mode::kMax: r = std::max(a, v); break;
        case Mode::kMin: r = std::min(a, v); break;
        default: break;
      }
      // wrap like int32 arithmetic
      if (dt == DType::kInt32) r = static_cast<int32_t>(static_cast<uint32_t>(r));
      mil::store_i64(dt, p, r);
    } else {
      const double a = mil::load_f64(dt, p), v = mil::load_f64(dt, q);
      double r = 0;
      switch (mode) {
        case Mode::kAdd: r = a + v; break;
        case Mode::kSub: r = a - v; break;
        case Mode::kMul: r = a * v; break;
        case Mode::kDiv: r = a / v; break;
        case Mode::kMax: r = (std::isnan(a) || std::isnan(v)) ? NAN : std::max(a, v); break;
        case Mode::kMin: r = (std::isnan(a) || std::isnan(v)) ? NAN : std::min(a, v); break;
        default: break;
      }
      mil::store_f64(dt, p, r);
    }
  }
  return Status::Ok();
}

Tensor copy_of(const Tensor& x) {
  Tensor out(x.dtype(), x.shape());
  if (x.nbytes()) std::memcpy(out.mutable_raw(), x.raw(), x.nbytes());
  return out;
}

// Sets output 0 to `data` with updates[u] applied at flat index dst[u], in order.
Status set_scattered(KernelContext& c, const Tensor& data, const Tensor& upd, Mode mode, const std::vector<int64_t>& dst) {
  Tensor out = copy_of(data);
  IM_RETURN_IF_ERROR(apply_scatter(c, out, upd, mode, dst));
  c.set_output(0, std::move(out));
  return Status::Ok();
}

Status k_scatter(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor data, c.tensor("data"));
  IM_ASSIGN_OR_RETURN(Tensor idx, c.tensor("indices"));
  IM_ASSIGN_OR_RETURN(Tensor upd, c.tensor("updates"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(Mode mode, scatter_mode(c));
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, data.rank()));
  const Shape& ds = data.shape();
  const size_t a = static_cast<size_t>(axis), ni = idx.shape().size();
  Shape expected(ds.begin(), ds.begin() + axis);
  expected.insert(expected.end(), idx.shape().begin(), idx.shape().end());
  expected.insert(expected.end(), ds.begin() + axis + 1, ds.end());
  if (upd.shape() != expected)
    return c.error("updates shape " + mil::shape_to_string(upd.shape()) + " must be " + mil::shape_to_string(expected));
  const auto dst_st = kutil::strides_of(ds), ist = kutil::strides_of(idx.shape());
  const auto iv = idx.to_i64();
  std::vector<int64_t> dst(static_cast<size_t>(upd.numel())), co(expected.size(), 0);
  for (size_t i = 0; i < dst.size(); ++i) {
    int64_t ii = 0;
    for (size_t k = 0; k < ni; ++k) ii += co[a + k] * ist[k];
    IM_ASSIGN_OR_RETURN(int64_t v, index_into(c, iv[static_cast<size_t>(ii)], ds[a]));
    int64_t f = v * dst_st[a];
    for (size_t k = 0; k < a; ++k) f += co[k] * dst_st[k];
    for (size_t k = a + 1; k < ds.size(); ++k) f += co[k - 1 + ni] * dst_st[k];
    dst[i] = f;
    kutil::next_coord(co, expected);
  }
  return set_scattered(c, data, upd, mode, dst);
}

Status k_scatter_along_axis(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor data, c.tensor("data"));
  IM_ASSIGN_OR_RETURN(Tensor idx, c.tensor("indices"));
  IM_ASSIGN_OR_RETURN(Tensor upd, c.tensor("updates"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(Mode mode, scatter_mode(c));
  if (idx.rank() != data.rank() || upd.shape() != idx.shape())
    return c.error("indices must have the rank of data and updates the shape of indices");
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, data.rank()));
  const size_t a = static_cast<size_t>(axis);
  for (int i = 0; i < data.rank(); ++i)
    if (static_cast<size_t>(i) != a && data.dim(i) != idx.dim(i))
      return c.error("indices shape must equal data's except at the axis");
  const auto st = kutil::strides_of(data.shape());
  const auto iv = idx.to_i64();
  std::vector<int64_t> dst(iv.size()), co(idx.shape().size(), 0);
  for (size_t i = 0; i < iv.size(); ++i) {
    IM_ASSIGN_OR_RETURN(int64_t v, index_into(c, iv[i], data.shape()[a]));
    dst[i] = kutil::flat_offset(co, st) + (v - co[a]) * st[a];
    kutil::next_coord(co, idx.shape());
  }
  return set_scattered(c, data, upd, mode, dst);
}

Status k_scatter_nd(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor data, c.tensor("data"));
  IM_ASSIGN_OR_RETURN(Tensor idx, c.tensor("indices"));
  IM_ASSIGN_OR_RETURN(Tensor upd, c.tensor("updates"));
  IM_ASSIGN_OR_RETURN(Mode mode, scatter_mode(c));
  if (idx.rank() < 1) return c.error("indices must have rank >= 1");
  const int64_t k = idx.dim(-1);
  if (k > data.rank()) return c.error("indices.shape[-1] exceeds rank(data)");
  const Shape& ds = data.shape();
  Shape expected(idx.shape().begin(), idx.shape().end() - 1);
  const size_t lead = expected.size();
  expected.insert(expected.end(), ds.begin() + k, ds.end());
  if (upd.shape() != expected)
    return c.error("updates shape " + mil::shape_to_string(upd.shape()) + " must be " + mil::shape_to_string(expected));
  const auto st = kutil::strides_of(ds);
  const auto lst = kutil::strides_of(Shape(idx.shape().begin(), idx.shape().end() - 1));
  const auto iv = idx.to_i64();
  std::vector<int64_t> dst(static_cast<size_t>(upd.numel())), co(expected.size(), 0);
  for (size_t i = 0; i < dst.size(); ++i) {
    int64_t row = 0;
    for (size_t d = 0; d < lead; ++d) row += co[d] * lst[d];
    int64_t f = 0;
    for (int64_t j = 0; j < k; ++j) {
      IM_ASSIGN_OR_RETURN(int64_t v, index_into(c, iv[static_cast<size_t>(row * k + j)], ds[static_cast<size_t>(j)]));
      f += v * st[static_cast<size_t>(j)];
    }
    for (size_t d = lead; d < expected.size(); ++d) f += co[d] * st[d - lead + static_cast<size_t>(k)];
    dst[i] = f;
    kutil::next_coord(co, expected);
  }
  return set_scattered(c, data, upd, mode, dst);
}

}  // namespace

void register_gather_scatter_kernels(KernelTable& t) {
  t.add("gather", k_gather);
  t.add("gather_along_axis", k_gather_along_axis);
  t.add("gather_nd", k_gather_nd);
  t.add("scatter", k_scatter);
  t.add("scatter_along_axis", k_scatter_along_axis);
  t.add("scatter_nd", k_scatter_nd);
}

}  // namespace ironmill::backends::reference
