// Verifier errors must name the op, the input and what was expected; nothing aborts on bad input.
#include <gtest/gtest.h>

#include "mil/builder.h"
#include "mil/verifier.h"

#include "../test_support.h"

namespace ironmill::mil {
namespace {

using testing::expect_error_contains;
using testing::fp32_type;

Operation make_op(const std::string& type, std::map<std::string, std::string> refs, std::vector<NamedType> outs) {
  Operation op;
  op.type = type;
  for (auto& [k, v] : refs) op.inputs[k].bindings.push_back(Binding::ref(v));
  op.outputs = std::move(outs);
  op.attributes["name"] = Value::of(Tensor::scalar_string(type + "_0"));
  return op;
}

Program one_function(std::vector<NamedType> inputs, std::vector<Operation> ops, std::vector<std::string> outs,
                     std::string opset = "ios18") {
  Program p;
  Function f;
  f.opset = std::move(opset);
  f.inputs = std::move(inputs);
  f.body.operations = std::move(ops);
  f.body.outputs = std::move(outs);
  p.functions.push_back(std::move(f));
  return p;
}

TEST(Verifier, UnknownOp) {
  auto p = one_function({{"x", fp32_type({2})}}, {make_op("frobnicate", {{"x", "x"}}, {{"y", fp32_type({2})}})}, {"y"});
  expect_error_contains(verify(p), {"unknown op `frobnicate`"});
}

TEST(Verifier, MissingRequiredInput) {
  auto p = one_function({{"x", fp32_type({2})}}, {make_op("add", {{"x", "x"}}, {{"y", fp32_type({2})}})}, {"y"});
  expect_error_contains(verify(p), {"`add`", "input `y`", "required input missing"});
}

TEST(Verifier, UnknownInputName) {
  auto p = one_function({{"x", fp32_type({2})}},
                        {make_op("relu", {{"x", "x"}, {"alpha", "x"}}, {{"y", fp32_type({2})}})}, {"y"});
  expect_error_contains(verify(p), {"`relu`", "unknown input `alpha`"});
}

TEST(Verifier, DtypeOutsideDomain) {
  auto p = one_function({{"x", Type::tensor(DType::kInt32, {2})}},
                        {make_op("relu", {{"x", "x"}}, {{"y", Type::tensor(DType::kInt32, {2})}})}, {"y"});
  expect_error_contains(verify(p), {"`relu`", "input `x`", "dtype int32 not allowed", "fp16, fp32"});
}

TEST(Verifier, DomainMustAgree) {
  auto p = one_function({{"a", fp32_type({2})}, {"b", Type::tensor(DType::kFp16, {2})}},
                        {make_op("add", {{"x", "a"}, {"y", "b"}}, {{"y", fp32_type({2})}})}, {"y"});
  expect_error_contains(verify(p), {"`add`", "input `y`", "dtype fp16 must match", "fp32"});
}

TEST(Verifier, UndefinedValue) {
  auto p = one_function({{"x", fp32_type({2})}}, {make_op("relu", {{"x", "nope"}}, {{"y", fp32_type({2})}})}, {"y"});
  expect_error_contains(verify(p), {"`relu`", "input `x`", "value `nope` is not defined"});
}

TEST(Verifier, ConstParameterMustBeConstant) {
  auto p = one_function({{"x", fp32_type({1, 4})}, {"a", Type::tensor(DType::kInt32, {})}},
                        {make_op("softmax", {{"x", "x"}, {"axis", "a"}}, {{"y", fp32_type({1, 4})}})}, {"y"});
  expect_error_contains(verify(p), {"`softmax`", "input `axis`", "compile-time constant", "`a` is computed"});
}

TEST(Verifier, OpNewerThanOpset) {
  auto p = one_function({{"q", fp32_type({1, 2, 4})}},
                        {make_op("scaled_dot_product_attention", {{"query", "q"}, {"key", "q"}, {"value", "q"}},
                                 {{"y", fp32_type({1, 2, 4})}})},
                        {"y"}, "ios17");
  expect_error_contains(verify(p), {"`scaled_dot_product_attention`", "needs opset ios18", "function is ios17"});
}

TEST(Verifier, UnknownOpset) {
  auto p = one_function({{"x", fp32_type({2})}}, {}, {"x"}, "ios99");
  expect_error_contains(verify(p), {"unknown opset `ios99`"});
}

TEST(Verifier, UndefinedBlockOutput) {
  auto p = one_function({{"x", fp32_type({2})}}, {}, {"missing"});
  expect_error_contains(verify(p), {"output `missing` is not defined"});
}

TEST(Verifier, DeclaredOutputTypeMustMatchInference) {
  auto p = one_function({{"x", fp32_type({2, 3})}}, {make_op("relu", {{"x", "x"}}, {{"y", fp32_type({3, 2})}})}, {"y"});
  expect_error_contains(verify(p),
                        {"`relu`", "output `y`", "declared tensor<fp32, [3, 2]>", "inferred tensor<fp32, [2, 3]>"});
}

TEST(Verifier, RedefinitionIsRejected) {
  auto p = one_function({{"x", fp32_type({2})}}, {make_op("relu", {{"x", "x"}}, {{"x", fp32_type({2})}})}, {"x"});
  expect_error_contains(verify(p), {"redefines a value"});
}

TEST(Verifier, ConvWeightRankIsChecked) {
  Program p;
  Builder b(p);
  auto x = b.input("x", fp32_type({1, 2, 5, 5}));
  auto w = b.constant(Tensor(DType::kFp32, {3, 2}), "w");
  b.op("conv", {{"x", x}, {"weight", w}});
  expect_error_contains(b.status(), {"`conv`", "input `weight`", "rank"});
}

TEST(Builder, InfersTypesAndVerifies) {
  Program p;
  Builder b(p);
  auto x = b.input("x", fp32_type({2, 3}));
  auto c = b.constant(Tensor::from_f64(DType::kFp32, {3}, std::vector<double>{1, 2, 3}));
  auto y = b.op("add", {{"x", x}, {"y", c}});
  auto z = b.op("relu", {{"x", y}});
  b.output(z);
  ASSERT_TRUE(b.finish().ok()) << b.finish().message();
  EXPECT_EQ(*b.type_of(z), fp32_type({2, 3}));
  EXPECT_EQ(p.op_count(), 3u);
}

}  // namespace
}  // namespace ironmill::mil
