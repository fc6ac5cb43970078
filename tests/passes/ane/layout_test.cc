#include "passes/ane/layout.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

TEST(Layout, IoShapes) {
  EXPECT_EQ(ane_io_shape({}), (mil::Shape{1, 1, 1, 1}));
  EXPECT_EQ(ane_io_shape({7}), (mil::Shape{1, 1, 1, 7}));
  EXPECT_EQ(ane_io_shape({3, 5}), (mil::Shape{1, 3, 1, 5}));
  EXPECT_EQ(ane_io_shape({2, 3, 5}), (mil::Shape{1, 6, 1, 5}));
  EXPECT_EQ(ane_io_shape({1, 64, 1, 32}), (mil::Shape{1, 64, 1, 32}));
}

TEST(Layout, InputsAndOutputsBecomeOneCOneS) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {2, 3, 5}));
  b.output(b.op("softmax", {{"x", x}, {"axis", int32_scalar(1)}}));
  ASSERT_TRUE(b.finish().ok());
  auto in = ramp(DType::kFp32, {2, 3, 5}, 0.1, -1);
  auto expected = expect_run_outputs(p, {{"x", in}});
  mil::Program q = p;
  PassManager pm;
  pm.add(std::make_unique<LayoutPass>());
  ASSERT_TRUE(pm.run(q).ok());
  const auto& f = q.functions[0];
  EXPECT_EQ(f.inputs[0].name, "x");
  EXPECT_EQ(f.inputs[0].type.dims, (mil::Shape{1, 6, 1, 5}));
  EXPECT_EQ(f.body.outputs, p.functions[0].body.outputs);  // names kept
  // Same row-major bytes: the reshaped input gives the reshaped output.
  auto got = expect_run_outputs(q, {{"x", *in.reshaped({1, 6, 1, 5})}});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].shape(), (mil::Shape{1, 6, 1, 5}));
  EXPECT_LE(compare(got[0], expected[0]).max_abs, 0.0);
  mil::Program again = q;
  EXPECT_FALSE(*LayoutPass().run(again));
}

TEST(Layout, AneShapedProgramsAreUnchanged) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp16, {1, 32, 1, 32}));
  b.output(b.op("relu", {{"x", x}}));
  b.output(x);
  ASSERT_TRUE(b.finish().ok());
  check_pass(p, LayoutPass(), {{"x", ramp(DType::kFp16, {1, 32, 1, 32}, 0.1, -50)}}, 0.0, false);
}

}  // namespace
}  // namespace ironmill::passes::ane
