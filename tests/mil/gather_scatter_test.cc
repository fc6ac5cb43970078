// Gather/scatter family: output shapes, errors naming op and input, and index checks at run time
// (out-of-range indices are errors; negative indices are valid only before iOS17).
#include <gtest/gtest.h>

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using backends::NamedValues;

using testing::build_single_op;
using testing::expect_error_contains;
using testing::fp32_type;
using testing::int32_scalar;
using testing::int32_type;
using testing::int32_vector;
using testing::run_on_reference;
constexpr int64_t U = kUnknownDim;

TEST(GatherScatterOps, GatherShapes) {
  auto r = build_single_op("gather", {{"x", fp32_type({2, 3, 4})}, {"indices", int32_type({5, 6})}},
                           {{"axis", int32_scalar(1)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({2, 5, 6, 4}));
  r = build_single_op("gather", {{"x", fp32_type({2, 3, 4})}, {"indices", int32_type({2, 7})}},
                      {{"axis", int32_scalar(2)}, {"batch_dims", int32_scalar(1)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({2, 3, 7}));
  r = build_single_op("gather", {{"x", fp32_type({2, 3, 4})}, {"indices", int32_type({3, 7})}},
                      {{"axis", int32_scalar(2)}, {"batch_dims", int32_scalar(1)}});
  expect_error_contains(r.status, {"`gather`", "input `indices`", "batch dim 0"});
  r = build_single_op("gather", {{"x", fp32_type({2, 3, 4})}, {"indices", int32_type({2, 7})}},
                      {{"axis", int32_scalar(3)}});
  expect_error_contains(r.status, {"`gather`", "input `axis`", "out of range"});
  r = build_single_op("gather", {{"x", fp32_type({2, 3})}, {"indices", int32_type({2})}},
                      {{"batch_dims", int32_scalar(1)}});
  expect_error_contains(r.status, {"`gather`", "input `batch_dims`", "must not exceed axis"});
  r = build_single_op("gather", {{"x", fp32_type({U, 3})}, {"indices", int32_type({U})}}, {{"axis", int32_scalar(0)}});
  EXPECT_EQ(r.types[0], fp32_type({U, 3}));
}

TEST(GatherScatterOps, ValidateIndicesAtCompileTime) {
  auto r = build_single_op("gather", {{"x", fp32_type({4, 3})}},
                 {{"indices", int32_vector({0, 4})}, {"validate_indices", Tensor::scalar_bool(true)}});
  expect_error_contains(r.status, {"`gather`", "input `indices`", "out of bounds [0, 4)"});
  r = build_single_op("gather", {{"x", fp32_type({4, 3})}}, {{"indices", int32_vector({0, 4})}});
  EXPECT_TRUE(r.status.ok());  // not validated at compile time; the kernel still rejects it
  auto out = run_on_reference(r.prog, {{"x", Tensor(DType::kFp32, {4, 3})}});
  expect_error_contains(out.status(), {"`gather`", "index 4 out of bounds"});
}

TEST(GatherScatterOps, NegativeIndicesDependOnOpset) {
  for (const char* opset : {"ios16", "ios18"}) {
    auto r = build_single_op("gather", {{"x", fp32_type({3})}, {"indices", int32_type({1})}}, {}, opset);
    ASSERT_TRUE(r.status.ok()) << r.status.message();
    auto out = run_on_reference(r.prog, {{"x", Tensor::from_f64(DType::kFp32, {3}, std::vector<double>{1, 2, 3})},
                                         {"indices", int32_vector({-1})}});
    if (std::string(opset) == "ios16") {
      ASSERT_TRUE(out.ok()) << out.status().message();
      EXPECT_EQ(std::get<Tensor>(out->begin()->second).to_f64(), (std::vector<double>{3}));
    } else {
      expect_error_contains(out.status(), {"`gather`", "index -1 out of bounds", "iOS17"});
    }
  }
}

TEST(GatherScatterOps, GatherAlongAxisAndNd) {
  auto r = build_single_op("gather_along_axis", {{"x", fp32_type({3, 4})}, {"indices", int32_type({3, 2})}},
                           {{"axis", int32_scalar(0)}});
  expect_error_contains(r.status, {"`gather_along_axis`", "input `indices`", "except at axis 0"});
  r = build_single_op("gather_along_axis", {{"x", fp32_type({3, 4})}, {"indices", int32_type({5, 4})}},
                      {{"axis", int32_scalar(0)}});
  EXPECT_EQ(r.types[0], fp32_type({5, 4}));
  r = build_single_op("gather_nd", {{"x", fp32_type({2, 3, 4})}, {"indices", int32_type({5, 2})}}, {});
  EXPECT_EQ(r.types[0], fp32_type({5, 4}));
  r = build_single_op("gather_nd", {{"x", fp32_type({2, 3, 4})}, {"indices", int32_type({2, 5, 2})}},
                      {{"batch_dims", int32_scalar(1)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({2, 5}));
  r = build_single_op("gather_nd", {{"x", fp32_type({2, 3})}, {"indices", int32_type({5, 3})}}, {});
  expect_error_contains(r.status, {"`gather_nd`", "input `indices`", "must not exceed rank(x)"});
  r = build_single_op("gather_nd", {{"x", fp32_type({2, 3})}, {"indices", int32_type({5, U})}}, {});
  EXPECT_FALSE(r.types[0].rank_known);
  r = build_single_op("gather_nd", {{"x", fp32_type({2, 3})}, {"indices", int32_type({1, 2})}}, {});
  auto out =
      run_on_reference(r.prog, {{"x", Tensor(DType::kFp32, {2, 3})},
                                {"indices", Tensor::from_i64(DType::kInt32, {1, 2}, std::vector<int64_t>{1, 3})}});
  expect_error_contains(out.status(), {"`gather_nd`", "index 3 out of bounds"});
}

TEST(GatherScatterOps, ScatterChecks) {
  auto r = build_single_op(
      "scatter", {{"data", fp32_type({4, 3})}, {"indices", int32_type({2})}, {"updates", fp32_type({2, 4})}}, {});
  expect_error_contains(r.status, {"`scatter`", "input `updates`", "[2, 3]"});
  r = build_single_op("scatter",
                      {{"data", fp32_type({4, 3})}, {"indices", int32_type({2})}, {"updates", fp32_type({2, 3})}},
                      {{"mode", Tensor::scalar_string("xor")}});
  expect_error_contains(r.status, {"`scatter`", "input `mode`", "xor"});
  r = build_single_op("scatter_along_axis",
                      {{"data", fp32_type({4, 3})}, {"indices", int32_type({2, 3})}, {"updates", fp32_type({2, 2})}},
                      {});
  expect_error_contains(r.status, {"`scatter_along_axis`", "input `updates`"});
  r = build_single_op(
      "scatter_nd", {{"data", fp32_type({4, 3})}, {"indices", int32_type({2, 1})}, {"updates", fp32_type({2, 3})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({4, 3}));
  r = build_single_op("scatter_nd",
                      {{"data", fp32_type({4, 3})}, {"indices", int32_type({2, 1})}, {"updates", fp32_type({2})}}, {});
  expect_error_contains(r.status, {"`scatter_nd`", "input `updates`", "[2, 3]"});
  // run time: an out-of-range scatter index is an error
  r = build_single_op("scatter", {{"data", fp32_type({2})}, {"indices", int32_type({1})}, {"updates", fp32_type({1})}},
                      {});
  ASSERT_TRUE(r.status.ok());
  auto out = run_on_reference(
      r.prog,
      {{"data", Tensor(DType::kFp32, {2})}, {"indices", int32_vector({2})}, {"updates", Tensor(DType::kFp32, {1})}});
  expect_error_contains(out.status(), {"`scatter`", "index 2 out of bounds"});
  // integer division by zero is an error
  r = build_single_op("scatter",
                      {{"data", int32_type({2})}, {"indices", int32_type({1})}, {"updates", int32_type({1})}},
                      {{"mode", Tensor::scalar_string("div")}});
  ASSERT_TRUE(r.status.ok());
  out = run_on_reference(
      r.prog, {{"data", int32_vector({4, 5})}, {"indices", int32_vector({0})}, {"updates", int32_vector({0})}});
  expect_error_contains(out.status(), {"`scatter`", "division by zero"});
  out = run_on_reference(
      r.prog, {{"data", int32_vector({-7, 5})}, {"indices", int32_vector({0})}, {"updates", int32_vector({2})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(std::get<Tensor>(out->begin()->second).to_i64(), (std::vector<int64_t>{-3, 5}));  // truncates toward zero
}

}  // namespace
}  // namespace ironmill::mil
