// The emulated ANE device: compile = parse MIL text + policy; eval with ANE numerics (fp16 between
// ops, ±65504 saturation), [1,C,1,S] buffers with the profile's minimum size, alphabetical binding,
// and the per-process compile budget. The oracle for numerics is the reference interpreter on the
// same fp16 program (single rounding per op); the saturation value is the fp16 maximum (anchors.md §6.1).
#include "backends/ane/emulated_device.h"

#include <gtest/gtest.h>

#include "ane_test_support.h"
#include "mil/text.h"

namespace ironmill::backends::ane {
namespace {

using ironmill::testing::expect_error_contains;
using ironmill::testing::expect_profile;
using ironmill::testing::ramp;
using mil::DType;

const char* kSub = R"(program(1.3)
{
  func main<ios18>(tensor<fp16, [1, 32, 1, 32]> b_minuend, tensor<fp16, [1, 32, 1, 32]> a_subtrahend) {
    tensor<fp16, [1, 32, 1, 32]> z_output0 = sub(x = b_minuend, y = a_subtrahend)[name = string("z_output0")];
  } -> (z_output0);
}
)";

TEST(EmulatedAneDevice, BindsInputsAlphabetically) {
  EmulatedAneDevice dev(expect_profile());
  auto h = dev.compile(kSub, {});
  ASSERT_TRUE(h.ok()) << h.status().message();
  auto ins = dev.inputs(*h);
  ASSERT_TRUE(ins.ok());
  ASSERT_EQ(ins->size(), 2u);
  EXPECT_EQ((*ins)[0].name, "a_subtrahend");  // declared second, bound first
  EXPECT_EQ((*ins)[1].name, "b_minuend");
  const size_t min = dev.min_buffer_bytes();
  AneTensor a = AneTensor::make(32, 32, min), b = AneTensor::make(32, 32, min), out = AneTensor::make(32, 32, min);
  ASSERT_TRUE(a.from_tensor(ramp(DType::kFp16, {1, 32, 1, 32}, 0.0, 1.0)).ok());   // all 1
  ASSERT_TRUE(b.from_tensor(ramp(DType::kFp16, {1, 32, 1, 32}, 0.0, 10.0)).ok());  // all 10
  ASSERT_TRUE(dev.eval(*h, {&a, &b}, {&out}).ok());
  EXPECT_EQ(out.to_tensor().get_f64(5), 9.0);  // b_minuend - a_subtrahend
}

TEST(EmulatedAneDevice, BuffersBelowTheMinimumAllocationFail) {
  AneProfile p = expect_profile();
  EmulatedAneDevice dev(p);
  auto h = dev.compile(kSub, {});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(dev.min_buffer_bytes(), 16384u);  // m3_pro follows ironmill's 16 KiB
  AneTensor small = AneTensor::make(32, 32, 0);  // 2048 bytes: the logical size only
  AneTensor ok = AneTensor::make(32, 32, dev.min_buffer_bytes()), out = AneTensor::make(32, 32, dev.min_buffer_bytes());
  expect_error_contains(dev.eval(*h, {&small, &ok}, {&out}), {"0x1d", "16384", "ironmill-5.4"});
  AneTensor wrong = AneTensor::make(16, 64, dev.min_buffer_bytes());
  expect_error_contains(dev.eval(*h, {&wrong, &ok}, {&out}), {"a_subtrahend", "[1,32,1,32]"});
}

TEST(EmulatedAneDevice, SaturatesAtTheFp16MaximumBetweenOps) {
  // x*x overflows fp16 for x = 300 (90000 > 65504). The ANE saturates; the reference rounds to inf.
  const char* text = R"(program(1.3)
{
  func main<ios18>(tensor<fp16, [1, 32, 1, 32]> x) {
    tensor<fp16, [1, 32, 1, 32]> sq = mul(x = x, y = x)[name = string("sq")];
    tensor<fp16, [1, 32, 1, 32]> y = mul(x = sq, y = fp16(0x1p-1))[name = string("y")];
  } -> (y);
}
)";
  EmulatedAneDevice dev(expect_profile());
  auto h = dev.compile(text, {});
  ASSERT_TRUE(h.ok()) << h.status().message();
  AneTensor x = AneTensor::make(32, 32, dev.min_buffer_bytes()), y = AneTensor::make(32, 32, dev.min_buffer_bytes());
  ASSERT_TRUE(x.from_tensor(ramp(DType::kFp16, {1, 32, 1, 32}, 0.0, 300.0)).ok());
  ASSERT_TRUE(dev.eval(*h, {&x}, {&y}).ok());
  EXPECT_EQ(y.to_tensor().get_f64(0), 32752.0);  // 65504 / 2
  auto prog = mil::parse_mil_text(text);
  ASSERT_TRUE(prog.ok());
  auto ref = ironmill::testing::expect_run_outputs(*prog, {{"x", ramp(DType::kFp16, {1, 32, 1, 32}, 0.0, 300.0)}});
  ASSERT_EQ(ref.size(), 1u);
  EXPECT_TRUE(std::isinf(ref[0].get_f64(0)));  // the oracle's IEEE behaviour differs, as documented
}

TEST(EmulatedAneDevice, MatchesTheReferenceOnAnFp16Op) {
  const char* text = R"(program(1.3)
{
  func main<ios18>(tensor<fp16, [1, 32, 1, 32]> x) {
    tensor<fp16, [1, 32, 1, 32]> y = sigmoid(x = x)[name = string("y")];
  } -> (y);
}
)";
  EmulatedAneDevice dev(expect_profile());
  auto h = dev.compile(text, {});
  ASSERT_TRUE(h.ok());
  auto input = ramp(DType::kFp16, {1, 32, 1, 32}, 0.02, -512 * 0.02);  // ane_op_eval's (i-512)*0.02
  AneTensor x = AneTensor::make(32, 32, dev.min_buffer_bytes()), y = AneTensor::make(32, 32, dev.min_buffer_bytes());
  ASSERT_TRUE(x.from_tensor(input).ok());
  ASSERT_TRUE(dev.eval(*h, {&x}, {&y}).ok());
  auto prog = mil::parse_mil_text(text);
  auto ref = ironmill::testing::expect_run_outputs(*prog, {{"x", input}});
  ASSERT_EQ(ref.size(), 1u);
  EXPECT_TRUE(y.to_tensor().identical(ref[0]));  // one op: one fp16 rounding on both sides
}

TEST(EmulatedAneDevice, RejectedProgramsNameRuleAndSource) {
  const char* text = R"(program(1.3)
{
  func main<ios18>(tensor<fp16, [1, 32, 1, 32]> x) {
    tensor<fp16, [1, 32, 1, 32]> y = rsqrt(x = x)[name = string("y")];
  } -> (y);
}
)";
  EmulatedAneDevice dev(expect_profile());
  expect_error_contains(dev.compile(text, {}).status(), {"rejects", "required_inputs", "ironmill-5.2", "epsilon"});
  expect_error_contains(dev.compile("program(1.3) { func", {}).status(), {"model.mil:1"});
}

TEST(EmulatedAneDevice, CompileBudgetIsPerProcess) {
  EmulatedAneDevice dev(expect_profile());
  for (int i = 0; i < 119; ++i) ASSERT_TRUE(dev.compile(kSub, {}).ok()) << i;
  EXPECT_EQ(dev.remaining_budget(), 0);
  expect_error_contains(dev.compile(kSub, {}).status(), {"compile budget", "119", "maderix-budget"});
}

TEST(EmulatedAneDevice, MissingWeightFileIsAnError) {
  const char* text = R"(program(1.3)
{
  func main<ios18>(tensor<fp16, [1, 4, 1, 32]> x) {
    tensor<fp16, [1, 4, 1, 32]> w = const()[name = string("w"), val = tensor<fp16, [1, 4, 1, 32]>(BLOBFILE(path = string("@model_path/weights/main.bin"), offset = uint64(64)))];
    tensor<fp16, [1, 4, 1, 32]> y = add(x = x, y = w)[name = string("y")];
  } -> (y);
}
)";
  EmulatedAneDevice dev(expect_profile());
  expect_error_contains(dev.compile(text, {}).status(), {"@model_path/weights/main.bin", "not given"});
}

}  // namespace
}  // namespace ironmill::backends::ane
