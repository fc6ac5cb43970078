#include "passes/ane/matmul_to_conv.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

TEST(MatmulToConv, LinearBecomesOneByOneConv) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {2, 3, 8}));
  b.output(b.op("linear", {{"x", x}, {"weight", ramp(DType::kFp32, {5, 8}, 0.01, -0.2)}, {"bias", ramp(DType::kFp32, {5}, 0.1, -0.2)}}));
  ASSERT_TRUE(b.finish().ok());
  auto r = check_pass(p, MatmulToConvPass(), {{"x", ramp(DType::kFp32, {2, 3, 8}, 0.05, -1)}}, 1e-5);
  EXPECT_EQ(count_ops(r, "linear"), 0);
  ASSERT_EQ(count_ops(r, "conv"), 1);
  for (const auto& op : r.functions[0].body.operations)
    if (op.type == "conv") {
      const auto& w = op.inputs.at("weight").bindings[0];
      ASSERT_FALSE(w.is_ref());
      EXPECT_EQ(w.value->type.dims, (mil::Shape{5, 8, 1, 1}));  // [Cout, Cin, 1, 1]
    }
}

TEST(MatmulToConv, MatmulWithConstantWeightBothOrientations) {
  for (bool ty : {false, true}) {
    mil::Program p;
    mil::Builder b(p);
    auto x = b.input("x", mil::Type::tensor(DType::kFp32, {4, 6}));
    auto w = ty ? ramp(DType::kFp32, {7, 6}, 0.02, -0.3) : ramp(DType::kFp32, {6, 7}, 0.02, -0.3);
    b.output(b.op("matmul", {{"x", x}, {"y", b.constant(w, "w")}, {"transpose_y", bool_scalar(ty)}}));
    ASSERT_TRUE(b.finish().ok());
    auto r = check_pass(p, MatmulToConvPass(), {{"x", ramp(DType::kFp32, {4, 6}, 0.1, -1)}}, 1e-5);
    EXPECT_EQ(count_ops(r, "matmul"), 0);
    EXPECT_EQ(count_ops(r, "const"), 0);  // the orphaned weight const is removed
  }
}

TEST(MatmulToConv, ActivationTimesActivationStaysMatmul) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {4, 6}));
  auto y = b.input("y", mil::Type::tensor(DType::kFp32, {6, 3}));
  b.output(b.op("matmul", {{"x", x}, {"y", y}}));
  ASSERT_TRUE(b.finish().ok());
  check_pass(p, MatmulToConvPass(), {{"x", ramp(DType::kFp32, {4, 6}, 0.1)}, {"y", ramp(DType::kFp32, {6, 3}, 0.1)}}, 0.0, false);
}

}  // namespace
}  // namespace ironmill::passes::ane
