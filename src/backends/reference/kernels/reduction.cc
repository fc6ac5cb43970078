// Reference kernels for the reduction ops.
//
// Floats accumulate in fp64 and round once to the output dtype. Integer inputs are exact: sums and
// products accumulate in int64 and wrap to the output width like numpy's `.astype(int32)`; the
// float-valued reductions (mean, l2_norm, log_sum, log_sum_exp) on integers are computed in fp64 and
// truncated toward zero (coremltools' value_inference: `np.<op>(x).astype(x.dtype)`).
// Ordering ops (argmax/argmin/argsort/topk) are stable: ties resolve to the lowest index; NaN sorts last.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

// Wraps an int64 into the range of an integer dtype (two's complement, like numpy astype).
int64_t wrap_to(DType dt, int64_t v) {
  switch (dt) {
    case DType::kInt8: return static_cast<int8_t>(v);
    case DType::kInt16: return static_cast<int16_t>(v);
    case DType::kInt32: return static_cast<int32_t>(v);
    case DType::kUint8: return static_cast<uint8_t>(v);
    case DType::kUint16: return static_cast<uint16_t>(v);
    case DType::kUint32: return static_cast<uint32_t>(v);
    default: return v;
  }
}

enum class RKind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

// Groups the flat input indices by output position for the reduced axes.
struct Grouping {
  Shape out_shape;                     // with keep_dims applied
  std::vector<int64_t> group_of;       // input flat index -> output flat index
  int64_t num_groups = 0;
};

Result<Grouping> group_axes(KernelContext& c, const Shape& in) {
  const int64_t rank = static_cast<int64_t>(in.size());
  std::vector<bool> reduced(in.size(), false);
  if (c.has("axes")) {
    IM_ASSIGN_OR_RETURN(std::vector<int64_t> axes, c.get_ints("axes"));
    for (int64_t a : axes) {
      IM_ASSIGN_OR_RETURN(int64_t n, kutil::normalize_axis(c, a, rank));
      reduced[static_cast<size_t>(n)] = true;
    }
  } else {
    std::fill(reduced.begin(), reduced.end(), true);
  }
  IM_ASSIGN_OR_RETURN(bool keep, c.get_bool("keep_dims"));
  Grouping g;
  Shape kept(in.size());  // keep-dims shape
  for (size_t i = 0; i < in.size(); ++i) {
    kept[i] = reduced[i] ? 1 : in[i];
    if (!reduced[i]) g.out_shape.push_back(in[i]);
    else if (keep) g.out_shape.push_back(1);
  }
  g.num_groups = mil::shape_numel(kept);
  const auto ks = kutil::strides_of(kept);
  const int64_t n = mil::shape_numel(in);
  g.group_of.resize(static_cast<size_t>(n));
  std::vector<int64_t> coord(in.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t o = 0;
    for (size_t d = 0; d < in.size(); ++d)
      if (!reduced[d]) o += coord[d] * ks[d];
    g.group_of[static_cast<size_t>(i)] = o;
    kutil::next_coord(coord, in);
  }
  return g;
}

KernelFn reduce_kernel(RKind kind) {
  return [kind](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    IM_ASSIGN_OR_RETURN(Grouping g, group_axes(c, x.shape()));
    const DType odt = kutil::out_dtype(c);
    const size_t ng = static_cast<size_t>(g.num_groups);
    const bool int_in = mil::is_int(x.dtype());
    std::vector<int64_t> count(ng, 0);
    for (int64_t gi : g.group_of) ++count[static_cast<size_t>(gi)];

    // Exact integer path for the ops whose result is an integer.
    if (int_in && (kind == RKind::kSum || kind == RKind::kMax || kind == RKind::kMin || kind == RKind::kProd ||
                   kind == RKind::kL1 || kind == RKind::kSumSquare)) {
      std::vector<int64_t> acc(ng, 0);
      std::vector<bool> seen(ng, false);
      const auto v = x.to_i64();
      for (size_t i = 0; i < v.size(); ++i) {
        const size_t o = static_cast<size_t>(g.group_of[i]);
        const int64_t e = v[i];
        uint64_t a = static_cast<uint64_t>(acc[o]);  // unsigned: wrap-around is defined
        switch (kind) {
          case RKind::kSum: a += static_cast<uint64_t>(e); break;
          case RKind::kL1: a += static_cast<uint64_t>(e < 0 ? -e : e); break;
          case RKind::kSumSquare: a += static_cast<uint64_t>(e) * static_cast<uint64_t>(e); break;
          case RKind::kProd: a = seen[o] ? a * static_cast<uint64_t>(e) : static_cast<uint64_t>(e); break;
          case RKind::kMax: a = static_cast<uint64_t>(seen[o] ? std::max(acc[o], e) : e); break;
          case RKind::kMin: a = static_cast<uint64_t>(seen[o] ? std::min(acc[o], e) : e); break;
          default: break;
        }
        acc[o] = static_cast<int64_t>(a);
        seen[o] = true;
      }
      for (size_t o = 0; o < ng; ++o) {
        if (!seen[o]) {
          if (kind == RKind::kProd) acc[o] = 1;
          if (kind == RKind::kMax || kind == RKind::kMin) return c.error("reduction over an empty axis");
        }
        acc[o] = wrap_to(odt, acc[o]);
      }
      c.set_output(0, Tensor::from_i64(odt, g.out_shape, acc));
      return Status::Ok();
    }

    const auto v = x.to_f64();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    std::vector<double> acc(ng, 0.0);
    std::vector<bool> seen(ng, false);
    // log_sum_exp: the group maximum first, for stability.
    std::vector<double> mx(ng, -std::numeric_limits<double>::infinity());
    if (kind == RKind::kLogSumExp)
      for (size_t i = 0; i < v.size(); ++i) {
        double& m = mx[static_cast<size_t>(g.group_of[i])];
        if (std::isnan(v[i]) || std::isnan(m)) m = nan;
        else m = std::max(m, v[i]);
      }
    for (size_t i = 0; i < v.size(); ++i) {
      const size_t o = static_cast<size_t>(g.group_of[i]);
      const double e = v[i];
      double& a = acc[o];
      switch (kind) {
        case RKind::kSum: case RKind::kMean: case RKind::kLogSum: a += e; break;
        case RKind::kL1: a += std::fabs(e); break;
        case RKind::kL2: case RKind::kSumSquare: a += e * e; break;
        case RKind::kProd: a = seen[o] ? a * e : e; break;
        case RKind::kMax: a = !seen[o] ? e : (std::isnan(a) || std::isnan(e)) ? nan : std::max(a, e); break;
        case RKind::kMin: a = !seen[o] ? e : (std::isnan(a) || std::isnan(e)) ? nan : std::min(a, e); break;
        case RKind::kLogSumExp: {
          const double m = mx[o];
          a += std::isinf(m) ? (e == m ? 1.0 : 0.0) : std::exp(e - m);
          break;
        }
      }
      seen[o] = true;
    }
    for (size_t o = 0; o < ng; ++o) {
      double& a = acc[o];
      if (!seen[o]) {
        if (kind == RKind::kProd) a = 1;
        if (kind == RKind::kMax || kind == RKind::kMin) return c.error("reduction over an empty axis");
        if (kind == RKind::kMean) a = nan;
        if (kind == RKind::kLogSumExp) a = -std::numeric_limits<double>::infinity();
      }
      switch (kind) {
        case RKind::kMean: if (seen[o]) a /= static_cast<double>(count[o]); break;
        case RKind::kL2: a = std::sqrt(a); break;
        case RKind::kLogSum: a = std::log(a); break;
        case RKind::kLogSumExp: if (seen[o]) a = std::log(a) + mx[o]; break;
        default: break;
      }
    }
    c.set_output(0, Tensor::from_f64(odt, g.out_shape, acc));
    return Status::Ok();
  };
}

// Iteration along one axis: element j of line (outer, inner) is at outer*n*inner + j*inner + inner_off.
struct AxisLines {
  int64_t outer = 1, n = 1, inner = 1;
  int64_t at(int64_t line, int64_t j) const { return (line / inner) * n * inner + j * inner + line % inner; }
  int64_t lines() const { return outer * inner; }
};
AxisLines lines_of(const Shape& s, int64_t axis) {
  AxisLines l;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    if (i < axis) l.outer *= s[static_cast<size_t>(i)];
    else if (i == axis) l.n = s[static_cast<size_t>(i)];
    else l.inner *= s[static_cast<size_t>(i)];
  }
  return l;
}

// Stable ordering of one line's positions; NaN sorts last in either direction.
std::vector<int64_t> order_line(const std::vector<double>& v, const AxisLines& l, int64_t line, bool ascending) {
  std::vector<int64_t> idx(static_cast<size_t>(l.n));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
    const double x = v[static_cast<size_t>(l.at(line, a))], y = v[static_cast<size_t>(l.at(line, b))];
    if (std::isnan(x)) return false;
    if (std::isnan(y)) return true;
    return ascending ? x < y : x > y;
  });
  return idx;
}

KernelFn reduce_arg_kernel(bool is_max) {
  return [is_max](KernelContext& c) -> Status {
    IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
    IM_ASSIGN_OR_RETURN(int64_t axis_in, c.get_int("axis"));
    IM_ASSIGN_OR_RETURN(bool keep, c.get_bool("keep_dims"));
    IM_ASSIGN_OR_RETURN(int64_t axis, kutil::normalize_axis(c, axis_in, x.rank()));
    const AxisLines l = lines_of(x.shape(), axis);
    if (l.n == 0) return c.error("arg-reduction over an empty axis");
    const auto v = x.to_f64();
    std::vector<int64_t> out(static_cast<size_t>(l.lines()));
    for (int64_t line = 0; line < l.lines(); ++line) {
      int64_t best = 0;
      double bv = v[static_cast<size_t>(l.at(line, 0))];
      for (int64_t j = 1; j < l.n && !std::isnan(bv); ++j) {
        const double e = v[static_cast<size_t>(l.at(line, j))];
        if (std::isnan(e) || (is_max ? e > bv : e < bv)) { best = j; bv = e; }  // numpy: first NaN wins
      }
      out[static_cast<size_t>(line)] = best;
    }
    Shape s = x.shape();
    if (keep) s[static_cast<size_t>(axis)] = 1;
    else s.erase(s.begin() + axis);
    c.set_output(0, Tensor::from_i64(kutil::out_dtype(c), s, out));
    return Status::Ok();
  };
}

Status argsort_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis_in, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(bool ascending, c.get_bool("ascending"));
  IM_ASSIGN_OR_RETURN(int64_t axis, kutil::normalize_axis(c, axis_in, x.rank()));
  const AxisLines l = lines_of(x.shape(), axis);
  const auto v = x.to_f64();
  std::vector<int64_t> out(static_cast<size_t>(x.numel()));
  for (int64_t line = 0; line < l.lines(); ++line) {
    auto idx = order_line(v, l, line, ascending);
    for (int64_t j = 0; j < l.n; ++j) out[static_cast<size_t>(l.at(line, j))] = idx[static_cast<size_t>(j)];
  }
  c.set_output(0, Tensor::from_i64(kutil::out_dtype(c), x.shape(), out));
  return Status::Ok();
}

// topk: values and indices of the k largest (smallest when ascending) along `axis`. `sort=false`
// leaves the order unspecified; this kernel always returns the sorted order.
Status topk_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(int64_t k, c.get_int("k"));
  IM_ASSIGN_OR_RETURN(int64_t axis_in, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(bool ascending, c.get_bool("ascending"));
  IM_ASSIGN_OR_RETURN(int64_t axis, kutil::normalize_axis(c, axis_in, x.rank()));
  const AxisLines l = lines_of(x.shape(), axis);
  if (k == -1) k = l.n;
  if (k < 1 || k > l.n)
    return c.error("k = " + std::to_string(k) + " out of range for axis size " + std::to_string(l.n));
  Shape s = x.shape();
  s[static_cast<size_t>(axis)] = k;
  AxisLines lo = l;
  lo.n = k;
  const auto v = x.to_f64();
  std::vector<double> vals(static_cast<size_t>(mil::shape_numel(s)));
  std::vector<int64_t> inds(vals.size());
  for (int64_t line = 0; line < l.lines(); ++line) {
    auto idx = order_line(v, l, line, ascending);
    for (int64_t j = 0; j < k; ++j) {
      vals[static_cast<size_t>(lo.at(line, j))] = v[static_cast<size_t>(l.at(line, idx[static_cast<size_t>(j)]))];
      inds[static_cast<size_t>(lo.at(line, j))] = idx[static_cast<size_t>(j)];
    }
  }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c, 0), s, vals));
  if (c.outputs().size() > 1) c.set_output(1, Tensor::from_i64(kutil::out_dtype(c, 1), s, inds));
  return Status::Ok();
}

Status cumsum_kernel(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(int64_t axis_in, c.get_int("axis"));
  IM_ASSIGN_OR_RETURN(bool exclusive, c.get_bool("exclusive"));
  IM_ASSIGN_OR_RETURN(bool reverse, c.get_bool("reverse"));
  IM_ASSIGN_OR_RETURN(int64_t axis, kutil::normalize_axis(c, axis_in, x.rank()));
  const AxisLines l = lines_of(x.shape(), axis);
  const DType odt = kutil::out_dtype(c);
  if (mil::is_int(x.dtype())) {
    const auto v = x.to_i64();
    std::vector<int64_t> out(v.size());
    for (int64_t line = 0; line < l.lines(); ++line) {
      uint64_t acc = 0;
      for (int64_t t = 0; t < l.n; ++t) {
        const int64_t j = reverse ? l.n - 1 - t : t;
        const size_t p = static_cast<size_t>(l.at(line, j));
        if (exclusive) { out[p] = wrap_to(odt, static_cast<int64_t>(acc)); acc += static_cast<uint64_t>(v[p]); }
        else { acc += static_cast<uint64_t>(v[p]); out[p] = wrap_to(odt, static_cast<int64_t>(acc)); }
      }
    }
    c.set_output(0, Tensor::from_i64(odt, x.shape(), out));
    return Status::Ok();
  }
  const auto v = x.to_f64();
  std::vector<double> out(v.size());
  for (int64_t line = 0; line < l.lines(); ++line) {
    double acc = 0;
    for (int64_t t = 0; t < l.n; ++t) {
      const int64_t j = reverse ? l.n - 1 - t : t;
      const size_t p = static_cast<size_t>(l.at(line, j));
      if (exclusive) { out[p] = acc; acc += v[p]; }
      else { acc += v[p]; out[p] = acc; }
    }
  }
  c.set_output(0, Tensor::from_f64(odt, x.shape(), out));
  return Status::Ok();
}

}  // namespace

void register_reduction_kernels(KernelTable& t) {
  t.add("reduce_sum", reduce_kernel(RKind::kSum));
  t.add("reduce_mean", reduce_kernel(RKind::kMean));
  t.add("reduce_max", reduce_kernel(RKind::kMax));
  t.add("reduce_min", reduce_kernel(RKind::kMin));
  t.add("reduce_prod", reduce_kernel(RKind::kProd));
  t.add("reduce_l1_norm", reduce_kernel(RKind::kL1));
  t.add("reduce_l2_norm", reduce_kernel(RKind::kL2));
  t.add("reduce_sum_square", reduce_kernel(RKind::kSumSquare));
  t.add("reduce_log_sum", reduce_kernel(RKind::kLogSum));
  t.add("reduce_log_sum_exp", reduce_kernel(RKind::kLogSumExp));
  t.add("reduce_argmax", reduce_arg_kernel(true));
  t.add("reduce_argmin", reduce_arg_kernel(false));
  t.add("argsort", argsort_kernel);
  t.add("topk", topk_kernel);
  t.add("cumsum", cumsum_kernel);
}

}  // namespace ironmill::backends::reference
