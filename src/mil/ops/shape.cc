// Type inference and verification for the shape ops (see ops/op_list.def for their signatures).
// Semantics follow coremltools (mil/ops/defs/iOS15/tensor_transformation.py, tensor_operation.py,
// image_resizing.py (crop), iOS16/tensor_transformation.py, iOS18/tensor_transformation.py).
// Shape-determining inputs that are not compile-time constants give unknown dims (kUnknownDim) of a
// known rank where the rank is still known, and an unknown rank otherwise.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

using Types = std::vector<Type>;
constexpr int64_t U = kUnknownDim;

std::string ints_to_string(const std::vector<int64_t>& v) { return shape_to_string(v); }

int64_t dim_mul(int64_t a, int64_t b) { return (a < 0 || b < 0) ? U : a * b; }
int64_t dim_add(int64_t a, int64_t b) { return (a < 0 || b < 0) ? U : a + b; }

// Product of dims (unknown if any is unknown).
int64_t dims_product(const Shape& s, size_t from = 0, size_t to = std::string::npos) {
  int64_t p = 1;
  to = std::min(to, s.size());
  for (size_t i = from; i < to; ++i) p = dim_mul(p, s[i]);
  return p;
}

// Checks that a 1-D tensor input has length `n` where both are known.
Status check_vector(InferContext& c, const std::string& name, int64_t n, const std::string& what) {
  const Type* t = c.type(name);
  if (!t || !t->is_tensor()) return c.error(name, "missing");
  if (!t->rank_known) return Status::Ok();
  if (t->rank() != 1) return c.error(name, "must be a 1-D tensor, got " + type_to_string(*t));
  if (n >= 0 && t->dims[0] >= 0 && t->dims[0] != n)
    return c.error(name, "length " + std::to_string(t->dims[0]) + " must equal " + what + " (" + std::to_string(n) + ")");
  return Status::Ok();
}

Status check_scalar(InferContext& c, const std::string& name) {
  const Type* t = c.type(name);
  if (!t || !t->is_tensor()) return c.error(name, "missing");
  if (!t->rank_known) return Status::Ok();
  for (int64_t d : t->dims)
    if (d != 1) return c.error(name, "must be a scalar, got " + type_to_string(*t));
  return Status::Ok();
}

// Optional const int vector of length `rank`; `def` when absent.
Result<std::vector<int64_t>> optional_ints(InferContext& c, const std::string& name, size_t rank, int64_t def) {
  if (!c.has(name)) return std::vector<int64_t>(rank, def);
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> v, c.const_ints(name));
  if (v.size() != rank)
    return c.error(name, "length " + std::to_string(v.size()) + " must equal the rank of `x` (" + std::to_string(rank) + ")");
  return v;
}

// ---- slicing (python / numpy slice semantics, as coremltools' value inference) ------------------------

// Number of elements of python's slice(begin, end, stride) over a dim of size `dim` (all known);
// nullopt begin/end = masked (None).
int64_t python_slice_length(int64_t dim, std::optional<int64_t> begin, std::optional<int64_t> end, int64_t stride) {
  int64_t b, e;
  if (stride > 0) {
    b = begin ? *begin : 0;
    if (b < 0) b = std::max<int64_t>(b + dim, 0);
    b = std::min(b, dim);
    e = end ? *end : dim;
    if (e < 0) e = std::max<int64_t>(e + dim, 0);
    e = std::min(e, dim);
    return e > b ? (e - b + stride - 1) / stride : 0;
  }
  b = begin ? *begin : dim - 1;
  if (b < 0) b = std::max<int64_t>(b + dim, -1);
  b = std::min(b, dim - 1);
  e = end ? *end : -1;
  if (end) {
    if (e < 0) e = std::max<int64_t>(e + dim, -1);
    e = std::min(e, dim - 1);
  }
  return b > e ? (b - e + (-stride) - 1) / (-stride) : 0;
}

struct SliceSpec {
  std::vector<int64_t> stride;
  std::vector<int64_t> begin_mask, end_mask, squeeze_mask;
};

Result<SliceSpec> slice_params(InferContext& c, size_t rank) {
  SliceSpec s;
  IM_ASSIGN_OR_RETURN(s.stride, optional_ints(c, "stride", rank, 1));
  IM_ASSIGN_OR_RETURN(s.begin_mask, optional_ints(c, "begin_mask", rank, 0));
  IM_ASSIGN_OR_RETURN(s.end_mask, optional_ints(c, "end_mask", rank, 0));
  IM_ASSIGN_OR_RETURN(s.squeeze_mask, optional_ints(c, "squeeze_mask", rank, 0));
  for (size_t i = 0; i < rank; ++i)
    if (s.stride[i] == 0) return c.error("stride", "stride must be non-zero, got 0 at index " + std::to_string(i));
  return s;
}

// Result type of slice_by_index / the slice addressed by slice_update.
Result<Type> slice_by_index_type(InferContext& c, const Type& x) {
  if (!x.rank_known) return Type::unknown_rank(x.dtype);
  const size_t r = x.dims.size();
  IM_RETURN_IF_ERROR(check_vector(c, "begin", static_cast<int64_t>(r), "the rank of `x`"));
  IM_RETURN_IF_ERROR(check_vector(c, "end", static_cast<int64_t>(r), "the rank of `x`"));
  IM_ASSIGN_OR_RETURN(SliceSpec s, slice_params(c, r));
  const Tensor* bt = c.const_tensor("begin");
  const Tensor* et = c.const_tensor("end");
  std::vector<int64_t> begin, end;
  if (bt) {
    begin = bt->to_i64();
    if (begin.size() != r) return c.error("begin", "length " + std::to_string(begin.size()) + " must equal the rank of `x` (" + std::to_string(r) + ")");
  }
  if (et) {
    end = et->to_i64();
    if (end.size() != r) return c.error("end", "length " + std::to_string(end.size()) + " must equal the rank of `x` (" + std::to_string(r) + ")");
  }
  Shape out;
  for (size_t i = 0; i < r; ++i) {
    const int64_t d = x.dims[i];
    if (s.squeeze_mask[i]) {
      if (bt && d >= 0 && !s.begin_mask[i]) {
        const int64_t b = begin[i] < 0 ? begin[i] + d : begin[i];
        if (b < 0 || b >= d)
          return c.error("begin", "squeezed index " + std::to_string(begin[i]) + " out of range for dim " +
                                      std::to_string(i) + " of size " + std::to_string(d));
      }
      continue;
    }
    const bool need_b = !s.begin_mask[i], need_e = !s.end_mask[i];
    if (d < 0 || (need_b && !bt) || (need_e && !et)) {
      // a full [:] slice with stride +-1 keeps the (unknown) dim
      out.push_back((!need_b && !need_e && (s.stride[i] == 1 || s.stride[i] == -1)) ? d : U);
      continue;
    }
    out.push_back(python_slice_length(d, need_b ? std::optional<int64_t>(begin[i]) : std::nullopt,
                                      need_e ? std::optional<int64_t>(end[i]) : std::nullopt, s.stride[i]));
  }
  return Type::tensor(x.dtype, out);
}

// ---- reshape -------------------------------------------------------------------------------------

Result<Types> infer_reshape(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type st, c.tensor_type("shape"));
  if (st.rank_known && st.rank() != 1) return c.error("shape", "must be a 1-D tensor, got " + type_to_string(st));
  const Tensor* s = c.const_tensor("shape");
  if (!s) {
    if (!st.rank_known || st.dims[0] < 0) return Types{Type::unknown_rank(x.dtype)};
    return Types{Type::tensor(x.dtype, Shape(static_cast<size_t>(st.dims[0]), U))};
  }
  std::vector<int64_t> v = s->to_i64();
  int neg = 0;
  for (int64_t d : v) {
    if (d == -1) ++neg;
    else if (d < -1) return c.error("shape", "entries must be positive, 0 or -1, got " + ints_to_string(v));
  }
  if (neg > 1) return c.error("shape", "at most one entry may be -1, got " + ints_to_string(v));
  Shape out(v.begin(), v.end());
  int64_t infer_at = -1;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == -1) infer_at = static_cast<int64_t>(i);
    if (v[i] == 0) {
      // 0 copies the corresponding dim of x; only when len(shape) == rank(x) (coremltools).
      if (!x.rank_known) { out[i] = U; continue; }
      if (static_cast<size_t>(x.rank()) != v.size())
        return c.error("shape", "a 0 entry copies the dim of `x` and needs len(shape) == rank(x); got shape " +
                                    ints_to_string(v) + " for x " + type_to_string(x));
      out[i] = x.dims[i];
    }
  }
  const int64_t xn = x.rank_known ? dims_product(x.dims) : U;
  int64_t rest = 1;
  for (size_t i = 0; i < out.size(); ++i)
    if (static_cast<int64_t>(i) != infer_at) rest = dim_mul(rest, out[i]);
  if (infer_at >= 0) {
    if (xn >= 0 && rest >= 0) {
      if (rest == 0 || xn % rest != 0)
        return c.error("shape", "cannot infer the -1 entry of " + ints_to_string(v) + " for x " + type_to_string(x));
      out[static_cast<size_t>(infer_at)] = xn / rest;
    } else {
      out[static_cast<size_t>(infer_at)] = U;
    }
  } else if (xn >= 0 && rest >= 0 && xn != rest) {
    return c.error("shape", "shape " + ints_to_string(v) + " has " + std::to_string(rest) + " elements, x " +
                                type_to_string(x) + " has " + std::to_string(xn));
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_reshape_like(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  auto refs = c.tuple_types("ref_tensors");
  auto begins = c.tuple_consts("begins");
  auto ends = c.tuple_consts("ends");
  auto masks = c.tuple_consts("end_masks");
  if (refs.empty()) return c.error("ref_tensors", "at least one reference tensor expected");
  if (begins.size() != refs.size() || ends.size() != refs.size() || masks.size() != refs.size())
    return c.op_error("ref_tensors, begins, ends and end_masks must have the same length, got " +
                      std::to_string(refs.size()) + ", " + std::to_string(begins.size()) + ", " +
                      std::to_string(ends.size()) + ", " + std::to_string(masks.size()));
  auto scalar_of = [&](const std::string& name, const Value* v, size_t i, DType dt) -> Result<int64_t> {
    if (!v || !v->is_tensor())
      return c.error(name, "element " + std::to_string(i) + " must be a compile-time constant scalar");
    const Tensor& t = v->tensor();
    if (t.dtype() != dt || t.rank() != 0)
      return c.error(name, "element " + std::to_string(i) + " must be a scalar " + std::string(dtype_name(dt)) +
                               ", got " + std::string(dtype_name(t.dtype())) + shape_to_string(t.shape()));
    return t.get_i64(0);
  };
  Shape out;
  bool rank_known = true;
  for (size_t i = 0; i < refs.size(); ++i) {
    if (!refs[i] || !refs[i]->is_tensor()) return c.error("ref_tensors", "element " + std::to_string(i) + " must be a tensor");
    IM_ASSIGN_OR_RETURN(int64_t b, scalar_of("begins", begins[i], i, DType::kInt32));
    IM_ASSIGN_OR_RETURN(int64_t e, scalar_of("ends", ends[i], i, DType::kInt32));
    IM_ASSIGN_OR_RETURN(int64_t m, scalar_of("end_masks", masks[i], i, DType::kBool));
    if (!refs[i]->rank_known) { rank_known = false; continue; }
    const Shape& d = refs[i]->dims;
    const int64_t r = static_cast<int64_t>(d.size());
    // python slicing of the shape vector: shape[b:e] or shape[b:]
    int64_t bb = b < 0 ? std::max<int64_t>(b + r, 0) : std::min(b, r);
    int64_t ee = m ? r : (e < 0 ? std::max<int64_t>(e + r, 0) : std::min(e, r));
    for (int64_t k = bb; k < ee; ++k) out.push_back(d[static_cast<size_t>(k)]);
  }
  if (!rank_known) return Types{Type::unknown_rank(x.dtype)};
  if (x.rank_known) {
    int64_t xn = dims_product(x.dims), on = dims_product(out);
    if (xn >= 0 && on >= 0 && xn != on)
      return c.error("x", "has " + std::to_string(xn) + " elements (" + type_to_string(x) +
                              "), the shape taken from ref_tensors " + shape_to_string(out) + " has " + std::to_string(on));
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_transpose(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> perm, c.const_ints("perm"));
  if (!x.rank_known) return Types{Type::tensor(x.dtype, Shape(perm.size(), U))};
  const int64_t r = x.rank();
  if (static_cast<int64_t>(perm.size()) != r)
    return c.error("perm", "length " + std::to_string(perm.size()) + " must equal the rank of `x` (" +
                               std::to_string(r) + "), got perm " + ints_to_string(perm));
  std::vector<bool> seen(static_cast<size_t>(r), false);
  Shape out;
  for (int64_t p : perm) {
    auto a = infer::normalize_axis(p, r);
    if (!a.ok()) return c.error("perm", "is not a permutation of [0, " + std::to_string(r) + "): " + ints_to_string(perm));
    if (seen[static_cast<size_t>(*a)]) return c.error("perm", "repeats axis " + std::to_string(p) + ": " + ints_to_string(perm));
    seen[static_cast<size_t>(*a)] = true;
    out.push_back(x.dims[static_cast<size_t>(*a)]);
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_expand_dims(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.const_ints("axes"));
  if (!x.rank_known) return Types{Type::unknown_rank(x.dtype)};
  const int64_t out_rank = x.rank() + static_cast<int64_t>(axes.size());
  std::vector<bool> is_new(static_cast<size_t>(out_rank), false);
  for (int64_t a : axes) {
    auto n = infer::normalize_axis(a, out_rank);
    if (!n.ok())
      return c.error("axes", "axis " + std::to_string(a) + " out of range [" + std::to_string(-out_rank) + ", " +
                                 std::to_string(out_rank) + ") for x " + type_to_string(x));
    if (is_new[static_cast<size_t>(*n)]) return c.error("axes", "repeats axis " + std::to_string(a) + ": " + ints_to_string(axes));
    is_new[static_cast<size_t>(*n)] = true;
  }
  Shape out;
  size_t k = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(is_new[static_cast<size_t>(i)] ? 1 : x.dims[k++]);
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_squeeze(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  if (!x.rank_known) return Types{Type::unknown_rank(x.dtype)};
  const int64_t r = x.rank();
  Shape out;
  if (!c.has("axes")) {
    // all size-1 dims; an unknown dim might be 1, so the rank is then unknown
    for (int64_t d : x.dims) {
      if (d < 0) return Types{Type::unknown_rank(x.dtype)};
      if (d != 1) out.push_back(d);
    }
    return Types{Type::tensor(x.dtype, out)};
  }
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.const_ints("axes"));
  std::vector<bool> drop(static_cast<size_t>(r), false);
  for (int64_t a : axes) {
    auto n = infer::normalize_axis(a, r);
    if (!n.ok()) return c.error("axes", "axis " + std::to_string(a) + " out of range for x " + type_to_string(x));
    // coreml-format.md §5.1: listed dims that are not 1 are left in place.
    if (x.dims[static_cast<size_t>(*n)] != 1 && x.dims[static_cast<size_t>(*n)] >= 0) continue;
    drop[static_cast<size_t>(*n)] = true;
  }
  for (int64_t i = 0; i < r; ++i)
    if (!drop[static_cast<size_t>(i)]) out.push_back(x.dims[static_cast<size_t>(i)]);
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_flatten2d(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  if (!x.rank_known) return Types{Type::tensor(x.dtype, {U, U})};
  const int64_t r = x.rank();
  if (axis < -r || axis > r)
    return c.error("axis", "axis " + std::to_string(axis) + " out of range [" + std::to_string(-r) + ", " +
                               std::to_string(r) + "] for x " + type_to_string(x));
  if (axis < 0) axis += r;
  return Types{Type::tensor(x.dtype, {dims_product(x.dims, 0, static_cast<size_t>(axis)),
                                      dims_product(x.dims, static_cast<size_t>(axis))})};
}

// ---- concat / stack / split ----------------------------------------------------------------------

Result<std::vector<Type>> tuple_tensors(InferContext& c, const std::string& name) {
  auto ts = c.tuple_types(name);
  if (ts.empty()) return c.error(name, "at least one value expected");
  std::vector<Type> out;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (!ts[i] || !ts[i]->is_tensor()) return c.error(name, "element " + std::to_string(i) + " must be a tensor");
    if (ts[i]->dtype != ts[0]->dtype)
      return c.error(name, "all values must share a dtype, element " + std::to_string(i) + " is " +
                               type_to_string(*ts[i]) + ", element 0 is " + type_to_string(*ts[0]));
    out.push_back(*ts[i]);
  }
  return out;
}

Result<Types> infer_concat(InferContext& c) {
  IM_ASSIGN_OR_RETURN(std::vector<Type> vs, tuple_tensors(c, "values"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  IM_ASSIGN_OR_RETURN(bool interleave, c.const_bool("interleave"));
  const DType dt = vs[0].dtype;
  for (const auto& v : vs)
    if (!v.rank_known) return Types{Type::unknown_rank(dt)};
  const int64_t r = vs[0].rank();
  for (size_t i = 1; i < vs.size(); ++i)
    if (vs[i].rank() != r)
      return c.error("values", "all values must have the same rank, element " + std::to_string(i) + " is " +
                                   type_to_string(vs[i]) + ", element 0 is " + type_to_string(vs[0]));
  if (r == 0) return Types{Type::tensor(dt, {static_cast<int64_t>(vs.size())})};  // scalars: stacked (coremltools)
  auto a = infer::normalize_axis(axis, r);
  if (!a.ok()) return c.error("axis", "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(r));
  Shape out = vs[0].dims;
  out[static_cast<size_t>(*a)] = 0;
  for (size_t i = 0; i < vs.size(); ++i) {
    for (int64_t k = 0; k < r; ++k) {
      const size_t ku = static_cast<size_t>(k);
      if (k == *a && !interleave) continue;
      int64_t d = vs[i].dims[ku], o = k == *a ? vs[0].dims[ku] : out[ku];
      if (d >= 0 && o >= 0 && d != o)
        return c.error("values", std::string(interleave ? "with interleave all values must have the same shape" :
                                                          "dims other than the concat axis must match") +
                                     ", element " + std::to_string(i) + " is " + type_to_string(vs[i]) +
                                     ", element 0 is " + type_to_string(vs[0]));
      if (k != *a && o < 0) out[ku] = d;
    }
    out[static_cast<size_t>(*a)] = dim_add(out[static_cast<size_t>(*a)], vs[i].dims[static_cast<size_t>(*a)]);
  }
  return Types{Type::tensor(dt, out)};
}

Result<Types> infer_stack(InferContext& c) {
  IM_ASSIGN_OR_RETURN(std::vector<Type> vs, tuple_tensors(c, "values"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  const DType dt = vs[0].dtype;
  for (const auto& v : vs)
    if (!v.rank_known) return Types{Type::unknown_rank(dt)};
  const int64_t r = vs[0].rank();
  Shape shape = vs[0].dims;
  for (size_t i = 1; i < vs.size(); ++i) {
    if (vs[i].rank() != r) return c.error("values", "all values must have the same shape, element " + std::to_string(i) +
                                                        " is " + type_to_string(vs[i]) + ", element 0 is " + type_to_string(vs[0]));
    for (size_t k = 0; k < shape.size(); ++k) {
      if (shape[k] >= 0 && vs[i].dims[k] >= 0 && shape[k] != vs[i].dims[k])
        return c.error("values", "all values must have the same shape, element " + std::to_string(i) + " is " +
                                     type_to_string(vs[i]) + ", element 0 is " + type_to_string(vs[0]));
      if (shape[k] < 0) shape[k] = vs[i].dims[k];
    }
  }
  auto a = infer::normalize_axis(axis, r + 1);
  if (!a.ok()) return c.error("axis", "axis " + std::to_string(axis) + " out of range [" + std::to_string(-r - 1) + ", " +
                                          std::to_string(r + 1) + ") for values of rank " + std::to_string(r));
  shape.insert(shape.begin() + *a, static_cast<int64_t>(vs.size()));
  return Types{Type::tensor(dt, shape)};
}

// Split sizes of `split`: unknown entries are kUnknownDim.
Result<std::vector<int64_t>> split_sizes_for(InferContext& c, const Type& x, int64_t axis) {
  const int64_t d = x.rank_known ? x.dims[static_cast<size_t>(axis)] : U;
  const bool has_n = c.has("num_splits"), has_s = c.has("split_sizes");
  if (!has_n && !has_s) return c.op_error("one of `num_splits` or `split_sizes` is required");
  std::optional<int64_t> n;
  if (has_n) {
    IM_ASSIGN_OR_RETURN(int64_t v, c.const_int("num_splits"));
    if (v <= 0) return c.error("num_splits", "must be positive, got " + std::to_string(v));
    n = v;
  }
  if (has_s) {
    if (const Tensor* s = c.const_tensor("split_sizes")) {
      std::vector<int64_t> sizes = s->to_i64();
      if (s->rank() > 1) return c.error("split_sizes", "must be a 1-D tensor, got shape " + shape_to_string(s->shape()));
      if (sizes.empty()) return c.error("split_sizes", "must not be empty");
      if (n && *n != static_cast<int64_t>(sizes.size()))
        return c.error("split_sizes", "has " + std::to_string(sizes.size()) + " entries but num_splits is " + std::to_string(*n));
      int64_t sum = 0;
      for (int64_t v : sizes) {
        if (v < 0) return c.error("split_sizes", "sizes must be non-negative, got " + ints_to_string(sizes));
        sum += v;
      }
      if (d >= 0 && sum != d)
        return c.error("split_sizes", "sizes " + ints_to_string(sizes) + " sum to " + std::to_string(sum) +
                                          ", the split dim of x " + type_to_string(x) + " is " + std::to_string(d));
      return sizes;
    }
    const Type* st = c.type("split_sizes");
    if (n) return std::vector<int64_t>(static_cast<size_t>(*n), U);
    if (st && st->rank_known && st->rank() == 1 && st->dims[0] >= 0)
      return std::vector<int64_t>(static_cast<size_t>(st->dims[0]), U);
    return c.error("split_sizes", "is not a constant: give `num_splits` to fix the number of outputs");
  }
  if (d >= 0 && d % *n != 0)
    return c.error("num_splits", std::to_string(*n) + " does not divide the split dim (" + std::to_string(d) +
                                     ") of x " + type_to_string(x));
  return std::vector<int64_t>(static_cast<size_t>(*n), d >= 0 ? d / *n : U);
}

Result<Types> infer_split(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  if (!x.rank_known) {
    // the number of outputs is still needed
    Type fake = Type::unknown_rank(x.dtype);
    if (c.has("num_splits")) {
      IM_ASSIGN_OR_RETURN(int64_t n, c.const_int("num_splits"));
      if (n <= 0) return c.error("num_splits", "must be positive, got " + std::to_string(n));
      return Types(static_cast<size_t>(n), fake);
    }
    if (const Tensor* s = c.const_tensor("split_sizes")) return Types(static_cast<size_t>(s->numel()), fake);
    return c.op_error("the number of outputs is unknown: give `num_splits`");
  }
  auto a = infer::normalize_axis(axis, x.rank());
  if (!a.ok()) return c.error("axis", "axis " + std::to_string(axis) + " out of range for x " + type_to_string(x));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, split_sizes_for(c, x, *a));
  Types out;
  for (int64_t s : sizes) {
    Type t = x;
    t.dims[static_cast<size_t>(*a)] = s;
    out.push_back(t);
  }
  return out;
}

// ---- tile / pad / slices ---------------------------------------------------------------------------

Result<Types> infer_tile(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_RETURN_IF_ERROR(check_vector(c, "reps", x.rank_known ? x.rank() : U, "the rank of `x`"));
  const Tensor* reps = c.const_tensor("reps");
  if (!x.rank_known) return Types{Type::unknown_rank(x.dtype)};
  if (!reps) return Types{Type::tensor(x.dtype, Shape(x.dims.size(), U))};
  std::vector<int64_t> v = reps->to_i64();
  if (v.size() != x.dims.size())
    return c.error("reps", "length " + std::to_string(v.size()) + " must equal the rank of `x` (" + std::to_string(x.rank()) + ")");
  Shape out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] <= 0) return c.error("reps", "entries must be positive, got " + ints_to_string(v));
    out.push_back(x.dims[i] < 0 ? U : x.dims[i] * v[i]);
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_pad(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(std::string mode, c.const_string("mode"));
  if (mode != "constant" && mode != "reflect" && mode != "replicate")
    return c.error("mode", "must be one of constant, reflect, replicate; got \"" + mode + "\"");
  IM_RETURN_IF_ERROR(check_scalar(c, "constant_val"));
  IM_ASSIGN_OR_RETURN(Type pt, c.tensor_type("pad"));
  if (pt.rank_known && pt.rank() != 1) return c.error("pad", "must be a 1-D tensor, got " + type_to_string(pt));
  if (!x.rank_known) return Types{Type::unknown_rank(x.dtype)};
  const int64_t r = x.rank();
  const Tensor* p = c.const_tensor("pad");
  if (!p) {
    if (pt.rank_known && pt.dims[0] >= 0 && pt.dims[0] != 2 * r)
      return c.error("pad", "a non-constant pad must have length 2*rank(x) = " + std::to_string(2 * r) + ", got " +
                                type_to_string(pt));
    return Types{Type::tensor(x.dtype, Shape(static_cast<size_t>(r), U))};
  }
  std::vector<int64_t> v = p->to_i64();
  if (v.size() % 2 != 0 || static_cast<int64_t>(v.size()) > 2 * r)
    return c.error("pad", "must hold before/after pairs for at most rank(x) = " + std::to_string(r) + " dims, got " +
                              ints_to_string(v));
  const int64_t n = static_cast<int64_t>(v.size()) / 2;
  Shape out = x.dims;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = v[static_cast<size_t>(2 * i)], a = v[static_cast<size_t>(2 * i + 1)];
    if (b < 0 || a < 0) return c.error("pad", "amounts must be non-negative, got " + ints_to_string(v));
    const size_t k = static_cast<size_t>(r - n + i);
    const int64_t d = x.dims[k];
    if (d >= 0 && mode == "reflect" && (b > d - 1 || a > d - 1))
      return c.error("pad", "reflect padding of dim " + std::to_string(k) + " (size " + std::to_string(d) +
                                ") must be at most " + std::to_string(d - 1) + ", got " + ints_to_string(v));
    if (d >= 0 && mode == "replicate" && (b > d || a > d || d == 0))
      return c.error("pad", "replicate padding of dim " + std::to_string(k) + " (size " + std::to_string(d) +
                                ") must be at most " + std::to_string(d) + ", got " + ints_to_string(v));
    out[k] = d < 0 ? U : d + b + a;
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_slice_by_index(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type t, slice_by_index_type(c, x));
  return Types{t};
}

Result<Types> infer_slice_update(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type upd, c.tensor_type("update"));
  IM_ASSIGN_OR_RETURN(Type sl, slice_by_index_type(c, x));
  if (upd.rank_known && upd.rank() == 0) return c.error("update", "rank-0 update is not supported (coremltools)");
  if (!type_compatible(sl, Type::tensor(sl.dtype, upd.dims)) && upd.rank_known)
    return c.error("update", "shape " + shape_to_string(upd.dims) + " must match the slice of x, " + type_to_string(sl));
  return Types{x};
}

Result<Types> infer_slice_by_size(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  if (!x.rank_known) return Types{Type::unknown_rank(x.dtype)};
  const int64_t r = x.rank();
  IM_RETURN_IF_ERROR(check_vector(c, "begin", r, "the rank of `x`"));
  IM_RETURN_IF_ERROR(check_vector(c, "size", r, "the rank of `x`"));
  const Tensor* bt = c.const_tensor("begin");
  const Tensor* st = c.const_tensor("size");
  if (!st) return Types{Type::tensor(x.dtype, Shape(static_cast<size_t>(r), U))};
  std::vector<int64_t> size = st->to_i64(), begin;
  if (static_cast<int64_t>(size.size()) != r) return c.error("size", "length must equal the rank of `x`");
  if (bt) {
    begin = bt->to_i64();
    if (static_cast<int64_t>(begin.size()) != r) return c.error("begin", "length must equal the rank of `x`");
  }
  Shape out;
  for (size_t i = 0; i < size.size(); ++i) {
    const int64_t d = x.dims[i];
    if (size[i] < -1) return c.error("size", "entries must be -1 or non-negative, got " + ints_to_string(size));
    std::optional<int64_t> b;
    if (bt) {
      b = begin[i];
      if (*b < 0 && d >= 0) *b += d;
      if (d >= 0 && (*b < 0 || *b > d))
        return c.error("begin", "begin " + ints_to_string(begin) + " out of range for x " + type_to_string(x));
    }
    if (size[i] == -1) {
      out.push_back((b && d >= 0 && *b >= 0) ? d - *b : U);
    } else {
      if (b && d >= 0 && *b >= 0 && *b + size[i] > d)
        return c.error("size", "begin " + ints_to_string(begin) + " + size " + ints_to_string(size) +
                                   " exceeds x " + type_to_string(x));
      out.push_back(size[i]);
    }
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<std::vector<int64_t>> checked_axes(InferContext& c, const std::string& name, int64_t r) {
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.const_ints(name));
  std::set<int64_t> seen;
  for (int64_t& a : axes) {
    auto n = infer::normalize_axis(a, r);
    if (!n.ok()) return c.error(name, "axis " + std::to_string(a) + " out of range for rank " + std::to_string(r));
    if (!seen.insert(*n).second) return c.error(name, "repeats axis " + std::to_string(a));
    a = *n;
  }
  return axes;
}

Result<Types> infer_reverse(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  if (c.has("axes") && x.rank_known) IM_RETURN_IF_ERROR(checked_axes(c, "axes", x.rank()).status());
  return Types{x};
}

Result<Types> infer_reverse_sequence(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t seq, c.const_int("seq_axis"));
  IM_ASSIGN_OR_RETURN(int64_t batch, c.const_int("batch_axis"));
  if (!x.rank_known) return Types{x};
  auto s = infer::normalize_axis(seq, x.rank());
  if (!s.ok()) return c.error("seq_axis", "axis " + std::to_string(seq) + " out of range for x " + type_to_string(x));
  auto b = infer::normalize_axis(batch, x.rank());
  if (!b.ok()) return c.error("batch_axis", "axis " + std::to_string(batch) + " out of range for x " + type_to_string(x));
  if (*s == *b) return c.error("batch_axis", "must differ from seq_axis (both are " + std::to_string(*s) + ")");
  IM_RETURN_IF_ERROR(check_vector(c, "lengths", x.dims[static_cast<size_t>(*b)], "x.shape[batch_axis]"));
  return Types{x};
}

// ---- shape / fill / range / misc -----------------------------------------------------------------

Result<Types> infer_shape(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  return Types{Type::tensor(DType::kInt32, {x.rank_known ? static_cast<int64_t>(x.rank()) : U})};
}

// Output dtype of fill / fill_like: `value`'s dtype; the default value is fp32 0.0 (coremltools
// DefaultInputs(value=0.)), whatever other inputs are bound.
DType fill_dtype(InferContext& c) {
  if (c.has("value")) {
    const Type* t = c.type("value");
    if (t && t->is_tensor()) return t->dtype;
  }
  return DType::kFp32;
}

Result<Types> infer_fill(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type st, c.tensor_type("shape"));
  IM_RETURN_IF_ERROR(check_scalar(c, "value"));
  const DType dt = fill_dtype(c);
  if (st.rank_known && st.rank() != 1) return c.error("shape", "must be a 1-D tensor, got " + type_to_string(st));
  if (const Tensor* s = c.const_tensor("shape")) {
    std::vector<int64_t> v = s->to_i64();
    for (int64_t d : v)
      if (d < 0) return c.error("shape", "dims must be non-negative, got " + ints_to_string(v));
    return Types{Type::tensor(dt, v)};
  }
  if (!st.rank_known || st.dims[0] < 0) return Types{Type::unknown_rank(dt)};
  return Types{Type::tensor(dt, Shape(static_cast<size_t>(st.dims[0]), U))};
}

Result<Types> infer_fill_like(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type ref, c.tensor_type("ref_tensor"));
  IM_RETURN_IF_ERROR(check_scalar(c, "value"));
  ref.dtype = fill_dtype(c);
  return Types{ref};
}

Result<Types> infer_range_1d(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type end, c.tensor_type("end"));
  for (const char* n : {"end", "start", "step"}) IM_RETURN_IF_ERROR(check_scalar(c, n));
  const Tensor* e = c.const_tensor("end");
  const Tensor* s = c.const_tensor("start");
  const Tensor* st = c.const_tensor("step");
  if (!e || !s || !st) return Types{Type::tensor(end.dtype, {U})};
  const double step = st->get_f64(0);
  if (step == 0) return c.error("step", "must be non-zero");
  const double n = std::ceil((e->get_f64(0) - s->get_f64(0)) / step);
  return Types{Type::tensor(end.dtype, {n > 0 ? static_cast<int64_t>(n) : 0})};
}

Result<Types> infer_band_part(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_RETURN_IF_ERROR(c.const_int("lower").status());
  IM_RETURN_IF_ERROR(c.const_int("upper").status());
  if (x.rank_known && x.rank() < 2) return c.error("x", "must have rank >= 2 (a batch of matrices), got " + type_to_string(x));
  return Types{x};
}

Result<Types> infer_one_hot(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type idx, c.tensor_type("indices"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  IM_RETURN_IF_ERROR(check_scalar(c, "one_hot_vector_size"));
  IM_RETURN_IF_ERROR(check_scalar(c, "on_value"));
  IM_RETURN_IF_ERROR(check_scalar(c, "off_value"));
  IM_ASSIGN_OR_RETURN(Type on, c.tensor_type("on_value"));
  IM_ASSIGN_OR_RETURN(Type off, c.tensor_type("off_value"));
  if (on.dtype != off.dtype)
    return c.error("off_value", "dtype " + std::string(dtype_name(off.dtype)) + " must match on_value's (" +
                                    std::string(dtype_name(on.dtype)) + ")");
  int64_t depth = U;
  if (const Tensor* d = c.const_tensor("one_hot_vector_size")) {
    depth = d->get_i64(0);
    if (depth < 0) return c.error("one_hot_vector_size", "must be non-negative, got " + std::to_string(depth));
  }
  if (!idx.rank_known) return Types{Type::unknown_rank(on.dtype)};
  const int64_t r = idx.rank();
  auto a = infer::normalize_axis(axis, r + 1);
  if (!a.ok()) return c.error("axis", "axis " + std::to_string(axis) + " out of range [" + std::to_string(-r - 1) + ", " +
                                          std::to_string(r + 1) + ") for indices " + type_to_string(idx));
  Shape out = idx.dims;
  out.insert(out.begin() + *a, depth);
  return Types{Type::tensor(on.dtype, out)};
}

Result<Types> infer_non_zero(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  // the number of non-zero elements is only known at run time
  return Types{Type::tensor(DType::kInt32, {U, x.rank_known ? static_cast<int64_t>(x.rank()) : U})};
}

Result<Types> infer_sliding_windows(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis, c.const_int("axis"));
  IM_ASSIGN_OR_RETURN(int64_t size, c.const_int("size"));
  IM_ASSIGN_OR_RETURN(int64_t stride, c.const_int("stride"));
  if (size <= 0) return c.error("size", "must be positive, got " + std::to_string(size));
  if (stride <= 0) return c.error("stride", "must be positive, got " + std::to_string(stride));
  if (!x.rank_known) return Types{Type::unknown_rank(x.dtype)};
  auto a = infer::normalize_axis(axis, x.rank());
  if (!a.ok()) return c.error("axis", "axis " + std::to_string(axis) + " out of range for x " + type_to_string(x));
  Shape out = x.dims;
  const size_t k = static_cast<size_t>(*a);
  const int64_t d = x.dims[k];
  if (d >= 0 && size > d)
    return c.error("size", "window " + std::to_string(size) + " is larger than dim " + std::to_string(*a) + " (" +
                               std::to_string(d) + ") of x " + type_to_string(x));
  out[k] = d < 0 ? U : (d - size) / stride + 1;
  out.insert(out.begin() + *a + 1, size);
  return Types{Type::tensor(x.dtype, out)};
}

Result<Type> rank4(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  if (x.rank_known && x.rank() != 4) return c.error("x", "must be rank 4 [N, C, H, W], got " + type_to_string(x));
  if (!x.rank_known) x = Type::tensor(x.dtype, {U, U, U, U});
  return x;
}

Result<int64_t> positive_const(InferContext& c, const std::string& name) {
  IM_ASSIGN_OR_RETURN(int64_t v, c.const_int(name));
  if (v <= 0) return c.error(name, "must be positive, got " + std::to_string(v));
  return v;
}

Status divisible(InferContext& c, const Type& x, int64_t dim, int64_t by, const std::string& input, const std::string& what) {
  const int64_t d = x.dims[static_cast<size_t>(dim)];
  if (d >= 0 && d % by != 0)
    return c.error(input, what + " " + std::to_string(by) + " does not divide dim " + std::to_string(dim) + " (" +
                              std::to_string(d) + ") of x " + type_to_string(x));
  return Status::Ok();
}

int64_t dim_div(int64_t a, int64_t b) { return a < 0 ? U : a / b; }

// depth_to_space / pixel_shuffle: [N, C, H, W] -> [N, C/b^2, H*b, W*b]
InferFn depth_to_spatial(const std::string& param) {
  return [param](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, rank4(c));
    IM_ASSIGN_OR_RETURN(int64_t b, positive_const(c, param));
    IM_RETURN_IF_ERROR(divisible(c, x, 1, b * b, param, param + "^2 ="));
    return Types{Type::tensor(x.dtype, {x.dims[0], dim_div(x.dims[1], b * b), dim_mul(x.dims[2], b), dim_mul(x.dims[3], b)})};
  };
}

// space_to_depth / pixel_unshuffle: [N, C, H, W] -> [N, C*b^2, H/b, W/b]
InferFn spatial_to_depth(const std::string& param) {
  return [param](InferContext& c) -> Result<Types> {
    IM_ASSIGN_OR_RETURN(Type x, rank4(c));
    IM_ASSIGN_OR_RETURN(int64_t b, positive_const(c, param));
    IM_RETURN_IF_ERROR(divisible(c, x, 2, b, param, param));
    IM_RETURN_IF_ERROR(divisible(c, x, 3, b, param, param));
    return Types{Type::tensor(x.dtype, {x.dims[0], dim_mul(x.dims[1], b * b), dim_div(x.dims[2], b), dim_div(x.dims[3], b)})};
  };
}

// block_shape [2] and a [2, 2] paddings/crops table, non-negative (coremltools: 2 spatial dims only).
Result<std::pair<std::vector<int64_t>, std::vector<int64_t>>> block_and_table(InferContext& c, const std::string& table) {
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> block, c.const_ints("block_shape"));
  const Tensor* t = c.const_tensor(table);
  if (!t) return c.error(table, "must be a compile-time constant");
  if (block.size() != 2) return c.error("block_shape", "must have 2 entries (2 spatial dims), got " + ints_to_string(block));
  for (int64_t b : block)
    if (b <= 0) return c.error("block_shape", "entries must be positive, got " + ints_to_string(block));
  if (t->shape() != Shape{2, 2}) return c.error(table, "must have shape [2, 2], got " + shape_to_string(t->shape()));
  std::vector<int64_t> v = t->to_i64();
  for (int64_t p : v)
    if (p < 0) return c.error(table, "entries must be non-negative, got " + ints_to_string(v));
  return std::make_pair(block, v);
}

Result<Types> infer_space_to_batch(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, rank4(c));
  IM_ASSIGN_OR_RETURN(auto bp, block_and_table(c, "paddings"));
  const auto& [block, pad] = bp;
  Shape out = {dim_mul(x.dims[0], block[0] * block[1]), x.dims[1], U, U};
  for (size_t i = 0; i < 2; ++i) {
    const int64_t d = x.dims[2 + i];
    if (d < 0) continue;
    const int64_t padded = d + pad[2 * i] + pad[2 * i + 1];
    if (padded % block[i] != 0)
      return c.error("paddings", "padded spatial dim " + std::to_string(2 + i) + " (" + std::to_string(padded) +
                                     ") must be divisible by block_shape[" + std::to_string(i) + "] = " + std::to_string(block[i]));
    out[2 + i] = padded / block[i];
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_batch_to_space(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, rank4(c));
  IM_ASSIGN_OR_RETURN(auto bc, block_and_table(c, "crops"));
  const auto& [block, crops] = bc;
  IM_RETURN_IF_ERROR(divisible(c, x, 0, block[0] * block[1], "block_shape", "the block size"));
  Shape out = {dim_div(x.dims[0], block[0] * block[1]), x.dims[1], U, U};
  for (size_t i = 0; i < 2; ++i) {
    const int64_t d = x.dims[2 + i];
    if (d < 0) continue;
    const int64_t o = d * block[i] - crops[2 * i] - crops[2 * i + 1];
    if (o < 0) return c.error("crops", "crops exceed spatial dim " + std::to_string(2 + i) + " (" + std::to_string(d * block[i]) + ")");
    out[2 + i] = o;
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_crop(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> ch, c.const_ints("crop_height"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> cw, c.const_ints("crop_width"));
  if (ch.size() != 2) return c.error("crop_height", "must have 2 entries (top, bottom), got " + ints_to_string(ch));
  if (cw.size() != 2) return c.error("crop_width", "must have 2 entries (left, right), got " + ints_to_string(cw));
  for (int64_t v : ch)
    if (v < 0) return c.error("crop_height", "entries must be non-negative, got " + ints_to_string(ch));
  for (int64_t v : cw)
    if (v < 0) return c.error("crop_width", "entries must be non-negative, got " + ints_to_string(cw));
  if (!x.rank_known) return Types{Type::unknown_rank(x.dtype)};
  // coremltools: x is [*D, H, W] of rank >= 3
  if (x.rank() < 3) return c.error("x", "must have rank >= 3 ([*D, H, W]), got " + type_to_string(x));
  Shape out = x.dims;
  const size_t h = out.size() - 2, w = out.size() - 1;
  if (out[h] >= 0) {
    out[h] -= ch[0] + ch[1];
    if (out[h] < 0) return c.error("crop_height", "crops " + ints_to_string(ch) + " exceed the height of x " + type_to_string(x));
  }
  if (out[w] >= 0) {
    out[w] -= cw[0] + cw[1];
    if (out[w] < 0) return c.error("crop_width", "crops " + ints_to_string(cw) + " exceed the width of x " + type_to_string(x));
  }
  return Types{Type::tensor(x.dtype, out)};
}

Result<Types> infer_identity(InferContext& c) {
  const Type* t = c.type("x");
  if (!t) return c.error("x", "missing");
  if (t->kind == Type::Kind::kTuple || t->kind == Type::Kind::kState)
    return c.error("x", "must be a tensor, list or dict, got " + type_to_string(*t));
  return Types{*t};
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  r.mutable_schema("reshape")->infer = infer_reshape;
  r.mutable_schema("reshape_like")->infer = infer_reshape_like;
  r.mutable_schema("transpose")->infer = infer_transpose;
  r.mutable_schema("expand_dims")->infer = infer_expand_dims;
  r.mutable_schema("squeeze")->infer = infer_squeeze;
  r.mutable_schema("flatten2d")->infer = infer_flatten2d;
  r.mutable_schema("concat")->infer = infer_concat;
  r.mutable_schema("stack")->infer = infer_stack;
  r.mutable_schema("split")->infer = infer_split;
  r.mutable_schema("tile")->infer = infer_tile;
  r.mutable_schema("pad")->infer = infer_pad;
  r.mutable_schema("slice_by_index")->infer = infer_slice_by_index;
  r.mutable_schema("slice_by_size")->infer = infer_slice_by_size;
  r.mutable_schema("slice_update")->infer = infer_slice_update;
  r.mutable_schema("reverse")->infer = infer_reverse;
  r.mutable_schema("reverse_sequence")->infer = infer_reverse_sequence;
  r.mutable_schema("shape")->infer = infer_shape;
  r.mutable_schema("fill")->infer = infer_fill;
  r.mutable_schema("fill_like")->infer = infer_fill_like;
  r.mutable_schema("range_1d")->infer = infer_range_1d;
  r.mutable_schema("band_part")->infer = infer_band_part;
  r.mutable_schema("one_hot")->infer = infer_one_hot;
  r.mutable_schema("non_zero")->infer = infer_non_zero;
  r.mutable_schema("sliding_windows")->infer = infer_sliding_windows;
  r.mutable_schema("depth_to_space")->infer = depth_to_spatial("block_size");
  r.mutable_schema("pixel_shuffle")->infer = depth_to_spatial("upscale_factor");
  r.mutable_schema("space_to_depth")->infer = spatial_to_depth("block_size");
  r.mutable_schema("pixel_unshuffle")->infer = spatial_to_depth("downscale_factor");
  r.mutable_schema("space_to_batch")->infer = infer_space_to_batch;
  r.mutable_schema("batch_to_space")->infer = infer_batch_to_space;
  r.mutable_schema("crop")->infer = infer_crop;
  r.mutable_schema("identity")->infer = infer_identity;
}

}  // namespace ironmill::mil
