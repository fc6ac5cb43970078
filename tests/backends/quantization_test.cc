// Reference kernels of the quantization ops on hand-computed values (coremltools semantics).
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "mil/builder.h"

namespace ironmill::backends {
namespace {
using mil::DType;
using mil::Tensor;
using mil::Type;
using mil::Value;

// Runs one op built from function inputs and constants; returns its outputs in order.
Result<std::vector<Tensor>> run_op(const std::string& op, const std::map<std::string, Tensor>& inputs,
                                   const std::map<std::string, Tensor>& consts, const std::string& opset = "ios18",
                                   const std::map<std::string, Value>& attrs = {}) {
  mil::Program p;
  mil::Builder b(p, "main", opset);
  std::map<std::string, mil::Builder::Arg> args;
  NamedValues in;
  for (const auto& [n, t] : inputs) {
    args[n] = b.input(n, Type::tensor(t.dtype(), t.shape()));
    in[n] = t;
  }
  for (const auto& [n, t] : consts) args[n] = b.constant(t, n);
  auto outs = b.ops(op, args, attrs);
  for (const auto& o : outs) b.output(o);
  IM_RETURN_IF_ERROR(b.finish());
  IM_ASSIGN_OR_RETURN(auto be, make_backend("reference"));
  IM_ASSIGN_OR_RETURN(auto exe, be->compile(p, {}));
  IM_ASSIGN_OR_RETURN(NamedValues res, exe->run(in));
  std::vector<Tensor> r;
  for (const auto& o : outs) r.push_back(std::get<Tensor>(res.at(o)));
  return r;
}

Tensor f32(mil::Shape s, std::vector<double> v) { return Tensor::from_f64(DType::kFp32, std::move(s), v); }
Tensor ints(DType dt, mil::Shape s, std::vector<int64_t> v) { return Tensor::from_i64(dt, std::move(s), v); }

TEST(QuantizationKernels, QuantizeRoundsHalfToEvenAndSaturates) {
  // x / 0.5 = 2.5, 3.5, -0.5, -1.5, 400, -400 -> 2, 4, -0, -2 (+10) and the uint8 clip.
  auto r = run_op("quantize", {{"input", f32({6}, {1.25, 1.75, -0.25, -0.75, 200, -200})}},
                  {{"scale", f32({}, {0.5})}, {"zero_point", ints(DType::kUint8, {}, {10})},
                   {"output_dtype", Tensor::scalar_string("uint8")}},
                  "ios17");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].dtype(), DType::kUint8);
  EXPECT_EQ((*r)[0].to_i64(), (std::vector<int64_t>{12, 14, 10, 8, 255, 0}));
}

TEST(QuantizationKernels, PerAxisDequantizeInvertsQuantize) {
  Tensor x = f32({2, 3}, {0.1, -0.2, 0.3, 1.0, 2.0, -3.0});
  Tensor scale = f32({3}, {0.01, 0.02, 0.05});
  Tensor zp = ints(DType::kInt8, {3}, {0, 5, -5});
  auto q = run_op("quantize", {{"input", x}},
                  {{"scale", scale}, {"zero_point", zp}, {"axis", Tensor::scalar_i64(DType::kInt32, 1)},
                   {"output_dtype", Tensor::scalar_string("int8")}},
                  "ios17");
  ASSERT_TRUE(q.ok()) << q.status().message();
  // round(x / s) + zp, per column: [10, -5, 1], [100, 105, -65]
  EXPECT_EQ((*q)[0].to_i64(), (std::vector<int64_t>{10, -5, 1, 100, 105, -65}));
  auto d = run_op("dequantize", {{"input", (*q)[0]}},
                  {{"scale", scale}, {"zero_point", zp}, {"axis", Tensor::scalar_i64(DType::kInt32, -1)}}, "ios17");
  ASSERT_TRUE(d.ok()) << d.status().message();
  const auto v = (*d)[0].to_f64();
  const auto e = x.to_f64();
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(v[i], e[i], 1e-6) << i;
}

TEST(QuantizationKernels, Ios16LutUnpacksLsbFirst) {
  // coreml-format.md §4.4: uint4 [1, 2, 3, 4, 5] packs to 21 43 05. With an identity LUT the op unpacks it.
  std::vector<int64_t> lut(16);
  for (int i = 0; i < 16; ++i) lut[i] = i;
  std::map<std::string, Value> attrs{{"indices", Value::of(ints(DType::kUint8, {3}, {0x21, 0x43, 0x05}))},
                                     {"lut", Value::of(ints(DType::kUint8, {16}, lut))},
                                     {"shape", Value::of(ints(DType::kUint32, {1}, {5}))}};
  auto r = run_op("constexpr_lut_to_dense", {}, {}, "ios16", attrs);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].to_i64(), (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

TEST(QuantizationKernels, Ios16SparseMaskIsLsbFirst) {
  // Docstring example: mask byte xxx01100 -> elements 2 and 3 set.
  std::map<std::string, Value> attrs{{"nonzero_data", Value::of(f32({2}, {7, 9}))},
                                     {"mask", Value::of(ints(DType::kUint8, {1}, {0b00001100}))},
                                     {"shape", Value::of(ints(DType::kUint32, {1}, {5}))}};
  auto r = run_op("constexpr_sparse_to_dense", {}, {}, "ios16", attrs);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].to_f64(), (std::vector<double>{0, 0, 7, 9, 0}));
}

TEST(QuantizationKernels, BlockwiseShiftScale) {
  // data [2, 4] int4, scale [1, 2] -> blocks of 2 columns; out = s * (d - o).
  auto r = run_op("constexpr_blockwise_shift_scale", {},
                  {{"data", ints(DType::kInt4, {2, 4}, {-8, 7, 1, 2, 0, -1, 3, -3})},
                   {"scale", f32({1, 2}, {0.5, 2.0})},
                   {"offset", ints(DType::kInt4, {1, 2}, {1, -1})}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].to_f64(), (std::vector<double>{-4.5, 3.0, 4.0, 6.0, -0.5, -1.0, 8.0, -4.0}));
}

TEST(QuantizationKernels, LutToSparseVector) {
  // mask [[1, 0], [0, 1]], indices [1, 0], VS = 2 along axis 1 -> mask [[1,1,0,0],[0,0,1,1]], values b0 b1 a0 a1.
  auto r = run_op("constexpr_lut_to_sparse", {},
                  {{"indices_mask", ints(DType::kUint1, {2, 2}, {1, 0, 0, 1})},
                   {"indices_nonzero_data", ints(DType::kUint1, {2}, {1, 0})},
                   {"lut", f32({1, 1, 2, 2}, {10, 11, 20, 21})},
                   {"vector_axis", Tensor::scalar_i64(DType::kInt32, 1)}});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].to_i64(), (std::vector<int64_t>{1, 1, 0, 0, 0, 0, 1, 1}));
  EXPECT_EQ((*r)[1].to_f64(), (std::vector<double>{20, 21, 10, 11}));
}

}  // namespace
}  // namespace ironmill::backends
