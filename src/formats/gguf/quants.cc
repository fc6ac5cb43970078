// Ported from ggml (ggml-org/llama.cpp, ggml/src/ggml-quants.c and ggml-impl.h; MIT License,
// Copyright (c) 2023-2026 The ggml authors), commit de3ff815 as bundled with node-llama-cpp 3.22.1.
// The arithmetic is kept expression for expression so the results are bit-identical; only the
// surrounding C was made C++ (namespaces, alignment-free block structs, Status for bad sizes).
#include "formats/gguf/quants.h"

#include <cmath>
#include <cstring>
#include <string>

namespace ironmill::formats::gguf {
namespace {

constexpr int QK_K = 256;
constexpr float GROUP_MAX_EPS = 1e-15f;

template <class T>
constexpr T MIN(T a, T b) {
  return a < b ? a : b;
}
template <class T>
constexpr T MAX(T a, T b) {
  return a > b ? a : b;
}

// ---- fp16 / bf16 (ggml-impl.h: ggml_compute_fp16_to_fp32 / ggml_compute_fp32_to_fp16) ----------

inline float fp32_from_bits(uint32_t w) {
  float f;
  std::memcpy(&f, &w, 4);
  return f;
}
inline uint32_t fp32_to_bits(float f) {
  uint32_t w;
  std::memcpy(&w, &f, 4);
  return w;
}

// A little-endian fp16 with alignment 1, so blocks can be read at any address.
struct Half {
  uint8_t b[2];
};
inline float h2f(Half h) { return ggml_fp16_to_fp32(static_cast<uint16_t>(h.b[0] | (h.b[1] << 8))); }
inline Half f2h(float f) {
  const uint16_t u = ggml_fp32_to_fp16(f);
  return Half{{static_cast<uint8_t>(u & 0xFF), static_cast<uint8_t>(u >> 8)}};
}

// ---- block layouts (ggml-common.h) --------------------------------------------------------------

struct BlockQ4_0 {
  Half d;
  uint8_t qs[16];
};
struct BlockQ4_1 {
  Half d;
  Half m;
  uint8_t qs[16];
};
struct BlockQ5_0 {
  Half d;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ5_1 {
  Half d;
  Half m;
  uint8_t qh[4];
  uint8_t qs[16];
};
struct BlockQ8_0 {
  Half d;
  int8_t qs[32];
};
struct BlockQ2_K {
  uint8_t scales[QK_K / 16];
  uint8_t qs[QK_K / 4];
  Half d;
  Half dmin;
};
struct BlockQ3_K {
  uint8_t hmask[QK_K / 8];
  uint8_t qs[QK_K / 4];
  uint8_t scales[12];
  Half d;
};
struct BlockQ4_K {
  Half d;
  Half dmin;
  uint8_t scales[12];
  uint8_t qs[QK_K / 2];
};
struct BlockQ5_K {
  Half d;
  Half dmin;
  uint8_t scales[12];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  Half d;
};

static_assert(sizeof(BlockQ4_0) == 18 && alignof(BlockQ4_0) == 1);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);

// ---- dequantization -------------------------------------------------------------------------------

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t k) {
  const int qk = 32;
  const int64_t nb = k / qk;
  for (int64_t i = 0; i < nb; i++) {
    const float d = h2f(x[i].d);
    for (int j = 0; j < qk / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F) - 8;
      const int x1 = (x[i].qs[j] >> 4) - 8;
      y[i * qk + j + 0] = x0 * d;
      y[i * qk + j + qk / 2] = x1 * d;
    }
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t k) {
  const int qk = 32;
  const int64_t nb = k / qk;
  for (int64_t i = 0; i < nb; i++) {
    const float d = h2f(x[i].d);
    const float m = h2f(x[i].m);
    for (int j = 0; j < qk / 2; ++j) {
      const int x0 = (x[i].qs[j] & 0x0F);
      const int x1 = (x[i].qs[j] >> 4);
      y[i * qk + j + 0] = x0 * d + m;
      y[i * qk + j + qk / 2] = x1 * d + m;
    }
  }
}

void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t k) {
  const int qk = 32;
  const int64_t nb = k / qk;
  for (int64_t i = 0; i < nb; i++) {
    const float d = h2f(x[i].d);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < qk / 2; ++j) {
      const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh_0) - 16;
      const int32_t x1 = ((x[i].qs[j] >> 4) | xh_1) - 16;
      y[i * qk + j + 0] = x0 * d;
      y[i * qk + j + qk / 2] = x1 * d;
    }
  }
}

void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t k) {
  const int qk = 32;
  const int64_t nb = k / qk;
  for (int64_t i = 0; i < nb; i++) {
    const float d = h2f(x[i].d);
    const float m = h2f(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, sizeof(qh));
    for (int j = 0; j < qk / 2; ++j) {
      const uint8_t xh_0 = ((qh >> (j + 0)) << 4) & 0x10;
      const uint8_t xh_1 = ((qh >> (j + 12))) & 0x10;
      const int x0 = (x[i].qs[j] & 0x0F) | xh_0;
      const int x1 = (x[i].qs[j] >> 4) | xh_1;
      y[i * qk + j + 0] = x0 * d + m;
      y[i * qk + j + qk / 2] = x1 * d + m;
    }
  }
}

// One Q8_0 block, ggml's expression; restrict-qualified parameters let -O2 vectorize it (see q4_K).
inline void q8_0_block(const int8_t* __restrict qs, float* __restrict y, float d) {
  for (int j = 0; j < 32; ++j) y[j] = qs[j] * d;
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t k) {
  const int qk = 32;
  const int64_t nb = k / qk;
  for (int64_t i = 0; i < nb; i++) {
    q8_0_block(x[i].qs, y + i * qk, h2f(x[i].d));
  }
}

inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

void dequantize_row_q2_K(const BlockQ2_K* x, float* y, int64_t k) {
  const int64_t nb = k / QK_K;
  for (int64_t i = 0; i < nb; i++) {
    const float d = h2f(x[i].d);
    const float min = h2f(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    float dl, ml;
    for (int n = 0; n < QK_K; n += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        uint8_t sc = x[i].scales[is++];
        dl = d * (sc & 0xF);
        ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
        sc = x[i].scales[is++];
        dl = d * (sc & 0xF);
        ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
        shift += 2;
      }
      q += 32;
    }
  }
}

void dequantize_row_q3_K(const BlockQ3_K* x, float* y, int64_t k) {
  const int64_t nb = k / QK_K;
  const uint32_t kmask1 = 0x03030303;
  const uint32_t kmask2 = 0x0f0f0f0f;
  uint32_t aux[4];
  int8_t scales[16];
  for (int64_t i = 0; i < nb; i++) {
    const float d_all = h2f(x[i].d);
    const uint8_t* q = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    uint8_t m = 1;
    std::memcpy(aux, x[i].scales, 12);
    uint32_t tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    std::memcpy(scales, aux, 16);
    int is = 0;
    float dl;
    for (int n = 0; n < QK_K; n += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        dl = d_all * (scales[is++] - 32);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l + 0] >> shift) & 3) - ((hm[l + 0] & m) ? 0 : 4));
        dl = d_all * (scales[is++] - 32);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        shift += 2;
        m <<= 1;
      }
      q += 32;
    }
  }
}

// 64 outputs of a Q4_K block, ggml's expressions unchanged. Separate restrict-qualified pointers let
// the compiler vectorize at -O2 (uint8_t* may alias the floats otherwise); lanes are independent, so
// the results stay bit-identical.
inline void q4_K_half_block(const uint8_t* __restrict q, float* __restrict y, float d1, float m1, float d2,
                            float m2) {
  for (int l = 0; l < 32; ++l) y[l] = d1 * (q[l] & 0xF) - m1;
  for (int l = 0; l < 32; ++l) y[32 + l] = d2 * (q[l] >> 4) - m2;
}

void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t k) {
  const int64_t nb = k / QK_K;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t* q = x[i].qs;
    const float d = h2f(x[i].d);
    const float min = h2f(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      q4_K_half_block(q, y, d1, m1, d2, m2);
      y += 64;
      q += 32;
      is += 2;
    }
  }
}

void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t k) {
  const int64_t nb = k / QK_K;
  for (int64_t i = 0; i < nb; i++) {
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const float d = h2f(x[i].d);
    const float min = h2f(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc;
      const float m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc;
      const float m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t k) {
  const int64_t nb = k / QK_K;
  for (int64_t i = 0; i < nb; i++) {
    const float d = h2f(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < QK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        int is = l / 16;
        const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// ---- quantization helpers ---------------------------------------------------------------------------

inline int nearest_int(float fval) {
  float val = fval + 12582912.f;
  int i;
  std::memcpy(&i, &val, sizeof(int));
  return (i & 0x007fffff) - 0x00400000;
}

float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < GROUP_MAX_EPS) {  // all zero
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  if (rmse_type == 0) {
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      L[i] = nmax + MAX(-nmax, MIN(nmax - 1, l));
    }
    return 1 / iscale;
  }
  bool return_early = false;
  if (rmse_type < 0) {
    rmse_type = -rmse_type;
    return_early = true;
  }
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = MAX(-nmax, MIN(nmax - 1, l));
    L[i] = l + nmax;
    float w = qw               ? qw[i]
              : rmse_type == 1 ? x[i] * x[i]
              : rmse_type == 2 ? 1
              : rmse_type == 3 ? std::fabs(x[i])
                               : std::sqrt(std::fabs(x[i]));
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = MAX(-nmax, MIN(nmax - 1, l));
      float w = qw               ? qw[i]
                : rmse_type == 1 ? x[i] * x[i]
                : rmse_type == 2 ? 1
                : rmse_type == 3 ? std::fabs(x[i])
                                 : std::sqrt(std::fabs(x[i]));
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        L[i] = nmax + MAX(-nmax, MIN(nmax - 1, l));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * (x[i] - min));
    L[i] = MAX(0, MIN(nmax, l));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    float w = weights[i];
    best_error += w * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = MAX(0, MIN(nmax, l));
      Laux[i] = l;
      float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        float w = weights[i];
        cur_error += w * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep, bool use_mad) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights ? weights[0] : x[0] * x[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    float w = weights ? weights[i] : x[i] * x[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max <= min) {
    std::memset(L, 0, n);
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * (x[i] - min));
    L[i] = MAX(0, MIN(nmax, l));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    float w = weights ? weights[i] : x[i] * x[i];
    best_mad += w * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = MAX(0, MIN(nmax, l));
      Laux[i] = l;
      float w = weights ? weights[i] : x[i] * x[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        float w = weights ? weights[i] : x[i] * x[i];
        mad += w * diff;
      }
      if (mad < best_mad) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = MAX(max, x[i]);
  if (max < GROUP_MAX_EPS) {  // all zero
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = nmax / max;
  for (int i = 0; i < n; ++i) L[i] = nearest_int(iscale * x[i]);
  float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    float diff = x[i] - scale * L[i];
    float w = quant_weights[i];
    best_mse += w * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    float iscale_is = (0.1f * is + nmax) / max;
    float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale_is * x[i]);
      l = MIN(nmax, l);
      float diff = x[i] - scale_is * l;
      float w = quant_weights[i];
      mse += w * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0;
  float suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = MIN(nmax, l);
    L[i] = l;
    float w = quant_weights[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      float w = quant_weights[i];
      float slx = sumlx - w * x[i] * L[i];
      float sl2 = suml2 - w * L[i] * L[i];
      if (slx > 0 && sl2 > 0) {
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = MIN(nmax, new_l);
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = new_l;
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---- quantization -------------------------------------------------------------------------------------

void quantize_row_q4_0_ref(const float* x, BlockQ4_0* y, int64_t k) {
  const int qk = 32;
  const int64_t nb = k / qk;
  for (int64_t i = 0; i < nb; i++) {
    float amax = 0.0f;  // absolute max
    float max = 0.0f;
    for (int j = 0; j < qk; j++) {
      const float v = x[i * qk + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f2h(d);
    for (int j = 0; j < qk / 2; ++j) {
      const float x0 = x[i * qk + 0 + j] * id;
      const float x1 = x[i * qk + qk / 2 + j] * id;
      const uint8_t xi0 = MIN<int8_t>(15, (int8_t)(x0 + 8.5f));
      const uint8_t xi1 = MIN<int8_t>(15, (int8_t)(x1 + 8.5f));
      y[i].qs[j] = xi0;
      y[i].qs[j] |= xi1 << 4;
    }
  }
}

void quantize_row_q4_0_impl(const float* x, BlockQ4_0* y, int64_t n_per_row, const float* quant_weights) {
  if (!quant_weights) {
    quantize_row_q4_0_ref(x, y, n_per_row);
    return;
  }
  float weight[32];
  int8_t L[32];
  float sum_x2 = 0;
  for (int j = 0; j < n_per_row; ++j) sum_x2 += x[j] * x[j];
  float sigma2 = sum_x2 / n_per_row;
  const int64_t nb = n_per_row / 32;
  for (int ib = 0; ib < nb; ++ib) {
    const float* xb = x + 32 * ib;
    const float* qw = quant_weights + 32 * ib;
    for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float d = make_qx_quants(32, 8, xb, L, 1, weight);
    y[ib].d = f2h(d);
    for (int j = 0; j < 16; ++j) y[ib].qs[j] = L[j] | (L[j + 16] << 4);
  }
}

void quantize_row_q8_0_ref(const float* x, BlockQ8_0* y, int64_t k) {
  const int64_t nb = k / 32;
  for (int64_t i = 0; i < nb; i++) {
    float amax = 0.0f;  // absolute max
    for (int j = 0; j < 32; j++) {
      const float v = x[i * 32 + j];
      amax = MAX(amax, std::fabs(v));
    }
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = f2h(d);
    for (int j = 0; j < 32; ++j) {
      const float x0 = x[i * 32 + j] * id;
      y[i].qs[j] = static_cast<int8_t>(std::round(x0));
    }
  }
}

void quantize_row_q4_K_ref(const float* x, BlockQ4_K* y, int64_t k) {
  const int64_t nb = k / QK_K;
  uint8_t L[QK_K];
  uint8_t Laux[32];
  float weights[32];
  float mins[QK_K / 32];
  float scales[QK_K / 32];
  for (int64_t i = 0; i < nb; i++) {
    float max_scale = 0;  // as we are deducting the min, scales are always positive
    float max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20, false);
      float scale = scales[j];
      if (scale > max_scale) max_scale = scale;
      float min = mins[j];
      if (min > max_min) max_min = min;
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
      uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
      uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
      ls = MIN<uint8_t>(63, ls);
      lm = MIN<uint8_t>(63, lm);
      if (j < 4) {
        y[i].scales[j] = ls;
        y[i].scales[j + 4] = lm;
      } else {
        y[i].scales[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
        y[i].scales[j - 4] |= ((ls >> 4) << 6);
        y[i].scales[j - 0] |= ((lm >> 4) << 6);
      }
    }
    y[i].d = f2h(max_scale / 63.f);
    y[i].dmin = f2h(max_min / 63.f);
    uint8_t sc, m;
    for (int j = 0; j < QK_K / 32; ++j) {
      get_scale_min_k4(j, y[i].scales, &sc, &m);
      const float d = h2f(y[i].d) * sc;
      if (!d) continue;
      const float dm = h2f(y[i].dmin) * m;
      for (int ii = 0; ii < 32; ++ii) {
        int l = nearest_int((x[32 * j + ii] + dm) / d);
        l = MAX(0, MIN(15, l));
        L[32 * j + ii] = l;
      }
    }
    uint8_t* q = y[i].qs;
    for (int j = 0; j < QK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = L[j + l] | (L[j + l + 32] << 4);
      q += 32;
    }
    x += QK_K;
  }
}

void quantize_row_q4_K_impl(const float* x, BlockQ4_K* y, int64_t n_per_row, const float* quant_weights) {
  const int64_t nb = n_per_row / QK_K;
  uint8_t L[QK_K];
  uint8_t Laux[32];
  uint8_t Ls[QK_K / 32];
  uint8_t Lm[QK_K / 32];
  float weights[32];
  float sw[QK_K / 32];
  float mins[QK_K / 32];
  float scales[QK_K / 32];
  for (int64_t i = 0; i < nb; i++) {
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; ++l) sum_x2 += x[l] * x[l];
    float sigma2 = 2 * sum_x2 / QK_K;
    float av_x = std::sqrt(sigma2);
    for (int j = 0; j < QK_K / 32; ++j) {
      if (quant_weights) {
        const float* qw = quant_weights + QK_K * i + 32 * j;
        for (int l = 0; l < 32; ++l) weights[l] = qw[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
      } else {
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      }
      float sumw = 0;
      for (int l = 0; l < 32; ++l) sumw += weights[l];
      sw[j] = sumw;
      scales[j] = make_qkx3_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
    }
    float d_block = make_qp_quants(QK_K / 32, 63, scales, Ls, sw);
    float m_block = make_qp_quants(QK_K / 32, 63, mins, Lm, sw);
    for (int j = 0; j < QK_K / 32; ++j) {
      uint8_t ls = Ls[j];
      uint8_t lm = Lm[j];
      if (j < 4) {
        y[i].scales[j] = ls;
        y[i].scales[j + 4] = lm;
      } else {
        y[i].scales[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
        y[i].scales[j - 4] |= ((ls >> 4) << 6);
        y[i].scales[j - 0] |= ((lm >> 4) << 6);
      }
    }
    y[i].d = f2h(d_block);
    y[i].dmin = f2h(m_block);
    uint8_t sc, m;
    for (int j = 0; j < QK_K / 32; ++j) {
      get_scale_min_k4(j, y[i].scales, &sc, &m);
      const float d = h2f(y[i].d) * sc;
      if (!d) continue;
      const float dm = h2f(y[i].dmin) * m;
      for (int ii = 0; ii < 32; ++ii) {
        int l = nearest_int((x[32 * j + ii] + dm) / d);
        l = MAX(0, MIN(15, l));
        L[32 * j + ii] = l;
      }
    }
    uint8_t* q = y[i].qs;
    for (int j = 0; j < QK_K; j += 64) {
      for (int l = 0; l < 32; ++l) q[l] = L[j + l] | (L[j + l + 32] << 4);
      q += 32;
    }
    x += QK_K;
  }
}

// Shared tail of the Q6_K quantizers: from per-16 scales (and L) to the block bytes.
void finish_q6_K_block(const float* x, BlockQ6_K* yi, int8_t* L, const float* scales, float max_scale) {
  float iscale = -128.f / max_scale;
  yi->d = f2h(1 / iscale);
  for (int ib = 0; ib < QK_K / 16; ++ib)
    yi->scales[ib] = static_cast<int8_t>(MIN(127, nearest_int(iscale * scales[ib])));
  for (int j = 0; j < QK_K / 16; ++j) {
    float d = h2f(yi->d) * yi->scales[j];
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) {
      int l = nearest_int(x[16 * j + ii] / d);
      l = MAX(-32, MIN(31, l));
      L[16 * j + ii] = l + 32;
    }
  }
  uint8_t* ql = yi->ql;
  uint8_t* qh = yi->qh;
  for (int j = 0; j < QK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l + 0] & 0xF;
      const uint8_t q2 = L[j + l + 32] & 0xF;
      const uint8_t q3 = L[j + l + 64] & 0xF;
      const uint8_t q4 = L[j + l + 96] & 0xF;
      ql[l + 0] = q1 | (q3 << 4);
      ql[l + 32] = q2 | (q4 << 4);
      qh[l] = (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6);
    }
    ql += 64;
    qh += 32;
  }
}

// quantize_row_q6_K_ref when quant_weights is null, quantize_row_q6_K_impl otherwise (they differ
// only in the weights passed to make_qx_quants).
void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t k, const float* quant_weights) {
  const int64_t nb = k / QK_K;
  int8_t L[QK_K];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < nb; i++) {
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int ib = 0; ib < QK_K / 16; ++ib) {
      const float* qw = quant_weights ? quant_weights + QK_K * i + 16 * ib : nullptr;
      const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, qw);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < GROUP_MAX_EPS) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      y[i].d = f2h(0.f);
      x += QK_K;
      continue;
    }
    finish_q6_K_block(x, &y[i], L, scales, max_scale);
    x += QK_K;
  }
}

}  // namespace

uint16_t ggml_fp32_to_fp16(float f) {
  const float scale_to_inf = 0x1.0p+112f;
  const float scale_to_zero = 0x1.0p-110f;
  float base = (std::fabs(f) * scale_to_inf) * scale_to_zero;
  const uint32_t w = fp32_to_bits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & UINT32_C(0x80000000);
  uint32_t bias = shl1_w & UINT32_C(0xFF000000);
  if (bias < UINT32_C(0x71000000)) bias = UINT32_C(0x71000000);
  base = fp32_from_bits((bias >> 1) + UINT32_C(0x07800000)) + base;
  const uint32_t bits = fp32_to_bits(base);
  const uint32_t exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
  const uint32_t mantissa_bits = bits & UINT32_C(0x00000FFF);
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > UINT32_C(0xFF000000) ? UINT16_C(0x7E00) : nonsign));
}

float ggml_fp16_to_fp32(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16;
  const uint32_t sign = w & UINT32_C(0x80000000);
  const uint32_t two_w = w + w;
  const uint32_t exp_offset = UINT32_C(0xE0) << 23;
  const float exp_scale = 0x1.0p-112f;
  const float normalized_value = fp32_from_bits((two_w >> 4) + exp_offset) * exp_scale;
  const uint32_t magic_mask = UINT32_C(126) << 23;
  const float magic_bias = 0.5f;
  const float denormalized_value = fp32_from_bits((two_w >> 17) | magic_mask) - magic_bias;
  const uint32_t denormalized_cutoff = UINT32_C(1) << 27;
  const uint32_t result =
      sign | (two_w < denormalized_cutoff ? fp32_to_bits(denormalized_value) : fp32_to_bits(normalized_value));
  return fp32_from_bits(result);
}

bool can_dequantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ5_0:
    case GgmlType::kQ5_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K: return true;
    default: return false;
  }
}

bool can_quantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_K:
    case GgmlType::kQ6_K: return true;
    default: return false;
  }
}

Status dequantize_row(GgmlType type, const void* src, float* dst, int64_t n) {
  const auto& tr = ggml_type_traits(type);
  if (!can_dequantize(type)) return unsupported("dequantize: ggml type " + std::string(tr.name) + " is not supported");
  if (n < 0 || n % tr.block_size != 0)
    return invalid_argument("dequantize: " + std::to_string(n) + " elements is not a multiple of the " +
                            std::string(tr.name) + " block size " + std::to_string(tr.block_size));
  if (n == 0) return Status::Ok();  // empty tensors may have null storage
  const auto* b = static_cast<const uint8_t*>(src);
  switch (type) {
    case GgmlType::kF32: std::memcpy(dst, b, static_cast<size_t>(n) * 4); break;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = ggml_fp16_to_fp32(static_cast<uint16_t>(b[2 * i] | (b[2 * i + 1] << 8)));
      break;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i)
        dst[i] = fp32_from_bits(static_cast<uint32_t>(b[2 * i] | (b[2 * i + 1] << 8)) << 16);
      break;
    case GgmlType::kQ4_0: dequantize_row_q4_0(reinterpret_cast<const BlockQ4_0*>(b), dst, n); break;
    case GgmlType::kQ4_1: dequantize_row_q4_1(reinterpret_cast<const BlockQ4_1*>(b), dst, n); break;
    case GgmlType::kQ5_0: dequantize_row_q5_0(reinterpret_cast<const BlockQ5_0*>(b), dst, n); break;
    case GgmlType::kQ5_1: dequantize_row_q5_1(reinterpret_cast<const BlockQ5_1*>(b), dst, n); break;
    case GgmlType::kQ8_0: dequantize_row_q8_0(reinterpret_cast<const BlockQ8_0*>(b), dst, n); break;
    case GgmlType::kQ2_K: dequantize_row_q2_K(reinterpret_cast<const BlockQ2_K*>(b), dst, n); break;
    case GgmlType::kQ3_K: dequantize_row_q3_K(reinterpret_cast<const BlockQ3_K*>(b), dst, n); break;
    case GgmlType::kQ4_K: dequantize_row_q4_K(reinterpret_cast<const BlockQ4_K*>(b), dst, n); break;
    case GgmlType::kQ5_K: dequantize_row_q5_K(reinterpret_cast<const BlockQ5_K*>(b), dst, n); break;
    case GgmlType::kQ6_K: dequantize_row_q6_K(reinterpret_cast<const BlockQ6_K*>(b), dst, n); break;
    default: return internal_error("dequantize: unreachable");
  }
  return Status::Ok();
}

Result<uint64_t> quantize(GgmlType type, const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                          const float* imatrix) {
  const auto& tr = ggml_type_traits(type);
  if (!can_quantize(type)) return unsupported("quantize: ggml type " + std::string(tr.name) + " is not supported");
  if (nrows < 0 || n_per_row < 0 || n_per_row % tr.block_size != 0)
    return invalid_argument("quantize: row of " + std::to_string(n_per_row) + " elements is not a multiple of the " +
                            std::string(tr.name) + " block size " + std::to_string(tr.block_size));
  const uint64_t row_size = ggml_row_size(type, n_per_row);
  const int64_t n = nrows * n_per_row;
  if (n == 0) return uint64_t{0};
  auto* out = static_cast<uint8_t*>(dst);
  switch (type) {
    case GgmlType::kF32: std::memcpy(out, src, static_cast<size_t>(n) * 4); break;
    case GgmlType::kF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = ggml_fp32_to_fp16(src[i]);
        out[2 * i] = h & 0xFF;
        out[2 * i + 1] = h >> 8;
      }
      break;
    case GgmlType::kBF16:
      for (int64_t i = 0; i < n; ++i) {
        // ggml_compute_fp32_to_bf16: NaN keeps its top bits and is made quiet; otherwise RNE.
        const uint32_t u = fp32_to_bits(src[i]);
        const uint16_t h = (u & 0x7fffffff) > 0x7f800000
                               ? static_cast<uint16_t>((u >> 16) | 64)
                               : static_cast<uint16_t>((u + (0x7fff + ((u >> 16) & 1))) >> 16);
        out[2 * i] = h & 0xFF;
        out[2 * i + 1] = h >> 8;
      }
      break;
    case GgmlType::kQ8_0: quantize_row_q8_0_ref(src, reinterpret_cast<BlockQ8_0*>(out), n); break;
    case GgmlType::kQ4_0:
      if (!imatrix) {
        quantize_row_q4_0_ref(src, reinterpret_cast<BlockQ4_0*>(out), n);
      } else {
        for (int64_t r = 0; r < nrows; ++r)
          quantize_row_q4_0_impl(src + r * n_per_row, reinterpret_cast<BlockQ4_0*>(out + r * row_size), n_per_row,
                                 imatrix);
      }
      break;
    case GgmlType::kQ4_K:
      if (!imatrix) {
        quantize_row_q4_K_ref(src, reinterpret_cast<BlockQ4_K*>(out), n);
      } else {
        for (int64_t r = 0; r < nrows; ++r)
          quantize_row_q4_K_impl(src + r * n_per_row, reinterpret_cast<BlockQ4_K*>(out + r * row_size), n_per_row,
                                 imatrix);
      }
      break;
    case GgmlType::kQ6_K:
      if (!imatrix) {
        quantize_row_q6_K(src, reinterpret_cast<BlockQ6_K*>(out), n, nullptr);
      } else {
        for (int64_t r = 0; r < nrows; ++r)
          quantize_row_q6_K(src + r * n_per_row, reinterpret_cast<BlockQ6_K*>(out + r * row_size), n_per_row, imatrix);
      }
      break;
    default: return internal_error("quantize: unreachable");
  }
  return static_cast<uint64_t>(nrows) * row_size;
}

}  // namespace ironmill::formats::gguf
