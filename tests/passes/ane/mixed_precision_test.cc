#include "passes/ane/mixed_precision.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

TEST(MixedPrecision, EverythingFloatBecomesFp16) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {4, 16}));
  auto w = b.constant(ramp(DType::kFp32, {4, 16}, 0.01, -0.3), "w");
  auto s = b.op("add", {{"x", x}, {"y", w}});
  auto c = b.op("cast", {{"x", s}, {"dtype", string_scalar("fp32")}});
  b.output(b.op("mul", {{"x", c}, {"y", fp32_scalar(0.5)}}));
  ASSERT_TRUE(b.finish().ok());
  // fp16 rounding of values up to ~2: within 2e-3 of the fp32 program.
  auto in = ramp(DType::kFp32, {4, 16}, 0.03, -1);
  auto expected = expect_run_outputs(p, {{"x", in}});
  mil::Program q = p;
  PassManager pm;
  pm.add(std::make_unique<MixedPrecisionPass>());
  ASSERT_TRUE(pm.run(q).ok());
  EXPECT_EQ(q.functions[0].inputs[0].type.dtype, DType::kFp16);
  for (const auto& op : q.functions[0].body.operations)
    for (const auto& o : op.outputs) EXPECT_EQ(o.type.dtype, DType::kFp16) << op.type;  // no fp32 left, no orphans
  auto got = expect_run_outputs(q, {{"x", in.cast_to(DType::kFp16)}});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LE(compare(got[0], expected[0]).max_abs, 2e-3);
  mil::Program again = q;
  EXPECT_FALSE(*MixedPrecisionPass().run(again));
}

TEST(MixedPrecision, IntegerAndBoolValuesAreKept) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kInt32, {8}));
  b.output(b.op("add", {{"x", x}, {"y", int32_scalar(3)}}));
  ASSERT_TRUE(b.finish().ok());
  check_pass(p, MixedPrecisionPass(), {{"x", mil::Tensor::from_i64(DType::kInt32, {8}, std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8})}}, 0.0, false);
}

}  // namespace
}  // namespace ironmill::passes::ane
