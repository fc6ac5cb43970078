// Image family: output shapes (scale-factor flooring, crop_resize layouts per opset, iOS17 resize with a runtime
// shape, NMS outputs), unknown-dim propagation, errors naming op and input, and a few kernel properties that the
// op-eval cases do not isolate (NMS per-class vs global suppression, crop_resize with a flipped box).
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "mil/builder.h"

namespace ironmill::mil {
namespace {

struct Built {
  Program prog;
  Status status;
  std::vector<Type> outs;
};

Tensor ints(std::vector<int64_t> v) { return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v); }
Tensor str(const std::string& s) { return Tensor::scalar_string(s); }
Tensor i32(int64_t v) { return Tensor::scalar_i64(DType::kInt32, v); }
Tensor f32v(double v) { return Tensor::scalar_f64(DType::kFp32, v); }
Tensor boolean(bool v) { return Tensor::scalar_bool(v); }
Tensor vals(Shape s, std::vector<double> v) { return Tensor::from_f64(DType::kFp32, std::move(s), v); }
Type f32(Shape s) { return Type::tensor(DType::kFp32, std::move(s)); }
bool has(const Status& s, const std::string& what) { return s.message().find(what) != std::string::npos; }
constexpr int64_t U = kUnknownDim;

// `inputs` become function inputs, `consts` constants.
Built build(const std::string& op, std::map<std::string, Type> inputs, std::map<std::string, Tensor> consts,
            const std::string& opset = "ios18") {
  Built r;
  Builder b(r.prog, "main", opset);
  std::map<std::string, Builder::Arg> args;
  for (auto& [k, t] : inputs) args[k] = b.input(k, t);
  for (auto& [k, v] : consts) args[k] = v;
  auto outs = b.ops(op, args);
  r.status = b.status();
  if (!r.status.ok()) return r;
  for (const auto& o : outs) {
    r.outs.push_back(*b.type_of(o));
    b.output(o);
  }
  r.status = b.finish();
  return r;
}

Result<std::vector<Tensor>> run(const Built& b, backends::NamedValues in) {
  auto be = backends::make_backend("reference");
  if (!be.ok()) return be.status();
  auto exe = (*be)->compile(b.prog, {});
  if (!exe.ok()) return exe.status();
  auto out = (*exe)->run(in);
  if (!out.ok()) return out.status();
  std::vector<Tensor> r;
  for (const auto& name : b.prog.functions[0].body.outputs) r.push_back(std::get<Tensor>(out->at(name)));
  return r;
}

TEST(Image, UpsampleFloorsScaledDims) {
  auto r = build("upsample_bilinear", {{"x", f32({1, 2, 5, 3})}},
                 {{"scale_factor_height", f32v(1.5)}, {"scale_factor_width", f32v(2.7)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.outs[0], f32({1, 2, 7, 8}));  // floor(7.5), floor(8.1)
  auto n = build("upsample_nearest_neighbor", {{"x", f32({U, 4, U})}}, {{"scale_factor_width", i32(3)}});
  ASSERT_TRUE(n.status.ok()) << n.status.message();
  EXPECT_EQ(n.outs[0], f32({U, 4, U}));
  auto bad = build("upsample_nearest_neighbor", {{"x", f32({2, 4})}}, {});
  EXPECT_TRUE(has(bad.status, "`upsample_nearest_neighbor` (upsample_nearest_neighbor_0) input `x`: rank >= 3 expected"))
      << bad.status.message();
  auto zero = build("upsample_bilinear", {{"x", f32({1, 4, 4})}}, {{"scale_factor_height", f32v(0.0)}});
  EXPECT_TRUE(has(zero.status, "input `scale_factor_height`: scale factor must be > 0")) << zero.status.message();
}

TEST(Image, ResizeBilinearRejectsUnknownSamplingMode) {
  auto r = build("resize_bilinear", {{"x", f32({1, 4, 4})}}, {{"sampling_mode", str("HALF_PIXEL")}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_TRUE(has(r.status, "`resize_bilinear` (resize_bilinear_0) input `sampling_mode`: must be one of"))
      << r.status.message();
  auto ok = build("resize_bilinear", {{"x", f32({3, 2, 4, 4})}},
                  {{"target_size_height", i32(9)}, {"target_size_width", i32(1)}});
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(ok.outs[0], f32({3, 2, 9, 1}));
}

TEST(Image, ResizeIos17Shapes) {
  Tensor k2 = Tensor::scalar_i64(DType::kUint32, 2);
  auto c = build("resize", {{"x", f32({1, 2, 3, 4})}}, {{"shape", ints({9, 0, 6})}, {"resized_dims", k2}}, "ios17");
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  EXPECT_EQ(c.outs[0], f32({1, 2, 3, 6}));  // right-most 2 values [0, 6]; 0 keeps x's dim
  auto rt = build("resize", {{"x", f32({1, 2, 3, 4})}, {"shape", Type::tensor(DType::kInt32, {2})}},
                  {{"resized_dims", k2}}, "ios17");
  ASSERT_TRUE(rt.status.ok()) << rt.status.message();
  EXPECT_EQ(rt.outs[0], f32({1, 2, U, U}));
  auto big = build("resize", {{"x", f32({1, 2, 3, 4})}},
                   {{"shape", ints({5})}, {"resized_dims", k2}}, "ios17");
  EXPECT_TRUE(has(big.status, "`resize` (resize_0) input `resized_dims`: 2 exceeds the length of `shape` (1)"))
      << big.status.message();
  auto old = build("resize", {{"x", f32({1, 2, 3, 4})}}, {{"shape", ints({5, 5})}, {"resized_dims", k2}}, "ios16");
  EXPECT_FALSE(old.status.ok());
}

TEST(Image, CropResizeLayoutsPerOpset) {
  const Type x = f32({2, 3, 8, 8});
  auto roi4 = build("crop_resize", {{"x", x}, {"roi", f32({5, 1, 4, 1, 1})}},
                    {{"target_height", i32(2)}, {"target_width", i32(3)}}, "ios15");
  ASSERT_TRUE(roi4.status.ok()) << roi4.status.message();
  EXPECT_EQ(roi4.outs[0], f32({5, 2, 3, 2, 3}));
  auto roi5 = build("crop_resize", {{"x", x}, {"roi", f32({5, 1, 5, 1, 1})}}, {}, "ios16");
  ASSERT_TRUE(roi5.status.ok()) << roi5.status.message();
  EXPECT_EQ(roi5.outs[0], f32({5, 1, 3, 1, 1}));
  auto boxes = build("crop_resize", {{"x", x}, {"boxes", f32({U, 4})}, {"box_indices", Type::tensor(DType::kInt32, {U})}},
                     {{"target_height", i32(4)}, {"target_width", i32(4)}}, "ios17");
  ASSERT_TRUE(boxes.status.ok()) << boxes.status.message();
  EXPECT_EQ(boxes.outs[0], f32({U, 3, 4, 4}));
  auto too_many = build("crop_resize", {{"x", x}, {"boxes", f32({3, 4})}}, {}, "ios17");
  EXPECT_TRUE(has(too_many.status, "input `box_indices`: omitted (defaults to [0..N-1]) but N = 3")) << too_many.status.message();
  auto bad_roi = build("crop_resize", {{"x", x}, {"roi", f32({5, 1, 6, 1, 1})}}, {}, "ios15");
  EXPECT_TRUE(has(bad_roi.status, "`crop_resize` (crop_resize_0) input `roi`: axis -3 must hold 4 or 5 values"))
      << bad_roi.status.message();
  auto u16 = build("crop_resize", {{"x", x}, {"boxes", Type::tensor(DType::kUint16, {2, 4})}},
                   {{"normalized_coordinates", boolean(true)}}, "ios17");
  EXPECT_TRUE(has(u16.status, "input `boxes`: normalized_coordinates needs fp16/fp32 boxes")) << u16.status.message();
}

TEST(Image, CropResizeFlippedBoxSamplesBackwards) {
  // ALIGN_CORNERS over [y0, y1] with y0 > y1 walks the rows upwards (tf.image.crop_and_resize allows this).
  auto b = build("crop_resize", {{"x", f32({1, 1, 4, 1})}},
                 {{"boxes", vals({1, 4}, {3, 0, 0, 0})}, {"target_height", i32(4)}, {"sampling_mode", str("ALIGN_CORNERS")}},
                 "ios17");
  ASSERT_TRUE(b.status.ok()) << b.status.message();
  auto out = run(b, {{"x", vals({1, 1, 4, 1}, {10, 20, 30, 40})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ((*out)[0].to_f64(), (std::vector<double>{40, 30, 20, 10}));
}

TEST(Image, ResampleAndAffineChecks) {
  std::map<std::string, Tensor> modes{{"sampling_mode", str("bilinear")}, {"padding_mode", str("border")},
                                      {"padding_value", f32v(0)}, {"coordinates_mode", str("unnormalized")},
                                      {"align_corners", boolean(false)}};
  auto ok = build("resample", {{"x", f32({2, 3, 5, 5})}, {"coordinates", f32({2, 7, U, 2})}}, modes);
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(ok.outs[0], f32({2, 3, 7, U}));
  auto bad = build("resample", {{"x", f32({2, 3, 5, 5})}, {"coordinates", f32({2, 7, 7, 3})}}, modes);
  EXPECT_TRUE(has(bad.status, "`resample` (resample_0) input `coordinates`: last dim must be 2")) << bad.status.message();
  modes["padding_mode"] = str("wrap");
  auto pm = build("resample", {{"x", f32({2, 3, 5, 5})}, {"coordinates", f32({2, 7, 7, 2})}}, modes);
  EXPECT_TRUE(has(pm.status, "input `padding_mode`: must be one of")) << pm.status.message();

  std::map<std::string, Tensor> am{{"output_height", i32(6)}, {"output_width", i32(2)},
                                   {"sampling_mode", str("bilinear")}, {"padding_mode", str("constant")},
                                   {"padding_value", f32v(0)}, {"coordinates_mode", str("normalized_minus_one_to_one")},
                                   {"align_corners", boolean(true)}};
  auto a = build("affine", {{"x", f32({4, 3, 5, 5})}, {"transform_matrix", f32({1, 6})}}, am);
  ASSERT_TRUE(a.status.ok()) << a.status.message();
  EXPECT_EQ(a.outs[0], f32({4, 3, 6, 2}));
  auto am3 = build("affine", {{"x", f32({4, 3, 5, 5})}, {"transform_matrix", f32({3, 6})}}, am);
  EXPECT_TRUE(has(am3.status, "input `transform_matrix`: first dim must be 1 or the batch 4")) << am3.status.message();
}

TEST(Image, NmsOutputsAndPerClassSuppression) {
  auto t = build("non_maximum_suppression", {{"boxes", f32({U, 5, 4})}, {"scores", f32({U, 5, 3})}},
                 {{"iou_threshold", f32v(0.5)}, {"max_boxes", i32(4)}});
  ASSERT_TRUE(t.status.ok()) << t.status.message();
  ASSERT_EQ(t.outs.size(), 4u);
  EXPECT_EQ(t.outs[0], f32({U, 4, 4}));
  EXPECT_EQ(t.outs[1], f32({U, 4, 3}));
  EXPECT_EQ(t.outs[2], Type::tensor(DType::kInt32, {U, 4}));
  EXPECT_EQ(t.outs[3], Type::tensor(DType::kInt32, {U}));
  auto missing = build("non_maximum_suppression", {{"boxes", f32({1, 5, 4})}, {"scores", f32({1, 5, 3})}},
                       {{"iou_threshold", f32v(0.5)}, {"max_boxes", i32(4)}}, "ios16");
  EXPECT_TRUE(has(missing.status, "input `score_threshold`: required input missing")) << missing.status.message();

  // Two identical boxes of different classes: global NMS keeps one, per-class keeps both.
  Tensor boxes = vals({1, 2, 4}, {5, 5, 2, 2, 5, 5, 2, 2});
  Tensor scores = vals({1, 2, 2}, {0.9, 0.1, 0.2, 0.8});
  for (bool per_class : {false, true}) {
    auto b = build("non_maximum_suppression", {{"boxes", f32({1, 2, 4})}, {"scores", f32({1, 2, 2})}},
                   {{"iou_threshold", f32v(0.5)}, {"max_boxes", i32(2)}, {"per_class_suppression", boolean(per_class)}});
    ASSERT_TRUE(b.status.ok()) << b.status.message();
    auto out = run(b, {{"boxes", boxes}, {"scores", scores}});
    ASSERT_TRUE(out.ok()) << out.status().message();
    EXPECT_EQ((*out)[3].to_i64(), (std::vector<int64_t>{per_class ? 2 : 1}));
    EXPECT_EQ((*out)[2].to_i64(), (per_class ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{0, -1}));
  }
}

}  // namespace
}  // namespace ironmill::mil
