#include "passes/ane/op_substitution.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

mil::Program unary(const std::string& op, DType dt = DType::kFp32, std::map<std::string, mil::Builder::Arg> extra = {}) {
  mil::Program p;
  mil::Builder b(p);
  extra["x"] = b.input("x", mil::Type::tensor(dt, {4, 64}));
  b.output(b.op(op, extra));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

backends::NamedValues ramp_in(double step, double offset, DType dt = DType::kFp32) {
  return {{"x", ramp(dt, {4, 64}, step, offset)}};
}

TEST(OpSubstitution, GeluModesBecomeAcceptedOps) {
  for (const char* mode : {"EXACT", "TANH_APPROXIMATION", "SIGMOID_APPROXIMATION"}) {
    auto p = check_pass(unary("gelu", DType::kFp32, {{"mode", mil::Tensor::scalar_string(mode)}}), OpSubstitutionPass(),
                        ramp_in(0.03, -4.0), 2e-5);
    EXPECT_EQ(count_ops(p, "gelu"), 0) << mode;
  }
  auto exact = check_pass(unary("gelu"), OpSubstitutionPass(), ramp_in(0.03, -4.0), 2e-6);
  EXPECT_EQ(count_ops(exact, "erf"), 1);  // exact GELU through erf, eval-verified on the ANE
}

TEST(OpSubstitution, TrigAndHyperbolic) {
  // Range reduction + degree-15 polynomial: within 1e-5 of libm over several periods.
  check_pass(unary("sin"), OpSubstitutionPass(), ramp_in(0.05, -6.0), 1e-5);
  check_pass(unary("cos"), OpSubstitutionPass(), ramp_in(0.05, -6.0), 1e-5);
  check_pass(unary("tan"), OpSubstitutionPass(), ramp_in(0.004, -0.5), 1e-5);
  check_pass(unary("sinh"), OpSubstitutionPass(), ramp_in(0.01, -1.2), 1e-5);
  check_pass(unary("cosh"), OpSubstitutionPass(), ramp_in(0.01, -1.2), 1e-5);
  check_pass(unary("asin"), OpSubstitutionPass(), ramp_in(0.0075, -0.96), 1e-5);
  auto p = check_pass(unary("acos"), OpSubstitutionPass(), ramp_in(0.0075, -0.96), 1e-5);
  EXPECT_EQ(count_ops(p, "acos"), 0);
  EXPECT_EQ(count_ops(p, "atan"), 1);
}

TEST(OpSubstitution, ModAndSilu) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {4, 64}));
  b.output(b.op("mod", {{"x", x}, {"y", mil::Tensor::scalar_f64(DType::kFp32, 1.5)}}));
  ASSERT_TRUE(b.finish().ok());
  auto m = check_pass(p, OpSubstitutionPass(), ramp_in(0.07, -9.0), 1e-5);
  EXPECT_EQ(count_ops(m, "floor_div"), 1);

  mil::Program q;
  mil::Builder c(q);
  auto y = c.input("x", mil::Type::tensor(DType::kFp32, {4, 64}));
  auto s = c.op("sigmoid", {{"x", y}});
  c.output(c.op("mul", {{"x", s}, {"y", y}}));
  ASSERT_TRUE(c.finish().ok());
  auto r = check_pass(q, OpSubstitutionPass(), ramp_in(0.05, -6.0), 1e-6);
  EXPECT_EQ(count_ops(r, "silu"), 1);
  EXPECT_EQ(count_ops(r, "sigmoid"), 0);
}

TEST(OpSubstitution, LogicalOpsAndBatchNorm) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kBool, {8}));
  auto y = b.input("y", mil::Type::tensor(DType::kBool, {8}));
  b.output(b.op("logical_and", {{"x", x}, {"y", y}}));
  b.output(b.op("logical_or", {{"x", x}, {"y", y}}));
  b.output(b.op("logical_xor", {{"x", x}, {"y", y}}));
  ASSERT_TRUE(b.finish().ok());
  auto xs = mil::Tensor::from_i64(DType::kBool, {8}, std::vector<int64_t>{0, 0, 1, 1, 0, 1, 0, 1});
  auto ys = mil::Tensor::from_i64(DType::kBool, {8}, std::vector<int64_t>{0, 1, 0, 1, 1, 1, 0, 0});
  auto r = check_pass(p, OpSubstitutionPass(), {{"x", xs}, {"y", ys}}, 0.0);
  EXPECT_EQ(count_ops(r, "logical_and") + count_ops(r, "logical_or") + count_ops(r, "logical_xor"), 0);

  mil::Program bn;
  mil::Builder c(bn);
  auto in = c.input("x", mil::Type::tensor(DType::kFp32, {2, 3, 4, 4}));
  c.output(c.op("batch_norm", {{"x", in},
                               {"mean", fp32_tensor({3}, {0.5, -1, 2})},
                               {"variance", fp32_tensor({3}, {1, 4, 0.25})},
                               {"gamma", fp32_tensor({3}, {2, 1, -1})},
                               {"beta", fp32_tensor({3}, {0, 0.5, 1})}}));
  ASSERT_TRUE(c.finish().ok());
  auto out = check_pass(bn, OpSubstitutionPass(), {{"x", ramp(DType::kFp32, {2, 3, 4, 4}, 0.05, -2)}}, 1e-5);
  EXPECT_EQ(count_ops(out, "batch_norm"), 0);
}

TEST(OpSubstitution, LeavesAcceptedOpsAlone) {
  check_pass(unary("relu"), OpSubstitutionPass(), ramp_in(0.1, -3), 0.0, /*expect_change=*/false);
}

}  // namespace
}  // namespace ironmill::passes::ane
