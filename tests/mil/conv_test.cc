// Conv family: output-shape inference (pad types, ceil_mode, conv_transpose output_shape), the errors
// (naming op and input) and unknown-dim propagation.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "mil/builder.h"

namespace ironmill::mil {
namespace {

struct Built {
  Program prog;
  Status status;
  Type out;
};

Tensor ints(std::vector<int64_t> v) { return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v); }
Tensor str(const std::string& s) { return Tensor::scalar_string(s); }
Tensor i32(int64_t v) { return Tensor::scalar_i64(DType::kInt32, v); }
Type f32(Shape s) { return Type::tensor(DType::kFp32, std::move(s)); }
bool has(const Status& s, const std::string& what) { return s.message().find(what) != std::string::npos; }

// x is a function input; everything else (weight included) is a constant.
Built build(const std::string& op, const Type& x, std::map<std::string, Tensor> consts, const std::string& opset = "ios18") {
  Built r;
  Builder b(r.prog, "main", opset);
  std::map<std::string, Builder::Arg> args{{"x", b.input("x", x)}};
  for (auto& [k, v] : consts) args[k] = v;
  auto o = b.op(op, args);
  r.status = b.status();
  if (r.status.ok()) {
    r.out = *b.type_of(o);
    b.output(o);
    r.status = b.finish();
  }
  return r;
}

Tensor w(Shape s) { return Tensor(DType::kFp32, std::move(s)); }

TEST(Conv, OutputShapes) {
  const Type x = f32({1, 3, 7, 6});
  EXPECT_EQ(build("conv", x, {{"weight", w({4, 3, 3, 3})}}).out, f32({1, 4, 5, 4}));
  EXPECT_EQ(build("conv", x, {{"weight", w({4, 3, 3, 3})}, {"strides", ints({2, 2})}, {"pad_type", str("same")}}).out,
            f32({1, 4, 4, 3}));
  EXPECT_EQ(build("conv", x, {{"weight", w({4, 3, 2, 2})}, {"pad_type", str("same_lower")}}, "ios16").out,
            f32({1, 4, 7, 6}));
  EXPECT_EQ(build("conv", x, {{"weight", w({4, 3, 3, 3})}, {"pad_type", str("custom")}, {"pad", ints({1, 0, 2, 1})},
                              {"dilations", ints({2, 1})}}).out,
            f32({1, 4, 4, 7}));
  EXPECT_EQ(build("conv", f32({kUnknownDim, 4, kUnknownDim, 9}), {{"weight", w({8, 2, 3, 3})}, {"groups", i32(2)}}).out,
            f32({kUnknownDim, 8, kUnknownDim, 7}));
}

TEST(Conv, Errors) {
  const Type x = f32({1, 4, 7, 6});
  auto g = build("conv", x, {{"weight", w({4, 3, 3, 3})}, {"groups", i32(2)}});
  ASSERT_FALSE(g.status.ok());
  EXPECT_TRUE(has(g.status, "`conv` (conv_0) input `weight`: dim 1 must be C_in/groups = 2, got 3")) << g.status.message();
  auto r = build("conv", x, {{"weight", w({4, 4, 3})}});
  ASSERT_FALSE(r.status.ok());
  EXPECT_TRUE(has(r.status, "`conv` (conv_0) input `weight`: rank 4 ([C_out, C_in/groups, *K]) expected")) << r.status.message();
  auto p = build("conv", x, {{"weight", w({4, 4, 3, 3})}, {"pad_type", str("custom")}, {"pad", ints({1, 1})}});
  ASSERT_FALSE(p.status.ok());
  EXPECT_TRUE(has(p.status, "input `pad`: 4 values ([before, after] per spatial dim) expected, got 2")) << p.status.message();
  auto sl = build("conv", x, {{"weight", w({4, 4, 3, 3})}, {"pad_type", str("same_lower")}}, "ios15");
  ASSERT_FALSE(sl.status.ok());
  EXPECT_TRUE(has(sl.status, "input `pad_type`: \"same_lower\" needs iOS16 or later")) << sl.status.message();
  auto big = build("conv", x, {{"weight", w({4, 4, 9, 3})}});
  ASSERT_FALSE(big.status.ok());
  EXPECT_TRUE(has(big.status, "input `x`: spatial dim 0 has output size -1")) << big.status.message();
  auto s = build("conv", x, {{"weight", w({4, 4, 3, 3})}, {"strides", ints({1})}});
  ASSERT_FALSE(s.status.ok());
  EXPECT_TRUE(has(s.status, "input `strides`: 2 values (one per spatial dim) expected, got 1")) << s.status.message();
  auto b = build("conv", x, {{"weight", w({4, 4, 3, 3})}, {"bias", w({3})}});
  ASSERT_FALSE(b.status.ok());
  EXPECT_TRUE(has(b.status, "input `bias`: shape [4] expected, got [3]")) << b.status.message();
}

TEST(ConvTranspose, OutputShapes) {
  const Type x = f32({1, 3, 4, 5});
  const Tensor wt = w({3, 2, 3, 3});
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"strides", ints({2, 2})}}).out, f32({1, 2, 9, 11}));
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"strides", ints({2, 2})}, {"pad_type", str("same")}}).out,
            f32({1, 2, 8, 10}));
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"strides", ints({2, 2})}, {"pad_type", str("custom")},
                                        {"pad", ints({1, 1, 0, 2})}}).out,
            f32({1, 2, 7, 9}));
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"groups", i32(3)}}).out, f32({1, 6, 6, 7}));
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"output_shape", ints({1, 2, 10, 12})}}).out, f32({1, 2, 10, 12}));
  EXPECT_EQ(build("conv_transpose", x, {{"weight", wt}, {"output_shape", ints({10, 12})}}).out, f32({1, 2, 10, 12}));
  auto bad = build("conv_transpose", x, {{"weight", wt}, {"output_shape", ints({1, 3, 10, 12})}});
  ASSERT_FALSE(bad.status.ok());
  EXPECT_TRUE(has(bad.status, "`conv_transpose` (conv_transpose_0) input `output_shape`: [1, 3, 10, 12] must start with [N, C_out] = [1, 2]"))
      << bad.status.message();
  auto cin = build("conv_transpose", x, {{"weight", w({2, 2, 3, 3})}});
  ASSERT_FALSE(cin.status.ok());
  EXPECT_TRUE(has(cin.status, "input `weight`: dim 0 must be C_in = 3, got 2")) << cin.status.message();
}

TEST(Pool, OutputShapesAndCeilMode) {
  const Type x = f32({1, 2, 7, 6});
  EXPECT_EQ(build("max_pool", x, {{"kernel_sizes", ints({2, 2})}, {"strides", ints({2, 2})}, {"pad_type", str("valid")}}).out,
            f32({1, 2, 3, 3}));
  EXPECT_EQ(build("avg_pool", x, {{"kernel_sizes", ints({3, 3})}, {"strides", ints({2, 2})}, {"pad_type", str("same")}}).out,
            f32({1, 2, 4, 3}));
  EXPECT_EQ(build("l2_pool", x, {{"kernel_sizes", ints({3, 3})}, {"strides", ints({2, 2})}, {"pad_type", str("valid")},
                                 {"ceil_mode", Tensor::scalar_bool(true)}}).out,
            f32({1, 2, 3, 3}));
  // ceil_mode with padding: the last window must start inside the input + leading pad.
  EXPECT_EQ(build("max_pool", f32({1, 1, 6, 6}), {{"kernel_sizes", ints({2, 2})}, {"strides", ints({2, 2})},
                                                  {"pad_type", str("custom")}, {"pad", ints({1, 1, 1, 1})},
                                                  {"ceil_mode", Tensor::scalar_bool(true)}}).out,
            f32({1, 1, 4, 4}));
}

TEST(Pool, Errors) {
  const Type x = f32({1, 2, 7, 6});
  auto same = build("avg_pool", x, {{"kernel_sizes", ints({2, 2})}, {"pad_type", str("same")},
                                    {"ceil_mode", Tensor::scalar_bool(true)}});
  ASSERT_FALSE(same.status.ok());
  EXPECT_TRUE(has(same.status, "`avg_pool` (avg_pool_0) input `ceil_mode`: must be false with pad_type \"same\""))
      << same.status.message();
  auto asym = build("max_pool", x, {{"kernel_sizes", ints({2, 2})}, {"pad_type", str("custom")},
                                    {"pad", ints({1, 0, 0, 0})}, {"ceil_mode", Tensor::scalar_bool(true)}});
  ASSERT_FALSE(asym.status.ok());
  EXPECT_TRUE(has(asym.status, "input `pad`: must be symmetric when ceil_mode is true")) << asym.status.message();
  auto l2 = build("l2_pool", f32({1, 2, 3, 3, 3}), {{"kernel_sizes", ints({2, 2, 2})}, {"pad_type", str("valid")}});
  ASSERT_FALSE(l2.status.ok());
  EXPECT_TRUE(has(l2.status, "`l2_pool` (l2_pool_0) input `x`: rank 3..4")) << l2.status.message();
  auto pt = build("max_pool", x, {{"kernel_sizes", ints({2, 2})}, {"pad_type", str("full")}});
  ASSERT_FALSE(pt.status.ok());
  EXPECT_TRUE(has(pt.status, "input `pad_type`: one of valid, same, custom, same_lower expected, got \"full\""))
      << pt.status.message();
  auto missing = build("max_pool", x, {{"kernel_sizes", ints({2, 2})}});
  ASSERT_FALSE(missing.status.ok());
  EXPECT_TRUE(has(missing.status, "input `pad_type`")) << missing.status.message();
  auto ks = build("avg_pool", x, {{"kernel_sizes", ints({2, 0})}, {"pad_type", str("valid")}});
  ASSERT_FALSE(ks.status.ok());
  EXPECT_TRUE(has(ks.status, "input `kernel_sizes`: values >= 1 expected")) << ks.status.message();
}

TEST(ConvQuantized, TypeAndLutIsUnsupported) {
  const Type x = f32({1, 2, 4, 4});
  std::map<std::string, Tensor> c{{"weight", Tensor(DType::kUint8, {3, 2, 3, 3})},
                                  {"quantization_type", str("linear")},
                                  {"quant_scale", Tensor::scalar_f64(DType::kFp32, 0.5)},
                                  {"quant_bias", Tensor::scalar_f64(DType::kFp32, 0.0)}};
  auto ok = build("conv_quantized", x, c);
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(ok.out, f32({1, 3, 2, 2}));
  auto bad = c;
  bad["quantization_type"] = str("kmeans");
  auto b = build("conv_quantized", x, bad);
  ASSERT_FALSE(b.status.ok());
  EXPECT_TRUE(has(b.status, "`conv_quantized` (conv_quantized_0) input `quantization_type`: \"linear\" or \"lut\" expected"))
      << b.status.message();
  auto sc = c;
  sc["quant_scale"] = Tensor(DType::kFp32, {2});
  auto s = build("conv_quantized", x, sc);
  ASSERT_FALSE(s.status.ok());
  EXPECT_TRUE(has(s.status, "input `quant_scale`: 1 or C_out = 3 values expected")) << s.status.message();
  auto lut = c;
  lut["quantization_type"] = str("lut");
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
