// Sampling masks against hand-computed distributions (probabilities 0.5, 0.2, 0.15, 0.1, 0.05), seeded
// determinism, and the empirical frequencies of many draws.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/sampler.h"

namespace ironmill::engine {
namespace {

const std::vector<double> kProbs{0.5, 0.2, 0.15, 0.1, 0.05};

std::vector<float> logits_of(const std::vector<double>& p, double shift = 3.0) {
  std::vector<float> l;
  for (double v : p) l.push_back(static_cast<float>(std::log(v) + shift));  // softmax is shift-invariant
  return l;
}

void expect_distribution(const SamplingParams& sp, const std::vector<double>& expected) {
  Sampler s(sp, 5);
  std::vector<float> d = s.distribution(logits_of(kProbs));
  ASSERT_EQ(d.size(), expected.size());
  for (size_t i = 0; i < d.size(); ++i) EXPECT_NEAR(d[i], expected[i], 1e-6) << "token " << i;
}

SamplingParams plain() {
  SamplingParams p;
  p.temperature = 1.0f;
  p.top_p = 1.0f;
  return p;
}

TEST(Sampler, DefaultsAreGenParams) {
  SamplingParams p;
  EXPECT_FLOAT_EQ(p.temperature, 0.7f);
  EXPECT_FLOAT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 0);
  EXPECT_FLOAT_EQ(p.min_p, 0.0f);
}

TEST(Sampler, NoMaskKeepsTheDistribution) { expect_distribution(plain(), kProbs); }

TEST(Sampler, TopK) {
  auto p = plain();
  p.top_k = 2;
  expect_distribution(p, {0.5 / 0.7, 0.2 / 0.7, 0, 0, 0});
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  auto p = plain();
  p.top_p = 0.8f;  // 0.5 + 0.2 = 0.7 < 0.8 <= 0.85
  expect_distribution(p, {0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0});
  p.top_p = 0.45f;  // the first token alone reaches it
  expect_distribution(p, {1, 0, 0, 0, 0});
}

TEST(Sampler, MinPIsRelativeToTheLargest) {
  auto p = plain();
  p.min_p = 0.25f;  // floor 0.125: keeps 0.5, 0.2, 0.15
  expect_distribution(p, {0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0});
}

TEST(Sampler, TemperatureSharpensAfterTheMasks) {
  auto p = plain();
  p.temperature = 0.5f;  // p^2, renormalized
  double z = 0;
  for (double v : kProbs) z += v * v;
  std::vector<double> e;
  for (double v : kProbs) e.push_back(v * v / z);
  expect_distribution(p, e);
  p.top_k = 2;  // masks first, on the temperature-1 ranking
  expect_distribution(p, {0.25 / 0.29, 0.04 / 0.29, 0, 0, 0});
}

TEST(Sampler, ZeroTemperatureIsArgmax) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 5);
  std::vector<float> l{0.1f, 2.0f, -1.0f, 2.0f, 0.0f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(s.sample(l), 1);  // ties: the lowest id
}

TEST(Sampler, SeededDrawsAreReproducibleAndFollowTheDistribution) {
  auto p = plain();
  p.seed = 1234;
  Sampler a(p, 5), b(p, 5);
  p.seed = 99;
  Sampler c(p, 5);
  const auto l = logits_of(kProbs);
  std::vector<int> counts(5, 0);
  int differ = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const int32_t x = a.sample(l);
    EXPECT_EQ(x, b.sample(l));
    differ += x != c.sample(l);
    ++counts[static_cast<size_t>(x)];
  }
  EXPECT_GT(differ, n / 4);  // another seed gives another sequence
  for (size_t i = 0; i < 5; ++i) {
    const double sd = std::sqrt(kProbs[i] * (1 - kProbs[i]) / n);
    EXPECT_NEAR(static_cast<double>(counts[i]) / n, kProbs[i], 5 * sd) << "token " << i;
  }
}

}  // namespace
}  // namespace ironmill::engine
