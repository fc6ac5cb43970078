// Internals shared by the matvec files: the quantized activation vector and the per-row dot kernels
// (scalar in matvec_scalar.cc, AVX2 in matvec_avx2.cc).
#pragma once
#include <cstddef>
#include <cstdint>

namespace ironmill::engine::detail {

inline constexpr int64_t kQ8Block = 32;

// x quantized like llama.cpp's Q8_0 activations: blocks of 32, q = round(x / d), d = amax / 127.
// dsum[b] = d[b] * sum(q in block b), for the zero-point terms of Q4_0 (-8) and Q4_K (mins).
struct Q8Activation {
  const int8_t* qs = nullptr;   // [n_blocks * 32], 32-byte aligned
  const float* d = nullptr;     // [n_blocks]
  const float* dsum = nullptr;  // [n_blocks]
  int64_t n_blocks = 0;
};

// Quantizes n floats (zero-padded to a multiple of 32) into the given buffers.
void quantize_activation_q8(const float* x, int64_t n, int8_t* qs, float* d, float* dsum);

// One output element: row (stored blocks) . activation, for n_blocks32 blocks of 32 (cols / 32).
using QuantDot = float (*)(const uint8_t* row, const Q8Activation& a, int64_t cols);
// Float formats: row . x over cols elements.
using FloatDot = float (*)(const uint8_t* row, const float* x, int64_t cols);

struct DotTable {
  QuantDot q4_0, q8_0, q4_k, q6_k;
  FloatDot f32, f16, bf16, i8;
  // int4 per group: sum over groups of scale * (q . x - zero * sum(x in group)); xsum[g] precomputed.
  float (*i4)(const uint8_t* row, const float* x, const float* scales, const float* zeros, const float* xsum,
              int64_t cols, int64_t group);
};

const DotTable& scalar_dots();
const DotTable* avx2_dots();  // nullptr when not compiled for x86
bool cpu_has_avx2();

// Q4_K's 6-bit packed sub-block scale and min (ggml get_scale_min_k4).
inline void q4k_scale_min(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

}  // namespace ironmill::engine::detail
