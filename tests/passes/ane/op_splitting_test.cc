#include "passes/ane/op_splitting.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

TEST(OpSplitting, ParsesMemorySizes) {
  EXPECT_EQ(*parse_memory_size("512MB"), 512ull << 20);
  EXPECT_EQ(*parse_memory_size("1G"), 1ull << 30);
  EXPECT_EQ(*parse_memory_size("1.5KB"), 1536u);
  EXPECT_EQ(*parse_memory_size("100"), 100u);
  EXPECT_EQ(*parse_memory_size("2 tb"), 2ull << 40);
  expect_error_contains(parse_memory_size("12XB").status(), {"12XB", "unknown unit"});
  expect_error_contains(parse_memory_size("MB").status(), {"expected a number"});
}

mil::Program conv_program() {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {1, 16, 1, 8}));
  b.output(b.op("conv", {{"x", x},
                         {"weight", ramp(DType::kFp32, {64, 16, 1, 1}, 0.001, -0.5)},
                         {"bias", ramp(DType::kFp32, {64}, 0.01, -0.3)},
                         {"pad_type", string_scalar("valid")}}));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(OpSplitting, SplitsConvAlongOutputChannelsUnderTheBudget) {
  // weight 64*16*4 = 4096 B, input 512 B, output 2048 B. Budget 2 KiB: each tile holds the whole input
  // (512 B) plus 96 B per output channel, so 16 channels per tile, 4 tiles.
  auto r = check_pass(conv_program(), OpSplittingPass(2048), {{"x", ramp(DType::kFp32, {1, 16, 1, 8}, 0.03, -1)}}, 1e-6);
  const int convs = count_ops(r, "conv");
  EXPECT_EQ(convs, 4);
  EXPECT_EQ(count_ops(r, "concat"), 1);
}

TEST(OpSplitting, UnderTheBudgetNothingChanges) {
  check_pass(conv_program(), OpSplittingPass(1 << 20), {{"x", ramp(DType::kFp32, {1, 16, 1, 8}, 0.03)}}, 0.0, false);
}

TEST(OpSplitting, SplitsLinear) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", mil::Type::tensor(DType::kFp32, {3, 32}));
  b.output(b.op("linear", {{"x", x}, {"weight", ramp(DType::kFp32, {40, 32}, 0.001, -0.6)}}));
  ASSERT_TRUE(b.finish().ok());
  auto r = check_pass(p, OpSplittingPass(*parse_memory_size("2KB")), {{"x", ramp(DType::kFp32, {3, 32}, 0.02)}}, 1e-6);
  EXPECT_GE(count_ops(r, "linear"), 2);
}

}  // namespace
}  // namespace ironmill::passes::ane
