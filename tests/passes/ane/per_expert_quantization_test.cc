#include "passes/ane/per_expert_quantization.h"

#include <cmath>

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

TEST(PerExpertQuantization, ExpertIdsComeFromHfNames) {
  EXPECT_EQ(expert_of("model.layers.0.mlp.experts.3.gate_proj.weight"), 3);
  EXPECT_EQ(expert_of("layer_1_experts_12_up"), 12);
  EXPECT_EQ(expert_of("model.layers.0.mlp.shared_experts.down_proj.weight"), -1);
  EXPECT_EQ(expert_of("model.embed_tokens.weight"), std::nullopt);
  EXPECT_EQ(expert_of("num_experts_per_tok"), std::nullopt);
}

TEST(PerExpertQuantization, ConfigErrorsNameTheField) {
  auto bad = parse_per_expert_config(R"({"experts": [{"expert_id": 0, "strategy": "int3"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(message_contains(bad.status(), "experts[0].strategy"));
  EXPECT_FALSE(parse_per_expert_config(R"({"experts": [{"strategy": "fp16"}]})").ok());
  EXPECT_FALSE(parse_per_expert_config("[1]").ok());
  auto ok = parse_per_expert_config(
      R"({"shared_strategy": "fp16", "experts": [{"expert_id": 1, "strategy": "palettize_2bit", "activation_frequency": 0.1}]})");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->experts.at(1), WeightStrategy::kPalettize2);
  EXPECT_DOUBLE_EQ(ok->activation_frequency.at(1), 0.1);
}

// Returns every weight (so the function's outputs are the dequantized weights).
mil::Program experts(const std::vector<mil::Tensor>& w, const std::vector<std::string>& names) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", fp32_type({1}));
  for (size_t i = 0; i < w.size(); ++i) b.output(b.op("identity", {{"x", b.constant(w[i], names[i])}}));
  b.output(b.op("identity", {{"x", x}}));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(PerExpertQuantization, EachExpertGetsItsStrategy) {
  const mil::Tensor w0 = ramp(DType::kFp32, {2, 4}, 0.37, -1.1);
  std::vector<double> four{0.1, -0.3, 0.7, 0.1, -0.3, 0.7, 1.9, 1.9};
  const mil::Tensor w1 = mil::Tensor::from_f64(DType::kFp32, {2, 4}, four);
  const mil::Tensor ws = ramp(DType::kFp32, {2, 4}, 0.1, 0.01);
  const mil::Tensor other = ramp(DType::kFp32, {2, 4}, 0.1, 0.01);
  mil::Program p = experts({w0, w1, ws, other}, {"mlp_experts_0_w", "mlp_experts_1_w", "mlp_shared_expert_w", "router_w"});
  auto cfg = parse_per_expert_config(
      R"({"shared_strategy": "fp16", "default_strategy": "none",
          "experts": [{"expert_id": 0, "strategy": "int8"}, {"expert_id": 1, "strategy": "palettize_2bit"}]})");
  ASSERT_TRUE(cfg.ok());
  mil::Program q = p;
  PassManager pm;
  pm.add(std::make_unique<PerExpertQuantizationPass>(*cfg));
  ASSERT_TRUE(pm.run(q).ok());
  EXPECT_EQ(count_ops(q, "constexpr_blockwise_shift_scale"), 1);
  EXPECT_EQ(count_ops(q, "constexpr_lut_to_dense"), 1);
  auto out = run_outputs_on_reference(q, {{"x", fp32_tensor({1}, {0})}});
  ASSERT_TRUE(out.ok()) << out.status().message();
  // Expert 0, int8 symmetric per row: round(w / s) * s with s = max|row| / 127 (computed here).
  for (int64_t r = 0; r < 2; ++r) {
    double m = 0;
    for (int64_t c = 0; c < 4; ++c) m = std::max(m, std::fabs(w0.get_f64(r * 4 + c)));
    const double s = m / 127;
    for (int64_t c = 0; c < 4; ++c)
      EXPECT_NEAR((*out)[0].get_f64(r * 4 + c), std::nearbyint(w0.get_f64(r * 4 + c) / s) * s, 1e-6);
  }
  // Expert 1 has 4 distinct values: a 2-bit palette is exact.
  for (int64_t i = 0; i < 8; ++i) EXPECT_FLOAT_EQ((*out)[1].get_f64(i), static_cast<float>(four[static_cast<size_t>(i)]));
  // Shared expert: fp16 rounding (0.11 is not an fp16 value); the router is untouched.
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ((*out)[2].get_f64(i), ws.cast_to(DType::kFp16).get_f64(i));
    EXPECT_EQ((*out)[3].get_f64(i), other.get_f64(i));
  }
  EXPECT_NE((*out)[2].get_f64(1), ws.get_f64(1));
  // Idempotent.
  mil::Program twice = q;
  auto changed = PerExpertQuantizationPass(*cfg).run(twice);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  EXPECT_EQ(mil::print_mil_text(twice), mil::print_mil_text(q));
}

}  // namespace
}  // namespace ironmill::passes::ane
