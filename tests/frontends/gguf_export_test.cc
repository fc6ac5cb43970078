// HF checkpoint -> GGUF exporter. The sources of truth: the checkpoint itself (SafeTensors, read back
// tensor by tensor), its config.json (hparams), NumPy's evaluation of llama.cpp's q/k permutation
// (golden/kjv-llama-5m/gguf_qk_permutation.json), and llama.cpp's type/fallback rules. llama.cpp
// loading the files and reproducing HF's logits is tests/formats/oracle/gguf_export_llama_oracle_test.cc.
#include "frontends/gguf_export/gguf_export.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "formats/gguf/gguf.h"
#include "formats/gguf/quants.h"
#include "formats/safetensors/safetensors.h"

namespace ironmill::frontends::gguf_export {
namespace {

namespace fs = std::filesystem;
namespace gg = formats::gguf;
namespace st = formats::safetensors;

const fs::path kKjv = fs::path(IRONMILL_SOURCE_DIR) / "golden/kjv-llama-5m";
const fs::path kHfTiny = fs::path(IRONMILL_SOURCE_DIR) / "../shared/fixtures/hf-tiny";

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("ironmill_gguf_export_" + std::to_string(::getpid()) + "_" + name);
}

ExportOptions no_vocab(gg::GgmlType t) {
  ExportOptions o;
  o.type = t;
  o.vocab = {};
  return o;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

// Element i of a tensor row-major, as fp32 bits (exact for f16/bf16/f32).
std::vector<float> floats(const mil::Tensor& t) { return t.to_f32(); }

TEST(GgufExport, NamesAndTypes) {
  EXPECT_EQ(*gguf_tensor_name("model.embed_tokens.weight"), "token_embd.weight");
  EXPECT_EQ(*gguf_tensor_name("model.layers.12.self_attn.o_proj.weight"), "blk.12.attn_output.weight");
  EXPECT_EQ(*gguf_tensor_name("model.layers.0.self_attn.q_proj.bias"), "blk.0.attn_q.bias");
  EXPECT_EQ(*gguf_tensor_name("model.layers.3.self_attn.k_norm.weight"), "blk.3.attn_k_norm.weight");
  EXPECT_EQ(*gguf_tensor_name("model.layers.3.mlp.down_proj.weight"), "blk.3.ffn_down.weight");
  EXPECT_EQ(*gguf_tensor_name("model.layers.3.self_attn.rotary_emb.inv_freq"), "");
  auto bad = gguf_tensor_name("model.layers.0.mlp.experts.0.w1.weight");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model.layers.0.mlp.experts.0.w1.weight"), std::string::npos);
  EXPECT_FALSE(gguf_tensor_name("model.layers.x.mlp.up_proj.weight").ok());

  EXPECT_EQ(*parse_output_type("q8_0"), gg::GgmlType::kQ8_0);
  EXPECT_EQ(*parse_output_type("Q4_K"), gg::GgmlType::kQ4_K);
  EXPECT_EQ(*parse_output_type("f16"), gg::GgmlType::kF16);
  auto t = parse_output_type("q5_1");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("q5_1"), std::string::npos);

  // llama-quantize's tensor_type_fallback: Q6_K -> Q8_0; 32-block types -> F16 when 32 does not divide.
  EXPECT_EQ(fallback_type(gg::GgmlType::kQ6_K, 704), gg::GgmlType::kQ8_0);
  EXPECT_EQ(fallback_type(gg::GgmlType::kQ6_K, 512), gg::GgmlType::kQ6_K);
  EXPECT_EQ(fallback_type(gg::GgmlType::kQ4_K, 704), gg::GgmlType::kQ4_0);
  EXPECT_EQ(fallback_type(gg::GgmlType::kQ8_0, 100), gg::GgmlType::kF16);
  EXPECT_EQ(fallback_type(gg::GgmlType::kF16, 7), gg::GgmlType::kF16);
}

TEST(GgufExport, PermutationMatchesNumpy) {
  const auto golden = read_json(kKjv / "gguf_qk_permutation.json");
  for (const auto& [key, heads] : {std::pair<std::string, int64_t>{"q_rows", 8}, {"k_rows", 4}}) {
    const std::vector<int64_t> expect = golden[key].get<std::vector<int64_t>>();
    const int64_t rows = static_cast<int64_t>(expect.size());
    std::vector<int32_t> src(rows), dst(rows, -1);
    for (int64_t r = 0; r < rows; ++r) src[r] = static_cast<int32_t>(r);
    ASSERT_TRUE(permute_rows(reinterpret_cast<const uint8_t*>(src.data()), reinterpret_cast<uint8_t*>(dst.data()),
                             rows, 1, 4, heads)
                    .ok());
    for (int64_t r = 0; r < rows; ++r) ASSERT_EQ(dst[r], expect[r]) << key << " row " << r;
  }
  std::vector<uint8_t> a(6 * 4), b(6 * 4);
  EXPECT_FALSE(permute_rows(a.data(), b.data(), 6, 1, 4, 4).ok());  // 6 rows do not split into 4 heads
  EXPECT_FALSE(permute_rows(a.data(), b.data(), 6, 1, 4, 2).ok());  // head size 3 is odd
}

// kjv-llama-5m (fp16 LLaMA): hparams from config.json; every tensor read back by our GGUF reader equals
// the SafeTensors source (F16 bit-exact, F32 exact), q/k rows in NumPy's permuted order.
class KjvExport : public ::testing::TestWithParam<gg::GgmlType> {};

TEST_P(KjvExport, ReadsBackEqualToSource) {
  const gg::GgmlType type = GetParam();
  const std::string out = temp_path(std::string(gg::ggml_type_name(type)) + ".gguf").string();
  auto r = export_gguf(kKjv, out, no_vocab(type));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->arch, "llama");
  auto f = gg::File::open(out);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const auto cfg = read_json(kKjv / "config.json");
  EXPECT_EQ(*f->get_string("general.architecture"), "llama");
  EXPECT_EQ(*f->get_uint("llama.embedding_length"), cfg["hidden_size"].get<uint64_t>());
  EXPECT_EQ(*f->get_uint("llama.block_count"), cfg["num_hidden_layers"].get<uint64_t>());
  EXPECT_EQ(*f->get_uint("llama.feed_forward_length"), cfg["intermediate_size"].get<uint64_t>());
  EXPECT_EQ(*f->get_uint("llama.attention.head_count"), cfg["num_attention_heads"].get<uint64_t>());
  EXPECT_EQ(*f->get_uint("llama.attention.head_count_kv"), cfg["num_key_value_heads"].get<uint64_t>());
  EXPECT_EQ(*f->get_uint("llama.context_length"), cfg["max_position_embeddings"].get<uint64_t>());
  EXPECT_EQ(*f->get_uint("llama.vocab_size"), cfg["vocab_size"].get<uint64_t>());
  EXPECT_EQ(*f->get_uint("llama.rope.dimension_count"), cfg["head_dim"].get<uint64_t>());
  EXPECT_EQ(*f->get_uint("llama.attention.key_length"), cfg["head_dim"].get<uint64_t>());
  EXPECT_FLOAT_EQ(static_cast<float>(*f->get_float("llama.rope.freq_base")),
                  cfg["rope_parameters"]["rope_theta"].get<float>());
  EXPECT_FLOAT_EQ(static_cast<float>(*f->get_float("llama.attention.layer_norm_rms_epsilon")),
                  cfg["rms_norm_eps"].get<float>());
  EXPECT_EQ(*f->get_uint("general.quantization_version"), 2u);
  EXPECT_EQ(f->find("tokenizer.ggml.model"), nullptr);
  EXPECT_FALSE(r->has_vocab);

  auto ckpt = st::Checkpoint::open((kKjv / "model.safetensors").string());
  ASSERT_TRUE(ckpt.ok());
  const auto perm = read_json(kKjv / "gguf_qk_permutation.json");
  const auto q_rows = perm["q_rows"].get<std::vector<int64_t>>();
  const auto k_rows = perm["k_rows"].get<std::vector<int64_t>>();
  // 6 layers x 9 + embeddings, final norm, lm_head (untied): 57 tensors, as llama.cpp's converter wrote.
  ASSERT_EQ(f->tensors().size(), 57u);
  int permuted = 0;
  for (const auto& et : r->tensors) {
    SCOPED_TRACE(et.hf_name + " -> " + et.gguf_name);
    const gg::TensorInfo* ti = f->find_tensor(et.gguf_name);
    ASSERT_NE(ti, nullptr);
    auto src = ckpt->tensor(et.hf_name);
    ASSERT_TRUE(src.ok());
    EXPECT_EQ(ti->shape(), src->shape());
    const bool is_1d = src->rank() == 1;
    gg::GgmlType expect_type = is_1d ? gg::GgmlType::kF32 : fallback_type(type, src->dim(-1));
    EXPECT_EQ(ti->type, expect_type);
    auto back = f->dequantize(et.gguf_name);
    ASSERT_TRUE(back.ok()) << back.status().message();
    const auto a = floats(*src);
    const auto b = floats(*back);
    ASSERT_EQ(a.size(), b.size());
    const bool is_q = et.gguf_name.find(".attn_q.") != std::string::npos;
    const bool is_k = et.gguf_name.find(".attn_k.") != std::string::npos;
    EXPECT_EQ(et.permuted, is_q || is_k);
    permuted += et.permuted;
    const int64_t cols = is_1d ? 1 : src->dim(1);
    const int64_t rows = static_cast<int64_t>(a.size()) / cols;
    double max_err = 0, max_abs = 0;
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t from = is_q ? q_rows[row] : is_k ? k_rows[row] : row;
      for (int64_t c = 0; c < cols; ++c) {
        const float x = a[from * cols + c], y = b[row * cols + c];
        if (expect_type == gg::GgmlType::kF32 || expect_type == gg::GgmlType::kF16) {
          ASSERT_EQ(std::memcmp(&x, &y, 4), 0) << "row " << row << " col " << c << ": " << x << " vs " << y;
        }
        max_err = std::max(max_err, static_cast<double>(std::fabs(x - y)));
        max_abs = std::max(max_abs, static_cast<double>(std::fabs(x)));
      }
    }
    // Quantized: within the format's resolution (4-bit: ~1/8 of the block range; 8-bit: ~1/127).
    const double tol = expect_type == gg::GgmlType::kQ8_0 ? max_abs / 100 : max_abs / 4;
    EXPECT_LE(max_err, tol);
  }
  EXPECT_EQ(permuted, 12);
  std::filesystem::remove(out);
}

INSTANTIATE_TEST_SUITE_P(Types, KjvExport,
                         ::testing::Values(gg::GgmlType::kF32, gg::GgmlType::kF16, gg::GgmlType::kQ8_0,
                                           gg::GgmlType::kQ4_0, gg::GgmlType::kQ4_K, gg::GgmlType::kQ6_K),
                         [](const auto& info) { return std::string(gg::ggml_type_name(info.param)); });

TEST(GgufExport, VocabHookIsCalledAndTiedEmbeddingsHaveNoOutput) {
  const fs::path dir = kHfTiny / "llama-tied-gqa1";
  if (!fs::exists(dir / "model.safetensors")) GTEST_SKIP() << "SKIP: " << dir << " absent (shared fixtures)";
  ExportOptions o = no_vocab(gg::GgmlType::kF16);
  int calls = 0;
  o.vocab = [&](const fs::path& d, gg::Writer& w) -> Status {
    ++calls;
    EXPECT_EQ(d, dir);
    return w.set("tokenizer.ggml.model", gg::Value::str("gpt2"));
  };
  ExportResult r;
  auto w = build_gguf(dir, o, &r);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(r.has_vocab);
  for (const auto& t : r.tensors) EXPECT_NE(t.gguf_name, "output.weight");
  const auto cfg = read_json(dir / "config.json");
  ASSERT_TRUE(cfg["tie_word_embeddings"].get<bool>());
  ASSERT_EQ(cfg["num_key_value_heads"].get<int>(), 1);
  // The hook's failure is the export's failure, with context.
  o.vocab = [](const fs::path&, gg::Writer&) -> Status { return not_found("tokenizer.json missing"); };
  auto bad = build_gguf(dir, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tokenizer.json missing"), std::string::npos);
}

TEST(GgufExport, KjvDefaultVocabWritesTokenizerMetadata) {
  ASSERT_TRUE(default_vocab_writer());
  ExportOptions o;  // the default vocab writer
  o.type = gg::GgmlType::kF16;
  ExportResult r;
  auto w = build_gguf(kKjv, o, &r);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_TRUE(r.has_vocab);
  const gg::Value* tokens = w->find("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_NE(tokens->as_array(), nullptr);
  EXPECT_EQ(static_cast<int64_t>(tokens->as_array()->items.size()),
            read_json(kKjv / "config.json")["vocab_size"].get<int64_t>());
  // A directory without tokenizer.json exports without a tokenizer instead of failing.
  const fs::path tiny = kHfTiny / "llama";
  if (fs::exists(tiny / "model.safetensors")) {
    ExportResult tr;
    auto tw = build_gguf(tiny, o, &tr);
    ASSERT_TRUE(tw.ok()) << tw.status().message();
    EXPECT_FALSE(tr.has_vocab);
  }
}

TEST(GgufExport, QwenKeepsLayoutAndWritesQkNormsAndBiases) {
  for (const char* name : {"qwen2", "qwen3"}) {
    const fs::path dir = kHfTiny / name;
    if (!fs::exists(dir / "model.safetensors")) GTEST_SKIP() << "SKIP: " << dir << " absent (shared fixtures)";
    SCOPED_TRACE(name);
    const std::string out = temp_path(std::string(name) + ".gguf").string();
    auto r = export_gguf(dir, out, no_vocab(gg::GgmlType::kF32));
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->arch, name);
    auto f = gg::File::open(out);
    ASSERT_TRUE(f.ok());
    auto ckpt = st::Checkpoint::open(dir.string());
    ASSERT_TRUE(ckpt.ok());
    bool saw_bias = false, saw_norm = false;
    for (const auto& et : r->tensors) {
      EXPECT_FALSE(et.permuted);
      saw_bias |= et.gguf_name == "blk.0.attn_q.bias";
      saw_norm |= et.gguf_name == "blk.0.attn_q_norm.weight";
      auto back = f->dequantize(et.gguf_name);
      auto src = ckpt->tensor(et.hf_name);
      ASSERT_TRUE(back.ok() && src.ok());
      const auto a = floats(*src), b = floats(*back);
      ASSERT_EQ(a.size(), b.size());
      ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << et.hf_name;  // bf16/f32 -> f32 is exact
    }
    const auto cfg = read_json(dir / "config.json");
    if (cfg.contains("head_dim")) {  // qwen3: explicit (and != hidden / heads in real Qwen3 models)
      EXPECT_EQ(*f->get_uint(std::string(name) + ".attention.key_length"), cfg["head_dim"].get<uint64_t>());
    } else {
      EXPECT_EQ(f->find(std::string(name) + ".attention.key_length"), nullptr);
    }
    if (std::string(name) == "qwen2") {
      EXPECT_TRUE(saw_bias);
    }
    if (std::string(name) == "qwen3") {
      EXPECT_TRUE(saw_norm);
    }
    std::filesystem::remove(out);
  }
}

TEST(GgufExport, ErrorsNameWhatIsWrong) {
  // An architecture the exporter does not handle.
  const fs::path gemma = kHfTiny / "gemma2";
  if (fs::exists(gemma / "config.json")) {
    auto r = export_gguf(gemma, temp_path("gemma.gguf").string(), no_vocab(gg::GgmlType::kF16));
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("gemma2"), std::string::npos) << r.status().message();
  }
  // A checkpoint missing a tensor: copy kjv with a safetensors lacking one layer's up_proj.
  const fs::path dir = temp_path("missing");
  fs::create_directories(dir);
  fs::copy_file(kKjv / "config.json", dir / "config.json", fs::copy_options::overwrite_existing);
  auto src = st::File::open((kKjv / "model.safetensors").string());
  ASSERT_TRUE(src.ok());
  std::vector<st::NamedTensor> keep;
  for (const auto& ti : src->tensors())
    if (ti.name != "model.layers.3.mlp.up_proj.weight") keep.push_back({ti.name, *src->tensor(ti.name)});
  ASSERT_TRUE(st::write((dir / "model.safetensors").string(), keep).ok());
  const std::string out = (dir / "out.gguf").string();
  auto r = export_gguf(dir, out, no_vocab(gg::GgmlType::kF16));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model.layers.3.mlp.up_proj.weight"), std::string::npos) << r.status().message();
  EXPECT_FALSE(fs::exists(out));  // nothing written, not even a partial file
  // An unexpected tensor.
  keep.push_back({"model.layers.0.mlp.experts.0.weight", *src->tensor("model.norm.weight")});
  keep.push_back({"model.layers.3.mlp.up_proj.weight", *src->tensor("model.layers.2.mlp.up_proj.weight")});
  ASSERT_TRUE(st::write((dir / "model.safetensors").string(), keep).ok());
  r = export_gguf(dir, out, no_vocab(gg::GgmlType::kF16));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model.layers.0.mlp.experts.0.weight"), std::string::npos);
  // No checkpoint at all.
  r = export_gguf(temp_path("nowhere"), out, no_vocab(gg::GgmlType::kF16));
  EXPECT_FALSE(r.ok());
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ironmill::frontends::gguf_export
