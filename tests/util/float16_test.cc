// fp16/bf16 conversions against NumPy's float16 / the bf16 bit rule (values generated with
// numpy 1.24: np.float32(v).astype(np.float16).view(np.uint16)).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "util/float16.h"

namespace ironmill {
namespace {

struct Case { float value; uint16_t bits; };

TEST(Float16, MatchesNumpyRoundToNearestEven) {
  const Case cases[] = {
      {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3C00}, {-2.5f, 0xC100},
      {65504.0f, 0x7BFF}, {65519.98828125f, 0x7BFF}, {65520.0f, 0x7C00},
      {9.99999993922529e-09f, 0x0000}, {5.960464477539063e-08f, 0x0001},  // smallest subnormal
      {2.9802322387695312e-08f, 0x0000},                                   // half of it: ties to even (0)
      {6.097555160522461e-05f, 0x03FF},                                    // largest subnormal
      {0.10000000149011612f, 0x2E66}, {0.33333298563957214f, 0x3555},
      {100000.0f, 0x7C00}, {-100000.0f, 0xFC00}, {INFINITY, 0x7C00}, {-INFINITY, 0xFC00},
      {3.1415927410125732f, 0x4248}, {1.0009765625f, 0x3C01},
      {1.00048828125f, 0x3C00},  // tie -> even mantissa 0
      {1.00146484375f, 0x3C02},  // tie -> even mantissa 2
      {2049.0f, 0x6800}, {2051.0f, 0x6802},
  };
  for (const auto& c : cases) EXPECT_EQ(fp32_to_fp16_bits(c.value), c.bits) << c.value;
}

TEST(Float16, RoundTripsEveryPattern) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const uint16_t h = static_cast<uint16_t>(b);
    const float f = fp16_bits_to_fp32(h);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(fp16_bits_to_fp32(fp32_to_fp16_bits(f))));
      continue;
    }
    EXPECT_EQ(fp32_to_fp16_bits(f), h) << std::hex << b;
  }
}

TEST(Float16, SubnormalsAndSpecials) {
  EXPECT_EQ(fp16_bits_to_fp32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(fp16_bits_to_fp32(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(fp16_bits_to_fp32(0x7C00)));
  EXPECT_TRUE(std::isnan(fp16_bits_to_fp32(0x7E00)));
  EXPECT_EQ(fp32_to_fp16_bits(NAN) & 0x7C00, 0x7C00);
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(fp32_to_bf16_bits(1.0f), 0x3F80);
  // 1 + 2^-8 is a tie between 1.0 (even) and 1 + 2^-7: rounds to 1.0.
  EXPECT_EQ(fp32_to_bf16_bits(1.00390625f), 0x3F80);
  // 1 + 3*2^-8 ties between 1+2^-7 (odd) and 1+2^-6 (even): rounds up.
  EXPECT_EQ(fp32_to_bf16_bits(1.01171875f), 0x3F82);
  EXPECT_EQ(bf16_bits_to_fp32(0x4049), 3.140625f);
  EXPECT_TRUE(std::isnan(bf16_bits_to_fp32(fp32_to_bf16_bits(NAN))));
}

TEST(Float8, E4M3FnAndE5M2) {
  EXPECT_EQ(fp8e4m3fn_bits_to_fp32(0x7E), 448.0f);  // max finite
  EXPECT_TRUE(std::isnan(fp8e4m3fn_bits_to_fp32(0x7F)));
  EXPECT_EQ(fp32_to_fp8e4m3fn_bits(1.0f), 0x38);
  EXPECT_EQ(fp8e4m3fn_bits_to_fp32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(fp8e5m2_bits_to_fp32(0x7B), 57344.0f);
  EXPECT_TRUE(std::isinf(fp8e5m2_bits_to_fp32(0x7C)));
  EXPECT_EQ(fp32_to_fp8e5m2_bits(1.0f), 0x3C);
}

}  // namespace
}  // namespace ironmill
