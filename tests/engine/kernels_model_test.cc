// Model-side kernels (RMSNorm variants, RoPE, GLU, softmax, soft-capping, flash-decoding attention)
// against straightforward fp64 loops written from the definitions (HF modeling code's formulas).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "engine/kernels/kernels.h"

namespace ironmill::engine {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(ModelKernels, AddRmsNormVariantsMatchFp64) {
  const int64_t n = 1027;
  for (uint32_t flags : {uint32_t{kNormPlain}, uint32_t{kNormOnePlusWeight}, uint32_t{kNormCentered},
                         uint32_t{kNormOnePlusWeight | kNormCentered}}) {
    auto x = randn(n, 1, 3.0f);
    for (auto& v : x) v += 0.5f;  // a mean for the centered variant to remove
    const auto delta = randn(n, 2), w = randn(n, 3);
    std::vector<double> ref(n), sum(n);
    double mean = 0, ss = 0;
    for (int64_t i = 0; i < n; ++i) sum[i] = static_cast<double>(x[i]) + delta[i];
    if (flags & kNormCentered) {
      for (double v : sum) mean += v;
      mean /= n;
    }
    for (double v : sum) ss += (v - mean) * (v - mean);
    const double inv = 1.0 / std::sqrt(ss / n + 1e-6);
    for (int64_t i = 0; i < n; ++i) ref[i] = (sum[i] - mean) * inv * (w[i] + ((flags & kNormOnePlusWeight) ? 1.0 : 0.0));
    std::vector<float> out(n);
    add_rmsnorm(x.data(), delta.data(), w.data(), n, 1e-6f, flags, out.data());
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(x[i], sum[i], 1e-6 * (1 + std::fabs(sum[i])));
      ASSERT_NEAR(out[i], ref[i], 1e-5 * (1 + std::fabs(ref[i]))) << "flags " << flags << " i " << i;
    }
  }
  // Per-head norm with a shared [head_dim] weight, in place.
  auto q = randn(4 * 64, 5);
  const auto qw = randn(64, 6);
  const auto q0 = q;
  rmsnorm_heads(q.data(), 4, 64, qw.data(), 1e-6f, kNormPlain);
  for (int h = 0; h < 4; ++h) {
    double ss = 0;
    for (int d = 0; d < 64; ++d) ss += static_cast<double>(q0[h * 64 + d]) * q0[h * 64 + d];
    const double inv = 1.0 / std::sqrt(ss / 64 + 1e-6);
    for (int d = 0; d < 64; ++d) ASSERT_NEAR(q[h * 64 + d], q0[h * 64 + d] * inv * qw[d], 1e-5);
  }
}

TEST(ModelKernels, RopeRotateHalfInterleavedAndPartial) {
  const int64_t heads = 3, hd = 64;
  for (RopeStyle style : {RopeStyle::kRotateHalf, RopeStyle::kInterleaved}) {
    for (int64_t rot : {int64_t{64}, int64_t{16}}) {
      for (int64_t pos : {int64_t{0}, int64_t{1}, int64_t{777}}) {
        std::vector<float> inv(static_cast<size_t>(rot / 2));
        rope_inv_freq(rot, 1000000.0f, inv.data());
        for (int64_t i = 0; i < rot / 2; ++i) ASSERT_NEAR(inv[i], std::pow(1e6, -2.0 * i / rot), 1e-6 * inv[i]);
        auto x = randn(heads * hd, 9);
        const auto x0 = x;
        rope(x.data(), heads, hd, rot, pos, inv.data(), style);
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t d = 0; d < hd; ++d) {
            double ref = x0[h * hd + d];
            if (d < rot) {
              // HF: the angle is the fp32 product pos * inv_freq.
              const int64_t i = style == RopeStyle::kRotateHalf ? d % (rot / 2) : d / 2;
              const double a = static_cast<float>(pos) * inv[i];
              const bool first = style == RopeStyle::kRotateHalf ? d < rot / 2 : d % 2 == 0;
              const int64_t other = style == RopeStyle::kRotateHalf ? (first ? d + rot / 2 : d - rot / 2)
                                                                    : (first ? d + 1 : d - 1);
              const double o = x0[h * hd + other];
              ref = first ? ref * std::cos(a) - o * std::sin(a) : ref * std::cos(a) + o * std::sin(a);
            }
            ASSERT_NEAR(x[h * hd + d], ref, 2e-5) << "style " << int(style) << " rot " << rot << " pos " << pos;
          }
      }
    }
  }
}

TEST(ModelKernels, GluSoftmaxSoftcapMatchFp64) {
  const int64_t n = 301;
  const auto g = randn(n, 1, 3.0f), u = randn(n, 2);
  std::vector<float> out(n);
  swiglu(g.data(), u.data(), out.data(), n);
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], g[i] / (1 + std::exp(-double(g[i]))) * u[i], 1e-5);
  geglu(g.data(), u.data(), out.data(), n, GeluKind::kErf);
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], 0.5 * g[i] * (1 + std::erf(g[i] / std::sqrt(2.0))) * u[i], 1e-5);
  geglu(g.data(), u.data(), out.data(), n, GeluKind::kTanh);
  for (int64_t i = 0; i < n; ++i) {
    const double x = g[i];
    ASSERT_NEAR(out[i], 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))) * u[i], 1e-5);
  }
  auto s = randn(n, 3, 10.0f);
  const auto s0 = s;
  softmax(s.data(), n);
  double m = -1e300, z = 0;
  for (float v : s0) m = std::fmax(m, v);
  for (float v : s0) z += std::exp(v - m);
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(s[i], std::exp(s0[i] - m) / z, 1e-6);
  auto c = s0;
  softcap(c.data(), n, 30.0f);
  for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(c[i], 30.0 * std::tanh(s0[i] / 30.0), 1e-4);
}

// fp64 attention over the positions the cache holds: GQA, window, soft-capping, ring buffer slots.
std::vector<double> attention_ref(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                  const KvCacheView& kv, int64_t pos, const AttentionParams& p) {
  std::vector<double> out(static_cast<size_t>(p.n_heads * p.head_dim), 0.0);
  int64_t start = 0;
  if (p.window > 0) start = std::max<int64_t>(0, pos - p.window + 1);
  start = std::max<int64_t>(start, pos - kv.capacity + 1);
  for (int64_t h = 0; h < p.n_heads; ++h) {
    const int64_t kvh = h / (p.n_heads / p.n_kv_heads);
    std::vector<double> s;
    for (int64_t t = start; t <= pos; ++t) {
      const size_t base = static_cast<size_t>((t % kv.capacity) * kv.slot_stride + kvh * kv.head_stride);
      double dot = 0;
      for (int64_t d = 0; d < p.head_dim; ++d) dot += static_cast<double>(q[h * p.head_dim + d]) * k[base + d];
      dot *= p.scale;
      if (p.softcap > 0) dot = p.softcap * std::tanh(dot / p.softcap);
      s.push_back(dot);
    }
    double m = -1e300, z = 0;
    for (double x : s) m = std::fmax(m, x);
    for (double& x : s) z += (x = std::exp(x - m));
    for (int64_t t = start; t <= pos; ++t) {
      const size_t base = static_cast<size_t>((t % kv.capacity) * kv.slot_stride + kvh * kv.head_stride);
      for (int64_t d = 0; d < p.head_dim; ++d) out[h * p.head_dim + d] += s[t - start] / z * v[base + d];
    }
  }
  return out;
}

TEST(ModelKernels, FlashDecodingAttentionMatchesFp64) {
  struct Cfg {
    int64_t heads, kv_heads, hd, capacity, window, pos;
    float softcap;
    int threads;
  };
  const std::vector<Cfg> cfgs = {
      {4, 4, 64, 16, 0, 0, 0, 1},       {16, 8, 128, 2048, 0, 1500, 0, 2},  // GQA, several 256-key chunks
      {8, 2, 32, 600, 0, 599, 50.0f, 2},                                     // soft-capping
      {4, 1, 64, 512, 512, 1300, 0, 2},                                      // sliding window, wrapped ring
      {2, 2, 16, 100, 0, 250, 0, 1},                                         // ring smaller than pos: last 100
  };
  for (const Cfg& c : cfgs) {
    SCOPED_TRACE("heads " + std::to_string(c.heads) + " pos " + std::to_string(c.pos));
    ThreadPool pool(c.threads);
    KvCacheView kv;
    kv.capacity = c.capacity;
    kv.head_stride = c.hd;
    kv.slot_stride = c.kv_heads * c.hd;
    const auto k = randn(static_cast<size_t>(c.capacity * kv.slot_stride), 1);
    const auto v = randn(static_cast<size_t>(c.capacity * kv.slot_stride), 2);
    kv.k = k.data();
    kv.v = v.data();
    const auto q = randn(static_cast<size_t>(c.heads * c.hd), 3, 2.0f);
    AttentionParams p{c.heads, c.kv_heads, c.hd, 1.0f / std::sqrt(static_cast<float>(c.hd)), c.softcap, c.window};
    std::vector<float> out(q.size());
    attention_decode(q.data(), kv, c.pos, p, out.data(), pool);
    const auto ref = attention_ref(q, k, v, kv, c.pos, p);
    for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref[i], 2e-5 * (1 + std::fabs(ref[i]))) << i;
  }
}

}  // namespace
}  // namespace ironmill::engine
