// Image family: output shapes (scale-factor flooring, crop_resize layouts per opset, iOS17 resize with a runtime
// shape, NMS outputs), unknown-dim propagation, errors naming op and input, and a few kernel properties that the
// op-eval cases do not isolate (NMS per-class vs global suppression, crop_resize with a flipped box).
#include <gtest/gtest.h>

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using testing::bool_scalar;
using testing::build_single_op;
using testing::fp32_scalar;
using testing::fp32_tensor;
using testing::fp32_type;
using testing::int32_scalar;
using testing::int32_vector;
using testing::message_contains;
using testing::run_outputs_on_reference;
using testing::string_scalar;
constexpr int64_t U = kUnknownDim;

TEST(Image, UpsampleFloorsScaledDims) {
  auto r = build_single_op("upsample_bilinear", {{"x", fp32_type({1, 2, 5, 3})}},
                 {{"scale_factor_height", fp32_scalar(1.5)}, {"scale_factor_width", fp32_scalar(2.7)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({1, 2, 7, 8}));  // floor(7.5), floor(8.1)
  auto n = build_single_op("upsample_nearest_neighbor", {{"x", fp32_type({U, 4, U})}},
                           {{"scale_factor_width", int32_scalar(3)}});
  ASSERT_TRUE(n.status.ok()) << n.status.message();
  EXPECT_EQ(n.types[0], fp32_type({U, 4, U}));
  auto bad = build_single_op("upsample_nearest_neighbor", {{"x", fp32_type({2, 4})}}, {});
  EXPECT_TRUE(message_contains(
      bad.status, "`upsample_nearest_neighbor` (upsample_nearest_neighbor_0) input `x`: rank >= 3 expected"))
      << bad.status.message();
  auto zero =
      build_single_op("upsample_bilinear", {{"x", fp32_type({1, 4, 4})}}, {{"scale_factor_height", fp32_scalar(0.0)}});
  EXPECT_TRUE(message_contains(zero.status, "input `scale_factor_height`: scale factor must be > 0"))
      << zero.status.message();
}

TEST(Image, ResizeBilinearRejectsUnknownSamplingMode) {
  auto r = build_single_op("resize_bilinear", {{"x", fp32_type({1, 4, 4})}},
                           {{"sampling_mode", string_scalar("HALF_PIXEL")}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_TRUE(message_contains(r.status, "`resize_bilinear` (resize_bilinear_0) input `sampling_mode`: must be one of"))
      << r.status.message();
  auto ok = build_single_op("resize_bilinear", {{"x", fp32_type({3, 2, 4, 4})}},
                  {{"target_size_height", int32_scalar(9)}, {"target_size_width", int32_scalar(1)}});
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(ok.types[0], fp32_type({3, 2, 9, 1}));
}

TEST(Image, ResizeIos17Shapes) {
  Tensor k2 = Tensor::scalar_i64(DType::kUint32, 2);
  auto c = build_single_op("resize", {{"x", fp32_type({1, 2, 3, 4})}},
                           {{"shape", int32_vector({9, 0, 6})}, {"resized_dims", k2}}, "ios17");
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  EXPECT_EQ(c.types[0], fp32_type({1, 2, 3, 6}));  // right-most 2 values [0, 6]; 0 keeps x's dim
  auto rt = build_single_op("resize", {{"x", fp32_type({1, 2, 3, 4})}, {"shape", Type::tensor(DType::kInt32, {2})}},
                  {{"resized_dims", k2}}, "ios17");
  ASSERT_TRUE(rt.status.ok()) << rt.status.message();
  EXPECT_EQ(rt.types[0], fp32_type({1, 2, U, U}));
  auto big = build_single_op("resize", {{"x", fp32_type({1, 2, 3, 4})}},
                   {{"shape", int32_vector({5})}, {"resized_dims", k2}}, "ios17");
  EXPECT_TRUE(
      message_contains(big.status, "`resize` (resize_0) input `resized_dims`: 2 exceeds the length of `shape` (1)"))
      << big.status.message();
  auto old = build_single_op("resize", {{"x", fp32_type({1, 2, 3, 4})}},
                             {{"shape", int32_vector({5, 5})}, {"resized_dims", k2}}, "ios16");
  EXPECT_FALSE(old.status.ok());
}

TEST(Image, CropResizeLayoutsPerOpset) {
  const Type x = fp32_type({2, 3, 8, 8});
  auto roi4 = build_single_op("crop_resize", {{"x", x}, {"roi", fp32_type({5, 1, 4, 1, 1})}},
                    {{"target_height", int32_scalar(2)}, {"target_width", int32_scalar(3)}}, "ios15");
  ASSERT_TRUE(roi4.status.ok()) << roi4.status.message();
  EXPECT_EQ(roi4.types[0], fp32_type({5, 2, 3, 2, 3}));
  auto roi5 = build_single_op("crop_resize", {{"x", x}, {"roi", fp32_type({5, 1, 5, 1, 1})}}, {}, "ios16");
  ASSERT_TRUE(roi5.status.ok()) << roi5.status.message();
  EXPECT_EQ(roi5.types[0], fp32_type({5, 1, 3, 1, 1}));
  auto boxes = build_single_op(
      "crop_resize", {{"x", x}, {"boxes", fp32_type({U, 4})}, {"box_indices", Type::tensor(DType::kInt32, {U})}},
      {{"target_height", int32_scalar(4)}, {"target_width", int32_scalar(4)}}, "ios17");
  ASSERT_TRUE(boxes.status.ok()) << boxes.status.message();
  EXPECT_EQ(boxes.types[0], fp32_type({U, 3, 4, 4}));
  auto too_many = build_single_op("crop_resize", {{"x", x}, {"boxes", fp32_type({3, 4})}}, {}, "ios17");
  EXPECT_TRUE(message_contains(too_many.status, "input `box_indices`: omitted (defaults to [0..N-1]) but N = 3"))
      << too_many.status.message();
  auto bad_roi = build_single_op("crop_resize", {{"x", x}, {"roi", fp32_type({5, 1, 6, 1, 1})}}, {}, "ios15");
  EXPECT_TRUE(
      message_contains(bad_roi.status, "`crop_resize` (crop_resize_0) input `roi`: axis -3 must hold 4 or 5 values"))
      << bad_roi.status.message();
  auto u16 = build_single_op("crop_resize", {{"x", x}, {"boxes", Type::tensor(DType::kUint16, {2, 4})}},
                   {{"normalized_coordinates", bool_scalar(true)}}, "ios17");
  EXPECT_TRUE(message_contains(u16.status, "input `boxes`: normalized_coordinates needs fp16/fp32 boxes"))
      << u16.status.message();
}

TEST(Image, CropResizeFlippedBoxSamplesBackwards) {
  // ALIGN_CORNERS over [y0, y1] with y0 > y1 walks the rows upwards (tf.image.crop_and_resize allows this).
  auto b = build_single_op("crop_resize", {{"x", fp32_type({1, 1, 4, 1})}},
                           {{"boxes", fp32_tensor({1, 4}, {3, 0, 0, 0})},
                            {"target_height", int32_scalar(4)},
                            {"sampling_mode", string_scalar("ALIGN_CORNERS")}},
                           "ios17");
  ASSERT_TRUE(b.status.ok()) << b.status.message();
  auto out = run_outputs_on_reference(b.prog, {{"x", fp32_tensor({1, 1, 4, 1}, {10, 20, 30, 40})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].to_f64(), (std::vector<double>{40, 30, 20, 10}));
}

TEST(Image, ResampleAndAffineChecks) {
  std::map<std::string, Tensor> modes{{"sampling_mode", string_scalar("bilinear")},
                                      {"padding_mode", string_scalar("border")},
                                      {"padding_value", fp32_scalar(0)},
                                      {"coordinates_mode", string_scalar("unnormalized")},
                                      {"align_corners", bool_scalar(false)}};
  auto ok =
      build_single_op("resample", {{"x", fp32_type({2, 3, 5, 5})}, {"coordinates", fp32_type({2, 7, U, 2})}}, modes);
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(ok.types[0], fp32_type({2, 3, 7, U}));
  auto bad =
      build_single_op("resample", {{"x", fp32_type({2, 3, 5, 5})}, {"coordinates", fp32_type({2, 7, 7, 3})}}, modes);
  EXPECT_TRUE(message_contains(bad.status, "`resample` (resample_0) input `coordinates`: last dim must be 2"))
      << bad.status.message();
  modes["padding_mode"] = string_scalar("wrap");
  auto pm =
      build_single_op("resample", {{"x", fp32_type({2, 3, 5, 5})}, {"coordinates", fp32_type({2, 7, 7, 2})}}, modes);
  EXPECT_TRUE(message_contains(pm.status, "input `padding_mode`: must be one of")) << pm.status.message();

  std::map<std::string, Tensor> am{{"output_height", int32_scalar(6)},
                                   {"output_width", int32_scalar(2)},
                                   {"sampling_mode", string_scalar("bilinear")},
                                   {"padding_mode", string_scalar("constant")},
                                   {"padding_value", fp32_scalar(0)},
                                   {"coordinates_mode", string_scalar("normalized_minus_one_to_one")},
                                   {"align_corners", bool_scalar(true)}};
  auto a = build_single_op("affine", {{"x", fp32_type({4, 3, 5, 5})}, {"transform_matrix", fp32_type({1, 6})}}, am);
  ASSERT_TRUE(a.status.ok()) << a.status.message();
  EXPECT_EQ(a.types[0], fp32_type({4, 3, 6, 2}));
  auto am3 = build_single_op("affine", {{"x", fp32_type({4, 3, 5, 5})}, {"transform_matrix", fp32_type({3, 6})}}, am);
  EXPECT_TRUE(message_contains(am3.status, "input `transform_matrix`: first dim must be 1 or the batch 4"))
      << am3.status.message();
}

TEST(Image, NmsOutputsAndPerClassSuppression) {
  auto t =
      build_single_op("non_maximum_suppression", {{"boxes", fp32_type({U, 5, 4})}, {"scores", fp32_type({U, 5, 3})}},
                      {{"iou_threshold", fp32_scalar(0.5)}, {"max_boxes", int32_scalar(4)}});
  ASSERT_TRUE(t.status.ok()) << t.status.message();
  ASSERT_EQ(t.types.size(), 4u);
  EXPECT_EQ(t.types[0], fp32_type({U, 4, 4}));
  EXPECT_EQ(t.types[1], fp32_type({U, 4, 3}));
  EXPECT_EQ(t.types[2], Type::tensor(DType::kInt32, {U, 4}));
  EXPECT_EQ(t.types[3], Type::tensor(DType::kInt32, {U}));
  auto missing =
      build_single_op("non_maximum_suppression", {{"boxes", fp32_type({1, 5, 4})}, {"scores", fp32_type({1, 5, 3})}},
                      {{"iou_threshold", fp32_scalar(0.5)}, {"max_boxes", int32_scalar(4)}}, "ios16");
  EXPECT_TRUE(message_contains(missing.status, "input `score_threshold`: required input missing"))
      << missing.status.message();

  // Two identical boxes of different classes: global NMS keeps one, per-class keeps both.
  Tensor boxes = fp32_tensor({1, 2, 4}, {5, 5, 2, 2, 5, 5, 2, 2});
  Tensor scores = fp32_tensor({1, 2, 2}, {0.9, 0.1, 0.2, 0.8});
  for (bool per_class : {false, true}) {
    auto b =
        build_single_op("non_maximum_suppression", {{"boxes", fp32_type({1, 2, 4})}, {"scores", fp32_type({1, 2, 2})}},
                        {{"iou_threshold", fp32_scalar(0.5)},
                         {"max_boxes", int32_scalar(2)},
                         {"per_class_suppression", bool_scalar(per_class)}});
    ASSERT_TRUE(b.status.ok()) << b.status.message();
    auto out = run_outputs_on_reference(b.prog, {{"boxes", boxes}, {"scores", scores}});
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ((*out)[3].to_i64(), (std::vector<int64_t>{per_class ? 2 : 1}));
    EXPECT_EQ((*out)[2].to_i64(), (per_class ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{0, -1}));
  }
}

}  // namespace
}  // namespace ironmill::mil
