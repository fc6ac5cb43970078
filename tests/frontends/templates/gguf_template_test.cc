// The GGUF template path: a checkpoint exported to GGUF by our writer, loaded back through
// templates::load_model, must reproduce Hugging Face's logits (the goldens in golden/<case>/, computed by
// transformers from the SafeTensors checkpoint) within the per-type gates.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "formats/gguf/gguf.h"
#include "formats/safetensors/safetensors.h"
#include "frontends/gguf_export/gguf_export.h"
#include "frontends/templates/golden_parity.h"
#include "frontends/templates/runner.h"

namespace ironmill::templates {
namespace {

namespace fs = std::filesystem;
namespace gg = formats::gguf;
namespace ge = frontends::gguf_export;

const fs::path kGolden = fs::path(IRONMILL_SOURCE_DIR) / "golden";

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("ironmill_gguf_template_" + std::to_string(::getpid()) + "_" + name);
}

struct TempFile {
  fs::path path;
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
};

// Our writer's GGUF of golden/<name> with 2-D weights in `type`.
fs::path export_case(const std::string& name, gg::GgmlType type, TempFile& keep) {
  keep.path = temp_path(name + "_" + std::string(gg::ggml_type_name(type)) + ".gguf");
  ge::ExportOptions o;
  o.type = type;
  auto r = ge::export_gguf(kGolden / name, keep.path.string(), o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return keep.path;
}

std::vector<float> golden_floats(const std::string& name, const std::string& tensor) {
  auto f = formats::safetensors::File::open((kGolden / name / "golden.safetensors").string());
  EXPECT_TRUE(f.ok());
  auto t = f->tensor(tensor);
  EXPECT_TRUE(t.ok()) << tensor;
  return t->to_f32();
}

nlohmann::json golden_json(const std::string& name) {
  std::ifstream in(kGolden / name / "golden.json");
  return nlohmann::json::parse(in);
}

// Worst per-position cosine of the prefill logits against the golden.
double prefill_cosine(const fs::path& gguf, const std::vector<int32_t>& ids, const std::vector<float>& expected) {
  auto runner = LlmRunner::open(gguf.string(), "reference");
  EXPECT_TRUE(runner.ok()) << runner.status().message();
  if (!runner.ok()) return 0.0;
  auto p = (*runner)->prefill(ids);
  EXPECT_TRUE(p.ok()) << p.status().message();
  if (!p.ok()) return 0.0;
  ParityGates loose;
  loose.min_cosine = 0.0;
  return compare_rows("prefill_logits", p->logits, expected, static_cast<int64_t>(ids.size()), loose).min_cosine;
}

std::vector<int32_t> kjv_prompt() {
  const nlohmann::json meta = golden_json("kjv-llama-5m");  // kept alive: the loop reads into it
  std::vector<int32_t> ids;
  for (auto& v : meta["prompt_ids"]) ids.push_back(v.get<int32_t>());
  return ids;
}

// The gates: F16 cosine >= 0.99999, Q8_0 >= 0.999, Q4_0 >= 0.99 against the HF logits.
TEST(GgufTemplate, KjvLogitsPerTypeMeetTheGates) {
  const auto ids = kjv_prompt();
  const auto expected = golden_floats("kjv-llama-5m", "prompt_logits");
  const std::pair<gg::GgmlType, double> rows[] = {
      {gg::GgmlType::kF16, 0.99999}, {gg::GgmlType::kQ8_0, 0.999}, {gg::GgmlType::kQ4_0, 0.99}};
  double previous = 1.0;
  for (const auto& [type, gate] : rows) {
    TempFile keep;
    const fs::path p = export_case("kjv-llama-5m", type, keep);
    const double cos = prefill_cosine(p, ids, expected);
    std::printf("kjv-llama-5m %s: worst prefill cosine vs HF %.7f (gate %.5f)\n", std::string(gg::ggml_type_name(type)).c_str(),
                cos, gate);
    EXPECT_GE(cos, gate) << gg::ggml_type_name(type);
    EXPECT_LE(cos, previous + 1e-9) << "coarser quantization should not be closer";  // sanity of the ordering
    previous = cos;
  }
}

// F16 GGUF greedy continuation (through the decode function and its cache) equals HF's greedy ids.
TEST(GgufTemplate, KjvF16GreedyIdsMatchHuggingFace) {
  TempFile keep;
  const fs::path p = export_case("kjv-llama-5m", gg::GgmlType::kF16, keep);
  const nlohmann::json meta = golden_json("kjv-llama-5m");
  std::vector<int32_t> expected;
  for (auto& v : meta["greedy_ids"]) expected.push_back(v.get<int32_t>());
  auto runner = LlmRunner::open(p.string(), "reference");
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  auto g = (*runner)->greedy(kjv_prompt(), 8);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->ids, std::vector<int32_t>(expected.begin(), expected.begin() + 8));
}

// The three GGUF architectures of the template path: llama (q/k rows permuted by the exporter and moved
// back by the loader), qwen2 (qkv biases), qwen3 (q/k norms), F16 weights, against each case's HF logits.
TEST(GgufTemplate, HfTinyArchitecturesReproducePrefillLogits) {
  for (const std::string name : {"llama", "llama-tied-gqa1", "qwen2", "qwen3"}) {
    TempFile keep;
    const fs::path p = export_case(name, gg::GgmlType::kF16, keep);
    std::vector<int32_t> ids;
    for (float v : golden_floats(name, "input_ids")) ids.push_back(static_cast<int32_t>(v));
    const double cos = prefill_cosine(p, ids, golden_floats(name, "prefill_logits"));
    std::printf("%s F16 GGUF: worst prefill cosine vs HF %.7f\n", name.c_str(), cos);
    EXPECT_GE(cos, 0.99999) << name;
  }
}

// The config rebuilt from GGUF metadata agrees with config.json on every field the templates use.
TEST(GgufTemplate, ConfigFromMetadataMatchesConfigJson) {
  for (const std::string name : {"kjv-llama-5m", "qwen2", "qwen3", "llama-tied-gqa1"}) {
    TempFile keep;
    const fs::path p = export_case(name, gg::GgmlType::kF16, keep);
    auto g = load_model(p.string());
    ASSERT_TRUE(g.ok()) << g.status().message();
    auto s = load_model((kGolden / name).string());
    ASSERT_TRUE(s.ok()) << s.status().message();
    const auto &a = g->config, &b = s->config;
    EXPECT_EQ(a.family, b.family) << name;
    EXPECT_EQ(a.hidden_size, b.hidden_size) << name;
    EXPECT_EQ(a.intermediate_size, b.intermediate_size) << name;
    EXPECT_EQ(a.num_hidden_layers, b.num_hidden_layers) << name;
    EXPECT_EQ(a.num_attention_heads, b.num_attention_heads) << name;
    EXPECT_EQ(a.num_key_value_heads, b.num_key_value_heads) << name;
    EXPECT_EQ(a.head_dim, b.head_dim) << name;
    EXPECT_EQ(a.vocab_size, b.vocab_size) << name;
    EXPECT_EQ(a.tie_word_embeddings, b.tie_word_embeddings) << name;
    EXPECT_EQ(a.qkv_bias, b.qkv_bias) << name;
    EXPECT_NEAR(a.rms_norm_eps, b.rms_norm_eps, 1e-6 * b.rms_norm_eps + 1e-12) << name;  // stored as f32
    EXPECT_NEAR(a.rope.theta, b.rope.theta, 1e-6 * b.rope.theta) << name;
    EXPECT_DOUBLE_EQ(a.rope.partial_rotary_factor, b.rope.partial_rotary_factor) << name;
  }
}

// A GGUF missing one tensor, or of an architecture without a template: errors that name it.
TEST(GgufTemplate, MissingTensorAndUnknownArchitectureAreNamed) {
  TempFile keep;
  const fs::path p = export_case("kjv-llama-5m", gg::GgmlType::kF16, keep);
  auto f = gg::File::open(p.string());
  ASSERT_TRUE(f.ok());
  auto rewrite = [&](const std::string& drop, const std::string& arch, const fs::path& out) {
    gg::Writer w;
    for (const auto& [k, v] : f->metadata()) {
      if (k == "general.alignment") continue;
      if (k == "general.architecture" && !arch.empty()) {
        ASSERT_TRUE(w.set(k, gg::Value::str(arch)).ok());
      } else if (!arch.empty() && k.rfind("llama.", 0) == 0) {
        ASSERT_TRUE(w.set(arch + k.substr(5), v).ok());
      } else {
        ASSERT_TRUE(w.set(k, v).ok());
      }
    }
    for (const auto& t : f->tensors()) {
      if (t.name == drop) continue;
      ASSERT_TRUE(w.add_tensor(t.name, t.type, t.ne, f->buffer(), f->data_offset() + t.offset).ok());
    }
    ASSERT_TRUE(w.write(out.string()).ok());
  };
  TempFile missing{temp_path("missing.gguf")};
  rewrite("blk.1.attn_k.weight", "", missing.path);
  auto m = load_model(missing.path.string());
  ASSERT_TRUE(m.ok()) << m.status().message();  // the loader is lazy about tensors; the template is not
  auto r = LlmRunner::open(missing.path.string(), "reference");
  ASSERT_TRUE(r.ok());
  auto out = (*r)->prefill(kjv_prompt());
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("blk.1.attn_k.weight"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find(missing.path.string()), std::string::npos) << out.status().message();

  TempFile other{temp_path("falcon.gguf")};
  rewrite("", "falcon", other.path);
  auto bad = load_model(other.path.string());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("falcon"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace ironmill::templates
