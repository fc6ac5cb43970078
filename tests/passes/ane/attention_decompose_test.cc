#include "passes/ane/attention_decompose.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

mil::Program sdpa(bool mask, DType mask_dt = DType::kFp32) {
  mil::Program p;
  mil::Builder b(p);
  std::map<std::string, mil::Builder::Arg> in = {{"query", b.input("q", mil::Type::tensor(DType::kFp32, {2, 5, 8}))},
                                                 {"key", b.input("k", mil::Type::tensor(DType::kFp32, {2, 5, 8}))},
                                                 {"value", b.input("v", mil::Type::tensor(DType::kFp32, {2, 5, 4}))}};
  if (mask) in["attn_mask"] = b.input("m", mil::Type::tensor(mask_dt, {5, 5}));
  b.output(b.op("scaled_dot_product_attention", in));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

backends::NamedValues qkv() {
  return {{"q", ramp(DType::kFp32, {2, 5, 8}, 0.013, -0.5)},
          {"k", ramp(DType::kFp32, {2, 5, 8}, -0.011, 0.7)},
          {"v", ramp(DType::kFp32, {2, 5, 4}, 0.05, -1)}};
}

mil::Tensor causal(DType dt) {
  std::vector<double> m(25);
  for (int r = 0; r < 5; ++r)
    for (int c = 0; c < 5; ++c) m[r * 5 + c] = dt == DType::kBool ? (c <= r) : (c <= r ? 0.0 : -1e9);
  return mil::Tensor::from_f64(dt, {5, 5}, m);
}

TEST(AttentionDecompose, UnmaskedSdpa) {
  auto r = check_pass(sdpa(false), AttentionDecomposePass(), qkv(), 1e-6);
  EXPECT_EQ(count_ops(r, "scaled_dot_product_attention"), 0);
  EXPECT_EQ(count_ops(r, "softmax"), 1);
  EXPECT_EQ(count_ops(r, "matmul"), 2);
}

TEST(AttentionDecompose, MaskBecomesAnExplicitAdd) {
  auto in = qkv();
  in["m"] = causal(DType::kFp32);
  auto r = check_pass(sdpa(true), AttentionDecomposePass(), in, 1e-6);
  EXPECT_EQ(count_ops(r, "add"), 1);
  auto inb = qkv();
  inb["m"] = causal(DType::kBool);
  auto rb = check_pass(sdpa(true, DType::kBool), AttentionDecomposePass(), inb, 1e-6);
  EXPECT_EQ(count_ops(rb, "select"), 1);
}

TEST(AttentionDecompose, CausalOptionMatchesAnExplicitCausalMask) {
  // Oracle: the reference SDPA with an explicit causal mask.
  auto masked = sdpa(true);
  auto in = qkv();
  in["m"] = causal(DType::kFp32);
  auto expected = expect_run_outputs(masked, in);
  mil::Program p = sdpa(false);
  PassManager pm;
  pm.add(std::make_unique<AttentionDecomposePass>(/*causal=*/true));
  ASSERT_TRUE(pm.run(p).ok());
  auto got = expect_run_outputs(p, qkv());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LE(compare(got[0], expected[0]).max_abs, 1e-6);
}

}  // namespace
}  // namespace ironmill::passes::ane
