// Bit-exact conversions between fp32/fp64 and the 16-bit and 8-bit float formats.
// Round-to-nearest-even everywhere, subnormals kept, inf/NaN preserved (NaN stays quiet NaN).
#pragma once
#include <cstdint>

namespace ironmill {

uint16_t fp32_to_fp16_bits(float f);
float fp16_bits_to_fp32(uint16_t h);
// Direct fp64 -> fp16 with a single rounding (no double rounding through fp32).
uint16_t fp64_to_fp16_bits(double d);

uint16_t fp32_to_bf16_bits(float f);
float bf16_bits_to_fp32(uint16_t b);

// OCP FP8: E4M3FN (no inf, max 448, NaN = S.1111.111) saturates nothing: out of range -> NaN,
// as ml_dtypes does for float8_e4m3fn conversion. E5M2 is IEEE-like (has inf).
uint8_t fp32_to_fp8e4m3fn_bits(float f);
float fp8e4m3fn_bits_to_fp32(uint8_t b);
uint8_t fp32_to_fp8e5m2_bits(float f);
float fp8e5m2_bits_to_fp32(uint8_t b);

// Rounds a double to the nearest representable fp16 value, returned as float.
inline float round_to_fp16(float f) { return fp16_bits_to_fp32(fp32_to_fp16_bits(f)); }

}  // namespace ironmill
