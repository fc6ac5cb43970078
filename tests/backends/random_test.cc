// Random ops on the reference backend: distribution statistics over 10k samples, seeding (same seed -> same
// values, different seeds -> different values), ranges, and output type inference (dtype from the parameters,
// unknown dims for a computed shape).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "../test_support.h"

namespace ironmill::backends {
namespace {
using mil::DType;
using mil::Tensor;
using mil::Type;

using testing::fp32_scalar;
using testing::int32_scalar;
using testing::int32_vector;

testing::BuiltOp build(const std::string& op, const std::map<std::string, Tensor>& consts,
                       const std::map<std::string, Type>& inputs = {}, const std::string& opset = "ios18") {
  return testing::build_single_op(op, inputs, consts, opset);
}

// The single output of `b` run on the reference backend; a failure is a test failure.
Tensor run(const testing::BuiltOp& b, const NamedValues& in = {}) {
  EXPECT_TRUE(b.status.ok()) << b.status.message();
  auto out = testing::expect_run_outputs(b.prog, in);
  return out.empty() ? Tensor() : out[0];
}

struct Moments {
  double mean = 0, var = 0;
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= static_cast<double>(v.size() - 1);
  return m;
}

constexpr int64_t kN = 10000;

TEST(Random, UniformStatisticsAndRange) {
  auto t = run(build("random_uniform", {{"shape", int32_vector({100, 100})},
                                        {"low", fp32_scalar(-2.0)},
                                        {"high", fp32_scalar(3.0)},
                                        {"seed", int32_scalar(42)}}));
  ASSERT_EQ(t.numel(), kN);
  auto v = t.to_f64();
  for (double x : v) {
    ASSERT_GE(x, -2.0);
    ASSERT_LT(x, 3.0);
  }
  auto m = moments(v);
  // mean 0.5, variance 25/12; standard error of the mean ~0.014.
  EXPECT_NEAR(m.mean, 0.5, 0.06);
  EXPECT_NEAR(m.var, 25.0 / 12.0, 0.1);
}

TEST(Random, NormalStatistics) {
  auto t = run(build("random_normal", {{"shape", int32_vector({kN})},
                                       {"mean", fp32_scalar(1.5)},
                                       {"stddev", fp32_scalar(0.5)},
                                       {"seed", int32_scalar(7)}}));
  auto m = moments(t.to_f64());
  EXPECT_NEAR(m.mean, 1.5, 0.02);           // standard error 0.005
  EXPECT_NEAR(std::sqrt(m.var), 0.5, 0.02);
  int64_t within1 = 0;
  for (double x : t.to_f64()) within1 += std::fabs(x - 1.5) <= 0.5;
  EXPECT_NEAR(static_cast<double>(within1) / kN, 0.6827, 0.02);
}

TEST(Random, BernoulliStatistics) {
  auto t = run(build("random_bernoulli",
                     {{"shape", int32_vector({kN})}, {"prob", fp32_scalar(0.3)}, {"seed", int32_scalar(3)}}));
  auto v = t.to_f64();
  for (double x : v) ASSERT_TRUE(x == 0.0 || x == 1.0);
  auto m = moments(v);
  EXPECT_NEAR(m.mean, 0.3, 0.02);
  EXPECT_NEAR(m.var, 0.21, 0.02);
}

TEST(Random, CategoricalFrequenciesFollowSoftmax) {
  // logits log([0.1, 0.2, 0.3, 0.4]) + 5 -> probabilities 0.1..0.4.
  std::vector<double> logits{std::log(0.1) + 5, std::log(0.2) + 5, std::log(0.3) + 5, std::log(0.4) + 5};
  auto t = run(build("random_categorical", {{"x", Tensor::from_f64(DType::kFp32, {1, 4}, logits)},
                                            {"size", int32_scalar(kN)}, {"seed", int32_scalar(11)}}));
  ASSERT_EQ(t.shape(), (mil::Shape{1, kN}));
  std::vector<double> freq(4, 0.0);
  for (double k : t.to_f64()) {
    ASSERT_TRUE(k >= 0 && k <= 3 && k == std::floor(k)) << k;
    freq[static_cast<size_t>(k)] += 1.0 / kN;
  }
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(freq[static_cast<size_t>(k)], 0.1 * (k + 1), 0.02) << "class " << k;
  // probs mode: unnormalised probabilities are normalised.
  auto p = run(build("random_categorical", {{"x", Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{3.0, 1.0})},
                                            {"mode", Tensor::scalar_string("probs")}, {"size", int32_scalar(kN)},
                                            {"seed", int32_scalar(12)}}));
  double ones = 0;
  for (double k : p.to_f64()) ones += k;
  EXPECT_NEAR(ones / kN, 0.25, 0.02);
}

TEST(Random, SameSeedSameValuesDifferentSeedsDiffer) {
  for (const char* op : {"random_uniform", "random_normal", "random_bernoulli"}) {
    auto a = run(build(op, {{"shape", int32_vector({64})}, {"seed", int32_scalar(5)}}));
    auto b = run(build(op, {{"shape", int32_vector({64})}, {"seed", int32_scalar(5)}}));
    auto c = run(build(op, {{"shape", int32_vector({64})}, {"seed", int32_scalar(6)}}));
    EXPECT_TRUE(a.identical(b)) << op;
    EXPECT_FALSE(a.identical(c)) << op;
  }
  auto x = Tensor::from_f64(DType::kFp32, {3, 5}, std::vector<double>(15, 0.0));  // uniform over 5 classes
  auto a = run(build("random_categorical", {{"x", x}, {"size", int32_scalar(16)}, {"seed", int32_scalar(1)}}));
  auto b = run(build("random_categorical", {{"x", x}, {"size", int32_scalar(16)}, {"seed", int32_scalar(1)}}));
  auto c = run(build("random_categorical", {{"x", x}, {"size", int32_scalar(16)}, {"seed", int32_scalar(2)}}));
  EXPECT_TRUE(a.identical(b));
  EXPECT_FALSE(a.identical(c));
}

TEST(Random, Fp16UniformStaysBelowHigh) {
  // fp16 has 11 significant bits: without care, values just below `high` round up to it.
  auto t = run(build("random_uniform", {{"shape", int32_vector({kN})}, {"low", Tensor::scalar_f64(DType::kFp16, 0.0)},
                                        {"high", Tensor::scalar_f64(DType::kFp16, 1.0)}, {"seed", int32_scalar(9)}}));
  ASSERT_EQ(t.dtype(), DType::kFp16);
  for (double x : t.to_f64()) ASSERT_LT(x, 1.0);
}

TEST(Random, TypeInference) {
  auto d = build("random_normal", {{"shape", int32_vector({2, 3})}});
  ASSERT_TRUE(d.status.ok()) << d.status.message();
  EXPECT_EQ(d.out(), Type::tensor(DType::kFp32, {2, 3}));  // no parameters: fp32 (coremltools' float defaults)
  auto h = build("random_bernoulli", {{"shape", int32_vector({4})}, {"prob", Tensor::scalar_f64(DType::kFp16, 0.25)}});
  ASSERT_TRUE(h.status.ok()) << h.status.message();
  EXPECT_EQ(h.out(), Type::tensor(DType::kFp16, {4}));
  auto rt = build("random_uniform", {}, {{"shape", Type::tensor(DType::kInt32, {3})}});
  ASSERT_TRUE(rt.status.ok()) << rt.status.message();
  EXPECT_EQ(rt.out(), Type::tensor(DType::kFp32, {mil::kUnknownDim, mil::kUnknownDim, mil::kUnknownDim}));
  auto c = build("random_categorical", {{"x", Tensor(DType::kFp16, {2, 3, 7})}, {"size", int32_scalar(4)}});
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  EXPECT_EQ(c.out(), Type::tensor(DType::kFp16, {2, 3, 4}));

  auto mixed =
      build("random_uniform",
            {{"shape", int32_vector({2})}, {"low", fp32_scalar(0)}, {"high", Tensor::scalar_f64(DType::kFp16, 1)}});
  EXPECT_FALSE(mixed.status.ok());
  auto inverted =
      build("random_uniform", {{"shape", int32_vector({2})}, {"low", fp32_scalar(1)}, {"high", fp32_scalar(0)}});
  EXPECT_NE(inverted.status.message().find("`random_uniform` (random_uniform_0) input `high`: must be >= low"),
            std::string::npos)
      << inverted.status.message();
  auto p = build("random_bernoulli", {{"shape", int32_vector({2})}, {"prob", fp32_scalar(1.5)}});
  EXPECT_NE(p.status.message().find("input `prob`: must be in [0, 1]"), std::string::npos) << p.status.message();
  auto mode = build("random_categorical", {{"x", Tensor(DType::kFp32, {3})}, {"mode", Tensor::scalar_string("log")}});
  EXPECT_NE(mode.status.message().find("input `mode`: must be \"logits\" or \"probs\""), std::string::npos)
      << mode.status.message();
}

}  // namespace
}  // namespace ironmill::backends
