// Reference kernels for the image ops. Everything is computed in double and rounded once to the output dtype.
//
// Semantics (coremltools op docs; where they are silent the choice is stated here):
//  * Sampling grids (resize_bilinear, crop_resize, resize): the five sampling modes of resize_bilinear, written for
//    an interval [0, L] (L = Xin - 1 for resizes, the box extent for crop_resize) and N output points:
//      STRICT_ALIGN_CORNERS  g_i = i * L / (N - 1)              (N == 1: 0)
//      ALIGN_CORNERS         same, but N == 1 gives L / 2
//      DEFAULT               g_i = i * (L + 1) / N              (tf align_corners=false, half_pixel_centers=false)
//      OFFSET_CORNERS        d = max(1, L) / N, g_i = d/2 + i*d  (RoI-align style)
//      UNALIGN_CORNERS       s = (L + 1) / N, g_i = (i + 0.5) * s - 0.5   (half-pixel centers)
//    then clamped to [0, L].
//  * upsample_bilinear: align_corners -> STRICT_ALIGN_CORNERS; else half_pixel_centers (default !align_corners)
//    -> UNALIGN_CORNERS; else DEFAULT. Spacing is recomputed from the output size (torch recompute_scale_factor).
//  * Nearest neighbour (upsample_/resize_nearest_neighbor, resize NEAREST_NEIGHBOR in DEFAULT mode):
//    src = floor(i * Xin / Xout) (torch "nearest"). Other resize sampling modes round the grid point half-up
//    (our choice; coremltools does not document nearest with those modes).
//  * crop_resize: boxes scaled by (H-1, W-1) when normalized, then by spatial_scale; each box interval [start, end]
//    is sampled with the grid above (L = end - start); samples outside [0, H-1] x [0, W-1] take pad_value
//    (tf.image.crop_and_resize's extrapolation_value).
//  * resample / affine: torch grid_sample semantics. reflection reflects about the corner pixel centres,
//    symmetric about the image edges (coremltools' torch frontend maps grid_sample reflection with
//    align_corners=False to "symmetric"); nearest rounds half to even like torch.
//  * non_maximum_suppression: boxes are [center_x, center_y, width, height]; a box's score is its max class score;
//    greedy selection in descending score order, suppressing IoU > iou_threshold; scores <= score_threshold are
//    rejected (iOS15/16). When nothing survives, the highest-scoring box is returned (count 1), as in
//    coremltools' reference implementation. Padding: boxes/scores 0, indices -1.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "backends/reference/kernel.h"

namespace ironmill::backends::reference {
namespace {

using mil::DType;
using mil::Shape;
using mil::Tensor;

enum class Mode { kStrict, kAlign, kDefault, kOffset, kUnalign };

Result<Mode> parse_mode(const KernelContext& c, const std::string& s) {
  if (s == "STRICT_ALIGN_CORNERS") return Mode::kStrict;
  if (s == "ALIGN_CORNERS") return Mode::kAlign;
  if (s == "DEFAULT") return Mode::kDefault;
  if (s == "OFFSET_CORNERS") return Mode::kOffset;
  if (s == "UNALIGN_CORNERS") return Mode::kUnalign;
  return c.error("unknown sampling_mode \"" + s + "\"");
}

// Grid point i of n over the interval [0, L].
double grid_point(Mode m, int64_t i, int64_t n, double L) {
  const double di = static_cast<double>(i), dn = static_cast<double>(n);
  double g = 0;
  switch (m) {
    case Mode::kStrict: g = n == 1 ? 0.0 : di * L / (dn - 1); break;
    case Mode::kAlign: g = n == 1 ? L / 2 : di * L / (dn - 1); break;
    case Mode::kDefault: g = di * (L + 1) / dn; break;
    case Mode::kOffset: {
      const double d = std::max(1.0, L) / dn;
      g = 0.5 * d + di * d;
      break;
    }
    case Mode::kUnalign: {
      const double s = (L + 1) / dn;
      g = (di + 0.5) * s - 0.5;
      break;
    }
  }
  const double lo = std::min(0.0, L), hi = std::max(0.0, L);
  return std::clamp(g, lo, hi);
}

// Linear interpolation taps for one axis: value = (1-w)*src[i0] + w*src[i1].
struct Tap {
  int64_t i0 = 0, i1 = 0;
  double w = 0;
};
Tap linear_tap(double g, int64_t size) {
  Tap t;
  double f = std::floor(g);
  t.i0 = std::clamp<int64_t>(static_cast<int64_t>(f), 0, size - 1);
  t.i1 = std::min<int64_t>(t.i0 + 1, size - 1);
  t.w = g - f;
  if (t.i0 == t.i1) t.w = 0;
  return t;
}
Tap nearest_tap(int64_t i, int64_t in, int64_t out) {
  Tap t;
  t.i0 = t.i1 = std::min<int64_t>(in - 1, (i * in) / out);
  return t;
}

// Separable resampling of the last two axes of x ([*, H, W]) to [*, Ho, Wo] with per-axis taps.
Tensor resample_hw(const Tensor& x, DType out, const std::vector<Tap>& ty, const std::vector<Tap>& tx) {
  const int r = x.rank();
  const int64_t H = x.dim(r - 2), W = x.dim(r - 1);
  const int64_t Ho = static_cast<int64_t>(ty.size()), Wo = static_cast<int64_t>(tx.size());
  const int64_t outer = H * W == 0 ? 0 : x.numel() / (H * W);
  const std::vector<double> v = x.to_f64();
  std::vector<double> o(static_cast<size_t>(outer * Ho * Wo));
  for (int64_t n = 0; n < outer; ++n) {
    const double* src = v.data() + n * H * W;
    double* dst = o.data() + n * Ho * Wo;
    for (int64_t i = 0; i < Ho; ++i) {
      const Tap& a = ty[static_cast<size_t>(i)];
      for (int64_t j = 0; j < Wo; ++j) {
        const Tap& b = tx[static_cast<size_t>(j)];
        const double top = (1 - b.w) * src[a.i0 * W + b.i0] + b.w * src[a.i0 * W + b.i1];
        const double bot = (1 - b.w) * src[a.i1 * W + b.i0] + b.w * src[a.i1 * W + b.i1];
        dst[i * Wo + j] = (1 - a.w) * top + a.w * bot;
      }
    }
  }
  Shape s = x.shape();
  s[static_cast<size_t>(r - 2)] = Ho;
  s[static_cast<size_t>(r - 1)] = Wo;
  return Tensor::from_f64(out, s, o);
}

Result<Tensor> spatial_input(const KernelContext& c, int min_rank) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  if (x.rank() < min_rank) return c.error("x must have rank >= " + std::to_string(min_rank) + ", got " + mil::shape_to_string(x.shape()));
  if (x.dim(-1) <= 0 || x.dim(-2) <= 0) return c.error("x has an empty spatial dim: " + mil::shape_to_string(x.shape()));
  return x;
}

std::vector<Tap> linear_taps(Mode m, int64_t in, int64_t out) {
  std::vector<Tap> t;
  for (int64_t i = 0; i < out; ++i) t.push_back(linear_tap(grid_point(m, i, out, static_cast<double>(in - 1)), in));
  return t;
}
std::vector<Tap> nearest_taps(int64_t in, int64_t out) {
  std::vector<Tap> t;
  for (int64_t i = 0; i < out; ++i) t.push_back(nearest_tap(i, in, out));
  return t;
}

// Output spatial size from the declared output type, else from the scale factor.
int64_t out_dim(const KernelContext& c, int axis_from_end, int64_t in, double scale) {
  const auto& dims = c.outputs().at(0).type.dims;
  if (c.outputs()[0].type.rank_known && dims.size() >= static_cast<size_t>(axis_from_end)) {
    int64_t d = dims[dims.size() - static_cast<size_t>(axis_from_end)];
    if (d >= 0) return d;
  }
  return static_cast<int64_t>(std::floor(static_cast<double>(in) * scale));
}

Status upsample(KernelContext& c, bool bilinear) {
  IM_ASSIGN_OR_RETURN(Tensor x, spatial_input(c, 3));
  IM_ASSIGN_OR_RETURN(double sh, c.get_float("scale_factor_height"));
  IM_ASSIGN_OR_RETURN(double sw, c.get_float("scale_factor_width"));
  const int64_t H = x.dim(-2), W = x.dim(-1);
  const int64_t Ho = out_dim(c, 2, H, sh), Wo = out_dim(c, 1, W, sw);
  if (Ho <= 0 || Wo <= 0) return c.error("scale factors give an empty output");
  if (!bilinear) {
    c.set_output(0, resample_hw(x, kutil::out_dtype(c), nearest_taps(H, Ho), nearest_taps(W, Wo)));
    return Status::Ok();
  }
  IM_ASSIGN_OR_RETURN(bool align, c.get_bool("align_corners"));
  bool half_pixel = !align;
  if (c.opset() >= 16 && c.has("half_pixel_centers")) {
    IM_ASSIGN_OR_RETURN(half_pixel, c.get_bool("half_pixel_centers"));
  }
  const Mode m = align ? Mode::kStrict : (half_pixel ? Mode::kUnalign : Mode::kDefault);
  c.set_output(0, resample_hw(x, kutil::out_dtype(c), linear_taps(m, H, Ho), linear_taps(m, W, Wo)));
  return Status::Ok();
}

Status resize_to(KernelContext& c, bool bilinear) {
  IM_ASSIGN_OR_RETURN(Tensor x, spatial_input(c, 3));
  IM_ASSIGN_OR_RETURN(int64_t Ho, c.get_int("target_size_height"));
  IM_ASSIGN_OR_RETURN(int64_t Wo, c.get_int("target_size_width"));
  if (Ho <= 0 || Wo <= 0) return c.error("target sizes must be > 0");
  const int64_t H = x.dim(-2), W = x.dim(-1);
  if (!bilinear) {
    c.set_output(0, resample_hw(x, kutil::out_dtype(c), nearest_taps(H, Ho), nearest_taps(W, Wo)));
    return Status::Ok();
  }
  IM_ASSIGN_OR_RETURN(std::string ms, c.get_string("sampling_mode"));
  IM_ASSIGN_OR_RETURN(Mode m, parse_mode(c, ms));
  c.set_output(0, resample_hw(x, kutil::out_dtype(c), linear_taps(m, H, Ho), linear_taps(m, W, Wo)));
  return Status::Ok();
}

// iOS17 resize: multilinear / nearest over the right-most `resized_dims` axes.
Status resize(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(std::vector<int64_t> shape, c.get_ints("shape"));
  IM_ASSIGN_OR_RETURN(int64_t k, c.get_int("resized_dims"));
  IM_ASSIGN_OR_RETURN(std::string interp, c.get_string("interpolation_mode"));
  IM_ASSIGN_OR_RETURN(std::string ms, c.get_string("sampling_mode"));
  IM_ASSIGN_OR_RETURN(Mode m, parse_mode(c, ms));
  const int r = x.rank();
  const int64_t len = static_cast<int64_t>(shape.size());
  if (k < 0 || k > len || k > r) return c.error("resized_dims " + std::to_string(k) + " out of range");
  Shape out = x.shape();
  for (int64_t i = 0; i < k; ++i) {
    int64_t t = shape[static_cast<size_t>(len - k + i)];
    if (t < 0) return c.error("negative target size " + std::to_string(t));
    if (t != 0) out[static_cast<size_t>(r - k + i)] = t;
  }
  for (int64_t i = 0; i < k; ++i)
    if (x.dim(static_cast<int>(r - k + i)) <= 0) return c.error("cannot resize an empty dim");
  // Per resized axis: taps for every output index.
  std::vector<std::vector<Tap>> taps(static_cast<size_t>(k));
  for (int64_t a = 0; a < k; ++a) {
    const int64_t in = x.dim(static_cast<int>(r - k + a)), o = out[static_cast<size_t>(r - k + a)];
    auto& t = taps[static_cast<size_t>(a)];
    for (int64_t i = 0; i < o; ++i) {
      if (interp == "LINEAR") {
        t.push_back(linear_tap(grid_point(m, i, o, static_cast<double>(in - 1)), in));
      } else if (m == Mode::kDefault) {
        t.push_back(nearest_tap(i, in, o));
      } else {
        Tap n;
        const double g = grid_point(m, i, o, static_cast<double>(in - 1));
        n.i0 = n.i1 = std::clamp<int64_t>(static_cast<int64_t>(std::floor(g + 0.5)), 0, in - 1);
        t.push_back(n);
      }
    }
  }
  const std::vector<double> v = x.to_f64();
  const auto in_strides = kutil::strides_of(x.shape());
  const int64_t total = mil::shape_numel(out);
  std::vector<double> o(static_cast<size_t>(total));
  std::vector<int64_t> coord(static_cast<size_t>(r), 0);
  for (int64_t idx = 0; idx < total; ++idx) {
    int64_t base = 0;
    for (int d = 0; d < r - k; ++d) base += coord[static_cast<size_t>(d)] * in_strides[static_cast<size_t>(d)];
    double acc = 0;
    for (int64_t corner = 0; corner < (int64_t{1} << k); ++corner) {
      double w = 1;
      int64_t off = base;
      for (int64_t a = 0; a < k; ++a) {
        const size_t d = static_cast<size_t>(r - k + a);
        const Tap& t = taps[static_cast<size_t>(a)][static_cast<size_t>(coord[d])];
        const bool hi = (corner >> a) & 1;
        w *= hi ? t.w : 1 - t.w;
        off += (hi ? t.i1 : t.i0) * in_strides[d];
      }
      if (w != 0) acc += w * v[static_cast<size_t>(off)];
    }
    o[static_cast<size_t>(idx)] = acc;
    kutil::next_coord(coord, out);
  }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), out, o));
  return Status::Ok();
}

// ---- crop_resize ----------------------------------------------------------------------------------------

struct Box {
  double y0, x0, y1, x1;
};

Result<Box> decode_box(const KernelContext& c, const std::string& mode, const double* v) {
  if (mode == "CORNERS_HEIGHT_FIRST") return Box{v[0], v[1], v[2], v[3]};
  if (mode == "CORNERS_WIDTH_FIRST") return Box{v[1], v[0], v[3], v[2]};
  if (mode == "CENTER_SIZE_HEIGHT_FIRST")
    return Box{v[0] - v[2] / 2, v[1] - v[3] / 2, v[0] + v[2] / 2, v[1] + v[3] / 2};
  if (mode == "CENTER_SIZE_WIDTH_FIRST")
    return Box{v[1] - v[3] / 2, v[0] - v[2] / 2, v[1] + v[3] / 2, v[0] + v[2] / 2};
  return c.error("unknown box_coordinate_mode \"" + mode + "\"");
}

// Bilinear sample of one HxW plane; outside [0, H-1] x [0, W-1] gives `pad`.
double sample_plane_clamped(const double* p, int64_t H, int64_t W, double y, double x, double pad) {
  if (!(y >= 0 && y <= static_cast<double>(H - 1) && x >= 0 && x <= static_cast<double>(W - 1))) return pad;
  const Tap ty = linear_tap(y, H), tx = linear_tap(x, W);
  const double top = (1 - tx.w) * p[ty.i0 * W + tx.i0] + tx.w * p[ty.i0 * W + tx.i1];
  const double bot = (1 - tx.w) * p[ty.i1 * W + tx.i0] + tx.w * p[ty.i1 * W + tx.i1];
  return (1 - ty.w) * top + ty.w * bot;
}

Status crop_resize(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  if (x.rank() != 4) return c.error("x must have rank 4, got " + mil::shape_to_string(x.shape()));
  IM_ASSIGN_OR_RETURN(int64_t th, c.get_int("target_height"));
  IM_ASSIGN_OR_RETURN(int64_t tw, c.get_int("target_width"));
  IM_ASSIGN_OR_RETURN(bool normalized, c.get_bool("normalized_coordinates"));
  IM_ASSIGN_OR_RETURN(double scale, c.get_float("spatial_scale"));
  IM_ASSIGN_OR_RETURN(std::string box_mode, c.get_string("box_coordinate_mode"));
  IM_ASSIGN_OR_RETURN(std::string ms, c.get_string("sampling_mode"));
  IM_ASSIGN_OR_RETURN(Mode m, parse_mode(c, ms));
  double pad = 0;
  if (c.opset() >= 16) {
    IM_ASSIGN_OR_RETURN(pad, c.get_float("pad_value"));
  }
  if (th <= 0 || tw <= 0) return c.error("target sizes must be > 0");
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const std::vector<double> xv = x.to_f64();

  // (box, image) pairs to crop, in output order.
  std::vector<std::pair<Box, int64_t>> crops;
  Shape out_shape;
  if (c.opset() >= 17) {
    IM_ASSIGN_OR_RETURN(Tensor boxes, c.tensor("boxes"));
    if (boxes.rank() != 2 || boxes.dim(1) != 4) return c.error("boxes must be [N, 4], got " + mil::shape_to_string(boxes.shape()));
    const int64_t N = boxes.dim(0);
    std::vector<int64_t> idx(static_cast<size_t>(N));
    std::iota(idx.begin(), idx.end(), 0);
    if (c.has("box_indices")) {
      IM_ASSIGN_OR_RETURN(idx, c.get_ints("box_indices"));
      if (static_cast<int64_t>(idx.size()) != N) return c.error("box_indices must have N = " + std::to_string(N) + " values");
    }
    const std::vector<double> bv = boxes.to_f64();
    for (int64_t n = 0; n < N; ++n) {
      IM_ASSIGN_OR_RETURN(Box b, decode_box(c, box_mode, bv.data() + n * 4));
      crops.emplace_back(b, idx[static_cast<size_t>(n)]);
    }
    out_shape = {N, C, th, tw};
  } else {
    IM_ASSIGN_OR_RETURN(Tensor roi, c.tensor("roi"));
    if (roi.rank() != 5 || (roi.dim(2) != 4 && roi.dim(2) != 5))
      return c.error("roi must be [N, 1, 4|5, 1, 1], got " + mil::shape_to_string(roi.shape()));
    const int64_t N = roi.dim(0), K = roi.dim(2);
    const std::vector<double> rv = roi.to_f64();
    for (int64_t n = 0; n < N; ++n) {
      const double* v = rv.data() + n * K;
      IM_ASSIGN_OR_RETURN(Box b, decode_box(c, box_mode, K == 5 ? v + 1 : v));
      if (K == 5) {
        crops.emplace_back(b, static_cast<int64_t>(v[0]));
      } else {
        for (int64_t bi = 0; bi < B; ++bi) crops.emplace_back(b, bi);
      }
    }
    out_shape = {N, K == 5 ? 1 : B, C, th, tw};
  }
  std::vector<double> o;
  o.reserve(static_cast<size_t>(mil::shape_numel(out_shape)));
  for (const auto& [box, bi] : crops) {
    if (bi < 0 || bi >= B) return c.error("box batch index " + std::to_string(bi) + " out of range [0, " + std::to_string(B) + ")");
    Box b = box;
    const double sy = (normalized ? static_cast<double>(H - 1) : 1.0) * scale;
    const double sx = (normalized ? static_cast<double>(W - 1) : 1.0) * scale;
    b.y0 *= sy, b.y1 *= sy, b.x0 *= sx, b.x1 *= sx;
    std::vector<double> gy, gx;
    for (int64_t i = 0; i < th; ++i) gy.push_back(b.y0 + grid_point(m, i, th, b.y1 - b.y0));
    for (int64_t j = 0; j < tw; ++j) gx.push_back(b.x0 + grid_point(m, j, tw, b.x1 - b.x0));
    for (int64_t ch = 0; ch < C; ++ch) {
      const double* plane = xv.data() + (bi * C + ch) * H * W;
      for (int64_t i = 0; i < th; ++i)
        for (int64_t j = 0; j < tw; ++j)
          o.push_back(sample_plane_clamped(plane, H, W, gy[static_cast<size_t>(i)], gx[static_cast<size_t>(j)], pad));
    }
  }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), out_shape, o));
  return Status::Ok();
}

// ---- grid sampling (resample, affine) -----------------------------------------------------------------------

enum class Pad { kConstant, kBorder, kReflection, kSymmetric };
enum class Coords { kUnnormalized, kMinusOneToOne, kZeroToOne };

struct GridSampler {
  bool bilinear = true;
  Pad pad = Pad::kConstant;
  double pad_value = 0;
  Coords coords = Coords::kMinusOneToOne;
  bool align = true;

  // Input coordinate (pixel units) for a coordinate in `coords` units along an axis of `size`.
  double unnormalize(double v, int64_t size) const {
    const double s = static_cast<double>(size);
    switch (coords) {
      case Coords::kUnnormalized: return v;
      case Coords::kMinusOneToOne: return align ? (v + 1) / 2 * (s - 1) : ((v + 1) * s - 1) / 2;
      case Coords::kZeroToOne: return align ? v * (s - 1) : v * s - 0.5;
    }
    return v;
  }
  // torch's reflect_coordinates over [twice_low/2, twice_high/2].
  static double reflect(double v, double twice_low, double twice_high) {
    if (twice_low == twice_high) return 0;
    const double mn = twice_low / 2, span = (twice_high - twice_low) / 2;
    v = std::fabs(v - mn);
    const double extra = std::fmod(v, span);
    const int64_t flips = static_cast<int64_t>(std::floor(v / span));
    return flips % 2 == 0 ? extra + mn : span - extra + mn;
  }
  double apply_padding(double v, int64_t size) const {
    const double hi = static_cast<double>(size - 1);
    switch (pad) {
      case Pad::kConstant: return v;
      case Pad::kBorder: return std::clamp(v, 0.0, hi);
      case Pad::kReflection: return std::clamp(reflect(v, 0, 2 * hi), 0.0, hi);
      case Pad::kSymmetric: return std::clamp(reflect(v, -1, 2 * hi + 1), 0.0, hi);
    }
    return v;
  }
  double sample(const double* p, int64_t H, int64_t W, double gx, double gy) const {
    double x = apply_padding(unnormalize(gx, W), W);
    double y = apply_padding(unnormalize(gy, H), H);
    if (!std::isfinite(x) || !std::isfinite(y)) return pad == Pad::kConstant ? pad_value : 0.0;
    auto at = [&](int64_t yy, int64_t xx) -> double {
      if (yy < 0 || yy >= H || xx < 0 || xx >= W) return pad == Pad::kConstant ? pad_value : 0.0;
      return p[yy * W + xx];
    };
    if (!bilinear) return at(static_cast<int64_t>(std::nearbyint(y)), static_cast<int64_t>(std::nearbyint(x)));
    const double fx = std::floor(x), fy = std::floor(y);
    const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
    const double wx = x - fx, wy = y - fy;
    double acc = 0;
    // Taps with zero weight are skipped so that border/reflection never read past the edge.
    const double w00 = (1 - wy) * (1 - wx), w01 = (1 - wy) * wx, w10 = wy * (1 - wx), w11 = wy * wx;
    if (w00 != 0) acc += w00 * at(y0, x0);
    if (w01 != 0) acc += w01 * at(y0, x0 + 1);
    if (w10 != 0) acc += w10 * at(y0 + 1, x0);
    if (w11 != 0) acc += w11 * at(y0 + 1, x0 + 1);
    return acc;
  }
};

Result<GridSampler> grid_sampler(const KernelContext& c) {
  GridSampler g;
  IM_ASSIGN_OR_RETURN(std::string sm, c.get_string("sampling_mode"));
  IM_ASSIGN_OR_RETURN(std::string pm, c.get_string("padding_mode"));
  IM_ASSIGN_OR_RETURN(std::string cm, c.get_string("coordinates_mode"));
  IM_ASSIGN_OR_RETURN(g.pad_value, c.get_float("padding_value"));
  IM_ASSIGN_OR_RETURN(g.align, c.get_bool("align_corners"));
  if (sm == "bilinear") g.bilinear = true;
  else if (sm == "nearest") g.bilinear = false;
  else return c.error("unknown sampling_mode \"" + sm + "\"");
  if (pm == "constant") g.pad = Pad::kConstant;
  else if (pm == "border") g.pad = Pad::kBorder;
  else if (pm == "reflection") g.pad = Pad::kReflection;
  else if (pm == "symmetric") g.pad = Pad::kSymmetric;
  else return c.error("unknown padding_mode \"" + pm + "\"");
  if (cm == "unnormalized") g.coords = Coords::kUnnormalized;
  else if (cm == "normalized_minus_one_to_one") g.coords = Coords::kMinusOneToOne;
  else if (cm == "normalized_zero_to_one") g.coords = Coords::kZeroToOne;
  else return c.error("unknown coordinates_mode \"" + cm + "\"");
  return g;
}

Status resample(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor coords, c.tensor("coordinates"));
  if (x.rank() != 4) return c.error("x must have rank 4, got " + mil::shape_to_string(x.shape()));
  if (coords.rank() != 4 || coords.dim(3) != 2 || coords.dim(0) != x.dim(0))
    return c.error("coordinates must be [B, H2, W2, 2] with x's batch, got " + mil::shape_to_string(coords.shape()));
  IM_ASSIGN_OR_RETURN(GridSampler g, grid_sampler(c));
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3), Ho = coords.dim(1), Wo = coords.dim(2);
  const std::vector<double> xv = x.to_f64(), cv = coords.to_f64();
  std::vector<double> o(static_cast<size_t>(B * C * Ho * Wo));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t ch = 0; ch < C; ++ch) {
      const double* plane = xv.data() + (b * C + ch) * H * W;
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          const double* xy = cv.data() + ((b * Ho + i) * Wo + j) * 2;
          o[static_cast<size_t>(((b * C + ch) * Ho + i) * Wo + j)] = g.sample(plane, H, W, xy[0], xy[1]);
        }
    }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), {B, C, Ho, Wo}, o));
  return Status::Ok();
}

// affine: output pixel (w, h) has normalized coordinates (xn, yn) on the output grid (torch affine_grid);
// x' = a0*xn + a1*yn + a2, y' = b0*xn + b1*yn + b2 are sampled like resample.
Status affine(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor x, c.tensor("x"));
  IM_ASSIGN_OR_RETURN(Tensor m, c.tensor("transform_matrix"));
  if (x.rank() != 4) return c.error("x must have rank 4, got " + mil::shape_to_string(x.shape()));
  const int64_t B = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  if (m.rank() != 2 || m.dim(1) != 6 || (m.dim(0) != 1 && m.dim(0) != B))
    return c.error("transform_matrix must be [1 or B, 6], got " + mil::shape_to_string(m.shape()));
  IM_ASSIGN_OR_RETURN(int64_t Ho, c.get_int("output_height"));
  IM_ASSIGN_OR_RETURN(int64_t Wo, c.get_int("output_width"));
  IM_ASSIGN_OR_RETURN(GridSampler g, grid_sampler(c));
  auto lin = [&](int64_t i, int64_t n) -> double {
    if (n <= 1) return 0.0;
    const double v = -1 + 2 * static_cast<double>(i) / static_cast<double>(n - 1);
    return g.align ? v : v * static_cast<double>(n - 1) / static_cast<double>(n);
  };
  const std::vector<double> xv = x.to_f64(), mv = m.to_f64();
  std::vector<double> o(static_cast<size_t>(B * C * Ho * Wo));
  for (int64_t b = 0; b < B; ++b) {
    const double* t = mv.data() + (m.dim(0) == 1 ? 0 : b) * 6;
    for (int64_t ch = 0; ch < C; ++ch) {
      const double* plane = xv.data() + (b * C + ch) * H * W;
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          const double xn = lin(j, Wo), yn = lin(i, Ho);
          const double sx = t[0] * xn + t[1] * yn + t[2];
          const double sy = t[3] * xn + t[4] * yn + t[5];
          o[static_cast<size_t>(((b * C + ch) * Ho + i) * Wo + j)] = g.sample(plane, H, W, sx, sy);
        }
    }
  }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c), {B, C, Ho, Wo}, o));
  return Status::Ok();
}

// ---- non_maximum_suppression ----------------------------------------------------------------------------

double iou_center_size(const double* a, const double* b) {
  auto lo = [](const double* v, int k) { return v[k] - 0.5 * v[k + 2]; };
  auto hi = [](const double* v, int k) { return v[k] + 0.5 * v[k + 2]; };
  const double area_a = a[2] * a[3], area_b = b[2] * b[3];
  if (area_a <= 0 || area_b <= 0) return 0;
  const double iw = std::max(0.0, std::min(hi(a, 0), hi(b, 0)) - std::max(lo(a, 0), lo(b, 0)));
  const double ih = std::max(0.0, std::min(hi(a, 1), hi(b, 1)) - std::max(lo(a, 1), lo(b, 1)));
  const double inter = iw * ih;
  return inter / (area_a + area_b - inter);
}

Status nms(KernelContext& c) {
  IM_ASSIGN_OR_RETURN(Tensor boxes, c.tensor("boxes"));
  IM_ASSIGN_OR_RETURN(Tensor scores, c.tensor("scores"));
  if (boxes.rank() != 3 || boxes.dim(2) != 4) return c.error("boxes must be [n, B, 4], got " + mil::shape_to_string(boxes.shape()));
  if (scores.rank() != 3 || scores.dim(0) != boxes.dim(0) || scores.dim(1) != boxes.dim(1))
    return c.error("scores must be [n, B, K] matching boxes, got " + mil::shape_to_string(scores.shape()));
  IM_ASSIGN_OR_RETURN(double iou_threshold, c.get_float("iou_threshold"));
  double score_threshold = -INFINITY;
  if (c.opset() < 17) {
    IM_ASSIGN_OR_RETURN(score_threshold, c.get_float("score_threshold"));
  }
  IM_ASSIGN_OR_RETURN(int64_t max_boxes, c.get_int("max_boxes"));
  IM_ASSIGN_OR_RETURN(bool per_class, c.get_bool("per_class_suppression"));
  if (max_boxes <= 0) return c.error("max_boxes must be > 0");
  const int64_t n = boxes.dim(0), nb = boxes.dim(1), K = scores.dim(2);
  const std::vector<double> bv = boxes.to_f64(), sv = scores.to_f64();
  std::vector<double> out_boxes(static_cast<size_t>(n * max_boxes * 4), 0.0);
  std::vector<double> out_scores(static_cast<size_t>(n * max_boxes * K), 0.0);
  std::vector<int64_t> out_idx(static_cast<size_t>(n * max_boxes), -1);
  std::vector<int64_t> out_count(static_cast<size_t>(n), 0);
  for (int64_t b = 0; b < n; ++b) {
    std::vector<double> best(static_cast<size_t>(nb), -INFINITY);
    std::vector<int64_t> cls(static_cast<size_t>(nb), 0);
    for (int64_t i = 0; i < nb; ++i)
      for (int64_t k = 0; k < K; ++k) {
        const double s = sv[static_cast<size_t>((b * nb + i) * K + k)];
        if (s > best[static_cast<size_t>(i)]) best[static_cast<size_t>(i)] = s, cls[static_cast<size_t>(i)] = k;
      }
    std::vector<int64_t> order(static_cast<size_t>(nb));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t z) { return best[static_cast<size_t>(a)] > best[static_cast<size_t>(z)]; });
    std::vector<int64_t> kept;
    for (int64_t i : order) {
      if (static_cast<int64_t>(kept.size()) >= max_boxes) break;
      if (!(best[static_cast<size_t>(i)] > score_threshold)) continue;
      bool suppressed = false;
      for (int64_t j : kept) {
        if (per_class && cls[static_cast<size_t>(i)] != cls[static_cast<size_t>(j)]) continue;
        if (iou_center_size(&bv[static_cast<size_t>((b * nb + i) * 4)], &bv[static_cast<size_t>((b * nb + j) * 4)]) >
            iou_threshold) {
          suppressed = true;
          break;
        }
      }
      if (!suppressed) kept.push_back(i);
    }
    if (kept.empty() && nb > 0) kept.push_back(order[0]);
    out_count[static_cast<size_t>(b)] = static_cast<int64_t>(kept.size());
    for (size_t s = 0; s < kept.size(); ++s) {
      const int64_t i = kept[s], slot = b * max_boxes + static_cast<int64_t>(s);
      for (int q = 0; q < 4; ++q) out_boxes[static_cast<size_t>(slot * 4 + q)] = bv[static_cast<size_t>((b * nb + i) * 4 + q)];
      for (int64_t k = 0; k < K; ++k)
        out_scores[static_cast<size_t>(slot * K + k)] = sv[static_cast<size_t>((b * nb + i) * K + k)];
      out_idx[static_cast<size_t>(slot)] = i;
    }
  }
  c.set_output(0, Tensor::from_f64(kutil::out_dtype(c, 0), {n, max_boxes, 4}, out_boxes));
  c.set_output(1, Tensor::from_f64(kutil::out_dtype(c, 1), {n, max_boxes, K}, out_scores));
  c.set_output(2, Tensor::from_i64(kutil::out_dtype(c, 2), {n, max_boxes}, out_idx));
  c.set_output(3, Tensor::from_i64(kutil::out_dtype(c, 3), {n}, out_count));
  return Status::Ok();
}

}  // namespace

void register_image_kernels(KernelTable& t) {
  t.add("upsample_nearest_neighbor", [](KernelContext& c) { return upsample(c, false); });
  t.add("upsample_bilinear", [](KernelContext& c) { return upsample(c, true); });
  t.add("resize_nearest_neighbor", [](KernelContext& c) { return resize_to(c, false); });
  t.add("resize_bilinear", [](KernelContext& c) { return resize_to(c, true); });
  t.add("resize", resize);
  t.add("crop_resize", crop_resize);
  t.add("resample", resample);
  t.add("affine", affine);
  t.add("non_maximum_suppression", nms);
}

}  // namespace ironmill::backends::reference
