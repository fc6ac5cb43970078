// The `ane` backend: lower -> validate -> bundle -> emulated device, through backend.h. Numerics are
// judged against the reference interpreter (fp32 oracle) with fp16-class budgets.
#include "backends/ane/ane_backend.h"

#include <gtest/gtest.h>

#include "ane_test_support.h"

namespace ironmill::backends::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

mil::Program mlp() {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {4, 32}));
  auto h = b.op("linear", {{"x", x}, {"weight", ramp(DType::kFp32, {64, 32}, 0.0007, -0.7)}, {"bias", ramp(DType::kFp32, {64}, 0.01, -0.3)}});
  auto g = b.op("gelu", {{"x", h}});
  auto o = b.op("linear", {{"x", g}, {"weight", ramp(DType::kFp32, {16, 64}, -0.0009, 0.45)}});
  b.output(b.op("softmax", {{"x", o}, {"axis", int32_scalar(-1)}}));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(AneBackend, RegisteredAndLabelledEmulated) {
  auto be = backends::make_backend("ane");
  ASSERT_TRUE(be.ok()) << be.status().message();
  EXPECT_EQ((*be)->name(), "ane");
  auto names = backends::backend_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "ane"), names.end());
  mil::Operation op;
  op.type = "relu";
  EXPECT_TRUE((*be)->supports(op, 18).supported);
  EXPECT_NE((*be)->supports(op, 18).reason.find("emulated"), std::string::npos);
  op.type = "gather";
  auto v = (*be)->supports(op, 18);
  EXPECT_FALSE(v.supported);
  EXPECT_NE(v.reason.find("ironmill-5.1"), std::string::npos);
  op.type = "gelu";  // rejected by the ANE, rewritten by the lowering
  EXPECT_TRUE((*be)->supports(op, 18).supported);
}

TEST(AneBackend, MlpMatchesTheReferenceWithinFp16Budgets) {
  auto be = make_ane_backend();
  ASSERT_TRUE(be.ok());
  auto exe = (*be)->compile(mlp(), {});
  ASSERT_TRUE(exe.ok()) << exe.status().message();
  auto* ane = static_cast<AneBackend*>(be->get());
  EXPECT_TRUE(ane->last_report().compiles());
  EXPECT_EQ(ane->last_report().fallback_ops(), 0);
  auto in = ramp(DType::kFp32, {4, 32}, 0.02, -1.2);
  auto out = (*exe)->run({{"x", in}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  auto expected = expect_run_outputs(mlp(), {{"x", in}});
  const auto& got = std::get<mil::Tensor>(out->begin()->second);
  EXPECT_EQ(got.shape(), (mil::Shape{4, 16}));
  EXPECT_EQ(got.dtype(), DType::kFp32);  // returned in the caller's dtype
  auto e = compare(got, expected[0]);
  EXPECT_LE(e.max_abs, 2e-3);
  EXPECT_LE(e.nmse, 1e-5);
  EXPECT_GT(e.max_abs, 0.0);  // fp16 storage really happened
  // The lowered program is what the ANE sees: no linear, no gelu, fp16, [1,C,1,S] I/O.
  for (const auto& op : ane->last_lowered().functions[0].body.operations) {
    EXPECT_NE(op.type, "linear");
    EXPECT_NE(op.type, "gelu");
  }
  EXPECT_EQ(ane->last_lowered().functions[0].inputs[0].type, mil::Type::tensor(DType::kFp16, {1, 4, 1, 32}));
}

TEST(AneBackend, RejectionsCarryTheRuleAndSource) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {8, 4}));
  b.output(b.op("gather", {{"x", x}, {"indices", int32_vector({1, 0, 3})}}));
  ASSERT_TRUE(b.finish().ok());
  auto be = make_ane_backend();
  auto exe = (*be)->compile(p, {});
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), ErrorCode::kUnsupported);
  expect_error_contains(exe.status(), {"gather", "ironmill-5.1", "emulated"});
}

}  // namespace
}  // namespace ironmill::backends::ane
