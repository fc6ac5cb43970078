// Portable per-row dot kernels. The quantized ones compute the same integer block sums as the AVX2
// path (only the order of the fp32 additions differs), so CI machines without AVX2 test the same math.
#include <cmath>
#include <cstring>

#include "engine/kernels/matvec_internal.h"
#include "formats/gguf/quants.h"

// Token loops unrolled so each token's sums stay in registers (-O2 does not unroll them).
#define IM_TOKENS _Pragma("GCC unroll 4")

namespace ironmill::engine::detail {
namespace {
using formats::gguf::ggml_fp16_to_fp32;

inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return ggml_fp16_to_fp32(h);
}

inline float load_bf16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float w;
  std::memcpy(&w, &bits, 4);
  return w;
}
inline float load_f32(const uint8_t* p) {
  float w;
  std::memcpy(&w, p, 4);
  return w;
}
inline float load_i8(const uint8_t* p) { return static_cast<float>(static_cast<int8_t>(*p)); }

// Scalar tile kernels: one weight row against T tokens (see DotTable); each token keeps its own sum, updated
// in the same order as for T = 1.
template <int T>
struct ScalarK {
  static void q4_0(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out) {
    const int64_t st = a.n_blocks;
    float sum[T] = {};
    for (int64_t b = 0; b < cols / 32; ++b) {
      const uint8_t* blk = row + b * 18;
      const float dw = load_f16(blk);
      IM_TOKENS for (int t = 0; t < T; ++t) {
        const int8_t* y = a.qs + (t * st + b) * 32;
        int32_t isum = 0;
        for (int j = 0; j < 16; ++j) isum += (blk[2 + j] & 0xF) * y[j] + (blk[2 + j] >> 4) * y[j + 16];
        sum[t] += dw * (a.d[t * st + b] * static_cast<float>(isum) - 8.0f * a.dsum[t * st + b]);
      }
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = sum[t];
  }

  static void q8_0(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out) {
    const int64_t st = a.n_blocks;
    float sum[T] = {};
    for (int64_t b = 0; b < cols / 32; ++b) {
      const uint8_t* blk = row + b * 34;
      const int8_t* w = reinterpret_cast<const int8_t*>(blk + 2);
      const float dw = load_f16(blk);
      IM_TOKENS for (int t = 0; t < T; ++t) {
        const int8_t* y = a.qs + (t * st + b) * 32;
        int32_t isum = 0;
        for (int j = 0; j < 32; ++j) isum += w[j] * y[j];
        sum[t] += dw * a.d[t * st + b] * static_cast<float>(isum);
      }
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = sum[t];
  }

  static void q4_k(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out) {
    const int64_t st = a.n_blocks;
    float sum[T] = {};
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      const uint8_t* blk = row + sb * 144;
      const float d = load_f16(blk), dmin = load_f16(blk + 2);
      const uint8_t* scales = blk + 4;
      const uint8_t* qs = blk + 16;
      for (int j = 0; j < 4; ++j) {
        uint8_t sc0, m0, sc1, m1;
        q4k_scale_min(2 * j, scales, &sc0, &m0);
        q4k_scale_min(2 * j + 1, scales, &sc1, &m1);
        IM_TOKENS for (int t = 0; t < T; ++t) {
          const int64_t ab = t * st + sb * 8;
          const int8_t* y0 = a.qs + (ab + 2 * j) * 32;
          const int8_t* y1 = y0 + 32;
          int32_t i0 = 0, i1 = 0;
          for (int l = 0; l < 32; ++l) {
            i0 += (qs[32 * j + l] & 0xF) * y0[l];
            i1 += (qs[32 * j + l] >> 4) * y1[l];
          }
          sum[t] += d * sc0 * a.d[ab + 2 * j] * static_cast<float>(i0) - dmin * m0 * a.dsum[ab + 2 * j];
          sum[t] += d * sc1 * a.d[ab + 2 * j + 1] * static_cast<float>(i1) - dmin * m1 * a.dsum[ab + 2 * j + 1];
        }
      }
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = sum[t];
  }

  static void q6_k(const uint8_t* row, const Q8Activation& a, int64_t cols, float* out) {
    const int64_t st = a.n_blocks;
    float sum[T] = {};
    for (int64_t sb = 0; sb < cols / 256; ++sb) {
      const uint8_t* blk = row + sb * 210;
      const float d = load_f16(blk + 208);
      for (int h = 0; h < 2; ++h) {
        const uint8_t* ql = blk + 64 * h;
        const uint8_t* qh = blk + 128 + 32 * h;
        const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192 + 8 * h);
        for (int k = 0; k < 4; ++k) {
          int8_t q[32];
          for (int l = 0; l < 32; ++l) {
            const int lo = k & 1 ? ql[l + 32] : ql[l];
            q[l] = static_cast<int8_t>(((k < 2 ? lo & 0xF : lo >> 4) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32);
          }
          IM_TOKENS for (int t = 0; t < T; ++t) {
            const int64_t ab = t * st + sb * 8 + 4 * h;
            const int8_t* y = a.qs + (ab + k) * 32;
            int32_t part[2] = {0, 0};
            for (int l = 0; l < 32; ++l) part[l / 16] += q[l] * y[l];
            sum[t] += d * a.d[ab + k] * static_cast<float>(sc[2 * k] * part[0] + sc[2 * k + 1] * part[1]);
          }
        }
      }
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = sum[t];
  }

  template <float (*load)(const uint8_t*), int kBytes>
  static void floats(const uint8_t* row, const float* x, int64_t xstride, int64_t cols, float* out) {
    float sum[T] = {};
    for (int64_t i = 0; i < cols; ++i) {
      const float w = load(row + kBytes * i);
      IM_TOKENS for (int t = 0; t < T; ++t) sum[t] += w * x[t * xstride + i];
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = sum[t];
  }
  static void f32(const uint8_t* row, const float* x, int64_t xs, int64_t cols, float* out) {
    floats<load_f32, 4>(row, x, xs, cols, out);
  }
  static void f16(const uint8_t* row, const float* x, int64_t xs, int64_t cols, float* out) {
    floats<load_f16, 2>(row, x, xs, cols, out);
  }
  static void bf16(const uint8_t* row, const float* x, int64_t xs, int64_t cols, float* out) {
    floats<load_bf16, 2>(row, x, xs, cols, out);
  }
  static void i8(const uint8_t* row, const float* x, int64_t xs, int64_t cols, float* out) {
    floats<load_i8, 1>(row, x, xs, cols, out);
  }

  static void i4(const uint8_t* row, const float* x, int64_t xstride, const float* scales, const float* zeros,
                 const float* xsum, int64_t cols, int64_t group, float* out) {
    const int64_t ng = (cols + group - 1) / group;
    float sum[T] = {};
    for (int64_t g = 0; g * group < cols; ++g) {
      float qx[T] = {};
      for (int64_t i = g * group; i < (g + 1) * group && i < cols; ++i) {
        const float q = static_cast<float>(i & 1 ? row[i / 2] >> 4 : row[i / 2] & 0xF);
        IM_TOKENS for (int t = 0; t < T; ++t) qx[t] += q * x[t * xstride + i];
      }
      IM_TOKENS for (int t = 0; t < T; ++t) sum[t] += scales[g] * (qx[t] - zeros[g] * xsum[t * ng + g]);
    }
    IM_TOKENS for (int t = 0; t < T; ++t) out[t] = sum[t];
  }

  // Single-token signatures (DotTable's T = 1 entries).
  static float q4_0_1(const uint8_t* row, const Q8Activation& a, int64_t cols) { float o; q4_0(row, a, cols, &o); return o; }
  static float q8_0_1(const uint8_t* row, const Q8Activation& a, int64_t cols) { float o; q8_0(row, a, cols, &o); return o; }
  static float q4_k_1(const uint8_t* row, const Q8Activation& a, int64_t cols) { float o; q4_k(row, a, cols, &o); return o; }
  static float q6_k_1(const uint8_t* row, const Q8Activation& a, int64_t cols) { float o; q6_k(row, a, cols, &o); return o; }
  static float f32_1(const uint8_t* row, const float* x, int64_t cols) { float o; f32(row, x, 0, cols, &o); return o; }
  static float f16_1(const uint8_t* row, const float* x, int64_t cols) { float o; f16(row, x, 0, cols, &o); return o; }
  static float bf16_1(const uint8_t* row, const float* x, int64_t cols) { float o; bf16(row, x, 0, cols, &o); return o; }
  static float i8_1(const uint8_t* row, const float* x, int64_t cols) { float o; i8(row, x, 0, cols, &o); return o; }
  static float i4_1(const uint8_t* row, const float* x, const float* scales, const float* zeros, const float* xsum,
                    int64_t cols, int64_t group) {
    float o;
    i4(row, x, 0, scales, zeros, xsum, cols, group, &o);
    return o;
  }
};
}  // namespace

void quantize_activation_q8(const float* x, int64_t n, int8_t* qs, float* d, float* dsum) {
  const int64_t nb = (n + 31) / 32;
  for (int64_t b = 0; b < nb; ++b) {
    float amax = 0;
    for (int64_t j = 0; j < 32; ++j) {
      const int64_t i = b * 32 + j;
      if (i < n) amax = std::fmax(amax, std::fabs(x[i]));
    }
    const float db = amax / 127.0f;
    const float id = db != 0 ? 1.0f / db : 0.0f;
    int32_t s = 0;
    for (int64_t j = 0; j < 32; ++j) {
      const int64_t i = b * 32 + j;
      const int q = i < n ? static_cast<int>(std::nearbyint(x[i] * id)) : 0;
      qs[b * 32 + j] = static_cast<int8_t>(q);
      s += q;
    }
    d[b] = db;
    dsum[b] = db * static_cast<float>(s);
  }
}

const DotTable& scalar_dots() {
  static const DotTable t = make_dot_table<ScalarK>();
  return t;
}

}  // namespace ironmill::engine::detail
