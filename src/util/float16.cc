#include "util/float16.h"

#include <cmath>
#include <cstring>

namespace ironmill {
namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint64_t bits_of(double d) {
  uint64_t u;
  std::memcpy(&u, &d, 8);
  return u;
}

// Generic IEEE-style narrowing from a double (exact for every fp32 input) to a small binary float
// format with `exp_bits` exponent bits and `man_bits` mantissa bits, round-to-nearest-even.
// Returns the bit pattern; `has_inf` false means the all-ones exponent is a normal binade (E4M3FN).
uint32_t narrow(double d, int exp_bits, int man_bits, bool has_inf, uint32_t nan_bits, bool overflow_to_nan) {
  const uint64_t u = bits_of(d);
  const uint32_t sign = static_cast<uint32_t>(u >> 63) << (exp_bits + man_bits);
  if (std::isnan(d)) return sign | nan_bits;
  const double a = std::fabs(d);
  const int bias = (1 << (exp_bits - 1)) - 1;
  const int emax_field = has_inf ? (1 << exp_bits) - 2 : (1 << exp_bits) - 1;
  // Largest finite value.
  uint32_t max_man = (1u << man_bits) - 1;
  if (!has_inf) max_man -= 1;  // E4M3FN: S.1111.111 is NaN
  const double max_finite = std::ldexp(1.0 + std::ldexp(static_cast<double>(max_man), -man_bits), emax_field - bias);
  if (std::isinf(d)) {
    if (has_inf) return sign | (static_cast<uint32_t>((1 << exp_bits) - 1) << man_bits);
    return sign | nan_bits;
  }
  if (a == 0.0) return sign;
  // Scale so that one unit in the last place of the target (at this magnitude) is 1, then round RNE.
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  int unbiased = e - 1;
  const int emin = 1 - bias;
  if (unbiased < emin) unbiased = emin;  // subnormal range shares the lowest exponent
  const double scaled = std::ldexp(a, man_bits - unbiased);  // in [2^man_bits, 2^(man_bits+1)) for normals
  double r = std::nearbyint(scaled);                          // default rounding mode is RNE
  // Rounding may carry into the next binade.
  uint64_t q = static_cast<uint64_t>(r);
  int field_exp;
  uint32_t man;
  if (q >= (1ull << (man_bits + 1))) {
    q >>= 1;
    unbiased += 1;
  }
  if (q < (1ull << man_bits)) {  // subnormal (only possible at emin)
    field_exp = 0;
    man = static_cast<uint32_t>(q);
  } else {
    field_exp = unbiased + bias;
    man = static_cast<uint32_t>(q - (1ull << man_bits));
  }
  const double rounded = std::ldexp(static_cast<double>(q), unbiased - man_bits);
  if (field_exp > emax_field || rounded > max_finite) {
    if (overflow_to_nan) return sign | nan_bits;
    return sign | (static_cast<uint32_t>((1 << exp_bits) - 1) << man_bits);  // inf
  }
  return sign | (static_cast<uint32_t>(field_exp) << man_bits) | man;
}

double widen(uint32_t bits, int exp_bits, int man_bits, bool has_inf) {
  const bool neg = (bits >> (exp_bits + man_bits)) & 1;
  const uint32_t field_exp = (bits >> man_bits) & ((1u << exp_bits) - 1);
  const uint32_t man = bits & ((1u << man_bits) - 1);
  const int bias = (1 << (exp_bits - 1)) - 1;
  double v;
  if (field_exp == (1u << exp_bits) - 1 && (has_inf || man == (1u << man_bits) - 1)) {
    if (has_inf && man == 0) v = INFINITY;
    else v = NAN;
  } else if (field_exp == 0) {
    v = std::ldexp(static_cast<double>(man), 1 - bias - man_bits);
  } else {
    v = std::ldexp(1.0 + std::ldexp(static_cast<double>(man), -man_bits), static_cast<int>(field_exp) - bias);
  }
  return neg ? -v : v;
}

}  // namespace

uint16_t fp64_to_fp16_bits(double d) { return static_cast<uint16_t>(narrow(d, 5, 10, true, 0x7E00, false)); }
uint16_t fp32_to_fp16_bits(float f) { return fp64_to_fp16_bits(static_cast<double>(f)); }
float fp16_bits_to_fp32(uint16_t h) { return static_cast<float>(widen(h, 5, 10, true)); }

uint16_t fp32_to_bf16_bits(float f) {
  uint32_t u = bits_of(f);
  if (std::isnan(f)) return static_cast<uint16_t>((u >> 16) | 0x0040);  // keep sign, force quiet
  const uint32_t lsb = (u >> 16) & 1;
  u += 0x7FFF + lsb;  // RNE; overflow into inf is the correct result
  return static_cast<uint16_t>(u >> 16);
}
float bf16_bits_to_fp32(uint16_t b) { return float_of(static_cast<uint32_t>(b) << 16); }

uint8_t fp32_to_fp8e4m3fn_bits(float f) { return static_cast<uint8_t>(narrow(f, 4, 3, false, 0x7F, true)); }
float fp8e4m3fn_bits_to_fp32(uint8_t b) { return static_cast<float>(widen(b, 4, 3, false)); }
uint8_t fp32_to_fp8e5m2_bits(float f) { return static_cast<uint8_t>(narrow(f, 5, 2, true, 0x7E, false)); }
float fp8e5m2_bits_to_fp32(uint8_t b) { return static_cast<float>(widen(b, 5, 2, true)); }

}  // namespace ironmill
