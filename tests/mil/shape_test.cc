// Shape family: type inference (unknown dims from non-constant shape inputs, errors naming op and
// input) and run-time checks of the reference kernels that op-eval cases cannot express.
#include <gtest/gtest.h>

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using backends::NamedValues;

using testing::build_single_op;
using testing::expect_error_contains;
using testing::fp32_type;
using testing::int32_scalar;
using testing::int32_vector;
using testing::run_on_reference;
constexpr int64_t U = kUnknownDim;

const Tensor& only_output(const NamedValues& v) { return std::get<Tensor>(v.begin()->second); }

TEST(ShapeOps, ReshapeConstShape) {
  auto r = build_single_op("reshape", {{"x", fp32_type({2, 3, 4})}}, {{"shape", int32_vector({0, -1})}});
  expect_error_contains(r.status, {"`reshape`", "input `shape`", "len(shape) == rank(x)"});
  r = build_single_op("reshape", {{"x", fp32_type({2, 3, 4})}}, {{"shape", int32_vector({-1, 4})}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({6, 4}));
  r = build_single_op("reshape", {{"x", fp32_type({2, 3, 4})}}, {{"shape", int32_vector({5, 5})}});
  expect_error_contains(r.status, {"`reshape`", "input `shape`", "25 elements", "24"});
  r = build_single_op("reshape", {{"x", fp32_type({2, 3, 4})}}, {{"shape", int32_vector({-1, -1})}});
  expect_error_contains(r.status, {"`reshape`", "input `shape`", "at most one entry may be -1"});
  // unknown input dim: -1 cannot be resolved at compile time
  r = build_single_op("reshape", {{"x", fp32_type({U, 4})}}, {{"shape", int32_vector({-1, 2})}});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.types[0], fp32_type({U, 2}));
}

TEST(ShapeOps, ReshapeRuntimeShapeGivesUnknownDims) {
  auto r = build_single_op("reshape", {{"x", fp32_type({2, 6})}, {"shape", Type::tensor(DType::kInt32, {3})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({U, U, U}));
  auto out = run_on_reference(r.prog, {{"x", Tensor(DType::kFp32, {2, 6})}, {"shape", int32_vector({3, -1, 2})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(only_output(*out).shape(), (Shape{3, 2, 2}));
  auto bad = run_on_reference(r.prog, {{"x", Tensor(DType::kFp32, {2, 6})}, {"shape", int32_vector({5, 1, 1})}});
  expect_error_contains(bad.status(), {"`reshape`", "cannot reshape"});
}

TEST(ShapeOps, FillTileNonZeroUnknownDims) {
  auto r = build_single_op("fill", {{"shape", Type::tensor(DType::kInt32, {2})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({U, U}));  // default value 0.0 is fp32
  r = build_single_op("fill", {{"shape", Type::tensor(DType::kInt32, {2})}}, {{"value", int32_scalar(3)}});
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {U, U}));
  r = build_single_op("tile", {{"x", fp32_type({2, 3})}, {"reps", Type::tensor(DType::kInt32, {2})}}, {});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.types[0], fp32_type({U, U}));
  r = build_single_op("tile", {{"x", fp32_type({2, 3})}}, {{"reps", int32_vector({2})}});
  expect_error_contains(r.status, {"`tile`", "input `reps`", "rank of `x`"});
  r = build_single_op("non_zero", {{"x", fp32_type({2, 3, 4})}}, {});
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {U, 3}));
  r = build_single_op("range_1d", {{"end", Type::scalar(DType::kInt32)}},
                      {{"start", int32_scalar(0)}, {"step", int32_scalar(1)}});
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {U}));
  r = build_single_op("range_1d", {},
                      {{"end", int32_scalar(10)}, {"start", int32_scalar(1)}, {"step", int32_scalar(4)}});
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {3}));
  r = build_single_op("range_1d", {},
                      {{"end", int32_scalar(10)}, {"start", int32_scalar(1)}, {"step", int32_scalar(0)}});
  expect_error_contains(r.status, {"`range_1d`", "input `step`", "non-zero"});
  r = build_single_op(
      "one_hot", {{"indices", Type::tensor(DType::kInt32, {4})}, {"one_hot_vector_size", Type::scalar(DType::kInt32)}},
      {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {4, U}));
}

TEST(ShapeOps, NonZeroRuns) {
  auto r = build_single_op("non_zero", {{"x", fp32_type({2, 2})}}, {});
  auto out = run_on_reference(r.prog, {{"x", Tensor::from_f64(DType::kFp32, {2, 2}, std::vector<double>{0, 1, 2, 0})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(only_output(*out).shape(), (Shape{2, 2}));
  EXPECT_EQ(only_output(*out).to_i64(), (std::vector<int64_t>{0, 1, 1, 0}));
}

TEST(ShapeOps, SqueezeExpandTranspose) {
  auto r = build_single_op("squeeze", {{"x", fp32_type({1, U, 3})}}, {});
  EXPECT_FALSE(r.types[0].rank_known);  // the unknown dim might be 1
  r = build_single_op("squeeze", {{"x", fp32_type({1, U, 3})}}, {{"axes", int32_vector({0})}});
  EXPECT_EQ(r.types[0], fp32_type({U, 3}));
  r = build_single_op("expand_dims", {{"x", fp32_type({2, 3})}}, {{"axes", int32_vector({3})}});
  expect_error_contains(r.status, {"`expand_dims`", "input `axes`", "out of range"});
  r = build_single_op("transpose", {{"x", fp32_type({2, 3})}}, {{"perm", int32_vector({0, 0})}});
  expect_error_contains(r.status, {"`transpose`", "input `perm`", "repeats axis"});
  r = build_single_op("transpose", {{"x", fp32_type({2, 3, 4})}}, {{"perm", int32_vector({1, 0})}});
  expect_error_contains(r.status, {"`transpose`", "input `perm`", "rank of `x`"});
}

TEST(ShapeOps, ConcatAndSplit) {
  testing::BuiltOp r;
  {
    Builder b(r.prog);
    auto a = b.input("a", fp32_type({2, U}));
    auto c = b.input("c", fp32_type({2, 3}));
    auto y = b.op("concat", {{"values", std::vector<std::string>{a, c}}, {"axis", int32_scalar(1)}});
    ASSERT_TRUE(b.status().ok()) << b.status().message();
    EXPECT_EQ(*b.type_of(y), fp32_type({2, U}));
    auto d = b.input("d", fp32_type({3, 3}));
    b.op("concat", {{"values", std::vector<std::string>{c, d}}, {"axis", int32_scalar(1)}});
    expect_error_contains(b.status(), {"`concat`", "input `values`", "other than the concat axis"});
  }
  r = build_single_op("split", {{"x", fp32_type({6, 4})}},
                      {{"num_splits", int32_scalar(4)}, {"axis", int32_scalar(0)}});
  expect_error_contains(r.status, {"`split`", "input `num_splits`", "does not divide"});
  r = build_single_op("split", {{"x", fp32_type({6, 4})}},
                      {{"split_sizes", int32_vector({1, 2})}, {"axis", int32_scalar(0)}});
  expect_error_contains(r.status, {"`split`", "input `split_sizes`", "sum to 3"});
  r = build_single_op("split", {{"x", fp32_type({6, 4})}},
                      {{"split_sizes", int32_vector({1, 2, 3})}, {"axis", int32_scalar(0)}});
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.types.size(), 3u);
  EXPECT_EQ(r.types[2], fp32_type({3, 4}));
  r = build_single_op("split", {{"x", fp32_type({6, 4})}, {"split_sizes", Type::tensor(DType::kInt32, {2})}},
                      {{"axis", int32_scalar(0)}, {"num_splits", int32_scalar(2)}});
  expect_error_contains(r.status, {"`split`", "input `split_sizes`", "compile-time constant"});
  r = build_single_op("split", {{"x", fp32_type({6, 4})}}, {{"axis", int32_scalar(0)}});
  expect_error_contains(r.status, {"`split`", "num_splits", "split_sizes"});
}

TEST(ShapeOps, SlicesAndPad) {
  auto r = build_single_op("slice_by_index", {{"x", fp32_type({4, 5})}, {"begin", Type::tensor(DType::kInt32, {2})}},
                           {{"end", int32_vector({3, 5})},
                            {"squeeze_mask", Tensor::from_i64(DType::kBool, {2}, std::vector<int64_t>{1, 0})}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], fp32_type({U}));
  r = build_single_op(
      "slice_by_index", {{"x", fp32_type({4, 5})}},
      {{"begin", int32_vector({0, 0})}, {"end", int32_vector({4, 5})}, {"stride", int32_vector({1, 0})}});
  expect_error_contains(r.status, {"`slice_by_index`", "input `stride`", "non-zero"});
  r = build_single_op("slice_by_index", {{"x", fp32_type({4, 5})}},
                      {{"begin", int32_vector({0})}, {"end", int32_vector({4, 5})}});
  expect_error_contains(r.status, {"`slice_by_index`", "input `begin`", "rank of `x`"});
  r = build_single_op("slice_by_size", {{"x", fp32_type({4, 5})}},
                      {{"begin", int32_vector({3, 0})}, {"size", int32_vector({2, -1})}});
  expect_error_contains(r.status, {"`slice_by_size`", "input `size`", "exceeds"});
  r = build_single_op("pad", {{"x", fp32_type({2, 3})}},
                      {{"pad", int32_vector({0, 3})}, {"mode", Tensor::scalar_string("reflect")}});
  expect_error_contains(r.status, {"`pad`", "input `pad`", "reflect", "at most 2"});
  r = build_single_op("pad", {{"x", fp32_type({2, 3})}, {"pad", Type::tensor(DType::kInt32, {2})}}, {});
  expect_error_contains(r.status, {"`pad`", "input `pad`", "2*rank(x) = 4"});
  r = build_single_op("pad", {{"x", fp32_type({2, 3})}},
                      {{"pad", int32_vector({1, 1})}, {"mode", Tensor::scalar_string("wrap")}});
  expect_error_contains(r.status, {"`pad`", "input `mode`", "wrap"});
  r = build_single_op("slice_update", {{"x", fp32_type({4, 5})}, {"update", fp32_type({2, 2})}},
                      {{"begin", int32_vector({0, 0})}, {"end", int32_vector({2, 3})}});
  expect_error_contains(r.status, {"`slice_update`", "input `update`", "must match the slice"});
}

TEST(ShapeOps, SpaceDepthChecks) {
  auto r = build_single_op("depth_to_space", {{"x", fp32_type({1, 6, 2, 2})}}, {{"block_size", int32_scalar(2)}});
  expect_error_contains(r.status, {"`depth_to_space`", "input `block_size`", "does not divide"});
  r = build_single_op("space_to_batch", {{"x", fp32_type({1, 1, 3, 4})}},
                      {{"block_shape", int32_vector({2, 2})},
                       {"paddings", Tensor::from_i64(DType::kInt32, {2, 2}, std::vector<int64_t>{0, 0, 0, 0})}});
  expect_error_contains(r.status, {"`space_to_batch`", "input `paddings`", "divisible"});
  r = build_single_op("crop", {{"x", fp32_type({1, 4, 4})}},
                      {{"crop_height", int32_vector({3, 2})}, {"crop_width", int32_vector({0, 0})}});
  expect_error_contains(r.status, {"`crop`", "input `crop_height`", "exceed"});
  r = build_single_op("pixel_shuffle", {{"x", fp32_type({2, 4, 4})}}, {{"upscale_factor", int32_scalar(2)}});
  expect_error_contains(r.status, {"`pixel_shuffle`", "input `x`", "rank 4"});
}

TEST(ShapeOps, KernelChecksRuntimeValues) {
  // reverse_sequence lengths beyond the sequence dim are an error, not an out-of-bounds read
  auto r =
      build_single_op("reverse_sequence", {{"x", fp32_type({2, 3})}, {"lengths", Type::tensor(DType::kInt32, {2})}},
                      {{"seq_axis", int32_scalar(1)}, {"batch_axis", int32_scalar(0)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  auto out = run_on_reference(r.prog, {{"x", Tensor(DType::kFp32, {2, 3})}, {"lengths", int32_vector({1, 4})}});
  expect_error_contains(out.status(), {"`reverse_sequence`", "lengths"});
  // slice_by_size with a run-time begin past the end
  r = build_single_op("slice_by_size", {{"x", fp32_type({4})}, {"begin", Type::tensor(DType::kInt32, {1})}},
                      {{"size", int32_vector({2})}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  out = run_on_reference(r.prog, {{"x", Tensor(DType::kFp32, {4})}, {"begin", int32_vector({3})}});
  expect_error_contains(out.status(), {"`slice_by_size`", "out of range"});
  // tile with run-time reps of the wrong length
  r = build_single_op("tile", {{"x", fp32_type({2})}, {"reps", Type::tensor(DType::kInt32, {U})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  out = run_on_reference(r.prog, {{"x", Tensor(DType::kFp32, {2})}, {"reps", int32_vector({2, 3})}});
  expect_error_contains(out.status(), {"`tile`", "reps"});
}

TEST(ShapeOps, IdentityPassesAnyValue) {
  auto r = build_single_op("identity", {{"x", Type::tensor(DType::kInt32, {U, 2})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {U, 2}));
}

TEST(ShapeOps, ReshapeLikeNeedsConstTuples) {
  Program p;
  Builder b(p, "main", "ios17");
  auto x = b.input("x", fp32_type({6}));
  auto ref = b.input("ref", fp32_type({2, 3}));
  auto beg = b.input("beg", Type::scalar(DType::kInt32));
  auto end = b.constant(int32_scalar(2));
  auto m = b.constant(Tensor::scalar_bool(false));
  b.op("reshape_like", {{"x", x}, {"ref_tensors", std::vector<std::string>{ref}}, {"begins", std::vector<std::string>{beg}},
                        {"ends", std::vector<std::string>{end}}, {"end_masks", std::vector<std::string>{m}}});
  expect_error_contains(b.status(), {"`reshape_like`", "input `begins`", "compile-time constant"});
}

}  // namespace
}  // namespace ironmill::mil
