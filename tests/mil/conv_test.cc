// Conv family: output-shape inference (pad types, ceil_mode, conv_transpose output_shape), the errors
// (naming op and input) and unknown-dim propagation.
#include <gtest/gtest.h>

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using testing::fp32_type;
using testing::int32_scalar;
using testing::int32_vector;
using testing::message_contains;
using testing::string_scalar;

// x is a function input; everything else (weight included) is a constant.
testing::BuiltOp build(const std::string& op, const Type& x, const std::map<std::string, Tensor>& consts,
                       const std::string& opset = "ios18") {
  return testing::build_single_op(op, {{"x", x}}, consts, opset);
}

Tensor w(Shape s) { return Tensor(DType::kFp32, std::move(s)); }

TEST(Conv, OutputShapes) {
  const Type x = fp32_type({1, 3, 7, 6});
  EXPECT_EQ(build("conv", x, {{"weight", w({4, 3, 3, 3})}}).out(), fp32_type({1, 4, 5, 4}));
  EXPECT_EQ(build("conv", x,
                  {{"weight", w({4, 3, 3, 3})}, {"strides", int32_vector({2, 2})}, {"pad_type", string_scalar("same")}})
                .out(),
            fp32_type({1, 4, 4, 3}));
  EXPECT_EQ(build("conv", x, {{"weight", w({4, 3, 2, 2})}, {"pad_type", string_scalar("same_lower")}}, "ios16").out(),
            fp32_type({1, 4, 7, 6}));
  EXPECT_EQ(build("conv", x,
                  {{"weight", w({4, 3, 3, 3})},
                   {"pad_type", string_scalar("custom")},
                   {"pad", int32_vector({1, 0, 2, 1})},
                   {"dilations", int32_vector({2, 1})}})
                .out(),
            fp32_type({1, 4, 4, 7}));
  EXPECT_EQ(build("conv", fp32_type({kUnknownDim, 4, kUnknownDim, 9}),
                  {{"weight", w({8, 2, 3, 3})}, {"groups", int32_scalar(2)}})
                .out(),
            fp32_type({kUnknownDim, 8, kUnknownDim, 7}));
}

TEST(Conv, Errors) {
  const Type x = fp32_type({1, 4, 7, 6});
  auto g = build("conv", x, {{"weight", w({4, 3, 3, 3})}, {"groups", int32_scalar(2)}});
  ASSERT_FALSE(g.status.ok());
  EXPECT_TRUE(message_contains(g.status, "`conv` (conv_0) input `weight`: dim 1 must be C_in/groups = 2, got 3"))
      << g.status.message();
  auto r = build("conv", x, {{"weight", w({4, 4, 3})}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_TRUE(message_contains(r.status, "`conv` (conv_0) input `weight`: rank 4 ([C_out, C_in/groups, *K]) expected"))
      << r.status.message();
  auto p = build("conv", x,
                 {{"weight", w({4, 4, 3, 3})}, {"pad_type", string_scalar("custom")}, {"pad", int32_vector({1, 1})}});
  ASSERT_FALSE(p.status.ok());
  EXPECT_TRUE(message_contains(p.status, "input `pad`: 4 values ([before, after] per spatial dim) expected, got 2"))
      << p.status.message();
  auto sl = build("conv", x, {{"weight", w({4, 4, 3, 3})}, {"pad_type", string_scalar("same_lower")}}, "ios15");
  ASSERT_FALSE(sl.status.ok());
  EXPECT_TRUE(message_contains(sl.status, "input `pad_type`: \"same_lower\" needs iOS16 or later"))
      << sl.status.message();
  auto big = build("conv", x, {{"weight", w({4, 4, 9, 3})}});
  ASSERT_FALSE(big.status.ok());
  EXPECT_TRUE(message_contains(big.status, "input `x`: spatial dim 0 has output size -1")) << big.status.message();
  auto s = build("conv", x, {{"weight", w({4, 4, 3, 3})}, {"strides", int32_vector({1})}});
  ASSERT_FALSE(s.status.ok());
  EXPECT_TRUE(message_contains(s.status, "input `strides`: 2 values (one per spatial dim) expected, got 1"))
      << s.status.message();
  auto b = build("conv", x, {{"weight", w({4, 4, 3, 3})}, {"bias", w({3})}});
  ASSERT_FALSE(b.status.ok());
  EXPECT_TRUE(message_contains(b.status, "input `bias`: shape [4] expected, got [3]")) << b.status.message();
}

TEST(ConvTranspose, OutputShapes) {
  const Type x = fp32_type({1, 3, 4, 5});
  const Tensor wt = w({3, 2, 3, 3});
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"strides", int32_vector({2, 2})}}).out(),
            fp32_type({1, 2, 9, 11}));
  EXPECT_EQ(build("conv_transpose", x,
                  {{"weight", wt}, {"strides", int32_vector({2, 2})}, {"pad_type", string_scalar("same")}})
                .out(),
            fp32_type({1, 2, 8, 10}));
  EXPECT_EQ(build("conv_transpose", x,
                  {{"weight", wt},
                   {"strides", int32_vector({2, 2})},
                   {"pad_type", string_scalar("custom")},
                   {"pad", int32_vector({1, 1, 0, 2})}})
                .out(),
            fp32_type({1, 2, 7, 9}));
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"groups", int32_scalar(3)}}).out(), fp32_type({1, 6, 6, 7}));
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"output_shape", int32_vector({1, 2, 10, 12})}}).out(),
            fp32_type({1, 2, 10, 12}));
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"output_shape", int32_vector({10, 12})}}).out(),
            fp32_type({1, 2, 10, 12}));
  auto bad = build("conv_transpose", x, {{"weight", wt}, {"output_shape", int32_vector({1, 3, 10, 12})}});
  ASSERT_FALSE(bad.status.ok());
  EXPECT_TRUE(message_contains(
      bad.status,
      "`conv_transpose` (conv_transpose_0) input `output_shape`: [1, 3, 10, 12] must start with [N, C_out] = [1, 2]"))
      << bad.status.message();
  auto cin = build("conv_transpose", x, {{"weight", w({2, 2, 3, 3})}});
  ASSERT_FALSE(cin.status.ok());
  EXPECT_TRUE(message_contains(cin.status, "input `weight`: dim 0 must be C_in = 3, got 2")) << cin.status.message();
}

TEST(Pool, OutputShapesAndCeilMode) {
  const Type x = fp32_type({1, 2, 7, 6});
  EXPECT_EQ(build("max_pool", x,
                  {{"kernel_sizes", int32_vector({2, 2})},
                   {"strides", int32_vector({2, 2})},
                   {"pad_type", string_scalar("valid")}})
                .out(),
            fp32_type({1, 2, 3, 3}));
  EXPECT_EQ(build("avg_pool", x,
                  {{"kernel_sizes", int32_vector({3, 3})},
                   {"strides", int32_vector({2, 2})},
                   {"pad_type", string_scalar("same")}})
                .out(),
            fp32_type({1, 2, 4, 3}));
  EXPECT_EQ(build("l2_pool", x,
                  {{"kernel_sizes", int32_vector({3, 3})},
                   {"strides", int32_vector({2, 2})},
                   {"pad_type", string_scalar("valid")},
                   {"ceil_mode", Tensor::scalar_bool(true)}})
                .out(),
            fp32_type({1, 2, 3, 3}));
  // ceil_mode with padding: the last window must start inside the input + leading pad.
  EXPECT_EQ(build("max_pool", fp32_type({1, 1, 6, 6}),
                  {{"kernel_sizes", int32_vector({2, 2})},
                   {"strides", int32_vector({2, 2})},
                   {"pad_type", string_scalar("custom")},
                   {"pad", int32_vector({1, 1, 1, 1})},
                   {"ceil_mode", Tensor::scalar_bool(true)}})
                .out(),
            fp32_type({1, 1, 4, 4}));
}

TEST(Pool, Errors) {
  const Type x = fp32_type({1, 2, 7, 6});
  auto same = build("avg_pool", x, {{"kernel_sizes", int32_vector({2, 2})}, {"pad_type", string_scalar("same")},
                                    {"ceil_mode", Tensor::scalar_bool(true)}});
  ASSERT_FALSE(same.status.ok());
  EXPECT_TRUE(
      message_contains(same.status, "`avg_pool` (avg_pool_0) input `ceil_mode`: must be false with pad_type \"same\""))
      << same.status.message();
  auto asym = build("max_pool", x, {{"kernel_sizes", int32_vector({2, 2})}, {"pad_type", string_scalar("custom")},
                                    {"pad", int32_vector({1, 0, 0, 0})}, {"ceil_mode", Tensor::scalar_bool(true)}});
  ASSERT_FALSE(asym.status.ok());
  EXPECT_TRUE(message_contains(asym.status, "input `pad`: must be symmetric when ceil_mode is true"))
      << asym.status.message();
  auto l2 = build("l2_pool", fp32_type({1, 2, 3, 3, 3}),
                  {{"kernel_sizes", int32_vector({2, 2, 2})}, {"pad_type", string_scalar("valid")}});
  ASSERT_FALSE(l2.status.ok());
  EXPECT_TRUE(message_contains(l2.status, "`l2_pool` (l2_pool_0) input `x`: rank 3..4")) << l2.status.message();
  auto pt = build("max_pool", x, {{"kernel_sizes", int32_vector({2, 2})}, {"pad_type", string_scalar("full")}});
  ASSERT_FALSE(pt.status.ok());
  EXPECT_TRUE(
      message_contains(pt.status, "input `pad_type`: one of valid, same, custom, same_lower expected, got \"full\""))
      << pt.status.message();
  auto missing = build("max_pool", x, {{"kernel_sizes", int32_vector({2, 2})}});
  ASSERT_FALSE(missing.status.ok());
  EXPECT_TRUE(message_contains(missing.status, "input `pad_type`")) << missing.status.message();
  auto ks = build("avg_pool", x, {{"kernel_sizes", int32_vector({2, 0})}, {"pad_type", string_scalar("valid")}});
  ASSERT_FALSE(ks.status.ok());
  EXPECT_TRUE(message_contains(ks.status, "input `kernel_sizes`: values >= 1 expected")) << ks.status.message();
}

TEST(ConvQuantized, TypeAndLutIsUnsupported) {
  const Type x = fp32_type({1, 2, 4, 4});
  std::map<std::string, Tensor> c{{"weight", Tensor(DType::kUint8, {3, 2, 3, 3})},
                                  {"quantization_type", string_scalar("linear")},
                                  {"quant_scale", Tensor::scalar_f64(DType::kFp32, 0.5)},
                                  {"quant_bias", Tensor::scalar_f64(DType::kFp32, 0.0)}};
  auto ok = build("conv_quantized", x, c);
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(ok.out(), fp32_type({1, 3, 2, 2}));
  auto bad = c;
  bad["quantization_type"] = string_scalar("kmeans");
  auto b = build("conv_quantized", x, bad);
  ASSERT_FALSE(b.status.ok());
  EXPECT_TRUE(message_contains(
      b.status, "`conv_quantized` (conv_quantized_0) input `quantization_type`: \"linear\" or \"lut\" expected"))
      << b.status.message();
  auto sc = c;
  sc["quant_scale"] = Tensor(DType::kFp32, {2});
  auto s = build("conv_quantized", x, sc);
  ASSERT_FALSE(s.status.ok());
  EXPECT_TRUE(message_contains(s.status, "input `quant_scale`: 1 or C_out = 3 values expected")) << s.status.message();
  auto lut = c;
  lut["quantization_type"] = string_scalar("lut");
  auto l = build("conv_quantized", x, lut);
  ASSERT_TRUE(l.status.ok());
  auto be = backends::make_backend("reference");
  auto exe = (*be)->compile(l.prog, {});
  ASSERT_TRUE(exe.ok());
  auto out = (*exe)->run({{"x", Tensor(DType::kFp32, {1, 2, 4, 4})}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace ironmill::mil
