// Element-wise model kernels: fused residual-add + RMSNorm, RoPE, GLU activations, softmax, soft-capping.
// Plain loops (the compiler vectorizes the maps); reductions accumulate in double so a norm over a few
// thousand elements loses nothing to summation order.
#include <cmath>
#include <memory>

#include "engine/kernels/kernels.h"

namespace ironmill::engine {
namespace {
void normalize(const float* x, const float* w, int64_t n, float eps, uint32_t flags, float* out) {
  double mean = 0;
  if (flags & kNormCentered) {
    for (int64_t i = 0; i < n; ++i) mean += x[i];
    mean /= static_cast<double>(n);
  }
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double c = x[i] - mean;
    ss += c * c;
  }
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(n) + eps));
  const float m = static_cast<float>(mean);
  if (w) {
    const float bias = (flags & kNormOnePlusWeight) ? 1.0f : 0.0f;
    for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - m) * inv * (w[i] + bias);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = (x[i] - m) * inv;  // no weight at all (e.g. Gemma 4 v-norm)
  }
}
}  // namespace

void add_rmsnorm(float* x, const float* delta, const float* w, int64_t n, float eps, uint32_t flags, float* out) {
  if (delta)
    for (int64_t i = 0; i < n; ++i) x[i] += delta[i];
  normalize(x, w, n, eps, flags, out);
}

void rmsnorm_heads(float* x, int64_t n_heads, int64_t head_dim, const float* w, float eps, uint32_t flags) {
  for (int64_t h = 0; h < n_heads; ++h) normalize(x + h * head_dim, w, head_dim, eps, flags, x + h * head_dim);
}

void rope_inv_freq(int64_t rotary_dim, float theta, float* inv_freq) {
  for (int64_t i = 0; i < rotary_dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(rotary_dim);
    inv_freq[i] = 1.0f / std::pow(theta, e);
  }
}

void rope(float* x, int64_t n_heads, int64_t head_dim, int64_t rotary_dim, int64_t pos, const float* inv_freq,
          RopeStyle style) {
  const int64_t half = rotary_dim / 2;
  constexpr int64_t kStack = 256;
  float cs_stack[2 * kStack];
  float* c = cs_stack;
  float* s = cs_stack + kStack;
  std::unique_ptr<float[]> heap;
  if (half > kStack) {
    heap = std::make_unique<float[]>(static_cast<size_t>(2 * half));
    c = heap.get();
    s = heap.get() + half;
  }
  for (int64_t i = 0; i < half; ++i) {
    const float a = static_cast<float>(pos) * inv_freq[i];
    c[i] = std::cos(a);
    s[i] = std::sin(a);
  }
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t i0 = style == RopeStyle::kRotateHalf ? i : 2 * i;
      const int64_t i1 = style == RopeStyle::kRotateHalf ? i + half : 2 * i + 1;
      const float a = v[i0], b = v[i1];
      v[i0] = a * c[i] - b * s[i];
      v[i1] = b * c[i] + a * s[i];
    }
  }
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void geglu(const float* gate, const float* up, float* out, int64_t n, GeluKind kind) {
  if (kind == GeluKind::kTanh) {
    constexpr float kC = 0.7978845608028654f;  // sqrt(2 / pi)
    for (int64_t i = 0; i < n; ++i) {
      const float g = gate[i];
      out[i] = 0.5f * g * (1.0f + std::tanh(kC * (g + 0.044715f * g * g * g))) * up[i];
    }
  } else {
    constexpr float kInvSqrt2 = 0.7071067811865476f;
    for (int64_t i = 0; i < n; ++i) out[i] = 0.5f * gate[i] * (1.0f + std::erf(gate[i] * kInvSqrt2)) * up[i];
  }
}

void softmax(float* x, int64_t n) {
  if (n <= 0) return;
  float m = x[0];
  for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

void softcap(float* x, int64_t n, float cap) {
  const float inv = 1.0f / cap;
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] * inv);
}

}  // namespace ironmill::engine
