// Dequantization throughput of Q4_0, Q8_0, Q4_K and Q6_K: ours (formats/gguf/quants.cc) side by side
// with ggml's own to_float routines (libggml-base from ci/setup_peers.sh, when it was found at configure
// time). Each benchmark decodes the same 4 Mi elements (quantized by ggml's reference quantizer, which
// ours matches bit for bit) into fp32; items/s = elements/s. Compare BM_ours/<type> with BM_ggml/<type>.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "formats/gguf/ggml_types.h"
#include "formats/gguf/quants.h"

#if IRONMILL_HAVE_GGML
#include "ggml.h"
#endif

namespace gg = ironmill::formats::gguf;

namespace {

constexpr int64_t kElements = int64_t{1} << 22;

const std::vector<uint8_t>& blocks(gg::GgmlType t) {
  static std::vector<uint8_t> cache[64];
  auto& b = cache[static_cast<int>(t)];
  if (b.empty()) {
    std::mt19937 rng(42);
    std::normal_distribution<float> normal(0.f, 1.f);
    std::vector<float> x(kElements);
    for (auto& v : x) v = normal(rng);
    b.resize(gg::ggml_row_size(t, kElements));
    auto r = gg::quantize(t, x.data(), b.data(), kElements / 4096, 4096);
    if (!r.ok()) std::abort();
  }
  return b;
}

void BM_ours(benchmark::State& state, gg::GgmlType t) {
  const auto& src = blocks(t);
  std::vector<float> dst(kElements);
  for (auto _ : state) {
    auto s = gg::dequantize_row(t, src.data(), dst.data(), kElements);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kElements);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(src.size()));
}

#if IRONMILL_HAVE_GGML
void BM_ggml(benchmark::State& state, gg::GgmlType t) {
  const auto& src = blocks(t);
  std::vector<float> dst(kElements);
  const auto to_float = ggml_get_type_traits(static_cast<ggml_type>(t))->to_float;
  for (auto _ : state) {
    to_float(src.data(), dst.data(), kElements);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kElements);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(src.size()));
}
#endif

const struct {
  const char* name;
  gg::GgmlType type;
} kTypes[] = {{"q4_0", gg::GgmlType::kQ4_0}, {"q8_0", gg::GgmlType::kQ8_0}, {"q4_K", gg::GgmlType::kQ4_K},
              {"q6_K", gg::GgmlType::kQ6_K}};

[[maybe_unused]] const bool registered = [] {
  for (const auto& t : kTypes) {
    benchmark::RegisterBenchmark((std::string("BM_ours/") + t.name).c_str(), BM_ours, t.type)
        ->Unit(benchmark::kMillisecond);
#if IRONMILL_HAVE_GGML
    benchmark::RegisterBenchmark((std::string("BM_ggml/") + t.name).c_str(), BM_ggml, t.type)
        ->Unit(benchmark::kMillisecond);
#endif
  }
  return true;
}();

}  // namespace
