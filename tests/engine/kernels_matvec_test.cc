// matvec / matmul / dequantize_row of every WeightFormat against an fp64 dot over the reference
// dequantizer (formats/gguf quants.cc, itself checked bit-exact against ggml) or, for int8/int4, the
// format's defining formula.
//
// Tolerance for the quantized formats (Q4_0, Q8_0, Q4_K, Q6_K), which multiply by the activation
// quantized llama.cpp-style to int8 blocks of 32 with d = amax/127: each x_i is off by at most d/2, so
// |y - y_ref| <= sum_blocks (amax_b / 254) * sum_{i in b} |w_i|, plus fp32 summation slack
// 1e-5 * sum |w_i x_i| + 1e-6. Float formats: only the slack.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "engine/kernels/kernels.h"
#include "formats/gguf/quants.h"

namespace ironmill::engine {
namespace {
namespace gg = formats::gguf;

struct Case {
  WeightFormat format;
  gg::GgmlType ggml;
  int64_t rows, cols;
};

gg::GgmlType ggml_of(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return gg::GgmlType::kF32;
    case WeightFormat::kF16: return gg::GgmlType::kF16;
    case WeightFormat::kBF16: return gg::GgmlType::kBF16;
    case WeightFormat::kQ4_0: return gg::GgmlType::kQ4_0;
    case WeightFormat::kQ8_0: return gg::GgmlType::kQ8_0;
    case WeightFormat::kQ4_K: return gg::GgmlType::kQ4_K;
    default: return gg::GgmlType::kQ6_K;
  }
}

bool quantized(WeightFormat f) {
  return f == WeightFormat::kQ4_0 || f == WeightFormat::kQ8_0 || f == WeightFormat::kQ4_K || f == WeightFormat::kQ6_K;
}

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A GGUF-typed matrix built with our reference quantizer, plus its reference dequantization.
struct Built {
  std::vector<uint8_t> bytes;
  std::vector<float> deq;  // [rows, cols]
  WeightMatrix w;
};

Built build(WeightFormat f, int64_t rows, int64_t cols, uint32_t seed) {
  Built b;
  const auto src = random_floats(static_cast<size_t>(rows * cols), seed, 0.05f);
  const auto type = ggml_of(f);
  const size_t rb = gg::ggml_row_size(type, cols);
  b.bytes.resize(rb * static_cast<size_t>(rows));
  if (f == WeightFormat::kF32) std::memcpy(b.bytes.data(), src.data(), b.bytes.size());
  else EXPECT_TRUE(gg::quantize(type, src.data(), b.bytes.data(), rows, cols).ok());
  b.deq.resize(src.size());
  for (int64_t r = 0; r < rows; ++r)
    EXPECT_TRUE(gg::dequantize_row(type, b.bytes.data() + r * rb, b.deq.data() + r * cols, cols).ok());
  b.w.format = f;
  b.w.rows = rows;
  b.w.cols = cols;
  b.w.data = b.bytes.data();
  b.w.row_bytes = rb;
  EXPECT_EQ(weight_row_bytes(f, cols), rb);
  return b;
}

// The bound described at the top of the file.
double tolerance(WeightFormat f, const float* w, const float* x, int64_t cols) {
  double slack = 0;
  for (int64_t i = 0; i < cols; ++i) slack += std::fabs(static_cast<double>(w[i]) * x[i]);
  double bound = 1e-5 * slack + 1e-6;
  if (quantized(f)) {
    for (int64_t b = 0; b < cols; b += 32) {
      double amax = 0, wsum = 0;
      for (int64_t i = b; i < b + 32 && i < cols; ++i) {
        amax = std::fmax(amax, std::fabs(x[i]));
        wsum += std::fabs(w[i]);
      }
      bound += amax / 254.0 * wsum;
    }
  }
  return bound;
}

class MatvecIsaTest : public ::testing::TestWithParam<KernelIsa> {
 protected:
  void SetUp() override {
    set_kernel_isa(GetParam());
    if (GetParam() == KernelIsa::kAvx2 && active_kernel_isa() != KernelIsa::kAvx2) GTEST_SKIP() << "no AVX2 here";
  }
  void TearDown() override { set_kernel_isa(KernelIsa::kAuto); }
};

TEST_P(MatvecIsaTest, EveryGgmlFormatMatchesFp64DotOverReferenceDequantizer) {
  const std::vector<Case> cases = {
      {WeightFormat::kF32, gg::GgmlType::kF32, 37, 1},   {WeightFormat::kF32, gg::GgmlType::kF32, 5, 67},
      {WeightFormat::kF16, gg::GgmlType::kF16, 19, 33},  {WeightFormat::kF16, gg::GgmlType::kF16, 64, 1024},
      {WeightFormat::kBF16, gg::GgmlType::kBF16, 3, 7},  {WeightFormat::kBF16, gg::GgmlType::kBF16, 17, 300},
      {WeightFormat::kQ4_0, gg::GgmlType::kQ4_0, 1, 32}, {WeightFormat::kQ4_0, gg::GgmlType::kQ4_0, 41, 96},
      {WeightFormat::kQ4_0, gg::GgmlType::kQ4_0, 64, 1024}, {WeightFormat::kQ8_0, gg::GgmlType::kQ8_0, 1, 32},
      {WeightFormat::kQ8_0, gg::GgmlType::kQ8_0, 23, 160}, {WeightFormat::kQ8_0, gg::GgmlType::kQ8_0, 48, 3072},
      {WeightFormat::kQ4_K, gg::GgmlType::kQ4_K, 1, 256}, {WeightFormat::kQ4_K, gg::GgmlType::kQ4_K, 29, 768},
      {WeightFormat::kQ6_K, gg::GgmlType::kQ6_K, 1, 256}, {WeightFormat::kQ6_K, gg::GgmlType::kQ6_K, 31, 1024},
  };
  ThreadPool pool(1);
  uint32_t seed = 1;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(weight_format_name(c.format)) + " " + std::to_string(c.rows) + "x" + std::to_string(c.cols));
    Built b = build(c.format, c.rows, c.cols, seed++);
    // Activations with a few outliers, like real hidden states.
    auto x = random_floats(static_cast<size_t>(c.cols), seed++);
    for (size_t i = 0; i < x.size(); i += 97) x[i] *= 20.0f;
    std::vector<float> y(static_cast<size_t>(c.rows), NAN);
    matvec(b.w, x.data(), y.data(), pool);
    double worst_ratio = 0;
    for (int64_t r = 0; r < c.rows; ++r) {
      const float* wr = b.deq.data() + r * c.cols;
      double ref = 0;
      for (int64_t i = 0; i < c.cols; ++i) ref += static_cast<double>(wr[i]) * x[i];
      const double tol = tolerance(c.format, wr, x.data(), c.cols);
      ASSERT_NEAR(y[r], ref, tol) << "row " << r;
      worst_ratio = std::fmax(worst_ratio, std::fabs(y[r] - ref) / tol);
    }
    // dequantize_row reads the same blocks: identical to the reference dequantizer.
    std::vector<float> row(static_cast<size_t>(c.cols));
    dequantize_row(b.w, c.rows - 1, row.data());
    EXPECT_EQ(0, std::memcmp(row.data(), b.deq.data() + (c.rows - 1) * c.cols, row.size() * 4));
  }
}

TEST_P(MatvecIsaTest, Int8PerChannelAndInt4PerGroupMatchTheirDefinitions) {
  ThreadPool pool(1);
  std::mt19937 rng(7);
  for (int64_t cols : {1, 31, 64, 130, 512}) {
    const int64_t rows = 13;
    // int8 per channel: w = q * scale[row]
    std::vector<int8_t> q8(static_cast<size_t>(rows * cols));
    for (auto& q : q8) q = static_cast<int8_t>(static_cast<int>(rng() % 256) - 128);
    const auto scales8 = random_floats(static_cast<size_t>(rows), 11, 0.01f);
    WeightMatrix w8{WeightFormat::kInt8PerChannel, rows, cols, reinterpret_cast<const uint8_t*>(q8.data()),
                    static_cast<size_t>(cols), scales8.data()};
    const auto x = random_floats(static_cast<size_t>(cols), 12 + static_cast<uint32_t>(cols));
    std::vector<float> y(static_cast<size_t>(rows));
    matvec(w8, x.data(), y.data(), pool);
    for (int64_t r = 0; r < rows; ++r) {
      double ref = 0, slack = 0;
      for (int64_t i = 0; i < cols; ++i) {
        const double wi = static_cast<double>(q8[r * cols + i]) * scales8[r];
        ref += wi * x[i];
        slack += std::fabs(wi * x[i]);
      }
      ASSERT_NEAR(y[r], ref, 1e-5 * slack + 1e-6) << "int8 cols " << cols << " row " << r;
    }
    // int4 per group (groups of 32 and a group size that does not divide cols)
    for (int64_t group : {int64_t{32}, int64_t{48}}) {
      const int64_t ng = (cols + group - 1) / group;
      const size_t rb = static_cast<size_t>((cols + 1) / 2);
      std::vector<uint8_t> q4(rb * static_cast<size_t>(rows));
      for (auto& b : q4) b = static_cast<uint8_t>(rng() & 0xFF);
      const auto sc = random_floats(static_cast<size_t>(rows * ng), 13, 0.01f);
      std::vector<float> zr(static_cast<size_t>(rows * ng));
      for (auto& z : zr) z = static_cast<float>(rng() % 16);
      WeightMatrix w4{WeightFormat::kInt4PerGroup, rows, cols, q4.data(), rb, sc.data(), zr.data(), group};
      matvec(w4, x.data(), y.data(), pool);
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = 0; r < rows; ++r) {
        double ref = 0, slack = 0;
        for (int64_t i = 0; i < cols; ++i) {
          const uint8_t byte = q4[r * rb + i / 2];
          const int q = i % 2 ? byte >> 4 : byte & 0xF;
          const double wi = (q - static_cast<double>(zr[r * ng + i / group])) * sc[r * ng + i / group];
          ref += wi * x[i];
          slack += std::fabs(wi * x[i]);
        }
        ASSERT_NEAR(y[r], ref, 1e-5 * slack + 1e-5) << "int4 cols " << cols << " group " << group << " row " << r;
        dequantize_row(w4, r, row.data());
        const uint8_t byte0 = q4[r * rb];
        EXPECT_FLOAT_EQ(row[0], ((byte0 & 0xF) - zr[r * ng]) * sc[r * ng]);
      }
    }
  }
}

TEST_P(MatvecIsaTest, TwoThreadsAndMatmulGiveBitIdenticalResults) {
  ThreadPool one(1), two(2);
  for (WeightFormat f : {WeightFormat::kF16, WeightFormat::kQ4_0, WeightFormat::kQ8_0, WeightFormat::kQ4_K,
                         WeightFormat::kQ6_K}) {
    SCOPED_TRACE(std::string(weight_format_name(f)));
    Built b = build(f, 333, 1024, 99);
    const int64_t n = 5;
    const auto x = random_floats(static_cast<size_t>(n * 1024), 100);
    std::vector<float> y1(333), y2(333), ym(static_cast<size_t>(n * 333));
    matmul(b.w, x.data(), n, ym.data(), two);
    for (int64_t t = 0; t < n; ++t) {
      matvec(b.w, x.data() + t * 1024, y1.data(), one);
      matvec(b.w, x.data() + t * 1024, y2.data(), two);
      ASSERT_EQ(0, std::memcmp(y1.data(), y2.data(), y1.size() * 4)) << "token " << t;
      ASSERT_EQ(0, std::memcmp(y1.data(), ym.data() + t * 333, y1.size() * 4)) << "token " << t;
    }
  }
}

// int8-per-channel / int4-per-group matrices with random codes, and their defining formula in fp64.
struct BuiltInt {
  std::vector<uint8_t> bytes;
  std::vector<float> scales, zeros;
  std::vector<double> deq;  // [rows, cols]
  std::vector<double> mag;  // int4: |scale| * (q + zero), the size of the two terms the kernel subtracts
  WeightMatrix w;
};

BuiltInt build_int(WeightFormat f, int64_t rows, int64_t cols, int64_t group, uint32_t seed) {
  BuiltInt b;
  std::mt19937 rng(seed);
  b.deq.resize(static_cast<size_t>(rows * cols));
  b.w.format = f;
  b.w.rows = rows;
  b.w.cols = cols;
  if (f == WeightFormat::kInt8PerChannel) {
    b.bytes.resize(static_cast<size_t>(rows * cols));
    for (auto& q : b.bytes) q = static_cast<uint8_t>(rng());
    b.scales = random_floats(static_cast<size_t>(rows), seed + 1, 0.01f);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < cols; ++i)
        b.deq[r * cols + i] = static_cast<double>(static_cast<int8_t>(b.bytes[r * cols + i])) * b.scales[r];
    b.w.row_bytes = static_cast<size_t>(cols);
  } else {
    const int64_t ng = (cols + group - 1) / group;
    const size_t rb = static_cast<size_t>((cols + 1) / 2);
    b.bytes.resize(rb * static_cast<size_t>(rows));
    for (auto& q : b.bytes) q = static_cast<uint8_t>(rng());
    b.scales = random_floats(static_cast<size_t>(rows * ng), seed + 1, 0.01f);
    b.zeros.resize(b.scales.size());
    for (auto& z : b.zeros) z = static_cast<float>(rng() % 16);
    b.mag.resize(b.deq.size());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t i = 0; i < cols; ++i) {
        const uint8_t byte = b.bytes[r * rb + i / 2];
        const int q = i % 2 ? byte >> 4 : byte & 0xF;
        b.deq[r * cols + i] = (q - static_cast<double>(b.zeros[r * ng + i / group])) * b.scales[r * ng + i / group];
        b.mag[r * cols + i] = std::fabs(b.scales[r * ng + i / group]) * (q + b.zeros[r * ng + i / group]);
      }
    b.w.row_bytes = rb;
    b.w.zeros = b.zeros.data();
    b.w.group_size = group;
  }
  b.w.data = b.bytes.data();
  b.w.scales = b.scales.data();
  return b;
}

// matmul (batched prefill) of all nine formats against the fp64 oracle, with token counts that exercise
// every tile width (1..4 tokens, several tiles, a partial last one), row counts off the 16-row tiles and
// column counts off the 8/32-element vector steps; then every row equal to matvec of that token, bit for bit.
TEST_P(MatvecIsaTest, MatmulOfEveryFormatMatchesFp64OracleAndMatvecBitForBit) {
  struct MCase {
    WeightFormat format;
    int64_t rows, cols, group;
  };
  const std::vector<MCase> cases = {
      {WeightFormat::kF32, 37, 67, 0},         {WeightFormat::kF32, 5, 7, 0},
      {WeightFormat::kF16, 19, 333, 0},        {WeightFormat::kF16, 33, 1024, 0},
      {WeightFormat::kBF16, 17, 300, 0},       {WeightFormat::kInt8PerChannel, 21, 131, 0},
      {WeightFormat::kInt4PerGroup, 23, 130, 32}, {WeightFormat::kInt4PerGroup, 9, 101, 48},
      {WeightFormat::kQ4_0, 41, 96, 0},        {WeightFormat::kQ4_0, 18, 1024, 0},
      {WeightFormat::kQ8_0, 23, 160, 0},       {WeightFormat::kQ8_0, 17, 3072, 0},
      {WeightFormat::kQ4_K, 29, 768, 0},       {WeightFormat::kQ6_K, 31, 1024, 0},
  };
  ThreadPool one(1), two(2);
  uint32_t seed = 500;
  for (const MCase& c : cases) {
    SCOPED_TRACE(std::string(weight_format_name(c.format)) + " " + std::to_string(c.rows) + "x" + std::to_string(c.cols));
    WeightMatrix w;
    std::vector<double> deq, mag;
    Built bq;
    BuiltInt bi;
    if (c.format == WeightFormat::kInt8PerChannel || c.format == WeightFormat::kInt4PerGroup) {
      bi = build_int(c.format, c.rows, c.cols, c.group, seed++);
      w = bi.w;
      deq = bi.deq;
      mag = bi.mag;
    } else {
      bq = build(c.format, c.rows, c.cols, seed++);
      w = bq.w;
      deq.assign(bq.deq.begin(), bq.deq.end());
    }
    for (int64_t n : {1, 2, 3, 4, 5, 7, 9, 13}) {
      SCOPED_TRACE("n " + std::to_string(n));
      auto x = random_floats(static_cast<size_t>(n * c.cols), seed++);
      for (size_t i = 0; i < x.size(); i += 97) x[i] *= 20.0f;
      std::vector<float> y(static_cast<size_t>(n * c.rows), NAN), y2(y.size(), NAN), yv(static_cast<size_t>(c.rows));
      matmul(w, x.data(), n, y.data(), one);
      matmul(w, x.data(), n, y2.data(), two);
      ASSERT_EQ(0, std::memcmp(y.data(), y2.data(), y.size() * 4)) << "1 vs 2 threads";
      std::vector<float> wr(static_cast<size_t>(c.cols));
      for (int64_t t = 0; t < n; ++t) {
        const float* xt = x.data() + t * c.cols;
        for (int64_t r = 0; r < c.rows; ++r) {
          double ref = 0;
          for (int64_t i = 0; i < c.cols; ++i) {
            ref += deq[r * c.cols + i] * xt[i];
            wr[i] = static_cast<float>(deq[r * c.cols + i]);
          }
          double tol = tolerance(c.format, wr.data(), xt, c.cols);
          // int4 sums scale * q.x and scale * zero * sum(x) separately, so its fp32 slack is relative to both.
          if (!mag.empty())
            for (int64_t i = 0; i < c.cols; ++i) tol += 1e-5 * mag[r * c.cols + i] * std::fabs(xt[i]);
          ASSERT_NEAR(y[t * c.rows + r], ref, tol) << "token " << t << " row " << r;
        }
        matvec(w, xt, yv.data(), one);
        ASSERT_EQ(0, std::memcmp(yv.data(), y.data() + t * c.rows, yv.size() * 4)) << "token " << t;
      }
    }
  }
}

TEST(MatvecScalarVsAvx2, QuantizedPathsAgreeToFp32Rounding) {
  set_kernel_isa(KernelIsa::kAuto);
  if (active_kernel_isa() != KernelIsa::kAvx2) GTEST_SKIP() << "no AVX2 here";
  ThreadPool pool(1);
  for (WeightFormat f : {WeightFormat::kQ4_0, WeightFormat::kQ8_0, WeightFormat::kQ4_K, WeightFormat::kQ6_K}) {
    Built b = build(f, 64, 2048, 5);
    const auto x = random_floats(2048, 6);
    std::vector<float> ya(64), ys(64);
    matvec(b.w, x.data(), ya.data(), pool);
    set_kernel_isa(KernelIsa::kScalar);
    matvec(b.w, x.data(), ys.data(), pool);
    set_kernel_isa(KernelIsa::kAuto);
    // Same integer block sums, different fp32 summation order.
    for (int r = 0; r < 64; ++r) ASSERT_NEAR(ya[r], ys[r], 1e-4 * (std::fabs(ys[r]) + 1e-2)) << weight_format_name(f);
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, MatvecIsaTest, ::testing::Values(KernelIsa::kScalar, KernelIsa::kAvx2),
                         [](const auto& info) { return info.param == KernelIsa::kScalar ? "Scalar" : "Avx2"; });

TEST(ThreadPool, ParallelForCoversEveryIndexOnceAcrossManyCalls) {
  ThreadPool pool(2);
  EXPECT_EQ(pool.size(), 2);
  std::vector<std::atomic<int>> hits(1000);
  for (int rep = 0; rep < 2000; ++rep) {
    const int64_t n = 1 + rep % 997;
    const std::function<void(int64_t, int64_t)> fn = [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
    };
    pool.parallel_for(n, fn);
    for (int64_t i = 0; i < 1000; ++i) {
      ASSERT_EQ(hits[static_cast<size_t>(i)].load(), i < n ? 1 : 0) << "rep " << rep << " i " << i;
      hits[static_cast<size_t>(i)] = 0;
    }
  }
}

}  // namespace
}  // namespace ironmill::engine
