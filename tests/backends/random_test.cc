// Random ops on the reference backend: distribution statistics over 10k samples, seeding (same seed -> same
// values, different seeds -> different values), ranges, and output type inference (dtype from the parameters,
// unknown dims for a computed shape).
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "backends/backend.h"
#include "mil/builder.h"

namespace ironmill::backends {
namespace {
using mil::DType;
using mil::Tensor;
using mil::Type;

Tensor ints(std::vector<int64_t> v) { return Tensor::from_i64(DType::kInt32, {static_cast<int64_t>(v.size())}, v); }
Tensor f32(double v) { return Tensor::scalar_f64(DType::kFp32, v); }
Tensor i32(int64_t v) { return Tensor::scalar_i64(DType::kInt32, v); }

struct Built {
  mil::Program prog;
  Status status;
  Type out;
};

Built build(const std::string& op, std::map<std::string, Tensor> consts, std::map<std::string, Type> inputs = {},
            const std::string& opset = "ios18") {
  Built r;
  mil::Builder b(r.prog, "main", opset);
  std::map<std::string, mil::Builder::Arg> args;
  for (auto& [k, t] : inputs) args[k] = b.input(k, t);
  for (auto& [k, v] : consts) args[k] = v;
  auto o = b.op(op, args);
  r.status = b.status();
  if (!r.status.ok()) return r;
  r.out = *b.type_of(o);
  b.output(o);
  r.status = b.finish();
  return r;
}

Tensor run(const Built& b, NamedValues in = {}) {
  EXPECT_TRUE(b.status.ok()) << b.status.message();
  auto be = make_backend("reference");
  auto exe = (*be)->compile(b.prog, {});
  EXPECT_TRUE(exe.ok()) << exe.status().message();
  if (!exe.ok()) return Tensor();
  auto out = (*exe)->run(in);
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return Tensor();
  return std::get<Tensor>(out->begin()->second);
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
  auto t = run(build("random_uniform", {{"shape", ints({100, 100})}, {"low", f32(-2.0)}, {"high", f32(3.0)},
                                        {"seed", i32(42)}}));
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
  auto t = run(build("random_normal", {{"shape", ints({kN})}, {"mean", f32(1.5)}, {"stddev", f32(0.5)},
                                       {"seed", i32(7)}}));
  auto m = moments(t.to_f64());
  EXPECT_NEAR(m.mean, 1.5, 0.02);           // standard error 0.005
  EXPECT_NEAR(std::sqrt(m.var), 0.5, 0.02);
  int64_t within1 = 0;
  for (double x : t.to_f64()) within1 += std::fabs(x - 1.5) <= 0.5;
  EXPECT_NEAR(static_cast<double>(within1) / kN, 0.6827, 0.02);
}

TEST(Random, BernoulliStatistics) {
  auto t = run(build("random_bernoulli", {{"shape", ints({kN})}, {"prob", f32(0.3)}, {"seed", i32(3)}}));
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
                                            {"size", i32(kN)}, {"seed", i32(11)}}));
  ASSERT_EQ(t.shape(), (mil::Shape{1, kN}));
  std::vector<double> freq(4, 0.0);
  for (double k : t.to_f64()) {
    ASSERT_TRUE(k >= 0 && k <= 3 && k == std::floor(k)) << k;
    freq[static_cast<size_t>(k)] += 1.0 / kN;
  }
  for (int k = 0; k < 4; ++k) EXPECT_NEAR(freq[static_cast<size_t>(k)], 0.1 * (k + 1), 0.02) << "class " << k;
  // probs mode: unnormalised probabilities are normalised.
  auto p = run(build("random_categorical", {{"x", Tensor::from_f64(DType::kFp32, {2}, std::vector<double>{3.0, 1.0})},
                                            {"mode", Tensor::scalar_string("probs")}, {"size", i32(kN)},
                                            {"seed", i32(12)}}));
  double ones = 0;
  for (double k : p.to_f64()) ones += k;
  EXPECT_NEAR(ones / kN, 0.25, 0.02);
}

TEST(Random, SameSeedSameValuesDifferentSeedsDiffer) {
  for (const char* op : {"random_uniform", "random_normal", "random_bernoulli"}) {
    auto a = run(build(op, {{"shape", ints({64})}, {"seed", i32(5)}}));
    auto b = run(build(op, {{"shape", ints({64})}, {"seed", i32(5)}}));
    auto c = run(build(op, {{"shape", ints({64})}, {"seed", i32(6)}}));
    EXPECT_TRUE(a.identical(b)) << op;
    EXPECT_FALSE(a.identical(c)) << op;
  }
  auto x = Tensor::from_f64(DType::kFp32, {3, 5}, std::vector<double>(15, 0.0));  // uniform over 5 classes
  auto a = run(build("random_categorical", {{"x", x}, {"size", i32(16)}, {"seed", i32(1)}}));
  auto b = run(build("random_categorical", {{"x", x}, {"size", i32(16)}, {"seed", i32(1)}}));
  auto c = run(build("random_categorical", {{"x", x}, {"size", i32(16)}, {"seed", i32(2)}}));
  EXPECT_TRUE(a.identical(b));
  EXPECT_FALSE(a.identical(c));
}

TEST(Random, Fp16UniformStaysBelowHigh) {
  // fp16 has 11 significant bits: without care, values just below `high` round up to it.
  auto t = run(build("random_uniform", {{"shape", ints({kN})}, {"low", Tensor::scalar_f64(DType::kFp16, 0.0)},
                                        {"high", Tensor::scalar_f64(DType::kFp16, 1.0)}, {"seed", i32(9)}}));
  ASSERT_EQ(t.dtype(), DType::kFp16);
  for (double x : t.to_f64()) ASSERT_LT(x, 1.0);
}

TEST(Random, TypeInference) {
  auto d = build("random_normal", {{"shape", ints({2, 3})}});
  ASSERT_TRUE(d.status.ok()) << d.status.message();
  EXPECT_EQ(d.out, Type::tensor(DType::kFp32, {2, 3}));  // no parameters: fp32 (coremltools' float defaults)
  auto h = build("random_bernoulli", {{"shape", ints({4})}, {"prob", Tensor::scalar_f64(DType::kFp16, 0.25)}});
  ASSERT_TRUE(h.status.ok()) << h.status.message();
  EXPECT_EQ(h.out, Type::tensor(DType::kFp16, {4}));
  auto rt = build("random_uniform", {}, {{"shape", Type::tensor(DType::kInt32, {3})}});
  ASSERT_TRUE(rt.status.ok()) << rt.status.message();
  EXPECT_EQ(rt.out, Type::tensor(DType::kFp32, {mil::kUnknownDim, mil::kUnknownDim, mil::kUnknownDim}));
  auto c = build("random_categorical", {{"x", Tensor(DType::kFp16, {2, 3, 7})}, {"size", i32(4)}});
  ASSERT_TRUE(c.status.ok()) << c.status.message();
  EXPECT_EQ(c.out, Type::tensor(DType::kFp16, {2, 3, 4}));

  auto mixed = build("random_uniform", {{"shape", ints({2})}, {"low", f32(0)}, {"high", Tensor::scalar_f64(DType::kFp16, 1)}});
  EXPECT_FALSE(mixed.status.ok());
  auto inverted = build("random_uniform", {{"shape", ints({2})}, {"low", f32(1)}, {"high", f32(0)}});
  EXPECT_NE(inverted.status.message().find("`random_uniform` (random_uniform_0) input `high`: must be >= low"),
            std::string::npos)
      << inverted.status.message();
  auto p = build("random_bernoulli", {{"shape", ints({2})}, {"prob", f32(1.5)}});
  EXPECT_NE(p.status.message().find("input `prob`: must be in [0, 1]"), std::string::npos) << p.status.message();
  auto mode = build("random_categorical", {{"x", Tensor(DType::kFp32, {3})}, {"mode", Tensor::scalar_string("log")}});
  EXPECT_NE(mode.status.message().find("input `mode`: must be \"logits\" or \"probs\""), std::string::npos)
      << mode.status.message();
}

}  // namespace
}  // namespace ironmill::backends
