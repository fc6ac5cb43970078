// Internals shared by the matvec files: the quantized activation vector and the per-row dot kernels
// (scalar in matvec_scalar.cc, AVX2 in matvec_avx2.cc).
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

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

// Tile kernels for matmul: one weight row against T consecutive tokens (T = 1..kTileTokens), each block of
// the row loaded and decoded once per tile. Token t's result is computed with exactly the operations, in
// exactly the order, of the T = 1 kernel (its own accumulators; the tile only interleaves the tokens), so
// matmul equals matvec bit for bit. The single-token entries above are the T = 1 instantiations.
inline constexpr int kTileTokens = 4;
// Float formats (f32/f16/bf16/int8) keep four accumulators per token: at most 3 tokens fit the registers.
inline constexpr int kFloatTileTokens = 3;
// Quantized: token t's activation blocks start at a.qs + t * a.n_blocks * 32 (a.d, a.dsum likewise).
using QuantDotN = void (*)(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out);
// Float formats: token t is x + t * xstride.
using FloatDotN = void (*)(const uint8_t* row, const float* x, int64_t xstride, int64_t cols, float* out);
// int4 per group: token t's group sums at xsum + t * ng, ng = ceil(cols / group).
using Int4DotN = void (*)(const uint8_t* row, const float* x, int64_t xstride, const float* scales, const float* zeros,
                          const float* xsum, int64_t cols, int64_t group, float* out);

struct DotTable {
  QuantDot q4_0, q8_0, q4_k, q6_k;
  FloatDot f32, f16, bf16, i8;
  // int4 per group: sum over groups of scale * (q . x - zero * sum(x in group)); xsum[g] precomputed.
  float (*i4)(const uint8_t* row, const float* x, const float* scales, const float* zeros, const float* xsum,
              int64_t cols, int64_t group);
  // [T - 1]: the tile kernels for T tokens.
  QuantDotN q4_0_n[kTileTokens], q8_0_n[kTileTokens], q4_k_n[kTileTokens], q6_k_n[kTileTokens];
  FloatDotN f32_n[kTileTokens], f16_n[kTileTokens], bf16_n[kTileTokens], i8_n[kTileTokens];
  Int4DotN i4_n[kTileTokens];
};

// Fills a DotTable from kernel templates K<T> (shared by the scalar and AVX2 files).
template <template <int> class K>
DotTable make_dot_table() {
  DotTable t{};
  t.q4_0 = K<1>::q4_0_1;
  t.q8_0 = K<1>::q8_0_1;
  t.q4_k = K<1>::q4_k_1;
  t.q6_k = K<1>::q6_k_1;
  t.f32 = K<1>::f32_1;
  t.f16 = K<1>::f16_1;
  t.bf16 = K<1>::bf16_1;
  t.i8 = K<1>::i8_1;
  t.i4 = K<1>::i4_1;
  auto fill = [&t](auto tag) {
    constexpr int T = decltype(tag)::value;
    t.q4_0_n[T - 1] = K<T>::q4_0;
    t.q8_0_n[T - 1] = K<T>::q8_0;
    t.q4_k_n[T - 1] = K<T>::q4_k;
    t.q6_k_n[T - 1] = K<T>::q6_k;
    t.f32_n[T - 1] = K<T>::f32;
    t.f16_n[T - 1] = K<T>::f16;
    t.bf16_n[T - 1] = K<T>::bf16;
    t.i8_n[T - 1] = K<T>::i8;
    t.i4_n[T - 1] = K<T>::i4;
  };
  fill(std::integral_constant<int, 1>{});
  fill(std::integral_constant<int, 2>{});
  fill(std::integral_constant<int, 3>{});
  fill(std::integral_constant<int, 4>{});
  static_assert(kTileTokens == 4, "fill every T above");
  return t;
}

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
