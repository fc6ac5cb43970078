#include "passes/ane/compute_unit_annotation.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

TEST(ComputeUnitAnnotation, AnnotatesFromTheCapabilityFunction) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {4, 8}));
  auto c = b.constant(ramp(DType::kFp32, {4, 8}, 0.1), "c");
  auto s = b.op("add", {{"x", x}, {"y", c}});
  b.output(b.op("sin", {{"x", s}}));
  ASSERT_TRUE(b.finish().ok());
  auto on_ane = [](const mil::Operation& op) { return op.type != "sin"; };
  auto r = check_pass(p, ComputeUnitAnnotationPass(on_ane), {{"x", ramp(DType::kFp32, {4, 8}, 0.1)}}, 0.0);
  std::map<std::string, std::string> unit;
  for (const auto& op : r.functions[0].body.operations) unit[op.type] = op.attributes.at("compute_unit").tensor().get_string(0);
  EXPECT_EQ(unit["const"], "any");
  EXPECT_EQ(unit["add"], "ane");
  EXPECT_EQ(unit["sin"], "cpu");
  // The annotation survives MIL text.
  auto text = mil::print_mil_text(r);
  EXPECT_NE(text.find("compute_unit = string(\"cpu\")"), std::string::npos) << text;
}

}  // namespace
}  // namespace ironmill::passes::ane
