// Opening a 1 GiB SafeTensors file and touching its header: File::open (mmap + full header
// validation: JSON, dtypes, shapes, offsets, overlaps) then looking up a tensor and viewing it. The
// file is generated once into /tmp as a sparse file (the header is real, the data region a hole), so
// the figure is the header/mmap cost and does not depend on the page cache. Goal: < 50 ms.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "formats/safetensors/safetensors.h"

namespace st = ironmill::formats::safetensors;

namespace {

// A 0.5B-parameter-like layout: 24 layers x 12 tensors + embeddings, F16, 1 GiB in all.
std::string make_file() {
  const std::string path = "/tmp/ironmill_bench_1gib_" + std::to_string(::getpid()) + ".safetensors";
  const uint64_t total = uint64_t{1} << 30;
  const int n_layers = 24, per_layer = 12;
  const uint64_t embed = uint64_t{64} << 20;  // 64 MiB
  const uint64_t each = (total - embed) / (n_layers * per_layer) / 512 * 512;
  std::string json = "{\"__metadata__\":{\"format\":\"pt\"}";
  uint64_t off = 0;
  auto add = [&](const std::string& name, uint64_t bytes) {
    const uint64_t cols = 512, rows = bytes / 2 / cols;
    json += ",\"" + name + "\":{\"dtype\":\"F16\",\"shape\":[" + std::to_string(rows) + "," + std::to_string(cols) +
            "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + rows * cols * 2) + "]}";
    off += rows * cols * 2;
  };
  add("model.embed_tokens.weight", embed);
  for (int l = 0; l < n_layers; ++l)
    for (int t = 0; t < per_layer; ++t) add("model.layers." + std::to_string(l) + ".t" + std::to_string(t), each);
  json += "}";
  while ((8 + json.size()) % 8) json += ' ';
  std::FILE* f = std::fopen(path.c_str(), "wb");
  const uint64_t n = json.size();
  std::fwrite(&n, 8, 1, f);
  std::fwrite(json.data(), 1, json.size(), f);
  std::fclose(f);
  std::filesystem::resize_file(path, 8 + json.size() + off);  // sparse data region
  return path;
}

void BM_SafetensorsOpen1GiB(benchmark::State& state) {
  static const std::string path = make_file();
  for (auto _ : state) {
    auto f = st::File::open(path);
    if (!f.ok()) {
      state.SkipWithError(f.status().message().c_str());
      return;
    }
    auto t = f->tensor("model.layers.23.t11");
    benchmark::DoNotOptimize(t);
    benchmark::DoNotOptimize(f->tensors().size());
  }
  state.counters["file_GiB"] =
      static_cast<double>(std::filesystem::file_size(path)) / static_cast<double>(uint64_t{1} << 30);
  state.counters["tensors"] = 1 + 24 * 12;
}
BENCHMARK(BM_SafetensorsOpen1GiB)->Unit(benchmark::kMillisecond);

struct Cleanup {
  ~Cleanup() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/tmp", ec))
      if (e.path().filename().string().rfind("ironmill_bench_1gib_" + std::to_string(::getpid()), 0) == 0)
        std::filesystem::remove(e.path(), ec);
  }
} cleanup;

}  // namespace
