// Decode-engine matvec throughput per weight format at Qwen3-0.6B shapes (hidden 1024, intermediate
// 3072, 16 q heads / 8 kv heads of 128), reported as weight bytes streamed per second, next to two
// bandwidth rooflines measured in the same run: a read-only sum loop (what a memory-bound matvec can
// reach) and memcpy. Each benchmark cycles over enough copies of its matrix (>= 192 MiB) that the
// weights come from DRAM, as in real decode, not from cache.
// BM_Matmul / BM_MatvecPerToken: a 64-token prefill through matmul vs 64 matvec calls (GFLOPs counter).
//   build-*/bin/engine_kernels_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <immintrin.h>

#include <cstring>
#include <functional>
#include <map>
#include <tuple>
#include <memory>
#include <random>
#include <vector>

#include "engine/kernels/kernels.h"
#include "formats/gguf/quants.h"

namespace ironmill::engine {
namespace {
namespace gg = formats::gguf;

constexpr size_t kWorkingSet = size_t{192} << 20;

ThreadPool& pool(int threads) {
  static ThreadPool one(1), two(2);
  return threads == 1 ? one : two;
}

struct MatrixSet {
  std::vector<uint8_t> bytes;
  std::vector<float> scales, zeros;
  std::vector<WeightMatrix> copies;
};

MatrixSet make_set(WeightFormat f, int64_t rows, int64_t cols) {
  MatrixSet s;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> src(static_cast<size_t>(rows * cols));
  for (auto& v : src) v = dist(rng);
  const size_t rb = weight_row_bytes(f, cols);
  std::vector<uint8_t> one(rb * static_cast<size_t>(rows));
  int64_t group = 0;
  switch (f) {
    case WeightFormat::kF32: std::memcpy(one.data(), src.data(), one.size()); break;
    case WeightFormat::kF16: (void)gg::quantize(gg::GgmlType::kF16, src.data(), one.data(), rows, cols); break;
    case WeightFormat::kBF16: (void)gg::quantize(gg::GgmlType::kBF16, src.data(), one.data(), rows, cols); break;
    case WeightFormat::kQ4_0: (void)gg::quantize(gg::GgmlType::kQ4_0, src.data(), one.data(), rows, cols); break;
    case WeightFormat::kQ8_0: (void)gg::quantize(gg::GgmlType::kQ8_0, src.data(), one.data(), rows, cols); break;
    case WeightFormat::kQ4_K: (void)gg::quantize(gg::GgmlType::kQ4_K, src.data(), one.data(), rows, cols); break;
    case WeightFormat::kQ6_K: (void)gg::quantize(gg::GgmlType::kQ6_K, src.data(), one.data(), rows, cols); break;
    case WeightFormat::kInt8PerChannel:
    case WeightFormat::kInt4PerGroup:
      for (auto& b : one) b = static_cast<uint8_t>(rng());
      group = 128;
      s.scales.assign(static_cast<size_t>(rows * cols / 32 + rows), 0.01f);
      s.zeros.assign(s.scales.size(), 8.0f);
      break;
  }
  const size_t n = kWorkingSet / one.size() + 1;
  s.bytes.resize(one.size() * n + 64);
  uint8_t* base = s.bytes.data() + (64 - reinterpret_cast<uintptr_t>(s.bytes.data()) % 64) % 64;
  for (size_t i = 0; i < n; ++i) {
    std::memcpy(base + i * one.size(), one.data(), one.size());
    WeightMatrix w;
    w.format = f;
    w.rows = rows;
    w.cols = cols;
    w.data = base + i * one.size();
    w.row_bytes = rb;
    w.scales = s.scales.empty() ? nullptr : s.scales.data();
    w.zeros = s.zeros.empty() ? nullptr : s.zeros.data();
    w.group_size = group;
    s.copies.push_back(w);
  }
  return s;
}

void BM_Matvec(benchmark::State& state, WeightFormat f, int64_t rows, int64_t cols) {
  const int threads = static_cast<int>(state.range(0));
  static std::map<std::tuple<int, int64_t, int64_t>, std::unique_ptr<MatrixSet>> cache;
  auto& slot = cache[{static_cast<int>(f), rows, cols}];
  if (!slot) slot = std::make_unique<MatrixSet>(make_set(f, rows, cols));
  const MatrixSet& s = *slot;
  std::vector<float> x(static_cast<size_t>(cols), 0.5f), y(static_cast<size_t>(rows));
  size_t i = 0;
  for (auto _ : state) {
    matvec(s.copies[i], x.data(), y.data(), pool(threads));
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % s.copies.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * rows *
                          static_cast<int64_t>(s.copies[0].row_bytes));
  state.SetLabel(std::string(weight_format_name(f)) + (active_kernel_isa() == KernelIsa::kAvx2 ? " avx2" : " scalar"));
}

// Rooflines: stream the same working set with a read-only reduction, and copy it (CopyRoofline/1 is a
// plain single-thread memcpy).
std::vector<uint8_t>& roofline_buffer() {
  static std::vector<uint8_t> b(kWorkingSet, 1);
  return b;
}

// A 32-byte-load sum with 8 independent accumulators, so the loop's instruction issue is never what limits
// it (a plain uint64 loop needs 4x the loads of the vector kernels it is compared with).
__attribute__((target("avx2"))) uint64_t sum_avx2(const uint8_t* p, int64_t bytes) {
  __m256i a[8];
  for (auto& x : a) x = _mm256_setzero_si256();
  int64_t i = 0;
  for (; i + 256 <= bytes; i += 256)
    for (int k = 0; k < 8; ++k)
      a[k] = _mm256_add_epi64(a[k], _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32 * k)));
  for (int k = 1; k < 8; ++k) a[0] = _mm256_add_epi64(a[0], a[k]);
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), a[0]);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

uint64_t sum_scalar(const uint8_t* p, int64_t bytes) {
  const auto* q = reinterpret_cast<const uint64_t*>(p);
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (int64_t i = 0; i + 4 <= bytes / 8; i += 4) {
    a0 += q[i];
    a1 += q[i + 1];
    a2 += q[i + 2];
    a3 += q[i + 3];
  }
  return a0 + a1 + a2 + a3;
}

void BM_ReadRoofline(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  auto& buf = roofline_buffer();
  const int64_t n = static_cast<int64_t>(buf.size());
  const bool avx2 = __builtin_cpu_supports("avx2");
  std::vector<uint64_t> sums(2 * 8);
  const std::function<void(int64_t, int64_t)> body = [&](int64_t b, int64_t e) {
    const int64_t lo = n * b / 2, hi = n * e / 2;
    sums[static_cast<size_t>(b * 8)] = avx2 ? sum_avx2(buf.data() + lo, hi - lo) : sum_scalar(buf.data() + lo, hi - lo);
  };
  for (auto _ : state) {
    if (threads == 1) body(0, 2);
    else pool(2).parallel_for(2, body);
    benchmark::DoNotOptimize(sums.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n);
  state.SetLabel(avx2 ? "avx2" : "scalar");
}

// The copy loop the llama.cpp comparison divides by (bench/peers/llama_bench.py): each of T threads copies
// its half of the working set; bytes read + written per second.
void BM_CopyRoofline(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  auto& src = roofline_buffer();
  static std::vector<uint8_t> dst(kWorkingSet / 2);
  const int64_t n = static_cast<int64_t>(dst.size());
  const std::function<void(int64_t, int64_t)> body = [&](int64_t b, int64_t e) {
    const int64_t lo = n * b / 2, hi = n * e / 2;
    std::memcpy(dst.data() + lo, src.data() + lo, static_cast<size_t>(hi - lo));
  };
  for (auto _ : state) {
    if (threads == 1) body(0, 2);
    else pool(2).parallel_for(2, body);
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * 2 * n);
}

BENCHMARK(BM_ReadRoofline)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK(BM_CopyRoofline)->Arg(1)->Arg(2)->UseRealTime();

#define IM_MATVEC(fmt, rows, cols)                                                                       \
  BENCHMARK_CAPTURE(BM_Matvec, fmt##_##rows##x##cols, WeightFormat::fmt, rows, cols)->Arg(1)->Arg(2)->UseRealTime()
// gate/up [3072, 1024]; down [1024, 3072].
IM_MATVEC(kF32, 3072, 1024);
IM_MATVEC(kF16, 3072, 1024);
IM_MATVEC(kBF16, 3072, 1024);
IM_MATVEC(kInt8PerChannel, 3072, 1024);
IM_MATVEC(kInt4PerGroup, 3072, 1024);
IM_MATVEC(kQ8_0, 3072, 1024);
IM_MATVEC(kQ4_0, 3072, 1024);
IM_MATVEC(kQ4_K, 3072, 1024);
IM_MATVEC(kQ6_K, 3072, 1024);
IM_MATVEC(kQ8_0, 1024, 3072);
IM_MATVEC(kQ4_0, 1024, 3072);
IM_MATVEC(kQ4_K, 1024, 3072);
IM_MATVEC(kQ6_K, 1024, 3072);


// Prefill: n tokens through one matmul (tile kernels, each weight block decoded once per 4 tokens) vs the
// same n tokens through n matvec calls (every weight block read n times). Counter GFLOPs = 2 rows cols n
// per second; bytes = weight bytes streamed once per call.
const MatrixSet& cached_set(WeightFormat f, int64_t rows, int64_t cols) {
  static std::map<std::tuple<int, int64_t, int64_t>, std::unique_ptr<MatrixSet>> cache;
  auto& slot = cache[{static_cast<int>(f), rows, cols}];
  if (!slot) slot = std::make_unique<MatrixSet>(make_set(f, rows, cols));
  return *slot;
}

void prefill_bench(benchmark::State& state, WeightFormat f, int64_t rows, int64_t cols, bool batched) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t n = state.range(1);
  const MatrixSet& s = cached_set(f, rows, cols);
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n * cols)), y(static_cast<size_t>(n * rows));
  for (auto& v : x) v = dist(rng);
  size_t i = 0;
  for (auto _ : state) {
    if (batched) matmul(s.copies[i], x.data(), n, y.data(), pool(threads));
    else
      for (int64_t t = 0; t < n; ++t) matvec(s.copies[i], x.data() + t * cols, y.data() + t * rows, pool(threads));
    benchmark::DoNotOptimize(y.data());
    i = (i + 1) % s.copies.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * rows * static_cast<int64_t>(s.copies[0].row_bytes));
  state.counters["GFLOPs"] = benchmark::Counter(2.0 * static_cast<double>(rows * cols * n) * 1e-9 *
                                                    static_cast<double>(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.SetLabel(std::string(weight_format_name(f)) + (active_kernel_isa() == KernelIsa::kAvx2 ? " avx2" : " scalar") +
                 (batched ? " matmul" : " matvec x n"));
}
void BM_Matmul(benchmark::State& state, WeightFormat f, int64_t rows, int64_t cols) {
  prefill_bench(state, f, rows, cols, true);
}
void BM_MatvecPerToken(benchmark::State& state, WeightFormat f, int64_t rows, int64_t cols) {
  prefill_bench(state, f, rows, cols, false);
}

#define IM_PREFILL(fmt, rows, cols)                                                                        \
  BENCHMARK_CAPTURE(BM_Matmul, fmt##_##rows##x##cols, WeightFormat::fmt, rows, cols)                        \
      ->Args({1, 64})->Args({2, 64})->UseRealTime();                                                       \
  BENCHMARK_CAPTURE(BM_MatvecPerToken, fmt##_##rows##x##cols, WeightFormat::fmt, rows, cols)                \
      ->Args({1, 64})->Args({2, 64})->UseRealTime()
// Qwen3-0.6B gate/up [3072, 1024] and down [1024, 3072], 64-token prefill.
IM_PREFILL(kF16, 3072, 1024);
IM_PREFILL(kQ8_0, 3072, 1024);
IM_PREFILL(kQ4_0, 3072, 1024);
IM_PREFILL(kF16, 1024, 3072);
IM_PREFILL(kQ8_0, 1024, 3072);
IM_PREFILL(kQ4_0, 1024, 3072);
IM_PREFILL(kQ4_K, 3072, 1024);
IM_PREFILL(kQ6_K, 3072, 1024);
IM_PREFILL(kBF16, 3072, 1024);
IM_PREFILL(kF32, 3072, 1024);
IM_PREFILL(kInt8PerChannel, 3072, 1024);
IM_PREFILL(kInt4PerGroup, 3072, 1024);

}  // namespace
}  // namespace ironmill::engine
