// Reduction family: type inference (shapes, unknown dims, errors naming op and input) and the kernel
// edge cases op-eval cases avoid on purpose (ties, NaN, integer wrap-around).
#include <gtest/gtest.h>

#include <cmath>

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using backends::NamedValues;

using testing::expect_run_outputs;
using testing::fp32_tensor;
using testing::int32_vector;

// One op on a single function input `x` of type `xt`; the other inputs are constants.
testing::BuiltOp build(const std::string& op, const Type& xt, const std::map<std::string, Tensor>& consts,
                       const std::string& opset = "ios18") {
  return testing::build_single_op(op, {{"x", xt}}, consts, opset);
}

TEST(Reduction, AxesAndKeepDimsShapes) {
  auto a = build("reduce_sum", Type::tensor(DType::kFp32, {2, 3, 4}), {{"axes", int32_vector({-1, 0})}});
  ASSERT_TRUE(a.status.ok()) << a.status.message();
  EXPECT_EQ(a.types[0], Type::tensor(DType::kFp32, {3}));
  auto k = build("reduce_max", Type::tensor(DType::kFp16, {2, 3, 4}),
                 {{"axes", int32_vector({1})}, {"keep_dims", Tensor::scalar_bool(true)}});
  ASSERT_TRUE(k.status.ok());
  EXPECT_EQ(k.types[0], Type::tensor(DType::kFp16, {2, 1, 4}));
  auto all = build("reduce_mean", Type::tensor(DType::kInt32, {2, 3}), {});
  ASSERT_TRUE(all.status.ok());
  EXPECT_EQ(all.types[0], Type::scalar(DType::kInt32));
}

TEST(Reduction, UnknownDimsAndRankPropagate) {
  auto a =
      build("reduce_l2_norm", Type::tensor(DType::kFp32, {kUnknownDim, 3, kUnknownDim}), {{"axes", int32_vector({1})}});
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.types[0], Type::tensor(DType::kFp32, {kUnknownDim, kUnknownDim}));
  auto u = build("reduce_sum", Type::unknown_rank(DType::kFp32), {{"axes", int32_vector({0})}});
  ASSERT_TRUE(u.status.ok());
  EXPECT_FALSE(u.types[0].rank_known);
  auto t = build("topk", Type::tensor(DType::kFp32, {kUnknownDim, 8}), {{"k", Tensor::scalar_i64(DType::kInt32, 3)}});
  ASSERT_TRUE(t.status.ok()) << t.status.message();
  EXPECT_EQ(t.types[0], Type::tensor(DType::kFp32, {kUnknownDim, 3}));
  EXPECT_EQ(t.types[1], Type::tensor(DType::kInt32, {kUnknownDim, 3}));
}

TEST(Reduction, ErrorsNameOpAndInput) {
  auto a = build("reduce_sum", Type::tensor(DType::kFp32, {2, 3}), {{"axes", int32_vector({2})}});
  ASSERT_FALSE(a.status.ok());
  EXPECT_NE(a.status.message().find("`reduce_sum` (reduce_sum_0) input `axes`: axis 2 out of range for rank 2"),
            std::string::npos) << a.status.message();
  auto d = build("reduce_prod", Type::tensor(DType::kFp32, {2, 3}), {{"axes", int32_vector({1, -1})}});
  ASSERT_FALSE(d.status.ok());
  EXPECT_NE(d.status.message().find("input `axes`: axis -1 repeated"), std::string::npos) << d.status.message();
  auto am = build("reduce_argmax", Type::tensor(DType::kFp32, {2, 3}), {{"axis", Tensor::scalar_i64(DType::kInt32, -3)}});
  ASSERT_FALSE(am.status.ok());
  EXPECT_NE(am.status.message().find("`reduce_argmax` (reduce_argmax_0) input `axis`"), std::string::npos);
  auto k = build("topk", Type::tensor(DType::kFp32, {2, 3}), {{"k", Tensor::scalar_i64(DType::kInt32, 4)}});
  ASSERT_FALSE(k.status.ok());
  EXPECT_NE(k.status.message().find("input `k`: k = 4 exceeds the size 3"), std::string::npos) << k.status.message();
  auto od = build("reduce_argmin", Type::tensor(DType::kFp32, {2, 3}), {{"output_dtype", Tensor::scalar_string("int8")}});
  ASSERT_FALSE(od.status.ok());
  EXPECT_NE(od.status.message().find("input `output_dtype`: \"int32\" or \"uint16\" expected, got \"int8\""),
            std::string::npos) << od.status.message();
  auto ri = build("topk", Type::tensor(DType::kFp32, {2, 3}),
                  {{"return_indices", Tensor::scalar_bool(false)}, {"output_indices_dtype", Tensor::scalar_string("int32")}});
  ASSERT_FALSE(ri.status.ok());
  EXPECT_NE(ri.status.message().find("input `output_indices_dtype`"), std::string::npos);
}

TEST(Reduction, OpsetVariants) {
  auto old = build("reduce_argmax", Type::tensor(DType::kFp32, {2, 3}), {}, "ios15");
  ASSERT_TRUE(old.status.ok());
  EXPECT_EQ(old.types[0], Type::tensor(DType::kInt32, {2}));
  auto u16 = build("reduce_argmax", Type::tensor(DType::kFp32, {2, 3}), {{"output_dtype", Tensor::scalar_string("uint16")}}, "ios17");
  ASSERT_TRUE(u16.status.ok());
  EXPECT_EQ(u16.types[0], Type::tensor(DType::kUint16, {2}));
  auto v15 = build("topk", Type::tensor(DType::kFp32, {2, 3}), {}, "ios15");
  ASSERT_TRUE(v15.status.ok());
  EXPECT_EQ(v15.types.size(), 2u);
  auto v16 = build("topk", Type::tensor(DType::kFp32, {2, 3}), {{"return_indices", Tensor::scalar_bool(false)}}, "ios16");
  ASSERT_TRUE(v16.status.ok());
  EXPECT_EQ(v16.types.size(), 1u);
}

TEST(Reduction, TiesResolveToTheLowestIndex) {
  const Tensor x = fp32_tensor({2, 4}, {1, 3, 3, 0, 2, 2, 2, 2});
  auto am = build("reduce_argmax", Type::tensor(DType::kFp32, {2, 4}), {});
  EXPECT_EQ(expect_run_outputs(am.prog, {{"x", x}}).at(0).to_i64(), (std::vector<int64_t>{1, 0}));
  auto an = build("reduce_argmin", Type::tensor(DType::kFp32, {2, 4}), {});
  EXPECT_EQ(expect_run_outputs(an.prog, {{"x", x}}).at(0).to_i64(), (std::vector<int64_t>{3, 0}));
  auto as = build("argsort", Type::tensor(DType::kFp32, {2, 4}), {});
  EXPECT_EQ(expect_run_outputs(as.prog, {{"x", x}}).at(0).to_i64(), (std::vector<int64_t>{1, 2, 0, 3, 0, 1, 2, 3}));
  auto asc = build("argsort", Type::tensor(DType::kFp32, {2, 4}), {{"ascending", Tensor::scalar_bool(true)}});
  EXPECT_EQ(expect_run_outputs(asc.prog, {{"x", x}}).at(0).to_i64(), (std::vector<int64_t>{3, 0, 1, 2, 0, 1, 2, 3}));
  auto tk = build("topk", Type::tensor(DType::kFp32, {2, 4}), {{"k", Tensor::scalar_i64(DType::kInt32, 2)}});
  auto r = expect_run_outputs(tk.prog, {{"x", x}});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].to_f64(), (std::vector<double>{3, 3, 2, 2}));
  EXPECT_EQ(r[1].to_i64(), (std::vector<int64_t>{1, 2, 0, 1}));
}

TEST(Reduction, NanPropagatesAndSortsLast) {
  const double nan = std::nan("");
  const Tensor x = fp32_tensor({1, 4}, {1, nan, 5, 2});
  auto mx = build("reduce_max", Type::tensor(DType::kFp32, {1, 4}), {{"axes", int32_vector({1})}});
  EXPECT_TRUE(std::isnan(expect_run_outputs(mx.prog, {{"x", x}}).at(0).get_f64(0)));
  auto am = build("reduce_argmax", Type::tensor(DType::kFp32, {1, 4}), {});
  EXPECT_EQ(expect_run_outputs(am.prog, {{"x", x}}).at(0).get_i64(0), 1);  // numpy: the first NaN wins
  auto as = build("argsort", Type::tensor(DType::kFp32, {1, 4}), {{"ascending", Tensor::scalar_bool(true)}});
  EXPECT_EQ(expect_run_outputs(as.prog, {{"x", x}}).at(0).to_i64(), (std::vector<int64_t>{0, 3, 2, 1}));
}

TEST(Reduction, IntegerResultsAreExact) {
  const Tensor x = Tensor::from_i64(DType::kInt32, {2, 2}, std::vector<int64_t>{2000000000, 2000000000, -7, 2});
  auto s = build("reduce_sum", Type::tensor(DType::kInt32, {2, 2}), {{"axes", int32_vector({1})}});
  // int64 accumulation wrapped to int32, as numpy's .astype(int32).
  EXPECT_EQ(expect_run_outputs(s.prog, {{"x", x}}).at(0).to_i64(),
            (std::vector<int64_t>{static_cast<int32_t>(4000000000LL), -5}));
  auto m = build("reduce_mean", Type::tensor(DType::kInt32, {2, 2}), {{"axes", int32_vector({1})}});
  EXPECT_EQ(expect_run_outputs(m.prog, {{"x", x}}).at(0).to_i64(),
            (std::vector<int64_t>{2000000000, -2}));  // -2.5 truncates to -2
  auto cs = build("cumsum", Type::tensor(DType::kInt32, {2, 2}), {{"axis", Tensor::scalar_i64(DType::kInt32, 0)},
                                                                   {"exclusive", Tensor::scalar_bool(true)}});
  EXPECT_EQ(expect_run_outputs(cs.prog, {{"x", x}}).at(0).to_i64(),
            (std::vector<int64_t>{0, 0, 2000000000, 2000000000}));
}

}  // namespace
}  // namespace ironmill::mil
