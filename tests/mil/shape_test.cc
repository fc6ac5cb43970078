// Shape family: type inference (unknown dims from non-constant shape inputs, errors naming op and
// input) and run-time checks of the reference kernels that op-eval cases cannot express.
#include <gtest/gtest.h>

#include "backends/backend.h"
#include "mil/builder.h"

namespace ironmill::mil {
namespace {

using backends::NamedValues;

Tensor i32s(std::vector<int64_t> v) { return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v); }
Tensor i32(int64_t v) { return Tensor::scalar_i64(DType::kInt32, v); }
Type f32t(Shape s) { return Type::tensor(DType::kFp32, std::move(s)); }
constexpr int64_t U = kUnknownDim;

struct Built {
  Program prog;
  Status status;
  std::vector<Type> types;
};

// One op; `inputs` become function inputs (by type), `consts` constants.
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

const Tensor& only_output(const NamedValues& v) { return std::get<Tensor>(v.begin()->second); }

TEST(ShapeOps, ReshapeConstShape) {
  auto r = build("reshape", {{"x", f32t({2, 3, 4})}}, {{"shape", i32s({0, -1})}});
  expect_error(r.status, {"`reshape`", "input `shape`", "len(shape) == rank(x)"});
  r = build("reshape", {{"x", f32t({2, 3, 4})}}, {{"shape", i32s({-1, 4})}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], f32t({6, 4}));
  r = build("reshape", {{"x", f32t({2, 3, 4})}}, {{"shape", i32s({5, 5})}});
  expect_error(r.status, {"`reshape`", "input `shape`", "25 elements", "24"});
  r = build("reshape", {{"x", f32t({2, 3, 4})}}, {{"shape", i32s({-1, -1})}});
  expect_error(r.status, {"`reshape`", "input `shape`", "at most one entry may be -1"});
  // unknown input dim: -1 cannot be resolved at compile time
  r = build("reshape", {{"x", f32t({U, 4})}}, {{"shape", i32s({-1, 2})}});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.types[0], f32t({U, 2}));
}

TEST(ShapeOps, ReshapeRuntimeShapeGivesUnknownDims) {
  auto r = build("reshape", {{"x", f32t({2, 6})}, {"shape", Type::tensor(DType::kInt32, {3})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], f32t({U, U, U}));
  auto out = run(r.prog, {{"x", Tensor(DType::kFp32, {2, 6})}, {"shape", i32s({3, -1, 2})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(only_output(*out).shape(), (Shape{3, 2, 2}));
  auto bad = run(r.prog, {{"x", Tensor(DType::kFp32, {2, 6})}, {"shape", i32s({5, 1, 1})}});
  expect_error(bad.status(), {"`reshape`", "cannot reshape"});
}

TEST(ShapeOps, FillTileNonZeroUnknownDims) {
  auto r = build("fill", {{"shape", Type::tensor(DType::kInt32, {2})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], f32t({U, U}));  // default value 0.0 is fp32
  r = build("fill", {{"shape", Type::tensor(DType::kInt32, {2})}}, {{"value", i32(3)}});
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {U, U}));
  r = build("tile", {{"x", f32t({2, 3})}, {"reps", Type::tensor(DType::kInt32, {2})}}, {});
  ASSERT_TRUE(r.status.ok());
  EXPECT_EQ(r.types[0], f32t({U, U}));
  r = build("tile", {{"x", f32t({2, 3})}}, {{"reps", i32s({2})}});
  expect_error(r.status, {"`tile`", "input `reps`", "rank of `x`"});
  r = build("non_zero", {{"x", f32t({2, 3, 4})}}, {});
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {U, 3}));
  r = build("range_1d", {{"end", Type::scalar(DType::kInt32)}}, {{"start", i32(0)}, {"step", i32(1)}});
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {U}));
  r = build("range_1d", {}, {{"end", i32(10)}, {"start", i32(1)}, {"step", i32(4)}});
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {3}));
  r = build("range_1d", {}, {{"end", i32(10)}, {"start", i32(1)}, {"step", i32(0)}});
  expect_error(r.status, {"`range_1d`", "input `step`", "non-zero"});
  r = build("one_hot", {{"indices", Type::tensor(DType::kInt32, {4})}, {"one_hot_vector_size", Type::scalar(DType::kInt32)}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {4, U}));
}

TEST(ShapeOps, NonZeroRuns) {
  auto r = build("non_zero", {{"x", f32t({2, 2})}}, {});
  auto out = run(r.prog, {{"x", Tensor::from_f64(DType::kFp32, {2, 2}, std::vector<double>{0, 1, 2, 0})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(only_output(*out).shape(), (Shape{2, 2}));
  EXPECT_EQ(only_output(*out).to_i64(), (std::vector<int64_t>{0, 1, 1, 0}));
}

TEST(ShapeOps, SqueezeExpandTranspose) {
  auto r = build("squeeze", {{"x", f32t({1, U, 3})}}, {});
  EXPECT_FALSE(r.types[0].rank_known);  // the unknown dim might be 1
  r = build("squeeze", {{"x", f32t({1, U, 3})}}, {{"axes", i32s({0})}});
  EXPECT_EQ(r.types[0], f32t({U, 3}));
  r = build("expand_dims", {{"x", f32t({2, 3})}}, {{"axes", i32s({3})}});
  expect_error(r.status, {"`expand_dims`", "input `axes`", "out of range"});
  r = build("transpose", {{"x", f32t({2, 3})}}, {{"perm", i32s({0, 0})}});
  expect_error(r.status, {"`transpose`", "input `perm`", "repeats axis"});
  r = build("transpose", {{"x", f32t({2, 3, 4})}}, {{"perm", i32s({1, 0})}});
  expect_error(r.status, {"`transpose`", "input `perm`", "rank of `x`"});
}

TEST(ShapeOps, ConcatAndSplit) {
  Built r;
  {
    Builder b(r.prog);
    auto a = b.input("a", f32t({2, U}));
    auto c = b.input("c", f32t({2, 3}));
    auto y = b.op("concat", {{"values", std::vector<std::string>{a, c}}, {"axis", i32(1)}});
    ASSERT_TRUE(b.status().ok()) << b.status().message();
    EXPECT_EQ(*b.type_of(y), f32t({2, U}));
    auto d = b.input("d", f32t({3, 3}));
    b.op("concat", {{"values", std::vector<std::string>{c, d}}, {"axis", i32(1)}});
    expect_error(b.status(), {"`concat`", "input `values`", "other than the concat axis"});
  }
  r = build("split", {{"x", f32t({6, 4})}}, {{"num_splits", i32(4)}, {"axis", i32(0)}});
  expect_error(r.status, {"`split`", "input `num_splits`", "does not divide"});
  r = build("split", {{"x", f32t({6, 4})}}, {{"split_sizes", i32s({1, 2})}, {"axis", i32(0)}});
  expect_error(r.status, {"`split`", "input `split_sizes`", "sum to 3"});
  r = build("split", {{"x", f32t({6, 4})}}, {{"split_sizes", i32s({1, 2, 3})}, {"axis", i32(0)}});
  ASSERT_TRUE(r.status.ok());
  ASSERT_EQ(r.types.size(), 3u);
  EXPECT_EQ(r.types[2], f32t({3, 4}));
  r = build("split", {{"x", f32t({6, 4})}, {"split_sizes", Type::tensor(DType::kInt32, {2})}}, {{"axis", i32(0)}, {"num_splits", i32(2)}});
  expect_error(r.status, {"`split`", "input `split_sizes`", "compile-time constant"});
  r = build("split", {{"x", f32t({6, 4})}}, {{"axis", i32(0)}});
  expect_error(r.status, {"`split`", "num_splits", "split_sizes"});
}

TEST(ShapeOps, SlicesAndPad) {
  auto r = build("slice_by_index", {{"x", f32t({4, 5})}, {"begin", Type::tensor(DType::kInt32, {2})}},
                 {{"end", i32s({3, 5})}, {"squeeze_mask", Tensor::from_i64(DType::kBool, {2}, std::vector<int64_t>{1, 0})}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], f32t({U}));
  r = build("slice_by_index", {{"x", f32t({4, 5})}}, {{"begin", i32s({0, 0})}, {"end", i32s({4, 5})}, {"stride", i32s({1, 0})}});
  expect_error(r.status, {"`slice_by_index`", "input `stride`", "non-zero"});
  r = build("slice_by_index", {{"x", f32t({4, 5})}}, {{"begin", i32s({0})}, {"end", i32s({4, 5})}});
  expect_error(r.status, {"`slice_by_index`", "input `begin`", "rank of `x`"});
  r = build("slice_by_size", {{"x", f32t({4, 5})}}, {{"begin", i32s({3, 0})}, {"size", i32s({2, -1})}});
  expect_error(r.status, {"`slice_by_size`", "input `size`", "exceeds"});
  r = build("pad", {{"x", f32t({2, 3})}}, {{"pad", i32s({0, 3})}, {"mode", Tensor::scalar_string("reflect")}});
  expect_error(r.status, {"`pad`", "input `pad`", "reflect", "at most 2"});
  r = build("pad", {{"x", f32t({2, 3})}, {"pad", Type::tensor(DType::kInt32, {2})}}, {});
  expect_error(r.status, {"`pad`", "input `pad`", "2*rank(x) = 4"});
  r = build("pad", {{"x", f32t({2, 3})}}, {{"pad", i32s({1, 1})}, {"mode", Tensor::scalar_string("wrap")}});
  expect_error(r.status, {"`pad`", "input `mode`", "wrap"});
  r = build("slice_update", {{"x", f32t({4, 5})}, {"update", f32t({2, 2})}}, {{"begin", i32s({0, 0})}, {"end", i32s({2, 3})}});
  expect_error(r.status, {"`slice_update`", "input `update`", "must match the slice"});
}

TEST(ShapeOps, SpaceDepthChecks) {
  auto r = build("depth_to_space", {{"x", f32t({1, 6, 2, 2})}}, {{"block_size", i32(2)}});
  expect_error(r.status, {"`depth_to_space`", "input `block_size`", "does not divide"});
  r = build("space_to_batch", {{"x", f32t({1, 1, 3, 4})}},
            {{"block_shape", i32s({2, 2})}, {"paddings", Tensor::from_i64(DType::kInt32, {2, 2}, std::vector<int64_t>{0, 0, 0, 0})}});
  expect_error(r.status, {"`space_to_batch`", "input `paddings`", "divisible"});
  r = build("crop", {{"x", f32t({1, 4, 4})}}, {{"crop_height", i32s({3, 2})}, {"crop_width", i32s({0, 0})}});
  expect_error(r.status, {"`crop`", "input `crop_height`", "exceed"});
  r = build("pixel_shuffle", {{"x", f32t({2, 4, 4})}}, {{"upscale_factor", i32(2)}});
  expect_error(r.status, {"`pixel_shuffle`", "input `x`", "rank 4"});
}

TEST(ShapeOps, KernelChecksRuntimeValues) {
  // reverse_sequence lengths beyond the sequence dim are an error, not an out-of-bounds read
  auto r = build("reverse_sequence", {{"x", f32t({2, 3})}, {"lengths", Type::tensor(DType::kInt32, {2})}},
                 {{"seq_axis", i32(1)}, {"batch_axis", i32(0)}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  auto out = run(r.prog, {{"x", Tensor(DType::kFp32, {2, 3})}, {"lengths", i32s({1, 4})}});
  expect_error(out.status(), {"`reverse_sequence`", "lengths"});
  // slice_by_size with a run-time begin past the end
  r = build("slice_by_size", {{"x", f32t({4})}, {"begin", Type::tensor(DType::kInt32, {1})}}, {{"size", i32s({2})}});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  out = run(r.prog, {{"x", Tensor(DType::kFp32, {4})}, {"begin", i32s({3})}});
  expect_error(out.status(), {"`slice_by_size`", "out of range"});
  // tile with run-time reps of the wrong length
  r = build("tile", {{"x", f32t({2})}, {"reps", Type::tensor(DType::kInt32, {U})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  out = run(r.prog, {{"x", Tensor(DType::kFp32, {2})}, {"reps", i32s({2, 3})}});
  expect_error(out.status(), {"`tile`", "reps"});
}

TEST(ShapeOps, IdentityPassesAnyValue) {
  auto r = build("identity", {{"x", Type::tensor(DType::kInt32, {U, 2})}}, {});
  ASSERT_TRUE(r.status.ok()) << r.status.message();
  EXPECT_EQ(r.types[0], Type::tensor(DType::kInt32, {U, 2}));
}

TEST(ShapeOps, ReshapeLikeNeedsConstTuples) {
  Program p;
  Builder b(p, "main", "ios17");
  auto x = b.input("x", f32t({6}));
  auto ref = b.input("ref", f32t({2, 3}));
  auto beg = b.input("beg", Type::scalar(DType::kInt32));
  auto end = b.constant(i32(2));
  auto m = b.constant(Tensor::scalar_bool(false));
  b.op("reshape_like", {{"x", x}, {"ref_tensors", std::vector<std::string>{ref}}, {"begins", std::vector<std::string>{beg}},
                        {"ends", std::vector<std::string>{end}}, {"end_masks", std::vector<std::string>{m}}});
  expect_error(b.status(), {"`reshape_like`", "input `begins`", "compile-time constant"});
}

}  // namespace
}  // namespace ironmill::mil
