#include "passes/ane/codebook_optimization.h"

#include "../pass_test_support.h"
#include "passes/ane/weight_compression.h"

namespace ironmill::passes::ane {
namespace {

using namespace ironmill::testing;
using mil::DType;

// Hand-solved 1-D k-means cases (the optimum is known in closed form).
TEST(CodebookOptimization, KMeansFindsTheKnownClusters) {
  Codebook a = kmeans_1d({1, 2, 3, 10, 11, 12}, 2);
  ASSERT_EQ(a.centroids.size(), 2u);
  EXPECT_DOUBLE_EQ(a.centroids[0], 2.0);
  EXPECT_DOUBLE_EQ(a.centroids[1], 11.0);
  EXPECT_EQ(a.index, (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
  // Lloyd has to move here: seeds 1 and 4, then {0..4} vs {100}.
  Codebook b = kmeans_1d({0, 1, 2, 3, 4, 100}, 2);
  ASSERT_EQ(b.centroids.size(), 2u);
  EXPECT_DOUBLE_EQ(b.centroids[0], 2.0);
  EXPECT_DOUBLE_EQ(b.centroids[1], 100.0);
  EXPECT_EQ(b.index, (std::vector<int64_t>{0, 0, 0, 0, 0, 1}));
  // Fewer distinct values than entries: exact.
  Codebook c = kmeans_1d({0.5, -1, 0.5, -1}, 4);
  EXPECT_EQ(c.centroids, (std::vector<double>{-1, 0.5}));
}

mil::Program linear_with_weight(const mil::Tensor& w) {
  mil::Program p;
  mil::Builder b(p);
  auto x = b.input("x", fp32_type({3, w.shape()[1]}));
  auto wc = b.constant(w, "fc_weight");
  auto y = b.op("linear", {{"x", x}, {"weight", wc}});
  b.output(b.op("add", {{"x", y}, {"y", b.constant(ramp(DType::kFp32, {w.shape()[0]}, 0.25), "not_a_weight")}}));
  EXPECT_TRUE(b.finish().ok()) << b.status().message();
  return p;
}

TEST(CodebookOptimization, FourLevelWeightPalettizesExactlyAt2Bits) {
  std::vector<double> v(6 * 8);
  const double levels[] = {-0.75, -0.125, 0.5, 1.5};
  for (size_t i = 0; i < v.size(); ++i) v[i] = levels[(i * 7) % 4];
  const mil::Tensor w = mil::Tensor::from_f64(DType::kFp32, {6, 8}, v);
  auto r = check_pass(linear_with_weight(w), CodebookOptimizationPass(2, 16), {{"x", ramp(DType::kFp32, {3, 8}, 0.1, -1)}}, 1e-6);
  EXPECT_EQ(count_ops(r, "constexpr_lut_to_dense"), 1);
  EXPECT_EQ(count_ops(r, "const"), 1);  // the bias-like add operand is not a conv/linear/matmul weight
  for (const auto& op : r.functions[0].body.operations)
    if (op.type == "constexpr_lut_to_dense") {
      const auto& idx = op.inputs.at("indices").bindings[0].value->tensor();
      const auto& lut = op.inputs.at("lut").bindings[0].value->tensor();
      EXPECT_EQ(idx.dtype(), DType::kUint2);
      EXPECT_EQ(lut.shape(), (mil::Shape{1, 1, 4, 1}));
      for (int64_t i = 0; i < idx.numel(); ++i) EXPECT_EQ(lut.get_f64(idx.get_i64(i)), v[static_cast<size_t>(i)]);
    }
}

TEST(CodebookOptimization, SmallWeightsAndBadBitsAreLeftOrRejected) {
  const mil::Tensor w = ramp(DType::kFp32, {2, 4}, 0.3, -1);
  mil::Program p = linear_with_weight(w);
  auto changed = CodebookOptimizationPass(4, 1024).run(p);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  EXPECT_FALSE(CodebookOptimizationPass(3, 1).run(p).ok());
}

// 16 levels of a 2-D ramp at 4 bits: every weight lands within half a step of its value.
TEST(CodebookOptimization, RampWeightErrorIsWithinHalfAStep) {
  const mil::Tensor w = ramp(DType::kFp32, {8, 32}, 1.0 / 256, -0.5);  // 256 values in [-0.5, 0.5)
  mil::Program p = linear_with_weight(w);
  auto changed = CodebookOptimizationPass(4, 16).run(p);
  ASSERT_TRUE(changed.ok());
  ASSERT_TRUE(*changed);
  ASSERT_TRUE(mil::infer_and_verify(p).ok());
  for (const auto& op : p.functions[0].body.operations)
    if (op.type == "constexpr_lut_to_dense") {
      const auto& idx = op.inputs.at("indices").bindings[0].value->tensor();
      const auto& lut = op.inputs.at("lut").bindings[0].value->tensor();
      for (int64_t i = 0; i < idx.numel(); ++i) EXPECT_LE(std::fabs(lut.get_f64(idx.get_i64(i)) - w.get_f64(i)), 1.0 / 32 + 1e-9);
    }
}

}  // namespace
}  // namespace ironmill::passes::ane
