// Resize (opsets 10-13+) and Upsample. ONNX resizes every axis separably, so each resized axis becomes
// a matmul with a constant [in, out] interpolation matrix built at conversion time from the static
// shape, the scales/sizes and the attributes (coordinate_transformation_mode, mode, nearest_mode,
// cubic_coeff_a, exclude_outside). This covers every mode/transform combination exactly, where the
// MIL resize ops cover only some of them. tf_crop_and_resize's out-of-range samples become
// extrapolation_value through a constant mask.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "frontends/onnx/lowering.h"

namespace ironmill::frontends::onnx {
using mil::DType;
using mil::Tensor;

namespace {

struct ResizeAttrs {
  std::string mode = "nearest", transform = "half_pixel", nearest_mode = "round_prefer_floor";
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0;
};

std::vector<double> interpolation_coeffs(const ResizeAttrs& a, double ratio, bool ratio_is_one) {
  if (a.mode == "nearest") {
    if (ratio_is_one) return {0, 1};
    if (a.nearest_mode == "round_prefer_floor") return {ratio <= 0.5 ? 1.0 : 0.0, ratio > 0.5 ? 1.0 : 0.0};
    if (a.nearest_mode == "round_prefer_ceil") return {ratio < 0.5 ? 1.0 : 0.0, ratio >= 0.5 ? 1.0 : 0.0};
    if (a.nearest_mode == "floor") return {1, 0};
    return {0, 1};  // ceil
  }
  if (a.mode == "linear") return {1 - ratio, ratio};
  const double A = a.cubic_a, r = ratio, q = 1 - ratio;
  return {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
          ((A + 2) * q - (A + 3)) * q * q + 1, ((A * (q + 1) - 5 * A) * (q + 1) + 8 * A) * (q + 1) - 4 * A};
}

// Row-major [out][in] interpolation weights for one axis; valid[o] is false where tf_crop_and_resize
// samples outside the input (that output takes extrapolation_value).
struct AxisMap {
  std::vector<double> m;
  std::vector<bool> valid;
  bool identity = true;
};

AxisMap axis_map(const ResizeAttrs& a, int64_t in, int64_t out, double scale, double roi_start, double roi_end) {
  AxisMap r;
  r.m.assign(static_cast<size_t>(out * in), 0.0);
  r.valid.assign(static_cast<size_t>(out), true);
  const double out_width = scale * static_cast<double>(in);
  for (int64_t x = 0; x < out; ++x) {
    double xo = 0;
    const double xd = static_cast<double>(x);
    if (a.transform == "align_corners") {
      xo = out_width == 1 ? 0.0 : xd * (in - 1) / (out_width - 1);
    } else if (a.transform == "asymmetric") {
      xo = xd / scale;
    } else if (a.transform == "tf_crop_and_resize") {
      xo = out_width == 1 ? (roi_end - roi_start) * (in - 1) / 2 : xd * (roi_end - roi_start) * (in - 1) / (out_width - 1);
      xo += roi_start * (in - 1);
      if (xo < 0 || xo > in - 1) { r.valid[x] = false; r.identity = false; continue; }
    } else if (a.transform == "pytorch_half_pixel") {
      xo = out_width == 1 ? -0.5 : (xd + 0.5) / scale - 0.5;
    } else {  // half_pixel
      xo = (xd + 0.5) / scale - 0.5;
    }
    const double fl = std::floor(xo);
    const bool is_int = xo == fl;
    const double ratio = is_int ? 1.0 : xo - fl;
    std::vector<double> coeffs = interpolation_coeffs(a, ratio, is_int);
    const int64_t n = static_cast<int64_t>(coeffs.size()), pad = (n + 1) / 2, len = in + 2 * pad;
    // The n samples nearest to xo on the edge-padded axis (ties to the lower index), in index order.
    std::vector<int64_t> idx(static_cast<size_t>(len));
    std::iota(idx.begin(), idx.end(), 0);
    const double xp = xo + pad;
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t p, int64_t q) { return std::abs(xp - p) < std::abs(xp - q); });
    idx.resize(static_cast<size_t>(std::min(n, len)));
    std::sort(idx.begin(), idx.end());
    if (a.exclude_outside) {
      double sum = 0;
      for (size_t i = 0; i < idx.size(); ++i) {
        int64_t j = idx[i] - pad;
        if (j < 0 || j >= in) coeffs[i] = 0;
        sum += coeffs[i];
      }
      for (auto& v : coeffs) v /= sum;
    }
    for (size_t i = 0; i < idx.size(); ++i) {
      int64_t j = std::clamp<int64_t>(idx[i] - pad, 0, in - 1);
      r.m[static_cast<size_t>(x * in + j)] += coeffs[i];
    }
  }
  if (in != out) r.identity = false;
  for (int64_t x = 0; r.identity && x < out; ++x)
    for (int64_t j = 0; j < in; ++j)
      if (r.m[static_cast<size_t>(x * in + j)] != (x == j ? 1.0 : 0.0)) { r.identity = false; break; }
  return r;
}

Status resize_impl(LowerContext& c, const std::string& x_in, const ResizeAttrs& a, std::vector<double> scales,
                   std::vector<int64_t> sizes, const std::vector<double>& roi) {
  IM_ASSIGN_OR_RETURN(auto dims, static_shape_of(c, x_in));
  const int rank = static_cast<int>(dims.size());
  const DType dt = value_dtype(c, x_in);
  if (dt != DType::kFp32 && dt != DType::kFp16) return c.fail("Resize of a non-float tensor");
  if (!sizes.empty() && static_cast<int>(sizes.size()) != rank) return c.fail("sizes has the wrong length");
  if (sizes.empty() && static_cast<int>(scales.size()) != rank) return c.fail("scales has the wrong length (or neither scales nor sizes is given)");
  std::string y = x_in;
  std::vector<std::vector<bool>> valid(static_cast<size_t>(rank));
  std::vector<int64_t> out_dims(static_cast<size_t>(rank));
  bool any_invalid = false;
  for (int ax = 0; ax < rank; ++ax) {
    const int64_t in = dims[ax];
    double s;
    int64_t out;
    if (in <= 0) return invalid_argument("Resize of an empty axis");
    if (!sizes.empty()) { out = sizes[ax]; s = static_cast<double>(out) / static_cast<double>(in); }
    else {
      s = scales[ax];
      if (!(s > 0) || s * static_cast<double>(in) > 1e9) return invalid_argument("Resize scale must be positive and finite");
      out = static_cast<int64_t>(s * static_cast<double>(in));
    }
    if (out <= 0) return c.fail("Resize to an empty axis");
    // The decomposition holds an [in, out] matrix per resized axis.
    if (static_cast<double>(in) * static_cast<double>(out) > 64.0 * 1024 * 1024)
      return c.fail("Resize axis too large for the interpolation-matrix decomposition (" + std::to_string(in) + " -> " + std::to_string(out) + ")");
    out_dims[ax] = out;
    double r0 = 0, r1 = 1;
    if (a.transform == "tf_crop_and_resize") {
      if (static_cast<int>(roi.size()) != 2 * rank) return c.fail("tf_crop_and_resize needs roi with 2 x rank values");
      r0 = roi[ax];
      r1 = roi[ax + rank];
    }
    AxisMap m = axis_map(a, in, out, s, r0, r1);
    valid[ax] = m.valid;
    for (bool v : m.valid) any_invalid = any_invalid || !v;
    if (m.identity) continue;
    // y [..., in at ax, ...] -> move ax last, matmul by M^T [in, out], move back.
    Tensor mt(dt, {in, out});
    for (int64_t o = 0; o < out; ++o)
      for (int64_t j = 0; j < in; ++j) mt.set_f64(j * out + o, m.m[static_cast<size_t>(o * in + j)]);
    std::vector<int64_t> perm(static_cast<size_t>(rank));
    std::iota(perm.begin(), perm.end(), 0);
    std::swap(perm[ax], perm[rank - 1]);
    std::string t = ax == rank - 1 ? y : c.op("transpose", {{"x", y}, {"perm", ti32(perm)}});
    t = c.op("matmul", {{"x", t}, {"y", c.b.constant(mt)}});
    y = ax == rank - 1 ? t : c.op("transpose", {{"x", t}, {"perm", ti32(perm)}});
  }
  if (any_invalid) {
    Tensor mask(DType::kBool, out_dims);
    std::vector<int64_t> coord(static_cast<size_t>(rank), 0);
    for (int64_t i = 0; i < mask.numel(); ++i) {
      int64_t rem = i;
      bool ok = true;
      for (int ax = rank - 1; ax >= 0; --ax) {
        int64_t k = rem % out_dims[ax];
        rem /= out_dims[ax];
        ok = ok && valid[ax][static_cast<size_t>(k)];
      }
      mask.set_i64(i, ok ? 1 : 0);
    }
    y = c.op("select", {{"cond", c.b.constant(mask)}, {"a", y}, {"b", sf(dt, a.extrapolation)}});
  }
  if (y == x_in) y = c.op("identity", {{"x", y}});
  c.set_out(0, y);
  return Status::Ok();
}

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.get_f64(i);
  return v;
}

Status lower_resize(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  ResizeAttrs a;
  a.mode = c.as("mode", "nearest");
  if (a.mode != "nearest" && a.mode != "linear" && a.mode != "cubic") return c.fail("Resize mode '" + a.mode + "'");
  std::vector<double> scales, roi;
  std::vector<int64_t> sizes;
  if (c.opset < 11) {  // Resize-10: (X, scales), asymmetric coordinates, nearest rounds down
    a.transform = "asymmetric";
    a.nearest_mode = "floor";
    IM_ASSIGN_OR_RETURN(auto s, c.need_const(1, "scales"));
    scales = as_doubles(s);
    return resize_impl(c, x, a, scales, sizes, roi);
  }
  a.transform = c.as("coordinate_transformation_mode", "half_pixel");
  a.nearest_mode = c.as("nearest_mode", "round_prefer_floor");
  a.cubic_a = c.af("cubic_coeff_a", -0.75f);
  a.exclude_outside = c.ai("exclude_outside", 0) != 0;
  a.extrapolation = c.af("extrapolation_value", 0.f);
  static const char* kTransforms[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_crop_and_resize"};
  if (std::find(std::begin(kTransforms), std::end(kTransforms), a.transform) == std::end(kTransforms))
    return c.fail("coordinate_transformation_mode '" + a.transform + "'");
  if (c.has_input(1) && a.transform == "tf_crop_and_resize") {
    IM_ASSIGN_OR_RETURN(auto r, c.need_const(1, "roi"));
    roi = as_doubles(r);
  }
  if (c.has_input(3)) {
    IM_ASSIGN_OR_RETURN(auto s, c.need_const(3, "sizes"));
    sizes = s.to_i64();
  }
  if (sizes.empty() && c.has_input(2)) {
    IM_ASSIGN_OR_RETURN(auto s, c.need_const(2, "scales"));
    scales = as_doubles(s);
  }
  return resize_impl(c, x, a, scales, sizes, roi);
}

Status lower_upsample(LowerContext& c) {
  IM_ASSIGN_OR_RETURN(std::string x, c.in(0));
  ResizeAttrs a;
  a.mode = c.as("mode", "nearest");
  if (a.mode != "nearest" && a.mode != "linear" && a.mode != "bilinear") return c.fail("Upsample mode '" + a.mode + "'");
  if (a.mode == "bilinear") a.mode = "linear";
  a.transform = "asymmetric";
  a.nearest_mode = "floor";
  std::vector<double> scales;
  if (c.opset >= 9) {
    IM_ASSIGN_OR_RETURN(auto s, c.need_const(1, "scales"));
    scales = as_doubles(s);
  } else {
    for (float f : c.afloats("scales")) scales.push_back(f);
  }
  return resize_impl(c, x, a, scales, {}, {});
}

}  // namespace

void add_resize_lowerings(std::map<std::string, Lowering>& t) {
  t["Resize"] = {lower_resize, nullptr};
  t["Upsample"] = {lower_upsample, nullptr};
}

}  // namespace ironmill::frontends::onnx
