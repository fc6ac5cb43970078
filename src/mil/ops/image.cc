// Type inference and verification for the image ops (see ops/op_list.def for their signatures).
// Semantics follow coremltools' op definitions (iOS15..iOS17 image_resizing.py, NMS in tensor_operation.py);
// the reference kernels live in backends/reference/kernels/image.cc.
#include <algorithm>
#include <cmath>
#include <set>

#include "mil/op_registry.h"

namespace ironmill::mil {
namespace {

const std::set<std::string> kSamplingModes = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS",
                                              "UNALIGN_CORNERS"};
const std::set<std::string> kBoxModes = {"CORNERS_HEIGHT_FIRST", "CORNERS_WIDTH_FIRST", "CENTER_SIZE_HEIGHT_FIRST",
                                         "CENTER_SIZE_WIDTH_FIRST"};

std::string join(const std::set<std::string>& s) {
  std::string out;
  for (const auto& v : s) out += (out.empty() ? "" : ", ") + v;
  return out;
}

Status check_one_of(InferContext& c, const std::string& input, const std::set<std::string>& allowed) {
  IM_ASSIGN_OR_RETURN(std::string v, c.const_string(input));
  if (!allowed.count(v)) return c.error(input, "must be one of {" + join(allowed) + "}, got \"" + v + "\"");
  return Status::Ok();
}

// x of rank >= `min_rank` (exact when `exact`). Unknown rank passes (the caller propagates it).
Result<Type> image_input(InferContext& c, const std::string& input, int min_rank, bool exact) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type(input));
  if (!x.rank_known) return x;
  if (exact ? x.rank() != min_rank : x.rank() < min_rank)
    return c.error(input, std::string(exact ? "rank " : "rank >= ") + std::to_string(min_rank) + " expected, got " +
                              type_to_string(x));
  return x;
}

Result<double> positive_scale(InferContext& c, const std::string& input) {
  IM_ASSIGN_OR_RETURN(double s, c.const_float(input));
  if (!(s > 0) || !std::isfinite(s)) return c.error(input, "scale factor must be > 0, got " + std::to_string(s));
  return s;
}

Result<int64_t> positive_size(InferContext& c, const std::string& input) {
  IM_ASSIGN_OR_RETURN(int64_t v, c.const_int(input));
  if (v <= 0) return c.error(input, "must be > 0, got " + std::to_string(v));
  return v;
}

int64_t scaled_dim(int64_t d, double s) {
  return d < 0 ? kUnknownDim : static_cast<int64_t>(std::floor(static_cast<double>(d) * s));
}

// upsample_* : H2 = floor(H1 * scale_h), W2 = floor(W1 * scale_w).
Result<std::vector<Type>> infer_upsample(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, image_input(c, "x", 3, false));
  IM_ASSIGN_OR_RETURN(double sh, positive_scale(c, "scale_factor_height"));
  IM_ASSIGN_OR_RETURN(double sw, positive_scale(c, "scale_factor_width"));
  if (x.rank_known) {
    const size_t r = x.dims.size();
    x.dims[r - 2] = scaled_dim(x.dims[r - 2], sh);
    x.dims[r - 1] = scaled_dim(x.dims[r - 1], sw);
    if (x.dims[r - 2] == 0 || x.dims[r - 1] == 0) return c.op_error("scale factors give an empty output " + type_to_string(x));
  }
  return std::vector<Type>{x};
}

Result<std::vector<Type>> infer_resize_to(InferContext& c, const std::string& hname, const std::string& wname) {
  IM_ASSIGN_OR_RETURN(Type x, image_input(c, "x", 3, false));
  IM_ASSIGN_OR_RETURN(int64_t h, positive_size(c, hname));
  IM_ASSIGN_OR_RETURN(int64_t w, positive_size(c, wname));
  if (c.variant().input("sampling_mode")) IM_RETURN_IF_ERROR(check_one_of(c, "sampling_mode", kSamplingModes));
  if (x.rank_known) {
    x.dims[x.dims.size() - 2] = h;
    x.dims[x.dims.size() - 1] = w;
  }
  return std::vector<Type>{x};
}

// iOS17 resize: the right-most `resized_dims` dims of x take the right-most `resized_dims` values of `shape`
// (0 keeps x's dim).
Result<std::vector<Type>> infer_resize(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, c.tensor_type("x"));
  IM_ASSIGN_OR_RETURN(Type shape, c.tensor_type("shape"));
  if (shape.rank_known && shape.rank() != 1) return c.error("shape", "rank 1 expected, got " + type_to_string(shape));
  IM_ASSIGN_OR_RETURN(int64_t k, c.const_int("resized_dims"));
  IM_RETURN_IF_ERROR(check_one_of(c, "interpolation_mode", {"LINEAR", "NEAREST_NEIGHBOR"}));
  IM_RETURN_IF_ERROR(check_one_of(c, "sampling_mode", kSamplingModes));
  const Tensor* sv = c.const_tensor("shape");
  int64_t len = sv ? sv->numel() : (shape.rank_known ? shape.dims[0] : kUnknownDim);
  if (len >= 0 && k > len)
    return c.error("resized_dims", std::to_string(k) + " exceeds the length of `shape` (" + std::to_string(len) + ")");
  if (k < 0) return c.error("resized_dims", "must be >= 0, got " + std::to_string(k));
  if (!x.rank_known) return std::vector<Type>{x};
  if (len > x.rank()) return c.error("shape", "has " + std::to_string(len) + " values, more than rank(x) = " + std::to_string(x.rank()));
  if (k > x.rank()) return c.error("resized_dims", std::to_string(k) + " exceeds rank(x) = " + std::to_string(x.rank()));
  const int64_t r = x.rank();
  for (int64_t i = 0; i < k; ++i) {
    int64_t& d = x.dims[static_cast<size_t>(r - k + i)];
    if (!sv) {
      d = kUnknownDim;
      continue;
    }
    int64_t t = sv->get_i64(len - k + i);
    if (t < 0) return c.error("shape", "negative size " + std::to_string(t));
    if (t != 0) d = t;
  }
  return std::vector<Type>{x};
}

Result<std::vector<Type>> infer_crop_resize(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, image_input(c, "x", 4, true));
  IM_ASSIGN_OR_RETURN(int64_t th, positive_size(c, "target_height"));
  IM_ASSIGN_OR_RETURN(int64_t tw, positive_size(c, "target_width"));
  IM_RETURN_IF_ERROR(check_one_of(c, "sampling_mode", kSamplingModes));
  IM_RETURN_IF_ERROR(check_one_of(c, "box_coordinate_mode", kBoxModes));
  IM_ASSIGN_OR_RETURN(bool normalized, c.const_bool("normalized_coordinates"));
  const int64_t B = x.rank_known ? x.dims[0] : kUnknownDim;
  const int64_t C = x.rank_known ? x.dims[1] : kUnknownDim;
  if (c.opset() >= 17) {
    IM_ASSIGN_OR_RETURN(Type boxes, c.tensor_type("boxes"));
    if (boxes.rank_known && (boxes.rank() != 2 || (boxes.dims[1] >= 0 && boxes.dims[1] != 4)))
      return c.error("boxes", "shape [N, 4] expected, got " + type_to_string(boxes));
    if (normalized && !is_float(boxes.dtype))
      return c.error("boxes", "normalized_coordinates needs fp16/fp32 boxes, got " + std::string(dtype_name(boxes.dtype)));
    const int64_t N = boxes.rank_known ? boxes.dims[0] : kUnknownDim;
    if (c.has("box_indices")) {
      IM_ASSIGN_OR_RETURN(Type bi, c.tensor_type("box_indices"));
      if (bi.rank_known && (bi.rank() != 1 || (bi.dims[0] >= 0 && N >= 0 && bi.dims[0] != N)))
        return c.error("box_indices", "shape [" + std::to_string(N) + "] expected, got " + type_to_string(bi));
      if (const Tensor* t = c.const_tensor("box_indices"); t && B >= 0) {
        for (int64_t i = 0; i < t->numel(); ++i)
          if (t->get_i64(i) < 0 || t->get_i64(i) >= B)
            return c.error("box_indices", "index " + std::to_string(t->get_i64(i)) + " out of range for batch " +
                                              std::to_string(B));
      }
    } else if (N >= 0 && B >= 0 && N > B) {
      return c.error("box_indices", "omitted (defaults to [0..N-1]) but N = " + std::to_string(N) +
                                        " boxes exceed the batch B = " + std::to_string(B));
    }
    return std::vector<Type>{Type::tensor(x.dtype, {N, C, th, tw})};
  }
  // iOS15/16: roi [N, 1, 4, 1, 1] (every box on every image) or [N, 1, 5, 1, 1] (leading batch index).
  IM_ASSIGN_OR_RETURN(Type roi, c.tensor_type("roi"));
  if (roi.rank_known && roi.rank() != 5) return c.error("roi", "rank 5 [N, 1, 4|5, 1, 1] expected, got " + type_to_string(roi));
  const int64_t N = roi.rank_known ? roi.dims[0] : kUnknownDim;
  const int64_t K = roi.rank_known ? roi.dims[2] : kUnknownDim;
  if (K >= 0 && K != 4 && K != 5) return c.error("roi", "axis -3 must hold 4 or 5 values, got " + type_to_string(roi));
  // coremltools infers [N, B, ...] either way; the documented output for 5-value RoIs is [N, 1, ...].
  const int64_t second = K == 5 ? 1 : (K == 4 ? B : kUnknownDim);
  return std::vector<Type>{Type::tensor(x.dtype, {N, second, C, th, tw})};
}

Result<std::vector<Type>> infer_affine(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, image_input(c, "x", 4, true));
  IM_ASSIGN_OR_RETURN(Type m, c.tensor_type("transform_matrix"));
  if (m.rank_known && m.rank() != 2) return c.error("transform_matrix", "rank 2 [D, 6] expected, got " + type_to_string(m));
  if (m.rank_known && m.dims[1] >= 0 && m.dims[1] != 6)
    return c.error("transform_matrix", "last dim must be 6 ([a0, a1, a2, b0, b1, b2]), got " + type_to_string(m));
  const int64_t B = x.rank_known ? x.dims[0] : kUnknownDim;
  if (m.rank_known && m.dims[0] >= 0 && B >= 0 && m.dims[0] != 1 && m.dims[0] != B)
    return c.error("transform_matrix", "first dim must be 1 or the batch " + std::to_string(B) + ", got " + type_to_string(m));
  IM_ASSIGN_OR_RETURN(int64_t oh, positive_size(c, "output_height"));
  IM_ASSIGN_OR_RETURN(int64_t ow, positive_size(c, "output_width"));
  IM_RETURN_IF_ERROR(check_one_of(c, "sampling_mode", {"bilinear"}));
  IM_RETURN_IF_ERROR(check_one_of(c, "padding_mode", {"constant"}));
  IM_RETURN_IF_ERROR(check_one_of(c, "coordinates_mode", {"normalized_minus_one_to_one"}));
  IM_RETURN_IF_ERROR(c.const_bool("align_corners").status());
  return std::vector<Type>{Type::tensor(x.dtype, {B, x.rank_known ? x.dims[1] : kUnknownDim, oh, ow})};
}

Result<std::vector<Type>> infer_resample(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type x, image_input(c, "x", 4, true));
  IM_ASSIGN_OR_RETURN(Type g, c.tensor_type("coordinates"));
  if (g.rank_known && g.rank() != 4) return c.error("coordinates", "rank 4 [B, H2, W2, 2] expected, got " + type_to_string(g));
  if (g.rank_known && g.dims[3] >= 0 && g.dims[3] != 2)
    return c.error("coordinates", "last dim must be 2 (x, y), got " + type_to_string(g));
  const int64_t B = x.rank_known ? x.dims[0] : kUnknownDim;
  if (g.rank_known && g.dims[0] >= 0 && B >= 0 && g.dims[0] != B)
    return c.error("coordinates", "batch " + std::to_string(g.dims[0]) + " differs from x's batch " + std::to_string(B));
  IM_RETURN_IF_ERROR(check_one_of(c, "sampling_mode", {"bilinear", "nearest"}));
  IM_RETURN_IF_ERROR(check_one_of(c, "padding_mode", {"constant", "border", "reflection", "symmetric"}));
  IM_RETURN_IF_ERROR(
      check_one_of(c, "coordinates_mode", {"unnormalized", "normalized_minus_one_to_one", "normalized_zero_to_one"}));
  IM_RETURN_IF_ERROR(c.const_bool("align_corners").status());
  const int64_t h2 = g.rank_known ? g.dims[1] : kUnknownDim, w2 = g.rank_known ? g.dims[2] : kUnknownDim;
  return std::vector<Type>{Type::tensor(x.dtype, {B, x.rank_known ? x.dims[1] : kUnknownDim, h2, w2})};
}

Result<std::vector<Type>> infer_nms(InferContext& c) {
  IM_ASSIGN_OR_RETURN(Type boxes, c.tensor_type("boxes"));
  IM_ASSIGN_OR_RETURN(Type scores, c.tensor_type("scores"));
  if (boxes.rank_known && (boxes.rank() != 3 || (boxes.dims[2] >= 0 && boxes.dims[2] != 4)))
    return c.error("boxes", "shape [n, B, 4] expected, got " + type_to_string(boxes));
  if (scores.rank_known && scores.rank() != 3)
    return c.error("scores", "shape [n, B, K] expected, got " + type_to_string(scores));
  if (boxes.rank_known && scores.rank_known) {
    for (int i = 0; i < 2; ++i)
      if (boxes.dims[i] >= 0 && scores.dims[i] >= 0 && boxes.dims[i] != scores.dims[i])
        return c.error("scores", "shape " + type_to_string(scores) + " does not match boxes " + type_to_string(boxes));
  }
  IM_ASSIGN_OR_RETURN(int64_t max_boxes, positive_size(c, "max_boxes"));
  IM_ASSIGN_OR_RETURN(double iou, c.const_float("iou_threshold"));
  (void)iou;
  if (c.variant().input("score_threshold")) {
    if (!c.has("score_threshold")) return c.error("score_threshold", "required input missing");
    IM_RETURN_IF_ERROR(c.const_float("score_threshold").status());
  }
  IM_RETURN_IF_ERROR(c.const_bool("per_class_suppression").status());
  int64_t n = boxes.rank_known ? boxes.dims[0] : kUnknownDim;
  if (n < 0 && scores.rank_known) n = scores.dims[0];
  const int64_t K = scores.rank_known ? scores.dims[2] : kUnknownDim;
  return std::vector<Type>{Type::tensor(boxes.dtype, {n, max_boxes, 4}), Type::tensor(scores.dtype, {n, max_boxes, K}),
                           Type::tensor(DType::kInt32, {n, max_boxes}), Type::tensor(DType::kInt32, {n})};
}

}  // namespace

void register_image_ops(OpRegistry& r) {
  r.mutable_schema("upsample_nearest_neighbor")->infer = infer_upsample;
  r.mutable_schema("upsample_bilinear")->infer = [](InferContext& c) -> Result<std::vector<Type>> {
    IM_RETURN_IF_ERROR(c.const_bool("align_corners").status());
    if (c.has("half_pixel_centers")) IM_RETURN_IF_ERROR(c.const_bool("half_pixel_centers").status());
    return infer_upsample(c);
  };
  r.mutable_schema("resize_nearest_neighbor")->infer = [](InferContext& c) {
    return infer_resize_to(c, "target_size_height", "target_size_width");
  };
  r.mutable_schema("resize_bilinear")->infer = [](InferContext& c) {
    return infer_resize_to(c, "target_size_height", "target_size_width");
  };
  r.mutable_schema("resize")->infer = infer_resize;
  r.mutable_schema("crop_resize")->infer = infer_crop_resize;
  r.mutable_schema("affine")->infer = infer_affine;
  r.mutable_schema("resample")->infer = infer_resample;
  r.mutable_schema("non_maximum_suppression")->infer = infer_nms;
}

}  // namespace ironmill::mil
