// .ironml-gpu: round trip (bytes, shapes, config, 64-byte row strides, matvec on the mapped weights equals
// matvec on the source), HF checkpoint compile (golden/qwen3's SafeTensors, compared tensor by tensor),
// atomic overwrite, and corrupt inputs each giving an error naming the file / field.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <unistd.h>

#include "engine/bundle/gpu_bundle.h"
#include "formats/gguf/quants.h"
#include "formats/safetensors/safetensors.h"

namespace ironmill::engine {
namespace {
namespace fs = std::filesystem;
namespace gg = formats::gguf;

fs::path temp_dir(const std::string& tag) {
  fs::path p = fs::temp_directory_path() / ("im_bundle_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

struct Fixture {
  std::vector<float> f32;
  std::vector<uint8_t> q4, q6;
  std::vector<int8_t> i8;
  std::vector<float> i8_scales;
  std::vector<uint8_t> i4;
  std::vector<float> i4_scales, i4_zeros;
  std::vector<BundleTensorSource> sources;
};

Fixture make_fixture() {
  Fixture f;
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0.0f, 1.0f);
  f.f32.resize(7);
  for (auto& v : f.f32) v = d(rng);
  std::vector<float> src(5 * 256);
  for (auto& v : src) v = d(rng);
  f.q4.resize(5 * gg::ggml_row_size(gg::GgmlType::kQ4_0, 256));
  EXPECT_TRUE(gg::quantize(gg::GgmlType::kQ4_0, src.data(), f.q4.data(), 5, 256).ok());
  f.q6.resize(5 * gg::ggml_row_size(gg::GgmlType::kQ6_K, 256));
  EXPECT_TRUE(gg::quantize(gg::GgmlType::kQ6_K, src.data(), f.q6.data(), 5, 256).ok());
  f.i8.resize(3 * 40);
  for (auto& q : f.i8) q = static_cast<int8_t>(rng() % 255 - 127);
  f.i8_scales = {0.5f, 0.25f, 2.0f};
  f.i4.resize(2 * 32);  // 2 rows x 64 cols
  for (auto& b : f.i4) b = static_cast<uint8_t>(rng());
  f.i4_scales = {0.1f, 0.2f, 0.3f, 0.4f};
  f.i4_zeros = {8, 7, 6, 5};
  f.sources = {
      {"model.norm.weight", WeightFormat::kF32, {7}, reinterpret_cast<const uint8_t*>(f.f32.data())},
      {"blk.0.attn_q.weight", WeightFormat::kQ4_0, {5, 256}, f.q4.data()},
      {"layers/0/ffn_down", WeightFormat::kQ6_K, {1, 5, 256}, f.q6.data()},
      {"i8", WeightFormat::kInt8PerChannel, {3, 40}, reinterpret_cast<const uint8_t*>(f.i8.data()), f.i8_scales.data()},
      {"i4", WeightFormat::kInt4PerGroup, {2, 64}, f.i4.data(), f.i4_scales.data(), f.i4_zeros.data(), 32},
  };
  return f;
}

TEST(GpuBundle, RoundTripKeepsBytesShapesAndMatvec) {
  const fs::path dir = temp_dir("rt");
  const std::string path = (dir / "m.ironml-gpu").string();
  Fixture f = make_fixture();
  ASSERT_TRUE(write_gpu_bundle(path, "{\"model_type\": \"test\"}", "unit", f.sources).ok());
  EXPECT_TRUE(fs::exists(fs::path(path) / "weights" / "blk_0_attn_q_weight.bin"));
  EXPECT_TRUE(fs::exists(fs::path(path) / "weights" / "layers_0_ffn_down.bin"));
  auto b = open_gpu_bundle(path);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->config_json, "{\"model_type\": \"test\"}");
  EXPECT_EQ(b->source, "unit");
  ASSERT_EQ(b->weights.size(), 5u);
  ThreadPool pool(1);
  for (const auto& s : f.sources) {
    SCOPED_TRACE(s.name);
    const WeightMatrix& w = b->weights.at(s.name);
    EXPECT_EQ(b->shapes.at(s.name), s.shape);
    EXPECT_EQ(w.format, s.format);
    EXPECT_EQ(w.row_bytes % 64, 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 64, 0u);
    const size_t rb = weight_row_bytes(s.format, w.cols);
    for (int64_t r = 0; r < w.rows; ++r) ASSERT_EQ(0, std::memcmp(w.data + r * w.row_bytes, s.data + r * rb, rb));
    WeightMatrix src_w = w;
    src_w.data = s.data;
    src_w.row_bytes = rb;
    src_w.scales = s.scales;
    src_w.zeros = s.zeros;
    std::vector<float> x(static_cast<size_t>(w.cols), 0.25f), y1(static_cast<size_t>(w.rows)), y2(y1.size());
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
    matvec(w, x.data(), y1.data(), pool);
    matvec(src_w, x.data(), y2.data(), pool);
    EXPECT_EQ(y1, y2);
  }
  // Atomic overwrite: a second write replaces the bundle and leaves no temp/old siblings.
  ASSERT_TRUE(write_gpu_bundle(path, "{}", "unit2", {f.sources[0]}).ok());
  auto b2 = open_gpu_bundle(path);
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ(b2->weights.size(), 1u);
  EXPECT_FALSE(fs::exists(fs::path(path) / "weights" / "i4.bin"));
  int siblings = 0;
  for (const auto& e : fs::directory_iterator(dir)) siblings += e.path().filename() != "m.ironml-gpu";
  EXPECT_EQ(siblings, 0);
  fs::remove_all(dir);
}

TEST(GpuBundle, WriterRejectsBadTensorsAndLeavesNothing) {
  const fs::path dir = temp_dir("bad");
  Fixture f = make_fixture();
  std::vector<BundleTensorSource> bad = {{"q", WeightFormat::kQ4_0, {2, 33}, f.q4.data()}};
  Status s = write_gpu_bundle((dir / "x.ironml-gpu").string(), "{}", "", bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("q: 33 columns"), std::string::npos) << s.message();
  std::vector<BundleTensorSource> clash = {f.sources[0], f.sources[0]};
  clash[1].name = "model/norm.weight";  // same sanitized file name
  EXPECT_FALSE(write_gpu_bundle((dir / "x.ironml-gpu").string(), "{}", "", clash).ok());
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(GpuBundle, CorruptBundlesGiveErrorsNamingFileAndField) {
  const fs::path dir = temp_dir("corrupt");
  const fs::path path = dir / "m.ironml-gpu";
  Fixture f = make_fixture();
  ASSERT_TRUE(write_gpu_bundle(path.string(), "{}", "unit", f.sources).ok());
  std::ifstream in(path / "manifest.json");
  const nlohmann::json good = nlohmann::json::parse(in);
  auto with = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json m = good;
    edit(m);
    std::ofstream(path / "manifest.json") << m.dump();
    auto r = open_gpu_bundle(path.string());
    return r.ok() ? std::string("OK") : r.status().message();
  };
  const std::string q = "blk.0.attn_q.weight";
  EXPECT_NE(with([](auto& m) { m["format_version"] = 2; }).find("format_version"), std::string::npos);
  EXPECT_NE(with([&](auto& m) { m["tensors"][q]["format"] = "q5_0"; }).find("tensors." + q + ".format"), std::string::npos);
  EXPECT_NE(with([&](auto& m) { m["tensors"][q]["row_stride"] = 144; }).find(".row_stride"), std::string::npos);
  EXPECT_NE(with([&](auto& m) { m["tensors"][q].erase("rows"); }).find(".rows"), std::string::npos);
  EXPECT_NE(with([&](auto& m) { m["tensors"][q]["rows"] = 4; }).find("rows/cols"), std::string::npos);
  EXPECT_NE(with([&](auto& m) { m["tensors"][q]["file"] = "../etc/passwd"; }).find("bad path"), std::string::npos);
  EXPECT_NE(with([&](auto& m) { m["tensors"]["i4"].erase("zeros_file"); }).find("i4.zeros_file"), std::string::npos);
  EXPECT_EQ(with([](auto&) {}), "OK");
  // Truncated weight file: the error names the file and both sizes.
  const fs::path wf = path / "weights" / "blk_0_attn_q_weight.bin";
  fs::resize_file(wf, fs::file_size(wf) - 1);
  const std::string msg = with([](auto&) {});
  EXPECT_NE(msg.find("blk_0_attn_q_weight.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs"), std::string::npos) << msg;
  fs::remove(wf);
  EXPECT_NE(with([](auto&) {}).find("blk_0_attn_q_weight.bin"), std::string::npos);
  std::ofstream(path / "manifest.json") << "{not json";
  auto r = open_gpu_bundle(path.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("manifest.json"), std::string::npos);
  EXPECT_FALSE(open_gpu_bundle((dir / "missing").string()).ok());
  fs::remove_all(dir);
}

TEST(GpuBundle, CompilesAnHfCheckpointKeepingEveryTensor) {
  const std::string src = std::string(IRONMILL_SOURCE_DIR) + "/golden/qwen3";
  const fs::path dir = temp_dir("hf");
  const std::string out = (dir / "qwen3.ironml-gpu").string();
  Status s = compile_gpu_bundle(src, out);
  ASSERT_TRUE(s.ok()) << s.message();
  auto b = open_gpu_bundle(out);
  ASSERT_TRUE(b.ok()) << b.status().message();
  auto ckpt = formats::safetensors::Checkpoint::open(src);
  ASSERT_TRUE(ckpt.ok());
  std::ifstream cf(src + "/config.json");
  std::stringstream ss;
  ss << cf.rdbuf();
  EXPECT_EQ(b->config_json, ss.str());
  const auto names = ckpt->tensor_names();
  ASSERT_EQ(b->weights.size(), names.size());
  for (const auto& name : names) {
    auto t = ckpt->tensor(name);
    ASSERT_TRUE(t.ok());
    const WeightMatrix& w = b->weights.at(name);
    ASSERT_EQ(static_cast<size_t>(w.rows * w.cols), static_cast<size_t>(t->numel())) << name;
    const size_t rb = weight_row_bytes(w.format, w.cols);
    for (int64_t r = 0; r < w.rows; ++r) ASSERT_EQ(0, std::memcmp(w.data + r * w.row_bytes, t->raw() + r * rb, rb)) << name;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ironmill::engine
