// Reference kernels for the shape ops.
//
// Data movement copies raw element bytes (or strings), so every dtype is moved exactly; only the
// ops that compute values (fill, range_1d, one_hot, shape, non_zero) convert. Each kernel recomputes
// its shapes from the run-time input shapes and checks them, so a bad input is an error, never UB.
// Semantics follow coremltools (see src/mil/ops/shape.cc); orderings: depth_to_space / space_to_depth
// are TF's DCR order, pixel_shuffle / pixel_unshuffle torch's CRD order, space_to_batch /
// batch_to_space TF's (output batch = block_index * N + n).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

std::string ints_str(const std::vector<int64_t>& v) { return mil::shape_to_string(v); }

// Element copies between tensors of one dtype (bytes, or strings).
class Copier {
 public:
  Copier(const Tensor& src, Tensor& dst) : str_(src.dtype() == DType::kString), src_(src) {
    if (str_) {
      dst_strings_ = &dst.mutable_strings();
    } else {
      bytes_ = static_cast<size_t>(mil::dtype_element_bytes(src.dtype()));
      s_ = src.raw();
      d_ = dst.mutable_raw();
    }
  }
  void operator()(int64_t dst, int64_t src, int64_t count = 1) {
    if (count <= 0) return;
    if (str_) {
      for (int64_t k = 0; k < count; ++k) (*dst_strings_)[static_cast<size_t>(dst + k)] = src_.get_string(src + k);
    } else {
      std::memcpy(d_ + static_cast<size_t>(dst) * bytes_, s_ + static_cast<size_t>(src) * bytes_,
                  static_cast<size_t>(count) * bytes_);
    }
  }

 private:
  bool str_;
  const Tensor& src_;
  std::vector<std::string>* dst_strings_ = nullptr;
  size_t bytes_ = 0;
  const uint8_t* s_ = nullptr;
  uint8_t* d_ = nullptr;
};

// A fresh tensor of x's dtype and `shape` whose element at output coordinate `coord` is
// x[src(coord)] (a flat index), or `fill`'s single element when src returns -1.
template <class F>
Tensor map_elements(const Tensor& x, const Shape& shape, F src_of, const Tensor* fill = nullptr) {
  Tensor out(x.dtype(), shape);
  const int64_t n = out.numel();
  if (n == 0) return out;
  Copier copy(x, out);
  std::optional<Copier> fill_copy;
  if (fill) fill_copy.emplace(*fill, out);
  std::vector<int64_t> coord(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = src_of(coord);
    if (s >= 0) copy(i, s);
    else if (fill_copy) (*fill_copy)(i, 0);
    kutil::next_coord(coord, shape);
  }
  return out;
}

Status set_reshaped(KernelContext& c, const Tensor& x, const Shape& shape) {
  if (mil::shape_numel(shape) != x.numel())
    return c.error("cannot reshape x " + mil::shape_to_string(x.shape()) + " (" + std::to_string(x.numel()) +
                   " elements) to " + mil::shape_to_string(shape));
  IM_ASSIGN_OR_RETURN(Tensor y, x.reshaped(shape));
  c.set_output(0, std::move(y));
  return Status::Ok();
}

// One scalar of `dtype` holding value `v` (a tensor input converted, for fill values).
Tensor scalar_like(const Tensor& v, DType dtype) {
  if (v.dtype() == dtype) {
    Tensor out(dtype, {});
    Copier(v, out)(0, 0);
    return out;
  }
  return v.cast_to(dtype).reshaped({}).value();
}

// ---- reshape family --------------------------------------------------------------------------------

Status k_reshape(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> v, c.get_ints("shape"));
  Shape out(v.begin(), v.end());
  int64_t infer_at = -1, rest = 1;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == -1) {
      if (infer_at >= 0) return c.error("shape " + ints_str(v) + ": at most one entry may be -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (v[i] < -1) return c.error("shape " + ints_str(v) + ": entries must be positive, 0 or -1");
    if (v[i] == 0) {
      if (static_cast<size_t>(x.rank()) != v.size())
        return c.error("shape " + ints_str(v) + ": a 0 entry needs len(shape) == rank(x) = " + std::to_string(x.rank()));
      out[i] = x.dim(static_cast<int>(i));
    }
    rest *= out[i];
  }
  if (infer_at >= 0) {
    if (rest == 0 || x.numel() % rest != 0)
      return c.error("cannot infer the -1 entry of shape " + ints_str(v) + " for x " + mil::shape_to_string(x.shape()));
    out[static_cast<size_t>(infer_at)] = x.numel() / rest;
  }
  return set_reshaped(c, x, out);
}

Status k_reshape_like(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<RtValue> refs, c.tuple("ref_tensors"));
  IM_ASSIGN_OR_RETURN(std::vector<RtValue> begins, c.tuple("begins"));
  IM_ASSIGN_OR_RETURN(std::vector<RtValue> ends, c.tuple("ends"));
  IM_ASSIGN_OR_RETURN(std::vector<RtValue> masks, c.tuple("end_masks"));
  if (begins.size() != refs.size() || ends.size() != refs.size() || masks.size() != refs.size())
    return c.error("ref_tensors, begins, ends and end_masks must have the same length");
  auto scalar = [&](const RtValue& v, const char* what) -> Result<int64_t> {
    const auto* t = std::get_if<Tensor>(&v);
    if (!t || t->numel() != 1) return c.error(std::string(what) + " must hold scalars");
    return t->get_i64(0);
  };
  Shape out;
  for (size_t i = 0; i < refs.size(); ++i) {
    const auto* ref = std::get_if<Tensor>(&refs[i]);
    if (!ref) return c.error("ref_tensors must hold tensors");
    IM_ASSIGN_OR_RETURN(int64_t b, scalar(begins[i], "begins"));
    IM_ASSIGN_OR_RETURN(int64_t e, scalar(ends[i], "ends"));
    IM_ASSIGN_OR_RETURN(int64_t m, scalar(masks[i], "end_masks"));
    const int64_t r = ref->rank();
    const int64_t bb = b < 0 ? std::max<int64_t>(b + r, 0) : std::min(b, r);
    const int64_t ee = m ? r : (e < 0 ? std::max<int64_t>(e + r, 0) : std::min(e, r));
    for (int64_t k = bb; k < ee; ++k) out.push_back(ref->dim(static_cast<int>(k)));
  }
  return set_reshaped(c, x, out);
}

Status k_expand_dims(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.get_ints("axes"));
  const int64_t out_rank = x.rank() + static_cast<int64_t>(axes.size());
  std::vector<bool> is_new(static_cast<size_t>(out_rank), false);
  for (int64_t a : axes) {
    IM_ASSIGN_OR_RETURN(int64_t n, kutil::normalize_axis(c, a, out_rank));
    if (is_new[static_cast<size_t>(n)]) return c.error("axes " + ints_str(axes) + " repeat an axis");
    is_new[static_cast<size_t>(n)] = true;
  }
  Shape out;
  int k = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(is_new[static_cast<size_t>(i)] ? 1 : x.dim(k++));
  return set_reshaped(c, x, out);
}

Status k_squeeze(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  std::vector<bool> drop(static_cast<size_t>(x.rank()), false);
  if (c.has("axes")) {
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.get_ints("axes"));
    for (int64_t a : axes) {
      IM_ASSIGN_OR_RETURN(int64_t n, kutil::normalize_axis(c, a, x.rank()));
      // coreml-format.md §5.1: listed dims that are not 1 are left in place
      if (x.dim(static_cast<int>(n)) == 1) drop[static_cast<size_t>(n)] = true;
    }
  } else {
    for (int i = 0; i < x.rank(); ++i) drop[static_cast<size_t>(i)] = x.dim(i) == 1;
  }
  Shape out;
  for (int i = 0; i < x.rank(); ++i)
    if (!drop[static_cast<size_t>(i)]) out.push_back(x.dim(i));
  return set_reshaped(c, x, out);
}

Status k_flatten2d(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  const int64_t r = x.rank();
  if (axis < -r || axis > r) return c.error("axis " + std::to_string(axis) + " out of range [-rank, rank] for rank " + std::to_string(r));
  if (axis < 0) axis += r;
  int64_t pre = 1;
  for (int64_t i = 0; i < axis; ++i) pre *= x.dim(static_cast<int>(i));
  return set_reshaped(c, x, {pre, pre == 0 ? 0 : x.numel() / pre});
}

Status k_transpose(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> perm, c.get_ints("perm"));
  const int64_t r = x.rank();
  if (static_cast<int64_t>(perm.size()) != r) return c.error("perm " + ints_str(perm) + " must have rank(x) entries");
  std::vector<bool> seen(static_cast<size_t>(r), false);
  for (auto& p : perm) {
    IM_ASSIGN_OR_RETURN(p, kutil::normalize_axis(c, p, r, "perm entry"));
    if (seen[static_cast<size_t>(p)]) return c.error("perm " + ints_str(perm) + " is not a permutation");
    seen[static_cast<size_t>(p)] = true;
  }
  Shape out;
  for (int64_t p : perm) out.push_back(x.dim(static_cast<int>(p)));
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, out, [&](const std::vector<int64_t>& co) {
                 int64_t f = 0;
                 for (size_t i = 0; i < co.size(); ++i) f += co[i] * st[static_cast<size_t>(perm[i])];
                 return f;
               }));
  return Status::Ok();
}

// ---- concat / stack / split ------------------------------------------------------------------------

Result<std::vector<Tensor>> tuple_tensors(KernelContext& c, const std::string& name) {
  IM_ASSIGN_OR_RETURN(std::vector<RtValue> vs, c.tuple(name));
  std::vector<Tensor> out;
  for (auto& v : vs) {
    auto* t = std::get_if<Tensor>(&v);
    if (!t) return c.error("`" + name + "` must hold tensors");
    if (!out.empty() && t->dtype() != out[0].dtype()) return c.error("`" + name + "` values must share a dtype");
    out.push_back(*t);
  }
  if (out.empty()) return c.error("`" + name + "` is empty");
  return out;
}

Status k_concat(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(std::vector<Tensor> vs, tuple_tensors(c, "values"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(bool interleave, c.get_bool("interleave"));
  const int r = vs[0].rank();
  for (const auto& v : vs)
    if (v.rank() != r) return c.error("all values must have the same rank");
  if (r == 0) {  // scalars are stacked into a vector (coremltools)
    Tensor out(vs[0].dtype(), {static_cast<int64_t>(vs.size())});
    for (size_t i = 0; i < vs.size(); ++i) Copier(vs[i], out)(static_cast<int64_t>(i), 0);
    c.set_output(0, std::move(out));
    return Status::Ok();
  }
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, r));
  Shape out_shape = vs[0].shape();
  out_shape[static_cast<size_t>(axis)] = 0;
  for (const auto& v : vs) {
    for (int k = 0; k < r; ++k)
      if ((k != axis || interleave) && v.dim(k) != vs[0].dim(k))
        return c.error("value shapes " + mil::shape_to_string(v.shape()) + " and " + mil::shape_to_string(vs[0].shape()) +
                       (interleave ? " must be equal for interleave" : " differ outside the concat axis"));
    out_shape[static_cast<size_t>(axis)] += v.dim(static_cast<int>(axis));
  }
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= out_shape[static_cast<size_t>(k)];
  for (int k = static_cast<int>(axis) + 1; k < r; ++k) inner *= out_shape[static_cast<size_t>(k)];
  Tensor out(vs[0].dtype(), out_shape);
  std::vector<Copier> copy;
  for (const auto& v : vs) copy.emplace_back(v, out);
  int64_t dst = 0;
  if (!interleave) {
    for (int64_t o = 0; o < outer; ++o)
      for (size_t i = 0; i < vs.size(); ++i) {
        const int64_t chunk = vs[i].dim(static_cast<int>(axis)) * inner;
        copy[i](dst, o * chunk, chunk);
        dst += chunk;
      }
  } else {  // output[..., j*n + i, ...] = values[i][..., j, ...]
    const int64_t d = vs[0].dim(static_cast<int>(axis));
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < d; ++j)
        for (size_t i = 0; i < vs.size(); ++i) {
          copy[i](dst, (o * d + j) * inner, inner);
          dst += inner;
        }
  }
  c.set_output(0, std::move(out));
  return Status::Ok();
}

Status k_stack(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(std::vector<Tensor> vs, tuple_tensors(c, "values"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  for (const auto& v : vs)
    if (v.shape() != vs[0].shape()) return c.error("all values must have the same shape");
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, vs[0].rank() + 1));
  Shape out_shape = vs[0].shape();
  out_shape.insert(out_shape.begin() + axis, static_cast<int64_t>(vs.size()));
  int64_t outer = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= out_shape[static_cast<size_t>(k)];
  const int64_t inner = outer == 0 ? 0 : vs[0].numel() / outer;
  Tensor out(vs[0].dtype(), out_shape);
  std::vector<Copier> copy;
  for (const auto& v : vs) copy.emplace_back(v, out);
  int64_t dst = 0;
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < vs.size(); ++i) {
      copy[i](dst, o * inner, inner);
      dst += inner;
    }
  c.set_output(0, std::move(out));
  return Status::Ok();
}

Status k_split(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, x.rank()));
  const int64_t d = x.dim(static_cast<int>(axis));
  std::vector<int64_t> sizes;
  if (c.has("split_sizes")) {
    IM_ASSIGN_OR_RETURN(sizes, c.get_ints("split_sizes"));
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0) return c.error("split_sizes " + ints_str(sizes) + " must be non-negative");
      sum += s;
    }
    if (sum != d) return c.error("split_sizes " + ints_str(sizes) + " must sum to the split dim " + std::to_string(d));
  } else {
    IM_ASSIGN_OR_RETURN(int64_t n, c.get_int("num_splits"));
    if (n <= 0 || d % n != 0)
      return c.error("num_splits " + std::to_string(n) + " does not divide the split dim " + std::to_string(d));
    sizes.assign(static_cast<size_t>(n), d / n);
  }
  if (sizes.size() != c.outputs().size())
    return c.error(std::to_string(sizes.size()) + " splits but the op declares " + std::to_string(c.outputs().size()) + " outputs");
  int64_t outer = 1, inner = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= x.dim(static_cast<int>(k));
  for (int k = static_cast<int>(axis) + 1; k < x.rank(); ++k) inner *= x.dim(k);
  int64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Shape s = x.shape();
    s[static_cast<size_t>(axis)] = sizes[i];
    Tensor out(x.dtype(), s);
    Copier copy(x, out);
    for (int64_t o = 0; o < outer; ++o) copy(o * sizes[i] * inner, (o * d + offset) * inner, sizes[i] * inner);
    offset += sizes[i];
    c.set_output(i, std::move(out));
  }
  return Status::Ok();
}

// ---- tile / pad / reverse ------------------------------------------------------------------------

Status k_tile(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> reps, c.get_ints("reps"));
  if (static_cast<int>(reps.size()) != x.rank()) return c.error("reps " + ints_str(reps) + " must have rank(x) entries");
  Shape out;
  for (int i = 0; i < x.rank(); ++i) {
    if (reps[static_cast<size_t>(i)] <= 0) return c.error("reps " + ints_str(reps) + " must be positive");
    out.push_back(x.dim(i) * reps[static_cast<size_t>(i)]);
  }
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, out, [&](const std::vector<int64_t>& co) {
                 int64_t f = 0;
                 for (size_t i = 0; i < co.size(); ++i) f += (co[i] % x.shape()[i]) * st[i];
                 return f;
               }));
  return Status::Ok();
}

Status k_pad(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> pad, c.get_ints("pad"));
  IM_ASSIGN_OR_RETURN(std::string mode, c.get_string("mode"));
  IM_ASSIGN_OR_RETURN(Tensor cv, c.tensor("constant_val"));
  if (cv.numel() != 1) return c.error("constant_val must be a scalar");
  const int64_t r = x.rank();
  if (pad.size() % 2 != 0 || static_cast<int64_t>(pad.size()) > 2 * r)
    return c.error("pad " + ints_str(pad) + " must hold before/after pairs for at most rank(x) dims");
  std::vector<int64_t> before(static_cast<size_t>(r), 0), after(static_cast<size_t>(r), 0);
  const int64_t n = static_cast<int64_t>(pad.size()) / 2;
  Shape out = x.shape();
  for (int64_t i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(r - n + i);
    before[k] = pad[static_cast<size_t>(2 * i)];
    after[k] = pad[static_cast<size_t>(2 * i + 1)];
    const int64_t d = x.shape()[k];
    if (before[k] < 0 || after[k] < 0) return c.error("pad " + ints_str(pad) + " must be non-negative");
    if (mode == "reflect" && (before[k] > d - 1 || after[k] > d - 1))
      return c.error("reflect pad " + ints_str(pad) + " must be < dim " + std::to_string(d));
    if (mode == "replicate" && (d == 0 || before[k] > d || after[k] > d))
      return c.error("replicate pad " + ints_str(pad) + " must be <= dim " + std::to_string(d));
    out[k] = d + before[k] + after[k];
  }
  if (mode != "constant" && mode != "reflect" && mode != "replicate") return c.error("unknown pad mode \"" + mode + "\"");
  const Tensor fill = scalar_like(cv, x.dtype());
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(
                      x, out,
                      [&](const std::vector<int64_t>& co) -> int64_t {
                        int64_t f = 0;
                        for (size_t i = 0; i < co.size(); ++i) {
                          int64_t p = co[i] - before[i];
                          const int64_t d = x.shape()[i];
                          if (p < 0 || p >= d) {
                            if (mode == "constant") return -1;
                            if (mode == "reflect") p = p < 0 ? -p : 2 * (d - 1) - p;
                            else p = p < 0 ? 0 : d - 1;
                          }
                          f += p * st[i];
                        }
                        return f;
                      },
                      &fill));
  return Status::Ok();
}

Status k_reverse(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  std::vector<bool> rev(static_cast<size_t>(x.rank()), !c.has("axes"));
  if (c.has("axes")) {
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.get_ints("axes"));
    for (int64_t a : axes) {
      IM_ASSIGN_OR_RETURN(int64_t n, kutil::normalize_axis(c, a, x.rank()));
      rev[static_cast<size_t>(n)] = true;
    }
  }
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, x.shape(), [&](const std::vector<int64_t>& co) {
                 int64_t f = 0;
                 for (size_t i = 0; i < co.size(); ++i) f += (rev[i] ? x.shape()[i] - 1 - co[i] : co[i]) * st[i];
                 return f;
               }));
  return Status::Ok();
}

Status k_reverse_sequence(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> lengths, c.get_ints("lengths"));
  IM_ASSIGN_OR_RETURN(int64_t seq, c.get_int("seq_axis"));
  IM_ASSIGN_OR_RETURN(int64_t batch, c.get_int("batch_axis"));
  IM_ASSIGN_OR_RETURN(seq, kutil::normalize_axis(c, seq, x.rank(), "seq_axis"));
  IM_ASSIGN_OR_RETURN(batch, kutil::normalize_axis(c, batch, x.rank(), "batch_axis"));
  if (seq == batch) return c.error("seq_axis and batch_axis must differ");
  const size_t s = static_cast<size_t>(seq), b = static_cast<size_t>(batch);
  if (static_cast<int64_t>(lengths.size()) != x.shape()[b])
    return c.error("lengths has " + std::to_string(lengths.size()) + " entries, x.shape[batch_axis] is " + std::to_string(x.shape()[b]));
  for (int64_t l : lengths)
    if (l < 0 || l > x.shape()[s])
      return c.error("lengths " + ints_str(lengths) + " must lie in [0, " + std::to_string(x.shape()[s]) + "]");
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, x.shape(), [&](const std::vector<int64_t>& co) {
                 int64_t f = kutil::flat_offset(co, st);
                 const int64_t l = lengths[static_cast<size_t>(co[b])];
                 if (co[s] < l) f += (l - 1 - 2 * co[s]) * st[s];
                 return f;
               }));
  return Status::Ok();
}

// ---- slicing ---------------------------------------------------------------------------------------

struct DimSlice {
  int64_t start = 0, step = 1, count = 0;
  bool squeezed = false;
};

// python slice(begin, end, stride).indices(dim) with None for masked ends; squeeze = pure index.
Result<std::vector<DimSlice>> resolve_slices(KernelContext& c, const Tensor& x) {
  const size_t r = static_cast<size_t>(x.rank());
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> begin, c.get_ints("begin"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> end, c.get_ints("end"));
  auto opt = [&](const std::string& n, int64_t def) -> Result<std::vector<int64_t>> {
    if (!c.has(n)) return std::vector<int64_t>(r, def);
    return c.get_ints(n);
  };
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> stride, opt("stride", 1));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> bm, opt("begin_mask", 0));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> em, opt("end_mask", 0));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> sm, opt("squeeze_mask", 0));
  for (const auto* v : {&begin, &end, &stride, &bm, &em, &sm})
    if (v->size() != r) return c.error("begin/end/stride/masks must have rank(x) = " + std::to_string(r) + " entries");
  std::vector<DimSlice> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t d = x.shape()[i];
    DimSlice& s = out[i];
    if (sm[i]) {
      int64_t b = bm[i] ? 0 : begin[i];
      if (b < 0) b += d;
      if (b < 0 || b >= d)
        return c.error("squeezed index " + std::to_string(begin[i]) + " out of range for dim " + std::to_string(i) +
                       " of size " + std::to_string(d));
      s = {b, 1, 1, true};
      continue;
    }
    const int64_t step = stride[i];
    if (step == 0) return c.error("stride must be non-zero");
    int64_t b, e;
    if (step > 0) {
      b = bm[i] ? 0 : begin[i];
      if (b < 0) b = std::max<int64_t>(b + d, 0);
      b = std::min(b, d);
      e = em[i] ? d : end[i];
      if (e < 0) e = std::max<int64_t>(e + d, 0);
      e = std::min(e, d);
      s = {b, step, e > b ? (e - b + step - 1) / step : 0, false};
    } else {
      b = bm[i] ? d - 1 : begin[i];
      if (!bm[i]) {
        if (b < 0) b = std::max<int64_t>(b + d, -1);
        b = std::min(b, d - 1);
      }
      e = em[i] ? -1 : end[i];
      if (!em[i]) {
        if (e < 0) e = std::max<int64_t>(e + d, -1);
        e = std::min(e, d - 1);
      }
      s = {b, step, b > e ? (b - e - step - 1) / (-step) : 0, false};
    }
  }
  return out;
}

Shape sliced_shape(const std::vector<DimSlice>& sl) {
  Shape s;
  for (const auto& d : sl)
    if (!d.squeezed) s.push_back(d.count);
  return s;
}

// Flat index in x of the element at slice coordinate `co` (squeezed dims omitted from co).
int64_t slice_source(const std::vector<DimSlice>& sl, const std::vector<int64_t>& st, const std::vector<int64_t>& co) {
  int64_t f = 0;
  size_t k = 0;
  for (size_t i = 0; i < sl.size(); ++i) f += (sl[i].squeezed ? sl[i].start : sl[i].start + co[k++] * sl[i].step) * st[i];
  return f;
}

Status k_slice_by_index(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<DimSlice> sl, resolve_slices(c, x));
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, sliced_shape(sl), [&](const std::vector<int64_t>& co) { return slice_source(sl, st, co); }));
  return Status::Ok();
}

Status k_slice_update(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor upd, c.tensor("update"));
  if (upd.dtype() != x.dtype()) return c.error("update dtype must match x");
  IM_ASSIGN_OR_RETURN(std::vector<DimSlice> sl, resolve_slices(c, x));
  const Shape shape = sliced_shape(sl);
  if (upd.shape() != shape)
    return c.error("update shape " + mil::shape_to_string(upd.shape()) + " must equal the slice shape " + mil::shape_to_string(shape));
  Tensor out(x.dtype(), x.shape());
  Copier(x, out)(0, 0, x.numel());
  const auto st = kutil::strides_of(x.shape());
  Copier copy(upd, out);
  std::vector<int64_t> co(shape.size(), 0);
  for (int64_t i = 0; i < upd.numel(); ++i) {
    copy(slice_source(sl, st, co), i);
    kutil::next_coord(co, shape);
  }
  c.set_output(0, std::move(out));
  return Status::Ok();
}

Status k_slice_by_size(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> begin, c.get_ints("begin"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> size, c.get_ints("size"));
  const size_t r = static_cast<size_t>(x.rank());
  if (begin.size() != r || size.size() != r) return c.error("begin and size must have rank(x) entries");
  Shape out;
  std::vector<int64_t> b(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t d = x.shape()[i];
    b[i] = begin[i] < 0 ? begin[i] + d : begin[i];
    const int64_t n = size[i] == -1 ? d - b[i] : size[i];
    if (b[i] < 0 || b[i] > d || n < 0 || b[i] + n > d)
      return c.error("begin " + ints_str(begin) + " / size " + ints_str(size) + " out of range for x " +
                     mil::shape_to_string(x.shape()));
    out.push_back(n);
  }
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, out, [&](const std::vector<int64_t>& co) {
                 int64_t f = 0;
                 for (size_t i = 0; i < r; ++i) f += (b[i] + co[i]) * st[i];
                 return f;
               }));
  return Status::Ok();
}

// ---- values: shape, fill, range, band_part, one_hot, non_zero ---------------------------------------

Status k_shape(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  c.set_output(0, Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(x.rank())}, x.shape()));
  return Status::Ok();
}

Status fill_to(KernelContext& c, const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) return c.error("shape " + ints_str(shape) + " has a negative dim");
  const DType dt = kutil::out_dtype(c);
  Tensor out(dt, shape);
  if (c.has("value")) {
    IM_ASSIGN_OR_RETURN(Tensor v, c.tensor("value"));
    if (v.numel() != 1) return c.error("value must be a scalar");
    const Tensor s = scalar_like(v, dt);
    Copier copy(s, out);
    for (int64_t i = 0; i < out.numel(); ++i) copy(i, 0);
  }  // default: 0.0 (zero-filled)
  c.set_output(0, std::move(out));
  return Status::Ok();
}

Status k_fill(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> shape, c.get_ints("shape"));
  return fill_to(c, shape);
}

Status k_fill_like(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor ref, c.tensor("ref_tensor"));
  return fill_to(c, ref.shape());
}

Status k_range_1d(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor end, c.tensor("end"));
  IM_ASSIGN_OR_RETURN(Tensor start, c.tensor("start"));
  IM_ASSIGN_OR_RETURN(Tensor step, c.tensor("step"));
  if (end.numel() != 1 || start.numel() != 1 || step.numel() != 1) return c.error("end, start and step must be scalars");
  const DType dt = kutil::out_dtype(c);
  if (mil::is_int(dt)) {
    const int64_t s = start.get_i64(0), e = end.get_i64(0), st = step.get_i64(0);
    if (st == 0) return c.error("step must be non-zero");
    // ceil((e - s) / st) in exact integer arithmetic
    const int64_t num = e - s;
    int64_t n = num / st;
    if (n * st != num && ((num > 0) == (st > 0))) ++n;
    n = std::max<int64_t>(n, 0);
    std::vector<int64_t> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = s + i * st;
    c.set_output(0, Tensor::from_i64(dt, {n}, v));
    return Status::Ok();
  }
  const double s = start.get_f64(0), e = end.get_f64(0), st = step.get_f64(0);
  if (st == 0 || !std::isfinite(st) || !std::isfinite(s) || !std::isfinite(e))
    return c.error("start, end and step must be finite and step non-zero");
  const double nd = std::ceil((e - s) / st);
  if (nd > 1e9) return c.error("range of " + std::to_string(nd) + " elements is too large");
  const int64_t n = nd > 0 ? static_cast<int64_t>(nd) : 0;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = s + static_cast<double>(i) * st;
  c.set_output(0, Tensor::from_f64(dt, {n}, v));
  return Status::Ok();
}

Status k_band_part(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(int64_t lower, c.get_int("lower"));
  IM_ASSIGN_OR_RETURN(int64_t upper, c.get_int("upper"));
  if (x.rank() < 2) return c.error("x must have rank >= 2");
  const Tensor zero(x.dtype(), {});
  const int r = x.rank();
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(
                      x, x.shape(),
                      [&](const std::vector<int64_t>& co) -> int64_t {
                        const int64_t m = co[static_cast<size_t>(r - 2)], n = co[static_cast<size_t>(r - 1)];
                        const bool keep = (lower < 0 || m - n <= lower) && (upper < 0 || n - m <= upper);
                        return keep ? kutil::flat_offset(co, st) : -1;
                      },
                      &zero));
  return Status::Ok();
}

Status k_one_hot(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor idx, c.tensor("indices"));
  IM_ASSIGN_OR_RETURN(int64_t depth, c.get_int("one_hot_vector_size"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(Tensor on, c.tensor("on_value"));
  IM_ASSIGN_OR_RETURN(Tensor off, c.tensor("off_value"));
  if (depth < 0) return c.error("one_hot_vector_size must be non-negative, got " + std::to_string(depth));
  if (on.numel() != 1 || off.numel() != 1) return c.error("on_value and off_value must be scalars");
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, idx.rank() + 1));
  const DType dt = kutil::out_dtype(c);
  const Tensor on_s = scalar_like(on, dt), off_s = scalar_like(off, dt);
  Shape out_shape = idx.shape();
  out_shape.insert(out_shape.begin() + axis, depth);
  Tensor out(dt, out_shape);
  Copier put_on(on_s, out), put_off(off_s, out);
  const auto vals = idx.to_i64();
  const auto ist = kutil::strides_of(idx.shape());
  std::vector<int64_t> co(out_shape.size(), 0);
  for (int64_t i = 0; i < out.numel(); ++i) {
    int64_t f = 0, k = 0;
    for (size_t d = 0; d < co.size(); ++d)
      if (static_cast<int64_t>(d) != axis) f += co[d] * ist[static_cast<size_t>(k++)];
    // An index outside [0, depth) gives an all-off vector (tf.one_hot, which coremltools follows).
    if (vals[static_cast<size_t>(f)] == co[static_cast<size_t>(axis)]) put_on(i, 0);
    else put_off(i, 0);
    kutil::next_coord(co, out_shape);
  }
  c.set_output(0, std::move(out));
  return Status::Ok();
}

Status k_non_zero(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  const int64_t r = x.rank();
  const auto st = kutil::strides_of(x.shape());
  std::vector<int64_t> v;
  int64_t n = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (x.get_f64(i) == 0.0) continue;  // NaN counts as non-zero, like numpy
    ++n;
    int64_t rem = i;
    for (int64_t d = 0; d < r; ++d) {
      v.push_back(rem / st[static_cast<size_t>(d)]);
      rem %= st[static_cast<size_t>(d)];
    }
  }
  c.set_output(0, Tensor::from_i64(DType::kInt32, {n, r}, v));
  return Status::Ok();
}

// ---- windows, depth/space, crop --------------------------------------------------------------------

Status k_sliding_windows(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(int64_t size, c.get_int("size"));
  IM_ASSIGN_OR_RETURN(int64_t stride, c.get_int("stride"));
  IM_ASSIGN_OR_RETURN(axis, kutil::normalize_axis(c, axis, x.rank()));
  const size_t a = static_cast<size_t>(axis);
  const int64_t d = x.shape()[a];
  if (size <= 0 || stride <= 0 || size > d)
    return c.error("size " + std::to_string(size) + " / stride " + std::to_string(stride) + " invalid for dim " + std::to_string(d));
  Shape out = x.shape();
  out[a] = (d - size) / stride + 1;
  out.insert(out.begin() + axis + 1, size);
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, out, [&](const std::vector<int64_t>& co) {
                 int64_t f = 0;
                 for (size_t i = 0, k = 0; i < co.size(); ++i, ++k) {
                   if (i == a) {
                     f += (co[i] * stride + co[i + 1]) * st[k];
                     ++i;
                   } else {
                     f += co[i] * st[k];
                   }
                 }
                 return f;
               }));
  return Status::Ok();
}

Result<Tensor> rank4_input(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  if (x.rank() != 4) return c.error("x must be rank 4 [N, C, H, W], got " + mil::shape_to_string(x.shape()));
  return x;
}

// kind 0: depth_to_space (DCR), 1: pixel_shuffle (CRD)
KernelFn to_space(const std::string& param, int kind) {
  return [param, kind](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, rank4_input(c));
    IM_ASSIGN_OR_RETURN(int64_t b, c.get_int(param));
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    if (b <= 0 || C % (b * b) != 0) return c.error(param + " " + std::to_string(b) + ": b^2 must divide C = " + std::to_string(C));
    const int64_t Co = C / (b * b);
    const auto st = kutil::strides_of(x.shape());
    c.set_output(0, map_elements(x, {N, Co, H * b, W * b}, [&](const std::vector<int64_t>& co) {
                   const int64_t i = co[2] % b, j = co[3] % b;
                   const int64_t ci = kind == 0 ? (i * b + j) * Co + co[1] : co[1] * b * b + i * b + j;
                   return co[0] * st[0] + ci * st[1] + (co[2] / b) * st[2] + (co[3] / b) * st[3];
                 }));
    return Status::Ok();
  };
}

// kind 0: space_to_depth (DCR), 1: pixel_unshuffle (CRD)
KernelFn to_depth(const std::string& param, int kind) {
  return [param, kind](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, rank4_input(c));
    IM_ASSIGN_OR_RETURN(int64_t b, c.get_int(param));
    const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
    if (b <= 0 || H % b != 0 || W % b != 0)
      return c.error(param + " " + std::to_string(b) + " must divide H = " + std::to_string(H) + " and W = " + std::to_string(W));
    const auto st = kutil::strides_of(x.shape());
    c.set_output(0, map_elements(x, {N, C * b * b, H / b, W / b}, [&](const std::vector<int64_t>& co) {
                   int64_t ci, i, j;
                   if (kind == 0) {
                     ci = co[1] % C;
                     const int64_t blk = co[1] / C;
                     i = blk / b;
                     j = blk % b;
                   } else {
                     ci = co[1] / (b * b);
                     i = (co[1] % (b * b)) / b;
                     j = co[1] % b;
                   }
                   return co[0] * st[0] + ci * st[1] + (co[2] * b + i) * st[2] + (co[3] * b + j) * st[3];
                 }));
    return Status::Ok();
  };
}

Result<std::pair<std::vector<int64_t>, std::vector<int64_t>>> block_table(KernelContext& c, const std::string& table) {
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> block, c.get_ints("block_shape"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> t, c.get_ints(table));
  if (block.size() != 2 || t.size() != 4) return c.error("block_shape must have 2 entries and " + table + " shape [2, 2]");
  for (int64_t b : block)
    if (b <= 0) return c.error("block_shape " + ints_str(block) + " must be positive");
  for (int64_t p : t)
    if (p < 0) return c.error(table + " " + ints_str(t) + " must be non-negative");
  return std::make_pair(block, t);
}

Status k_space_to_batch(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, rank4_input(c));
  IM_ASSIGN_OR_RETURN(auto bp, block_table(c, "paddings"));
  const auto& [bl, pad] = bp;
  const int64_t N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const int64_t Hp = H + pad[0] + pad[1], Wp = W + pad[2] + pad[3];
  if (Hp % bl[0] != 0 || Wp % bl[1] != 0)
    return c.error("padded spatial dims [" + std::to_string(Hp) + ", " + std::to_string(Wp) + "] must be divisible by block_shape " + ints_str(bl));
  const Tensor zero(x.dtype(), {});
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(
                      x, {N * bl[0] * bl[1], C, Hp / bl[0], Wp / bl[1]},
                      [&](const std::vector<int64_t>& co) -> int64_t {
                        const int64_t blk = co[0] / N, n = co[0] % N;
                        const int64_t h = co[2] * bl[0] + blk / bl[1] - pad[0];
                        const int64_t w = co[3] * bl[1] + blk % bl[1] - pad[2];
                        if (h < 0 || h >= H || w < 0 || w >= W) return -1;
                        return n * st[0] + co[1] * st[1] + h * st[2] + w * st[3];
                      },
                      &zero));
  return Status::Ok();
}

Status k_batch_to_space(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, rank4_input(c));
  IM_ASSIGN_OR_RETURN(auto bc, block_table(c, "crops"));
  const auto& [bl, crop] = bc;
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  if (B % (bl[0] * bl[1]) != 0) return c.error("batch " + std::to_string(B) + " must be divisible by the block size");
  const int64_t N = B / (bl[0] * bl[1]);
  const int64_t Ho = H * bl[0] - crop[0] - crop[1], Wo = W * bl[1] - crop[2] - crop[3];
  if (Ho < 0 || Wo < 0) return c.error("crops " + ints_str(crop) + " exceed the spatial dims");
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, {N, C, Ho, Wo}, [&](const std::vector<int64_t>& co) {
                 const int64_t h = co[2] + crop[0], w = co[3] + crop[2];
                 const int64_t blk = (h % bl[0]) * bl[1] + (w % bl[1]);
                 return (blk * N + co[0]) * st[0] + co[1] * st[1] + (h / bl[0]) * st[2] + (w / bl[1]) * st[3];
               }));
  return Status::Ok();
}

Status k_crop(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> ch, c.get_ints("crop_height"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> cw, c.get_ints("crop_width"));
  if (x.rank() < 2 || ch.size() != 2 || cw.size() != 2) return c.error("crop needs x of rank >= 2 and 2-entry crops");
  Shape out = x.shape();
  const size_t h = out.size() - 2, w = out.size() - 1;
  out[h] -= ch[0] + ch[1];
  out[w] -= cw[0] + cw[1];
  if (ch[0] < 0 || ch[1] < 0 || cw[0] < 0 || cw[1] < 0 || out[h] < 0 || out[w] < 0)
    return c.error("crops " + ints_str(ch) + " / " + ints_str(cw) + " invalid for x " + mil::shape_to_string(x.shape()));
  const auto st = kutil::strides_of(x.shape());
  c.set_output(0, map_elements(x, out, [&](const std::vector<int64_t>& co) {
                 int64_t f = kutil::flat_offset(co, st);
                 return f + ch[0] * st[h] + cw[0] * st[w];
               }));
  return Status::Ok();
}

Status k_identity(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(RtValue v, c.value("x"));
  c.set_output(0, std::move(v));
  return Status::Ok();
}

}  // namespace

void register_shape_kernels(KernelTable& t) {
  t.add("reshape", k_reshape);
  t.add("reshape_like", k_reshape_like);
  t.add("transpose", k_transpose);
  t.add("expand_dims", k_expand_dims);
  t.add("squeeze", k_squeeze);
  t.add("flatten2d", k_flatten2d);
  t.add("concat", k_concat);
  t.add("stack", k_stack);
  t.add("split", k_split);
  t.add("tile", k_tile);
  t.add("pad", k_pad);
  t.add("slice_by_index", k_slice_by_index);
  t.add("slice_by_size", k_slice_by_size);
  t.add("slice_update", k_slice_update);
  t.add("reverse", k_reverse);
  t.add("reverse_sequence", k_reverse_sequence);
  t.add("shape", k_shape);
  t.add("fill", k_fill);
  t.add("fill_like", k_fill_like);
  t.add("range_1d", k_range_1d);
  t.add("band_part", k_band_part);
  t.add("one_hot", k_one_hot);
  t.add("non_zero", k_non_zero);
  t.add("sliding_windows", k_sliding_windows);
  t.add("depth_to_space", to_space("block_size", 0));
  t.add("pixel_shuffle", to_space("upscale_factor", 1));
  t.add("space_to_depth", to_depth("block_size", 0));
  t.add("pixel_unshuffle", to_depth("downscale_factor", 1));
  t.add("space_to_batch", k_space_to_batch);
  t.add("batch_to_space", k_batch_to_space);
  t.add("crop", k_crop);
  t.add("identity", k_identity);
}

}  // namespace ironmill::backends::reference
