// Linalg family: type inference of matmul / linear / einsum (shapes, dtypes by opset, errors naming
// op and input) and a few kernel checks against hand-computed values.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "mil/builder.h"

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using testing::fp32_type;
using testing::message_contains;

using Args = std::map<std::string, Builder::Arg>;

struct Built {
  Program prog;
  Status status;
  Type out;
};

// `inputs` become function inputs; `consts` const ops; `tuple` (if set) binds `values` to the listed inputs.
Built build(const std::string& op, const std::vector<std::pair<std::string, Type>>& inputs,
            const std::map<std::string, Tensor>& consts, const std::string& opset = "ios18",
            const std::vector<std::string>& tuple = {}) {
  Built r;
  Builder b(r.prog, "main", opset);
  Args args;
  for (const auto& [n, t] : inputs) args[n] = b.input(n, t);
  for (const auto& [n, v] : consts) args[n] = b.constant(v, n + "_c");
  if (!tuple.empty()) args["values"] = tuple;
  for (const auto& n : tuple) args.erase(n);
  auto o = b.op(op, args);
  r.status = b.status();
  if (r.status.ok()) {
    r.out = *b.type_of(o);
    b.output(o);
    r.status = b.finish();
  }
  return r;
}

Type f16(Shape s) { return Type::tensor(DType::kFp16, std::move(s)); }

TEST(Matmul, ShapesFollowNumpy) {
  EXPECT_EQ(build("matmul", {{"x", fp32_type({4})}, {"y", fp32_type({2, 4, 3})}}, {}).out, fp32_type({2, 3}));
  EXPECT_EQ(build("matmul", {{"x", fp32_type({2, 3, 4})}, {"y", fp32_type({4})}}, {}).out, fp32_type({2, 3}));
  EXPECT_EQ(build("matmul", {{"x", fp32_type({4})}, {"y", fp32_type({4})}}, {}).out, fp32_type({}));
  EXPECT_EQ(build("matmul", {{"x", fp32_type({2, 1, 3, 4})}, {"y", fp32_type({5, 4, 2})}}, {}).out,
            fp32_type({2, 5, 3, 2}));
  EXPECT_EQ(build("matmul", {{"x", fp32_type({4, 3})}, {"y", fp32_type({5, 4})}},
                  {{"transpose_x", Tensor::scalar_bool(true)}, {"transpose_y", Tensor::scalar_bool(true)}}).out,
            fp32_type({3, 5}));
  EXPECT_EQ(build("matmul", {{"x", fp32_type({kUnknownDim, 3, 4})}, {"y", fp32_type({4, kUnknownDim})}}, {}).out,
            fp32_type({kUnknownDim, 3, kUnknownDim}));
}

TEST(Matmul, Errors) {
  auto k = build("matmul", {{"x", fp32_type({2, 3})}, {"y", fp32_type({4, 5})}}, {});
  ASSERT_FALSE(k.status.ok());
  EXPECT_TRUE(message_contains(k.status, "`matmul` (matmul_0) input `y`: inner dimensions differ"))
      << k.status.message();
  auto t =
      build("matmul", {{"x", fp32_type({3})}, {"y", fp32_type({3, 2})}}, {{"transpose_x", Tensor::scalar_bool(true)}});
  ASSERT_FALSE(t.status.ok());
  EXPECT_TRUE(message_contains(t.status, "input `transpose_x`: x is rank 1")) << t.status.message();
  auto b = build("matmul", {{"x", fp32_type({2, 3, 4})}, {"y", fp32_type({3, 4, 5})}}, {});
  ASSERT_FALSE(b.status.ok());
  EXPECT_TRUE(message_contains(b.status, "batch dimensions do not broadcast")) << b.status.message();
}

TEST(Matmul, Ios17MixedDtypesNeedOneConst) {
  const Tensor w = Tensor(DType::kFp32, {8, 4});
  auto ok = build("matmul", {{"x", f16({3, 8})}}, {{"y", w}}, "ios17");
  ASSERT_TRUE(ok.status.ok()) << ok.status.message();
  EXPECT_EQ(ok.out, f16({3, 4}));  // the non-const operand's dtype
  auto ok2 = build("matmul", {{"y", f16({8, 2})}}, {{"x", Tensor(DType::kFp32, {3, 8})}}, "ios17");
  ASSERT_TRUE(ok2.status.ok()) << ok2.status.message();
  EXPECT_EQ(ok2.out, f16({3, 2}));
  auto bad = build("matmul", {{"x", f16({3, 8})}, {"y", fp32_type({8, 4})}}, {}, "ios17");
  ASSERT_FALSE(bad.status.ok());
  EXPECT_TRUE(message_contains(bad.status, "`matmul` (matmul_0) input `y`: dtype fp32 differs from x's fp16"))
      << bad.status.message();
  auto v15 = build("matmul", {{"x", f16({3, 8})}}, {{"y", w}}, "ios15");
  EXPECT_FALSE(v15.status.ok());  // iOS15: one type domain T
}

TEST(Linear, ShapesAndErrors) {
  const Tensor w(DType::kFp32, {5, 4});
  EXPECT_EQ(build("linear", {{"x", fp32_type({2, 3, 4})}}, {{"weight", w}}).out, fp32_type({2, 3, 5}));
  EXPECT_EQ(build("linear", {{"x", fp32_type({4})}}, {{"weight", w}}).out, fp32_type({5}));
  auto din = build("linear", {{"x", fp32_type({2, 3})}}, {{"weight", w}});
  ASSERT_FALSE(din.status.ok());
  EXPECT_TRUE(
      message_contains(din.status, "`linear` (linear_0) input `weight`: D_in 4 does not match x's last dimension 3"))
      << din.status.message();
  auto bias = build("linear", {{"x", fp32_type({2, 4})}}, {{"weight", w}, {"bias", Tensor(DType::kFp32, {4})}});
  ASSERT_FALSE(bias.status.ok());
  EXPECT_TRUE(message_contains(bias.status, "input `bias`: shape [5] expected")) << bias.status.message();
  auto rank = build("linear", {{"x", fp32_type({2, 4})}}, {{"weight", Tensor(DType::kFp32, {5, 4, 1})}});
  ASSERT_FALSE(rank.status.ok());
  EXPECT_TRUE(message_contains(rank.status, "input `weight`: rank 2 [D_out, D_in] expected")) << rank.status.message();
}

TEST(Einsum, ShapesAndBroadcast) {
  auto e = build("einsum", {{"a", fp32_type({1, 3, 4, 5})}, {"b", fp32_type({2, 5, 1, 6})}},
                 {{"equation", Tensor::scalar_string("nchw,nwhu->nchu")}}, "ios18", {"a", "b"});
  ASSERT_TRUE(e.status.ok()) << e.status.message();
  EXPECT_EQ(e.out, fp32_type({2, 3, 4, 6}));
  auto implicit = build("einsum", {{"a", fp32_type({3, 4})}, {"b", fp32_type({4, 5})}},
                        {{"equation", Tensor::scalar_string("ij,jk")}}, "ios18", {"a", "b"});
  ASSERT_TRUE(implicit.status.ok());
  EXPECT_EQ(implicit.out, fp32_type({3, 5}));
  auto unk = build("einsum", {{"a", fp32_type({kUnknownDim, 4})}, {"b", fp32_type({4, 5})}},
                   {{"equation", Tensor::scalar_string("ij,jk->ik")}}, "ios18", {"a", "b"});
  ASSERT_TRUE(unk.status.ok());
  EXPECT_EQ(unk.out, fp32_type({kUnknownDim, 5}));
}

TEST(Einsum, Errors) {
  auto n = build("einsum", {{"a", fp32_type({3, 4})}, {"b", fp32_type({4, 5})}},
                 {{"equation", Tensor::scalar_string("ij->i")}}, "ios18", {"a", "b"});
  ASSERT_FALSE(n.status.ok());
  EXPECT_TRUE(
      message_contains(n.status, "`einsum` (einsum_0) input `equation`: \"ij->i\" names 1 operands, `values` has 2"))
      << n.status.message();
  auto d = build("einsum", {{"a", fp32_type({3, 4})}, {"b", fp32_type({5, 6})}},
                 {{"equation", Tensor::scalar_string("ij,jk->ik")}}, "ios18", {"a", "b"});
  ASSERT_FALSE(d.status.ok());
  EXPECT_TRUE(message_contains(d.status, "input `values`: dimension 'j' is 4 in one place and 5 in another"))
      << d.status.message();
  auto r = build("einsum", {{"a", fp32_type({3, 4})}, {"b", fp32_type({4, 5})}},
                 {{"equation", Tensor::scalar_string("ijk,jk->i")}}, "ios18", {"a", "b"});
  ASSERT_FALSE(r.status.ok());
  EXPECT_TRUE(message_contains(r.status, "operand 0 has rank 2 but \"ijk\" names 3 dimensions")) << r.status.message();
  auto o = build("einsum", {{"a", fp32_type({3, 4})}, {"b", fp32_type({4, 5})}},
                 {{"equation", Tensor::scalar_string("ij,jk->iz")}}, "ios18", {"a", "b"});
  ASSERT_FALSE(o.status.ok());
  EXPECT_TRUE(message_contains(o.status, "output letter 'z' does not appear")) << o.status.message();
  auto t = build("einsum", {{"a", Type::tensor(DType::kInt32, {3, 4})}, {"b", Type::tensor(DType::kInt32, {4, 5})}},
                 {{"equation", Tensor::scalar_string("ij,jk->ik")}}, "ios18", {"a", "b"});
  ASSERT_FALSE(t.status.ok());
  EXPECT_TRUE(message_contains(t.status, "dtype fp16 or fp32 expected, got int32")) << t.status.message();
}

TEST(Matmul, KernelMatchesHandComputation) {
  auto m = build("matmul", {{"x", Type::tensor(DType::kInt32, {2, 2})}, {"y", Type::tensor(DType::kInt32, {2})}}, {});
  ASSERT_TRUE(m.status.ok());
  auto be = backends::make_backend("reference");
  auto exe = (*be)->compile(m.prog, {});
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  backends::NamedValues in{{"x", Tensor::from_i64(DType::kInt32, {2, 2}, std::vector<int64_t>{1, 2, 3, 4})},
                           {"y", Tensor::from_i64(DType::kInt32, {2}, std::vector<int64_t>{5, -6})}};
  auto out = (*exe)->run(in);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(std::get<Tensor>(out->begin()->second).to_i64(), (std::vector<int64_t>{1 * 5 - 2 * 6, 3 * 5 - 4 * 6}));
}

}  // namespace
}  // namespace ironmill::mil
