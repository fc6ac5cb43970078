// Portable per-row dot kernels. The quantized ones compute the same integer block sums as the AVX2
// path (only the order of the fp32 additions differs), so CI machines without AVX2 test the same math.
#include <cmath>
#include <cstring>

#include "engine/kernels/matvec_internal.h"
#include "formats/gguf/quants.h"

namespace ironmill::engine::detail {
namespace {
using formats::gguf::ggml_fp16_to_fp32;

inline float load_f16(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return ggml_fp16_to_fp32(h);
}

float dot_q4_0(const uint8_t* row, const Q8Activation& a, int64_t cols) {
  float sum = 0;
  for (int64_t b = 0; b < cols / 32; ++b) {
    const uint8_t* blk = row + b * 18;
    const int8_t* y = a.qs + b * 32;
    int32_t isum = 0;
    for (int j = 0; j < 16; ++j) isum += (blk[2 + j] & 0xF) * y[j] + (blk[2 + j] >> 4) * y[j + 16];
    const float dw = load_f16(blk);
    sum += dw * (a.d[b] * static_cast<float>(isum) - 8.0f * a.dsum[b]);
  }
  return sum;
}

float dot_q8_0(const uint8_t* row, const Q8Activation& a, int64_t cols) {
  float sum = 0;
  for (int64_t b = 0; b < cols / 32; ++b) {
    const uint8_t* blk = row + b * 34;
    const int8_t* w = reinterpret_cast<const int8_t*>(blk + 2);
    const int8_t* y = a.qs + b * 32;
    int32_t isum = 0;
    for (int j = 0; j < 32; ++j) isum += w[j] * y[j];
    sum += load_f16(blk) * a.d[b] * static_cast<float>(isum);
  }
  return sum;
}

float dot_q4_k(const uint8_t* row, const Q8Activation& a, int64_t cols) {
  float sum = 0;
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = row + sb * 144;
    const float d = load_f16(blk), dmin = load_f16(blk + 2);
    const uint8_t* scales = blk + 4;
    const uint8_t* qs = blk + 16;
    const int64_t ab = sb * 8;
    for (int j = 0; j < 4; ++j) {
      uint8_t sc0, m0, sc1, m1;
      q4k_scale_min(2 * j, scales, &sc0, &m0);
      q4k_scale_min(2 * j + 1, scales, &sc1, &m1);
      const int8_t* y0 = a.qs + (ab + 2 * j) * 32;
      const int8_t* y1 = y0 + 32;
      int32_t i0 = 0, i1 = 0;
      for (int l = 0; l < 32; ++l) {
        i0 += (qs[32 * j + l] & 0xF) * y0[l];
        i1 += (qs[32 * j + l] >> 4) * y1[l];
      }
      sum += d * sc0 * a.d[ab + 2 * j] * static_cast<float>(i0) - dmin * m0 * a.dsum[ab + 2 * j];
      sum += d * sc1 * a.d[ab + 2 * j + 1] * static_cast<float>(i1) - dmin * m1 * a.dsum[ab + 2 * j + 1];
    }
  }
  return sum;
}

float dot_q6_k(const uint8_t* row, const Q8Activation& a, int64_t cols) {
  float sum = 0;
  for (int64_t sb = 0; sb < cols / 256; ++sb) {
    const uint8_t* blk = row + sb * 210;
    const float d = load_f16(blk + 208);
    for (int h = 0; h < 2; ++h) {
      const uint8_t* ql = blk + 64 * h;
      const uint8_t* qh = blk + 128 + 32 * h;
      const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192 + 8 * h);
      const int64_t ab = sb * 8 + 4 * h;
      for (int k = 0; k < 4; ++k) {
        const int8_t* y = a.qs + (ab + k) * 32;
        int32_t part[2] = {0, 0};
        for (int l = 0; l < 32; ++l) {
          const int lo = k & 1 ? ql[l + 32] : ql[l];
          const int q = ((k < 2 ? lo & 0xF : lo >> 4) | (((qh[l] >> (2 * k)) & 3) << 4)) - 32;
          part[l / 16] += q * y[l];
        }
        sum += d * a.d[ab + k] * static_cast<float>(sc[2 * k] * part[0] + sc[2 * k + 1] * part[1]);
      }
    }
  }
  return sum;
}

float dot_f32(const uint8_t* row, const float* x, int64_t cols) {
  const float* w = reinterpret_cast<const float*>(row);
  float sum = 0;
  for (int64_t i = 0; i < cols; ++i) sum += w[i] * x[i];
  return sum;
}

float dot_f16(const uint8_t* row, const float* x, int64_t cols) {
  float sum = 0;
  for (int64_t i = 0; i < cols; ++i) sum += load_f16(row + 2 * i) * x[i];
  return sum;
}

float dot_bf16(const uint8_t* row, const float* x, int64_t cols) {
  float sum = 0;
  for (int64_t i = 0; i < cols; ++i) {
    uint16_t h;
    std::memcpy(&h, row + 2 * i, 2);
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
    float w;
    std::memcpy(&w, &bits, 4);
    sum += w * x[i];
  }
  return sum;
}

float dot_i8(const uint8_t* row, const float* x, int64_t cols) {
  const int8_t* w = reinterpret_cast<const int8_t*>(row);
  float sum = 0;
  for (int64_t i = 0; i < cols; ++i) sum += static_cast<float>(w[i]) * x[i];
  return sum;
}

float dot_i4(const uint8_t* row, const float* x, const float* scales, const float* zeros, const float* xsum,
             int64_t cols, int64_t group) {
  float sum = 0;
  for (int64_t g = 0; g * group < cols; ++g) {
    float qx = 0;
    for (int64_t i = g * group; i < (g + 1) * group && i < cols; ++i) {
      const int q = i & 1 ? row[i / 2] >> 4 : row[i / 2] & 0xF;
      qx += static_cast<float>(q) * x[i];
    }
    sum += scales[g] * (qx - zeros[g] * xsum[g]);
  }
  return sum;
}
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
  static const DotTable t{dot_q4_0, dot_q8_0, dot_q4_k, dot_q6_k, dot_f32, dot_f16, dot_bf16, dot_i8, dot_i4};
  return t;
}

}  // namespace ironmill::engine::detail
