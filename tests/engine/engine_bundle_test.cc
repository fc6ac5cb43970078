// The engine on .ironml-gpu bundles (ironmill compile --runtime gpu): a bundle compiled from
// golden/kjv-llama-5m, and from Q8_0 / Q4_0 GGUF exports of it, gives the same logits as loading the source
// directly (bit for bit: the bundle holds the same bytes in the same formats, only padded to 64-byte row
// strides, and the kernels read each row from its stride, so every dot product runs the same operations);
// the Hugging Face golden parity of kjv-llama-5m through a bundle (oracle: golden/kjv-llama-5m, HF goldens);
// broken bundles give errors that name the file or the manifest field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/bundle/gpu_bundle.h"
#include "engine/engine.h"
#include "engine/language_model.h"
#include "formats/tokenizer/tokenizer.h"
#include "frontends/gguf_export/gguf_export.h"
#include "frontends/templates/golden_parity.h"

namespace ironmill::engine {
namespace {

namespace fs = std::filesystem;
const std::string kKjv = std::string(IRONMILL_SOURCE_DIR) + "/golden/kjv-llama-5m";

fs::path temp_path(const std::string& tag) {
  return fs::temp_directory_path() / ("ironmill-engine-bundle-" + std::to_string(::getpid()) + "-" + tag);
}

std::vector<int32_t> kjv_prompt() {
  std::ifstream in(kKjv + "/golden.json");
  return nlohmann::json::parse(in)["prompt_ids"].get<std::vector<int32_t>>();
}

// Prompt logits of every position, then 4 greedy decode steps' logits, appended.
std::vector<float> run(const std::string& model) {
  EngineOptions o;
  o.threads = 2;
  auto e = Engine::open(model, o);
  EXPECT_TRUE(e.ok()) << e.status().message();
  if (!e.ok()) return {};
  PrefillExtras x;
  x.all_logits = true;
  auto l = (*e)->prefill(kjv_prompt(), &x);
  EXPECT_TRUE(l.ok()) << l.status().message();
  std::vector<float> out = x.logits;
  for (int step = 0; step < 4 && l.ok(); ++step) {
    int32_t best = 0;
    for (size_t j = 1; j < l->size(); ++j)
      if ((*l)[j] > (*l)[static_cast<size_t>(best)]) best = static_cast<int32_t>(j);
    l = (*e)->decode_step(best);
    EXPECT_TRUE(l.ok());
    if (l.ok()) out.insert(out.end(), l->begin(), l->end());
  }
  return out;
}

struct ScopedPath {
  fs::path p;
  ~ScopedPath() {
    std::error_code ec;
    fs::remove_all(p, ec);
  }
};

TEST(EngineBundle, HfBundleLogitsEqualTheCheckpoint) {
  ScopedPath b{temp_path("hf.ironml-gpu")};
  ASSERT_TRUE(compile_gpu_bundle(kKjv, b.p.string()).ok());
  EXPECT_TRUE(fs::exists(b.p / "tokenizer.json"));
  auto e = Engine::open(b.p.string());
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ((*e)->config().hidden_size, 256) << "config from manifest.json model_config";
  const auto want = run(kKjv), got = run(b.p.string());
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(got, want);  // tolerance 0: same bytes, same kernels (see the file comment)
}

class EngineBundleGguf : public ::testing::TestWithParam<const char*> {};

TEST_P(EngineBundleGguf, BundleLogitsEqualTheGgufFile) {
  ScopedPath g{temp_path(std::string(GetParam()) + ".gguf")};
  ScopedPath b{temp_path(std::string(GetParam()) + ".ironml-gpu")};
  frontends::gguf_export::ExportOptions opt;
  auto type = frontends::gguf_export::parse_output_type(GetParam());
  ASSERT_TRUE(type.ok());
  opt.type = *type;
  auto ex = frontends::gguf_export::export_gguf(kKjv, g.p.string(), opt);
  ASSERT_TRUE(ex.ok()) << ex.status().message();
  ASSERT_TRUE(compile_gpu_bundle(g.p.string(), b.p.string()).ok());
  auto e = Engine::open(b.p.string());
  ASSERT_TRUE(e.ok()) << e.status().message();
  // Quantized matrices stay quantized: the bundle's embedding table is in the GGUF file's type.
  auto direct = Engine::open(g.p.string());
  ASSERT_TRUE(direct.ok());
  auto formats = [](const std::string& d) { return d.substr(d.rfind(" (embeddings")); };
  std::cout << GetParam() << " bundle: " << (*e)->describe() << "\n";
  EXPECT_EQ(formats((*e)->describe()), formats((*direct)->describe()));
  const auto want = run(g.p.string()), got = run(b.p.string());
  ASSERT_FALSE(want.empty());
  EXPECT_EQ(got, want);
  // The GGUF's vocabulary travels as tokenizer.gguf and tokenizes like the GGUF file itself.
  auto tb = formats::tokenizer::load_tokenizer(b.p);
  auto tg = formats::tokenizer::load_tokenizer(g.p);
  ASSERT_TRUE(tb.ok()) << tb.status().message();
  ASSERT_TRUE(tg.ok()) << tg.status().message();
  const std::string text = "In the beginning God created the heaven and the earth.";
  EXPECT_EQ(*(*tb)->encode(text), *(*tg)->encode(text));
}

INSTANTIATE_TEST_SUITE_P(Types, EngineBundleGguf, ::testing::Values("q8_0", "q4_0"));

TEST(EngineBundle, KjvGoldenParityThroughTheBundle) {
  // Backend "engine-bundle": the case directory compiled to a bundle, the engine opened on the bundle.
  static ScopedPath b{temp_path("parity.ironml-gpu")};
  templates::register_language_model("engine-bundle", [](const std::string& dir)
                                         -> Result<std::unique_ptr<templates::LanguageModel>> {
    IM_RETURN_IF_ERROR(compile_gpu_bundle(dir, b.p.string()));
    return open_engine_language_model(b.p.string());
  });
  templates::ParityResult r = templates::run_golden_case(kKjv, "engine-bundle", templates::ParityGates{});
  ASSERT_TRUE(r.error.empty()) << r.error;
  for (const auto& c : r.checks) {
    std::cout << std::setprecision(9) << c.name << ": min cosine " << c.min_cosine << ", max |d| " << c.max_abs
              << " (max |ref| " << c.max_ref << ") " << c.detail << "\n";
    EXPECT_TRUE(c.pass) << c.name;
  }
  EXPECT_GE(r.checks.size(), 3u);
  EXPECT_TRUE(r.pass);
}

// Compiles kjv to a fresh bundle, lets `damage` break it, and returns Engine::open's error message.
std::string open_error(const std::string& tag, const std::function<void(const fs::path&)>& damage) {
  ScopedPath b{temp_path(tag + ".ironml-gpu")};
  EXPECT_TRUE(compile_gpu_bundle(kKjv, b.p.string()).ok());
  damage(b.p);
  auto e = Engine::open(b.p.string());
  EXPECT_FALSE(e.ok()) << tag << " opened";
  return e.ok() ? std::string() : e.status().message();
}

nlohmann::json read_manifest(const fs::path& b) {
  std::ifstream in(b / "manifest.json");
  return nlohmann::json::parse(in);
}
void write_manifest(const fs::path& b, const nlohmann::json& m) { std::ofstream(b / "manifest.json") << m.dump(1); }

TEST(EngineBundleErrors, MissingWeightFileNamesIt) {
  const std::string msg = open_error("missing", [](const fs::path& b) { fs::remove(b / "weights/lm_head_weight.bin"); });
  EXPECT_NE(msg.find("weights/lm_head_weight.bin"), std::string::npos) << msg;
}

TEST(EngineBundleErrors, TruncatedWeightFileNamesItAndTheTensor) {
  const std::string msg = open_error("trunc", [](const fs::path& b) {
    const fs::path f = b / "weights/model_embed_tokens_weight.bin";
    fs::resize_file(f, fs::file_size(f) - 64);
  });
  EXPECT_NE(msg.find("weights/model_embed_tokens_weight.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensors.model.embed_tokens.weight"), std::string::npos) << msg;
}

TEST(EngineBundleErrors, BadManifestFieldsAreNamed) {
  std::string msg = open_error("rowstride", [](const fs::path& b) {
    auto m = read_manifest(b);
    m["tensors"]["model.norm.weight"]["row_stride"] = "wide";
    write_manifest(b, m);
  });
  EXPECT_NE(msg.find("manifest.json: tensors.model.norm.weight.row_stride"), std::string::npos) << msg;

  msg = open_error("hidden", [](const fs::path& b) {
    auto m = read_manifest(b);
    m["model_config"]["hidden_size"] = "big";
    write_manifest(b, m);
  });
  EXPECT_NE(msg.find("model_config"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hidden_size"), std::string::npos) << msg;

  msg = open_error("noconfig", [](const fs::path& b) {
    auto m = read_manifest(b);
    m.erase("model_config");
    write_manifest(b, m);
  });
  EXPECT_NE(msg.find("manifest.json: model_config: missing"), std::string::npos) << msg;

  msg = open_error("names", [](const fs::path& b) {
    auto m = read_manifest(b);
    m["tensor_names"] = "onnx";
    write_manifest(b, m);
  });
  EXPECT_NE(msg.find("manifest.json: tensor_names"), std::string::npos) << msg;

  // A tensor the model needs, dropped from the manifest.
  msg = open_error("droptensor", [](const fs::path& b) {
    auto m = read_manifest(b);
    m["tensors"].erase("model.layers.0.self_attn.q_proj.weight");
    write_manifest(b, m);
  });
  EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("manifest.json"), std::string::npos) << msg;

  // A tensor of the wrong shape (the manifest agrees with its file, the model does not).
  msg = open_error("shape", [](const fs::path& b) {
    auto m = read_manifest(b);
    auto& t = m["tensors"]["model.layers.0.self_attn.q_proj.weight"];
    const int64_t rows = t["rows"], cols = t["cols"];
    t["shape"] = {rows / 2, cols * 2};
    t["rows"] = rows / 2;
    t["cols"] = cols * 2;
    t["row_stride"] = t["row_stride"].get<int64_t>() * 2;
    write_manifest(b, m);
  });
  EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected"), std::string::npos) << msg;
}

TEST(EngineBundleErrors, MissingManifestNamesIt) {
  const std::string msg = open_error("nomanifest", [](const fs::path& b) { fs::remove(b / "manifest.json"); });
  EXPECT_NE(msg.find("manifest.json"), std::string::npos) << msg;
}

}  // namespace
}  // namespace ironmill::engine
