// Type inference of the quantization ops: output types, and errors that name the op and the input.
#include <gtest/gtest.h>

#include "mil/builder.h"

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using testing::expect_error_contains;
using testing::fp32_tensor;
using testing::int32_scalar;
using testing::string_scalar;

Tensor ints(DType dt, Shape s, std::vector<int64_t> v) { return Tensor::from_i64(dt, std::move(s), v); }

struct Built {
  Program p;
  std::unique_ptr<Builder> b;
  std::vector<std::string> outs;
};

// One op applied to constants (and optional function inputs), in `opset`.
Built build(const std::string& op, const std::map<std::string, Tensor>& consts, const std::string& opset = "ios18",
            const std::map<std::string, Type>& inputs = {}, const std::map<std::string, Value>& attrs = {}) {
  Built r;
  r.b = std::make_unique<Builder>(r.p, "main", opset);
  std::map<std::string, Builder::Arg> args;
  for (const auto& [n, t] : inputs) args[n] = r.b->input(n, t);
  for (const auto& [n, t] : consts) args[n] = r.b->constant(t, n);
  r.outs = r.b->ops(op, args, attrs);
  return r;
}

TEST(QuantizationInfer, QuantizeOutputTypeFromOutputDtype) {
  auto r = build("quantize", {{"scale", fp32_tensor({}, {0.5})}, {"output_dtype", string_scalar("int8")}}, "ios17",
                 {{"input", Type::tensor(DType::kFp32, {2, 3})}});
  ASSERT_TRUE(r.b->status().ok()) << r.b->status().message();
  EXPECT_EQ(*r.b->type_of(r.outs[0]), Type::tensor(DType::kInt8, {2, 3}));
}

TEST(QuantizationInfer, QuantizeRejectsBadOutputDtype) {
  auto r = build("quantize", {{"scale", fp32_tensor({}, {0.5})}, {"output_dtype", string_scalar("int16")}}, "ios17",
                 {{"input", Type::tensor(DType::kFp32, {2})}});
  expect_error_contains(r.b->status(), {"`quantize`", "input `output_dtype`", "int16"});
}

TEST(QuantizationInfer, QuantizeZeroPointMustMatchOutputDtype) {
  auto r = build("quantize",
                 {{"scale", fp32_tensor({}, {0.5})},
                  {"zero_point", ints(DType::kUint8, {}, {3})},
                  {"output_dtype", string_scalar("int8")}},
                 "ios17", {{"input", Type::tensor(DType::kFp32, {2})}});
  expect_error_contains(r.b->status(), {"`quantize`", "input `zero_point`", "uint8"});
}

TEST(QuantizationInfer, VectorScaleNeedsAxisAndMatchingLength) {
  auto no_axis = build("dequantize", {{"scale", fp32_tensor({3}, {1, 2, 3})}}, "ios17",
                       {{"input", Type::tensor(DType::kInt8, {2, 3})}});
  expect_error_contains(no_axis.b->status(), {"`dequantize`", "input `axis`", "required"});
  auto wrong_len = build("dequantize", {{"scale", fp32_tensor({3}, {1, 2, 3})}, {"axis", int32_scalar(0)}}, "ios17",
                         {{"input", Type::tensor(DType::kInt8, {2, 3})}});
  expect_error_contains(wrong_len.b->status(), {"`dequantize`", "input `scale`", "length 3", "dim 2"});
  auto axis_with_scalar = build("dequantize", {{"scale", fp32_tensor({}, {1})}, {"axis", int32_scalar(0)}}, "ios17",
                                {{"input", Type::tensor(DType::kInt8, {2, 3})}});
  expect_error_contains(axis_with_scalar.b->status(), {"`dequantize`", "input `axis`", "absent"});
  auto ok = build("dequantize", {{"scale", fp32_tensor({3}, {1, 2, 3})}, {"axis", int32_scalar(-1)}}, "ios17",
                  {{"input", Type::tensor(DType::kInt8, {2, 3})}});
  ASSERT_TRUE(ok.b->status().ok()) << ok.b->status().message();
  EXPECT_EQ(*ok.b->type_of(ok.outs[0]), Type::tensor(DType::kFp32, {2, 3}));
}

TEST(QuantizationInfer, Ios16ConstexprParamsLiveInAttributes) {
  std::map<std::string, Value> attrs{{"quantized_data", Value::of(ints(DType::kUint8, {2, 2}, {1, 2, 3, 4}))},
                                     {"scale", Value::of(Tensor::from_f64(DType::kFp16, {2}, std::vector<double>{1, 2}))},
                                     {"zero_point", Value::of(ints(DType::kUint8, {}, {1}))},
                                     {"axis", Value::of(int32_scalar(1))}};
  auto r = build("constexpr_affine_dequantize", {}, "ios16", {}, attrs);
  ASSERT_TRUE(r.b->status().ok()) << r.b->status().message();
  EXPECT_EQ(*r.b->type_of(r.outs[0]), Type::tensor(DType::kFp16, {2, 2}));
  attrs["axis"] = Value::of(int32_scalar(2));
  auto bad = build("constexpr_affine_dequantize", {}, "ios16", {}, attrs);
  expect_error_contains(bad.b->status(), {"`constexpr_affine_dequantize`", "input `axis`", "out of range"});
}

TEST(QuantizationInfer, ConstexprCastOnlyToFp32) {
  auto r =
      build("constexpr_cast", {{"source_val", Tensor(DType::kFp16, {3})}, {"output_dtype", string_scalar("fp16")}});
  expect_error_contains(r.b->status(), {"`constexpr_cast`", "input `output_dtype`", "fp32"});
}

TEST(QuantizationInfer, Ios16LutToDense) {
  auto attrs = [](int64_t lut_n, int64_t bytes) {
    return std::map<std::string, Value>{{"indices", Value::of(Tensor(DType::kUint8, {bytes}))},
                                        {"lut", Value::of(Tensor(DType::kFp32, {lut_n}))},
                                        {"shape", Value::of(ints(DType::kUint32, {2}, {3, 5}))}};
  };
  auto ok = build("constexpr_lut_to_dense", {}, "ios16", {}, attrs(16, 8));  // ceil(4 * 15 / 8) = 8
  ASSERT_TRUE(ok.b->status().ok()) << ok.b->status().message();
  EXPECT_EQ(*ok.b->type_of(ok.outs[0]), Type::tensor(DType::kFp32, {3, 5}));
  expect_error_contains(build("constexpr_lut_to_dense", {}, "ios16", {}, attrs(16, 7)).b->status(),
               {"`constexpr_lut_to_dense`", "input `indices`", "8 bytes"});
  expect_error_contains(build("constexpr_lut_to_dense", {}, "ios16", {}, attrs(8, 6)).b->status(),
               {"`constexpr_lut_to_dense`", "input `lut`", "2, 4, 16, 64, 256"});
}

TEST(QuantizationInfer, Ios18LutToDense) {
  auto ok = build("constexpr_lut_to_dense", {{"indices", Tensor(DType::kUint2, {4, 6})},
                                             {"lut", Tensor(DType::kFp16, {2, 1, 4, 3})},
                                             {"vector_axis", int32_scalar(-1)}});
  ASSERT_TRUE(ok.b->status().ok()) << ok.b->status().message();
  EXPECT_EQ(*ok.b->type_of(ok.outs[0]), Type::tensor(DType::kFp16, {4, 18}));
  expect_error_contains(build("constexpr_lut_to_dense", {{"indices", Tensor(DType::kUint2, {4, 6})},
                                                {"lut", Tensor(DType::kFp16, {1, 1, 4, 3})}})
                   .b->status(),
               {"`constexpr_lut_to_dense`", "input `vector_axis`", "required"});
  expect_error_contains(build("constexpr_lut_to_dense", {{"indices", Tensor(DType::kUint2, {4, 6})},
                                                {"lut", Tensor(DType::kFp16, {1, 1, 16, 1})}})
                   .b->status(),
               {"`constexpr_lut_to_dense`", "input `lut`", "2^2"});
  expect_error_contains(build("constexpr_lut_to_dense", {{"indices", Tensor(DType::kUint2, {4, 6})},
                                                {"lut", Tensor(DType::kFp16, {3, 1, 4, 1})}})
                   .b->status(),
               {"`constexpr_lut_to_dense`", "input `lut`", "must divide"});
}

TEST(QuantizationInfer, SparseToDenseChecksPopcount) {
  std::map<std::string, Value> attrs{{"nonzero_data", Value::of(Tensor(DType::kFp32, {2}))},
                                     {"mask", Value::of(ints(DType::kUint8, {1}, {0b00010110}))},
                                     {"shape", Value::of(ints(DType::kUint32, {1}, {5}))}};
  expect_error_contains(build("constexpr_sparse_to_dense", {}, "ios16", {}, attrs).b->status(),
               {"`constexpr_sparse_to_dense`", "input `nonzero_data`", "3 set bits"});
  attrs["nonzero_data"] = Value::of(Tensor(DType::kFp32, {3}));
  auto ok = build("constexpr_sparse_to_dense", {}, "ios16", {}, attrs);
  ASSERT_TRUE(ok.b->status().ok()) << ok.b->status().message();
  EXPECT_EQ(*ok.b->type_of(ok.outs[0]), Type::tensor(DType::kFp32, {5}));
  attrs["mask"] = Value::of(ints(DType::kUint8, {1}, {0b01000110}));  // bit 6 is padding for 5 elements
  expect_error_contains(build("constexpr_sparse_to_dense", {}, "ios16", {}, attrs).b->status(),
               {"`constexpr_sparse_to_dense`", "input `mask`", "padding"});
}

TEST(QuantizationInfer, BlockwiseShiftScale) {
  auto ok = build("constexpr_blockwise_shift_scale",
                  {{"data", Tensor(DType::kInt4, {4, 8})}, {"scale", Tensor(DType::kFp16, {2, 2})},
                   {"offset", Tensor(DType::kInt4, {2, 2})}});
  ASSERT_TRUE(ok.b->status().ok()) << ok.b->status().message();
  EXPECT_EQ(*ok.b->type_of(ok.outs[0]), Type::tensor(DType::kFp16, {4, 8}));
  expect_error_contains(build("constexpr_blockwise_shift_scale",
                     {{"data", Tensor(DType::kInt4, {4, 8})}, {"scale", Tensor(DType::kFp16, {3, 2})}})
                   .b->status(),
               {"`constexpr_blockwise_shift_scale`", "input `scale`", "must divide"});
  expect_error_contains(build("constexpr_blockwise_shift_scale",
                     {{"data", Tensor(DType::kInt4, {4, 8})}, {"scale", Tensor(DType::kFp16, {2, 2})},
                      {"offset", Tensor(DType::kUint4, {2, 2})}})
                   .b->status(),
               {"`constexpr_blockwise_shift_scale`", "input `offset`", "dtype"});
  expect_error_contains(build("constexpr_blockwise_shift_scale",
                     {{"data", Tensor(DType::kInt8, {4, 8})}, {"scale", Tensor(DType::kFp32, {2})}})
                   .b->status(),
               {"`constexpr_blockwise_shift_scale`", "input `scale`", "rank"});
}

TEST(QuantizationInfer, SparseOpsReturnMaskAndValues) {
  Tensor mask = ints(DType::kUint1, {2, 3}, {1, 0, 1, 1, 0, 0});
  auto lut = build("constexpr_lut_to_sparse", {{"indices_mask", mask},
                                               {"indices_nonzero_data", Tensor(DType::kUint1, {3})},
                                               {"lut", Tensor(DType::kFp32, {1, 1, 2, 2})},
                                               {"vector_axis", int32_scalar(0)}});
  ASSERT_TRUE(lut.b->status().ok()) << lut.b->status().message();
  ASSERT_EQ(lut.outs.size(), 2u);
  EXPECT_EQ(*lut.b->type_of(lut.outs[0]), Type::tensor(DType::kUint1, {4, 3}));
  EXPECT_EQ(*lut.b->type_of(lut.outs[1]), Type::tensor(DType::kFp32, {6}));
  auto ss = build("constexpr_sparse_blockwise_shift_scale",
                  {{"data_mask", mask}, {"nonzero_data", Tensor(DType::kInt8, {3})}, {"scale", Tensor(DType::kFp16, {1, 3})}});
  ASSERT_TRUE(ss.b->status().ok()) << ss.b->status().message();
  EXPECT_EQ(*ss.b->type_of(ss.outs[0]), Type::tensor(DType::kUint1, {2, 3}));
  EXPECT_EQ(*ss.b->type_of(ss.outs[1]), Type::tensor(DType::kFp16, {3}));
  expect_error_contains(build("constexpr_sparse_blockwise_shift_scale",
                     {{"data_mask", mask}, {"nonzero_data", Tensor(DType::kInt8, {4})}, {"scale", Tensor(DType::kFp16, {1, 3})}})
                   .b->status(),
               {"`constexpr_sparse_blockwise_shift_scale`", "input `nonzero_data`", "3 set bits"});
}

}  // namespace
}  // namespace ironmill::mil
