#include "passes/ane/draft_split.h"

#include "../pass_test_support.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

// `layers` pre-norm residual layers h = h + linear(layer_norm(h)), then a final layer_norm; with
// `final_norm` false it stops after the layers and returns the hidden state.
mil::Program stack(int layers, bool final_norm = true) {
  mil::Program p;
  mil::Builder b(p);
  std::string h = b.input("x", fp32_type({2, 4}));
  for (int l = 0; l < layers; ++l) {
    auto n = b.op("layer_norm", {{"x", h}, {"axes", int32_vector({-1})}, {"epsilon", fp32_scalar(1e-5)}});
    h = b.op("add", {{"x", h}, {"y", b.op("linear", {{"x", n}, {"weight", ramp(DType::kFp32, {4, 4}, 0.07, -0.5 + 0.1 * l)}})}});
  }
  b.output(final_norm ? b.op("layer_norm", {{"x", h}, {"axes", int32_vector({-1})}, {"epsilon", fp32_scalar(1e-5)}}) : h);
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

// The same layers, stopping after `layers` of them and returning the hidden state (built separately).
mil::Program prefix(int layers) { return stack(layers, /*final_norm=*/false); }

TEST(DraftVerifierSplit, DraftIsTheFirstLayersAndVerifierTheWholeModel) {
  const mil::Program original = stack(3);
  EXPECT_EQ(layer_boundaries(original.functions[0]).size(), 4u);
  for (int n = 1; n <= 3; ++n) {
    mil::Program p = original;
    PassManager pm;
    pm.add(std::make_unique<DraftVerifierSplitPass>(n));
    ASSERT_TRUE(pm.run(p).ok());
    ASSERT_NE(p.function("main_draft"), nullptr);
    ASSERT_NE(p.function("main_verifier"), nullptr);
    const backends::NamedValues in{{"x", ramp(DType::kFp32, {2, 4}, 0.3, -1)}};
    auto draft = run_outputs_on_reference(only(p, "main_draft"), in);
    auto expected = run_outputs_on_reference(prefix(n), in);
    ASSERT_TRUE(draft.ok() && expected.ok());
    EXPECT_LE(compare((*draft)[0], (*expected)[0]).max_abs, 1e-6) << "draft of " << n;
    auto verifier = run_outputs_on_reference(only(p, "main_verifier"), in);
    auto full = run_outputs_on_reference(original, in);
    ASSERT_TRUE(verifier.ok() && full.ok());
    EXPECT_LE(compare((*verifier)[0], (*full)[0]).max_abs, 0.0);
    // Idempotent.
    mil::Program twice = p;
    auto changed = DraftVerifierSplitPass(n).run(twice);
    ASSERT_TRUE(changed.ok());
    EXPECT_FALSE(*changed);
    EXPECT_EQ(mil::print_mil_text(twice), mil::print_mil_text(p));
  }
  mil::Program p = original;
  EXPECT_FALSE(DraftVerifierSplitPass(4).run(p).ok());  // only 4 boundaries: the 5th layer does not exist
  EXPECT_FALSE(DraftVerifierSplitPass(0).run(p).ok());
}

TEST(DraftVerifierSplit, RmsNormsAreBoundariesToo) {
  mil::Program p;
  mil::Builder b(p);
  std::string h = b.input("x", fp32_type({2, 4}));
  for (int l = 0; l < 2; ++l) {
    auto ms = b.op("reduce_mean", {{"x", b.op("mul", {{"x", h}, {"y", h}})}, {"axes", int32_vector({-1})}, {"keep_dims", bool_scalar(true)}});
    h = b.op("add", {{"x", h}, {"y", b.op("mul", {{"x", h}, {"y", b.op("rsqrt", {{"x", ms}, {"epsilon", fp32_scalar(1e-6)}})}})}});
  }
  b.output(h);
  ASSERT_TRUE(b.finish().ok()) << b.status().message();
  EXPECT_EQ(layer_boundaries(p.functions[0]).size(), 2u);
  ASSERT_TRUE(DraftVerifierSplitPass(1).run(p).ok());
  ASSERT_TRUE(mil::infer_and_verify(p).ok());
  const backends::NamedValues in{{"x", ramp(DType::kFp32, {2, 4}, 0.3, -1)}};
  auto draft = run_outputs_on_reference(only(p, "main_draft"), in);
  ASSERT_TRUE(draft.ok()) << draft.status().message();
  // One layer by hand: h + h * rsqrt(mean(h^2) + eps), row by row.
  const mil::Tensor x = ramp(DType::kFp32, {2, 4}, 0.3, -1);
  for (int64_t r = 0; r < 2; ++r) {
    double ms = 0;
    for (int64_t c = 0; c < 4; ++c) ms += x.get_f64(r * 4 + c) * x.get_f64(r * 4 + c) / 4;
    for (int64_t c = 0; c < 4; ++c)
      EXPECT_NEAR((*draft)[0].get_f64(r * 4 + c), x.get_f64(r * 4 + c) * (1 + 1 / std::sqrt(ms + 1e-6)), 1e-5);
  }
}

}  // namespace
}  // namespace ironmill::passes::ane
