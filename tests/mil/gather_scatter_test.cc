// Gather/scatter family: output shapes, errors naming op and input, and index checks at run time
// (out-of-range indices are errors; negative indices are valid only before iOS17).
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "mil/builder.h"

namespace ironmill::mil {
namespace {

using backends::NamedValues;

Tensor i32s(std::vector<int64_t> v) { return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v); }
Tensor i32(int64_t v) { return Tensor::scalar_i64(DType::kInt32, v); }
Type f32t(Shape s) { return Type::tensor(DType::kFp32, std::move(s)); }
Type i32t(Shape s) { return Type::tensor(DType::kInt32, std::move(s)); }
constexpr int64_t U = kUnknownDim;

struct Built {
  Program prog;
  Status status;
  std::vector<Type> types;
};

Built build(const std::string& op, std::map<std::string, Type> inputs, std::map<std::string, Tensor> consts,
            const std::string& opset = "ios18") {
  Built r;
  Builder b(r.prog, "main", opset);
  std::map<std::string, Builder::Arg> args;
  for (auto& [k, t] : inputs) args[k] = b.input(k, t);
  for (auto& [k, v] : consts) args[k] = v;
  auto outs = b.ops(op, args);
  r.status = b.status();
  for (const auto& o : outs) {
    r.types.push_back(*b.type_of(o));
    b.output(o);
  }
  if (r.status.ok()) r.status = b.finish();
  return r;
}

void expect_error(const Status& s, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(s.ok());
  for (const auto& p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' not in: " << s.message();
}

Result<NamedValues> run(const Program& p, NamedValues in) {
  auto be = backends::make_backend("reference");
  if (!be.ok()) return be.status();
  auto exe = (*be)->compile(p, {});
  if (!exe.ok()) return exe.status();
  return (*exe)->run(in);
}

TEST(GatherScatterOps, GatherShapes) {
  auto r = build("gather", {{"x", f32t({2, 3, 4})}, {"indices", i32t({5, 6})}}, {{"axis", i32(1)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], f32t({2, 5, 6, 4}));
  r = build("gather", {{"x", f32t({2, 3, 4})}, {"indices", i32t({2, 7})}}, {{"axis", i32(2)}, {"batch_dims", i32(1)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], f32t({2, 3, 7}));
  r = build("gather", {{"x", f32t({2, 3, 4})}, {"indices", i32t({3, 7})}}, {{"axis", i32(2)}, {"batch_dims", i32(1)}});
  expect_error(r.status, {"`gather`", "input `indices`", "batch dim 0"});
  r = build("gather", {{"x", f32t({2, 3, 4})}, {"indices", i32t({2, 7})}}, {{"axis", i32(3)}});
  expect_error(r.status, {"`gather`", "input `axis`", "out of range"});
  r = build("gather", {{"x", f32t({2, 3})}, {"indices", i32t({2})}}, {{"batch_dims", i32(1)}});
  expect_error(r.status, {"`gather`", "input `batch_dims`", "must not exceed axis"});
  r = build("gather", {{"x", f32t({U, 3})}, {"indices", i32t({U})}}, {{"axis", i32(0)}});
  EXPECT_EQ(r.types[0], f32t({U, 3}));
}

TEST(GatherScatterOps, ValidateIndicesAtCompileTime) {
  auto r = build("gather", {{"x", f32t({4, 3})}},
                 {{"indices", i32s({0, 4})}, {"validate_indices", Tensor::scalar_bool(true)}});
  expect_error(r.status, {"`gather`", "input `indices`", "out of bounds [0, 4)"});
  r = build("gather", {{"x", f32t({4, 3})}}, {{"indices", i32s({0, 4})}});
  EXPECT_TRUE(r.status.ok());  // not validated at compile time; the kernel still rejects it
  auto out = run(r.prog, {{"x", Tensor(DType::kFp32, {4, 3})}});
  expect_error(out.status(), {"`gather`", "index 4 out of bounds"});
}

TEST(GatherScatterOps, NegativeIndicesDependOnOpset) {
  for (const char* opset : {"ios16", "ios18"}) {
    auto r = build("gather", {{"x", f32t({3})}, {"indices", i32t({1})}}, {}, opset);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    auto out = run(r.prog, {{"x", Tensor::from_f64(DType::kFp32, {3}, std::vector<double>{1, 2, 3})}, {"indices", i32s({-1})}});
    if (std::string(opset) == "ios16") {
      ASSERT_TRUE(out.ok()) << out.status().message();
      EXPECT_EQ(std::get<Tensor>(out->begin()->second).to_f64(), (std::vector<double>{3}));
    } else {
      expect_error(out.status(), {"`gather`", "index -1 out of bounds", "iOS17"});
    }
  }
}

TEST(GatherScatterOps, GatherAlongAxisAndNd) {
  auto r = build("gather_along_axis", {{"x", f32t({3, 4})}, {"indices", i32t({3, 2})}}, {{"axis", i32(0)}});
  expect_error(r.status, {"`gather_along_axis`", "input `indices`", "except at axis 0"});
  r = build("gather_along_axis", {{"x", f32t({3, 4})}, {"indices", i32t({5, 4})}}, {{"axis", i32(0)}});
  EXPECT_EQ(r.types[0], f32t({5, 4}));
  r = build("gather_nd", {{"x", f32t({2, 3, 4})}, {"indices", i32t({5, 2})}}, {});
  EXPECT_EQ(r.types[0], f32t({5, 4}));
  r = build("gather_nd", {{"x", f32t({2, 3, 4})}, {"indices", i32t({2, 5, 2})}}, {{"batch_dims", i32(1)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], f32t({2, 5}));
  r = build("gather_nd", {{"x", f32t({2, 3})}, {"indices", i32t({5, 3})}}, {});
  expect_error(r.status, {"`gather_nd`", "input `indices`", "must not exceed rank(x)"});
  r = build("gather_nd", {{"x", f32t({2, 3})}, {"indices", i32t({5, U})}}, {});
  EXPECT_FALSE(r.types[0].rank_known);
  r = build("gather_nd", {{"x", f32t({2, 3})}, {"indices", i32t({1, 2})}}, {});
  auto out = run(r.prog, {{"x", Tensor(DType::kFp32, {2, 3})}, {"indices", Tensor::from_i64(DType::kInt32, {1, 2}, std::vector<int64_t>{1, 3})}});
  expect_error(out.status(), {"`gather_nd`", "index 3 out of bounds"});
}

TEST(GatherScatterOps, ScatterChecks) {
  auto r = build("scatter", {{"data", f32t({4, 3})}, {"indices", i32t({2})}, {"updates", f32t({2, 4})}}, {});
  expect_error(r.status, {"`scatter`", "input `updates`", "[2, 3]"});
  r = build("scatter", {{"data", f32t({4, 3})}, {"indices", i32t({2})}, {"updates", f32t({2, 3})}},
            {{"mode", Tensor::scalar_string("xor")}});
  expect_error(r.status, {"`scatter`", "input `mode`", "xor"});
  r = build("scatter_along_axis", {{"data", f32t({4, 3})}, {"indices", i32t({2, 3})}, {"updates", f32t({2, 2})}}, {});
  expect_error(r.status, {"`scatter_along_axis`", "input `updates`"});
  r = build("scatter_nd", {{"data", f32t({4, 3})}, {"indices", i32t({2, 1})}, {"updates", f32t({2, 3})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], f32t({4, 3}));
  r = build("scatter_nd", {{"data", f32t({4, 3})}, {"indices", i32t({2, 1})}, {"updates", f32t({2})}}, {});
  expect_error(r.status, {"`scatter_nd`", "input `updates`", "[2, 3]"});
  // run time: an out-of-range scatter index is an error
  r = build("scatter", {{"data", f32t({2})}, {"indices", i32t({1})}, {"updates", f32t({1})}}, {});
  ASSERT_TRUE(r.status.ok());
  auto out = run(r.prog, {{"data", Tensor(DType::kFp32, {2})}, {"indices", i32s({2})}, {"updates", Tensor(DType::kFp32, {1})}});
  expect_error(out.status(), {"`scatter`", "index 2 out of bounds"});
  // integer division by zero is an error
  r = build("scatter", {{"data", i32t({2})}, {"indices", i32t({1})}, {"updates", i32t({1})}}, {{"mode", Tensor::scalar_string("div")}});
  ASSERT_TRUE(r.status.ok());
  out = run(r.prog, {{"data", i32s({4, 5})}, {"indices", i32s({0})}, {"updates", i32s({0})}});
  expect_error(out.status(), {"`scatter`", "division by zero"});
  out = run(r.prog, {{"data", i32s({-7, 5})}, {"indices", i32s({0})}, {"updates", i32s({2})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(std::get<Tensor>(out->begin()->second).to_i64(), (std::vector<int64_t>{-3, 5}));  // truncates toward zero
}

}  // namespace
}  // namespace ironmill::mil
