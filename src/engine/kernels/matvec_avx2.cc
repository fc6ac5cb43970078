// AVX2 + FMA + F16C per-row dot kernels, compiled with target attributes so the library stays portable
// (chosen at run time by cpu_has_avx2()). The quantized kernels follow ggml's x86 scheme: unsigned weight
// bytes times signed int8 activations with maddubs, the zero point removed from the integer sum
// (Q6_K) or through the precomputed activation block sums (Q4_0, Q4_K).
#include "engine/kernels/matvec_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#define IM_AVX2 __attribute__((target("avx2,fma,f16c")))
// Token loops must be unrolled so each token's accumulators stay in registers (-O2 does not).
#define IM_TOKENS _Pragma("GCC unroll 4")

namespace ironmill::engine::detail {
namespace {

IM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

IM_AVX2 inline float ld_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// 32 unsigned bytes (< 128) times 32 signed bytes, summed in pairs then quads: 8 int32 lanes as fp32.
IM_AVX2 inline __m256 dot_u8_i8(__m256i u, __m256i s) {
  return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

IM_AVX2 inline __m256 load_f32(const uint8_t* row, int64_t i) {
  return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
}
IM_AVX2 inline __m256 load_f16x8(const uint8_t* row, int64_t i) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
}
IM_AVX2 inline __m256 load_bf16x8(const uint8_t* row, int64_t i) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
IM_AVX2 inline __m256 load_i8x8(const uint8_t* row, int64_t i) {
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i))));
}
float scalar_f32(const uint8_t* row, int64_t i) { return reinterpret_cast<const float*>(row)[i]; }
IM_AVX2 float scalar_f16(const uint8_t* row, int64_t i) { return ld_f16(row + 2 * i); }
float scalar_bf16(const uint8_t* row, int64_t i) {
  uint16_t h;
  std::memcpy(&h, row + 2 * i, 2);
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
float scalar_i8(const uint8_t* row, int64_t i) { return static_cast<float>(reinterpret_cast<const int8_t*>(row)[i]); }

// Tile kernels: one weight row against T tokens (see DotTable). Weight blocks are loaded and decoded once
// per tile; each token has its own accumulators (acc0 for even blocks, acc1 for odd ones, as at T = 1) and
// sees the same operations in the same order whatever T is.
template <int T>
struct Avx2K {
  IM_AVX2 static void q4_0(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const int64_t st = a.n_blocks;
    __m256 acc0[T], acc1[T];
    float corr[T];
    IM_TOKENS for (int t = 0; t < T; ++t) {
      acc0[t] = _mm256_setzero_ps();
      acc1[t] = _mm256_setzero_ps();
      corr[t] = 0;
    }
    const int64_t nb = cols / 32;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
      const uint8_t* k0 = row + b * 18;
      const uint8_t* k1 = k0 + 18;
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k0 + 2));
      const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k1 + 2));
      const __m256i q0 = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(r0, 4), r0), m4);
      const __m256i q1 = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(r1, 4), r1), m4);
      const float d0 = ld_f16(k0), d1 = ld_f16(k1);
      IM_TOKENS for (int t = 0; t < T; ++t) {
        const int64_t o = t * st + b;
        const __m256i y0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + o * 32));
        const __m256i y1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + o * 32 + 32));
        acc0[t] = _mm256_fmadd_ps(dot_u8_i8(q0, y0), _mm256_set1_ps(d0 * a.d[o]), acc0[t]);
        acc1[t] = _mm256_fmadd_ps(dot_u8_i8(q1, y1), _mm256_set1_ps(d1 * a.d[o + 1]), acc1[t]);
        corr[t] += d0 * a.dsum[o] + d1 * a.dsum[o + 1];
      }
    }
    for (; b < nb; ++b) {
      const uint8_t* k0 = row + b * 18;
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k0 + 2));
      const __m256i q0 = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(r0, 4), r0), m4);
      const float d0 = ld_f16(k0);
      IM_TOKENS for (int t = 0; t < T; ++t) {
        const int64_t o = t * st + b;
        const __m256i y0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + o * 32));
        acc0[t] = _mm256_fmadd_ps(dot_u8_i8(q0, y0), _mm256_set1_ps(d0 * a.d[o]), acc0[t]);
        corr[t] += d0 * a.dsum[o];
      }
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = hsum(_mm256_add_ps(acc0[t], acc1[t])) - 8.0f * corr[t];
  }

  IM_AVX2 static void q8_0(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out) {
    const int64_t st = a.n_blocks;
    __m256 acc0[T], acc1[T];
    IM_TOKENS for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
    const int64_t nb = cols / 32;
    int64_t b = 0;
    for (; b + 1 < nb; b += 2) {
      const uint8_t* k0 = row + b * 34;
      const uint8_t* k1 = k0 + 34;
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k0 + 2));
      const __m256i u0 = _mm256_sign_epi8(w0, w0);
      const float d0 = ld_f16(k0), d1 = ld_f16(k1);
      IM_TOKENS for (int t = 0; t < T; ++t) {
        const int64_t o = t * st + b;
        const __m256i y0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + o * 32));
        acc0[t] = _mm256_fmadd_ps(dot_u8_i8(u0, _mm256_sign_epi8(y0, w0)), _mm256_set1_ps(d0 * a.d[o]), acc0[t]);
      }
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k1 + 2));
      const __m256i u1 = _mm256_sign_epi8(w1, w1);
      IM_TOKENS for (int t = 0; t < T; ++t) {
        const int64_t o = t * st + b + 1;
        const __m256i y1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + o * 32));
        acc1[t] = _mm256_fmadd_ps(dot_u8_i8(u1, _mm256_sign_epi8(y1, w1)), _mm256_set1_ps(d1 * a.d[o]), acc1[t]);
      }
    }
    for (; b < nb; ++b) {
      const uint8_t* k0 = row + b * 34;
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k0 + 2));
      const __m256i u0 = _mm256_sign_epi8(w0, w0);
      const float d0 = ld_f16(k0);
      IM_TOKENS for (int t = 0; t < T; ++t) {
        const int64_t o = t * st + b;
        const __m256i y0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + o * 32));
        acc0[t] = _mm256_fmadd_ps(dot_u8_i8(u0, _mm256_sign_epi8(y0, w0)), _mm256_set1_ps(d0 * a.d[o]), acc0[t]);
      }
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
  }

  IM_AVX2 static void q4_k(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const int64_t st = a.n_blocks;
    __m256 acc0[T], acc1[T];
    float corr[T];
    IM_TOKENS for (int t = 0; t < T; ++t) {
      acc0[t] = acc1[t] = _mm256_setzero_ps();
      corr[t] = 0;
    }
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      const uint8_t* blk = row + sb * 144;
      const float d = ld_f16(blk), dmin = ld_f16(blk + 2);
      const uint8_t* scales = blk + 4;
      const uint8_t* qs = blk + 16;
      uint8_t sc[8], mn[8];
      for (int j = 0; j < 8; ++j) q4k_scale_min(j, scales, &sc[j], &mn[j]);
      IM_TOKENS for (int t = 0; t < T; ++t) {
        const int64_t ab = t * st + sb * 8;
        float msum = 0;
        for (int j = 0; j < 8; ++j) msum += mn[j] * a.dsum[ab + j];
        corr[t] += dmin * msum;
      }
      for (int j = 0; j < 4; ++j) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 32 * j));
        const __m256i lo = _mm256_and_si256(raw, m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
        const float ds0 = d * sc[2 * j], ds1 = d * sc[2 * j + 1];
        IM_TOKENS for (int t = 0; t < T; ++t) {
          const int64_t ab = t * st + sb * 8;
          const __m256i y0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + (ab + 2 * j) * 32));
          const __m256i y1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + (ab + 2 * j + 1) * 32));
          acc0[t] = _mm256_fmadd_ps(dot_u8_i8(lo, y0), _mm256_set1_ps(ds0 * a.d[ab + 2 * j]), acc0[t]);
          acc1[t] = _mm256_fmadd_ps(dot_u8_i8(hi, y1), _mm256_set1_ps(ds1 * a.d[ab + 2 * j + 1]), acc1[t]);
        }
      }
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = hsum(_mm256_add_ps(acc0[t], acc1[t])) - corr[t];
  }

  IM_AVX2 static void q6_k(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i m30 = _mm256_set1_epi8(0x30);
    const __m256i m32 = _mm256_set1_epi8(32);
    const int64_t st = a.n_blocks;
    __m256 acc0[T], acc1[T];
    IM_TOKENS for (int t = 0; t < T; ++t) acc0[t] = acc1[t] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      const uint8_t* blk = row + sb * 210;
      const float d = ld_f16(blk + 208);
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = blk + 64 * h;
        const uint8_t* qh = blk + 128 + 32 * h;
        const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192 + 8 * h);
        const __m256i la = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql));
        const __m256i lb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ql + 32));
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qh));
        for (int k = 0; k < 4; ++k) {
          __m256i q;
          switch (k) {
            case 0: q = _mm256_or_si256(_mm256_and_si256(la, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30)); break;
            case 1: q = _mm256_or_si256(_mm256_and_si256(lb, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30)); break;
            case 2: q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4), _mm256_and_si256(hb, m30)); break;
            default:
              q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4),
                                  _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
          }
          const __m256i s16 = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
          IM_TOKENS for (int t = 0; t < T; ++t) {
            const int64_t ab = t * st + sb * 8 + 4 * h;
            const __m256i y = _mm256_load_si256(reinterpret_cast<const __m256i*>(a.qs + (ab + k) * 32));
            const __m256i p16 = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y), _mm256_maddubs_epi16(m32, y));
            const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, s16));
            if (k & 1) acc1[t] = _mm256_fmadd_ps(p, _mm256_set1_ps(d * a.d[ab + k]), acc1[t]);
            else acc0[t] = _mm256_fmadd_ps(p, _mm256_set1_ps(d * a.d[ab + k]), acc0[t]);
          }
        }
      }
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = hsum(_mm256_add_ps(acc0[t], acc1[t]));
  }

  // Float formats: per token four 8-wide accumulators over 32 elements per step, then 8 at a time into
  // the first, then a scalar tail. Each 8-element weight vector is widened once and used by every token
  // before the next is loaded, so T = 3 fits the 16 ymm registers (12 accumulators); T = 4 would spill, and
  // the driver caps float tiles at kFloatTileTokens.
  template <__m256 (*load)(const uint8_t*, int64_t), float (*scalar)(const uint8_t*, int64_t)>
  IM_AVX2 __attribute__((always_inline)) static inline void floats(const uint8_t* row, const float* x, int64_t xs, int64_t cols, float* out) {
    __m256 a0[T], a1[T], a2[T], a3[T];
    IM_TOKENS for (int t = 0; t < T; ++t) a0[t] = a1[t] = a2[t] = a3[t] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= cols; i += 32) {
      const __m256 w0 = load(row, i);
      IM_TOKENS for (int t = 0; t < T; ++t) a0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * xs + i), a0[t]);
      const __m256 w1 = load(row, i + 8);
      IM_TOKENS for (int t = 0; t < T; ++t) a1[t] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + t * xs + i + 8), a1[t]);
      const __m256 w2 = load(row, i + 16);
      IM_TOKENS for (int t = 0; t < T; ++t) a2[t] = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x + t * xs + i + 16), a2[t]);
      const __m256 w3 = load(row, i + 24);
      IM_TOKENS for (int t = 0; t < T; ++t) a3[t] = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x + t * xs + i + 24), a3[t]);
    }
    for (; i + 8 <= cols; i += 8) {
      const __m256 w0 = load(row, i);
      IM_TOKENS for (int t = 0; t < T; ++t) a0[t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + t * xs + i), a0[t]);
    }
    float s[T];
    IM_TOKENS for (int t = 0; t < T; ++t) s[t] = hsum(_mm256_add_ps(_mm256_add_ps(a0[t], a1[t]), _mm256_add_ps(a2[t], a3[t])));
    for (; i < cols; ++i) {
      const float w = scalar(row, i);
      IM_TOKENS for (int t = 0; t < T; ++t) s[t] += w * x[t * xs + i];
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = s[t];
  }
  IM_AVX2 __attribute__((always_inline)) static inline void f32(const uint8_t* row, const float* x, int64_t xs, int64_t cols,
                                                                     float* out) {
    floats<load_f32, scalar_f32>(row, x, xs, cols, out);
  }
  IM_AVX2 __attribute__((always_inline)) static inline void f16(const uint8_t* row, const float* x, int64_t xs, int64_t cols,
                                                                     float* out) {
    floats<load_f16x8, scalar_f16>(row, x, xs, cols, out);
  }
  IM_AVX2 __attribute__((always_inline)) static inline void bf16(const uint8_t* row, const float* x, int64_t xs, int64_t cols,
                                                                      float* out) {
    floats<load_bf16x8, scalar_bf16>(row, x, xs, cols, out);
  }
  IM_AVX2 __attribute__((always_inline)) static inline void i8(const uint8_t* row, const float* x, int64_t xs, int64_t cols,
                                                                    float* out) {
    floats<load_i8x8, scalar_i8>(row, x, xs, cols, out);
  }

  // int4, two per byte, low nibble first: 16 elements from 8 bytes, in order.
  IM_AVX2 static void i4(const uint8_t* row, const float* x, int64_t xs, const float* scales, const float* zeros,
                         const float* xsum, int64_t cols, int64_t group, float* out) {
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const int64_t ng = (cols + group - 1) / group;
    float sum[T];
    IM_TOKENS for (int t = 0; t < T; ++t) sum[t] = 0;
    for (int64_t g = 0; g * group < cols; ++g) {
      const int64_t begin = g * group, end = begin + group < cols ? begin + group : cols;
      __m256 acc[T];
      IM_TOKENS for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
      int64_t i = begin;
      if ((begin & 1) == 0) {
        for (; i + 16 <= end; i += 16) {
          const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(row + i / 2));
          const __m128i q = _mm_unpacklo_epi8(_mm_and_si128(b, m4), _mm_and_si128(_mm_srli_epi16(b, 4), m4));
          const __m256 qa = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q));
          const __m256 qb = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(q, 8)));
          IM_TOKENS for (int t = 0; t < T; ++t) {
            acc[t] = _mm256_fmadd_ps(qa, _mm256_loadu_ps(x + t * xs + i), acc[t]);
            acc[t] = _mm256_fmadd_ps(qb, _mm256_loadu_ps(x + t * xs + i + 8), acc[t]);
          }
        }
      }
      float qx[T];
      IM_TOKENS for (int t = 0; t < T; ++t) qx[t] = hsum(acc[t]);
      for (; i < end; ++i) {
        const float q = static_cast<float>(i & 1 ? row[i / 2] >> 4 : row[i / 2] & 0xF);
        IM_TOKENS for (int t = 0; t < T; ++t) qx[t] += q * x[t * xs + i];
      }
      IM_TOKENS for (int t = 0; t < T; ++t) sum[t] += scales[g] * (qx[t] - zeros[g] * xsum[t * ng + g]);
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = sum[t];
  }

  // Single-token signatures (DotTable's T = 1 entries).
  IM_AVX2 static float q4_0_1(const uint8_t* row, const Q8Activation& a, int64_t cols) { float o; q4_0(row, a, cols, &o); return o; }
  IM_AVX2 static float q8_0_1(const uint8_t* row, const Q8Activation& a, int64_t cols) { float o; q8_0(row, a, cols, &o); return o; }
  IM_AVX2 static float q4_k_1(const uint8_t* row, const Q8Activation& a, int64_t cols) { float o; q4_k(row, a, cols, &o); return o; }
  IM_AVX2 static float q6_k_1(const uint8_t* row, const Q8Activation& a, int64_t cols) { float o; q6_k(row, a, cols, &o); return o; }
  IM_AVX2 static float f32_1(const uint8_t* row, const float* x, int64_t cols) { float o; f32(row, x, 0, cols, &o); return o; }
  IM_AVX2 static float f16_1(const uint8_t* row, const float* x, int64_t cols) { float o; f16(row, x, 0, cols, &o); return o; }
  IM_AVX2 static float bf16_1(const uint8_t* row, const float* x, int64_t cols) { float o; bf16(row, x, 0, cols, &o); return o; }
  IM_AVX2 static float i8_1(const uint8_t* row, const float* x, int64_t cols) { float o; i8(row, x, 0, cols, &o); return o; }
  IM_AVX2 static float i4_1(const uint8_t* row, const float* x, const float* scales, const float* zeros,
                            const float* xsum, int64_t cols, int64_t group) {
    float o;
    i4(row, x, 0, scales, zeros, xsum, cols, group, &o);
    return o;
  }
};
}  // namespace

const DotTable* avx2_dots() {
  static const DotTable t = make_dot_table<Avx2K>();
  return &t;
}

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

}  // namespace ironmill::engine::detail

#else
namespace ironmill::engine::detail {
const DotTable* avx2_dots() { return nullptr; }
bool cpu_has_avx2() { return false; }
}  // namespace ironmill::engine::detail
#endif
