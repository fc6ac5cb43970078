#include "passes/ane/explicit_inputs.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

TEST(ExplicitInputs, BindsTheMilDefaults) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {4, 8}));
  b.output(b.op("rsqrt", {{"x", x}}));
  b.output(b.op("log", {{"x", x}}));
  b.output(b.op("inverse", {{"x", x}}));
  b.output(b.op("layer_norm", {{"x", x}}));
  b.output(b.op("softmax", {{"x", x}}));
  ASSERT_TRUE(b.finish().ok());
  auto r = check_pass(p, ExplicitInputsPass(), {{"x", ramp(DType::kFp32, {4, 8}, 0.1, 0.1)}}, 0.0);
  for (const auto& op : r.functions[0].body.operations) {
    if (op.type == "rsqrt" || op.type == "log" || op.type == "inverse" || op.type == "layer_norm") {
      EXPECT_TRUE(op.inputs.count("epsilon")) << op.type;
    }
    if (op.type == "layer_norm") EXPECT_TRUE(op.inputs.count("axes"));
    if (op.type == "softmax") EXPECT_TRUE(op.inputs.count("axis"));
  }
}

}  // namespace
}  // namespace ironmill::passes::ane
