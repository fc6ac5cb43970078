// The exporter against llama.cpp itself (libllama from ci/setup_peers.sh): llama.cpp loads the GGUF we
// write from a Hugging Face checkpoint and its logits for the golden prompt match the Hugging Face
// goldens (transformers fp32 on the CPU). kjv-llama-5m (golden/kjv-llama-5m) in F32, F16, Q8_0, Q4_0,
// Q4_K and Q6_K; the tiny random llama / llama-tied-gqa1 / qwen2 / qwen3 / mistral-sw checkpoints from
// ../shared/fixtures/hf-tiny in F32 when present. Without libllama every test skips with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <vector>

#include "formats/gguf/gguf.h"
#include "formats/safetensors/safetensors.h"
#include "frontends/gguf_export/gguf_export.h"

#if IRONMILL_HAVE_LLAMA
#include "llama.h"
#endif

namespace ironmill::frontends::gguf_export {
namespace {

namespace fs = std::filesystem;
namespace gg = formats::gguf;

#if !IRONMILL_HAVE_LLAMA

TEST(GgufExportLlamaOracle, Skipped) {
  std::printf("SKIP: libllama not built; run ci/setup_peers.sh (then re-run cmake)\n");
  GTEST_SKIP() << "SKIP: libllama not built; run ci/setup_peers.sh (then re-run cmake)";
}

#else

const fs::path kKjv = fs::path(IRONMILL_SOURCE_DIR) / "golden/kjv-llama-5m";
const fs::path kHfTiny = fs::path(IRONMILL_SOURCE_DIR) / "../shared/fixtures/hf-tiny";

void quiet_log(enum ggml_log_level level, const char* text, void*) {
  if (level == GGML_LOG_LEVEL_ERROR) std::fputs(text, stderr);
}

class GgufExportLlamaOracle : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    llama_log_set(quiet_log, nullptr);
    llama_backend_init();
  }
};

// A minimal GPT-2-style vocabulary for checkpoints whose tokenizer is not the point (llama.cpp will
// not load a model without one): kjv's real tokens and merges from tokenizer.json, or placeholder
// tokens for the tokenizer-less hf-tiny models. Used only when the exporter's own vocab writer
// (src/formats/tokenizer/gguf_vocab) is not built in.
Status test_vocab(const fs::path& dir, gg::Writer& w, int64_t vocab_size) {
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int32_t> types(static_cast<size_t>(vocab_size), 1);  // NORMAL
  std::vector<std::string> merges;
  if (fs::exists(dir / "tokenizer.json")) {
    std::ifstream in(dir / "tokenizer.json");
    const auto j = nlohmann::json::parse(in);
    for (const auto& [tok, id] : j["model"]["vocab"].items()) tokens.at(id.get<size_t>()) = tok;
    for (const auto& m : j["model"]["merges"])
      merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
    for (const auto& a : j["added_tokens"]) {
      tokens.at(a["id"].get<size_t>()) = a["content"].get<std::string>();
      if (a["special"].get<bool>()) types.at(a["id"].get<size_t>()) = 3;  // CONTROL
    }
  } else {
    for (int64_t i = 0; i < vocab_size; ++i) tokens[i] = "<t" + std::to_string(i) + ">";
    tokens[1] = "\xC4\x8A";  // byte-level "\n", so llama.cpp finds a newline token
  }
  IM_RETURN_IF_ERROR(w.set("tokenizer.ggml.model", gg::Value::str("gpt2")));
  IM_RETURN_IF_ERROR(w.set("tokenizer.ggml.pre", gg::Value::str("gpt-2")));
  IM_RETURN_IF_ERROR(w.set("tokenizer.ggml.tokens", gg::Value::strings(tokens)));
  IM_RETURN_IF_ERROR(w.set("tokenizer.ggml.token_type", gg::Value::i32s(types)));
  IM_RETURN_IF_ERROR(w.set("tokenizer.ggml.merges", gg::Value::strings(merges)));
  IM_RETURN_IF_ERROR(w.set("tokenizer.ggml.bos_token_id", gg::Value::u32(0)));
  IM_RETURN_IF_ERROR(w.set("tokenizer.ggml.eos_token_id", gg::Value::u32(0)));
  IM_RETURN_IF_ERROR(w.set("tokenizer.ggml.add_bos_token", gg::Value::boolean(false)));
  return Status::Ok();
}

struct Golden {
  std::vector<int32_t> ids;
  std::vector<float> logits;  // [T, V]
  int64_t vocab = 0;
};

Golden load_golden(const fs::path& dir, bool kjv) {
  Golden g;
  auto f = formats::safetensors::File::open((dir / "golden.safetensors").string());
  EXPECT_TRUE(f.ok()) << f.status().message();
  if (!f.ok()) return g;
  auto logits = f->tensor(kjv ? "prompt_logits" : "prefill_logits");
  EXPECT_TRUE(logits.ok());
  g.logits = logits->to_f32();
  g.vocab = logits->dim(1);
  if (kjv) {
    std::ifstream in(dir / "golden.json");
    g.ids = nlohmann::json::parse(in)["prompt_ids"].get<std::vector<int32_t>>();
  } else {
    auto ids = f->tensor("input_ids");
    EXPECT_TRUE(ids.ok());
    for (int64_t v : ids->to_i64()) g.ids.push_back(static_cast<int32_t>(v));
  }
  return g;
}

struct Agreement {
  double min_cosine = 1;
  double max_abs_diff = 0;
  int argmax_agree = 0;
  int positions = 0;
};

// Exports `dir` as `type`, loads it in llama.cpp, runs the golden prompt in one batch (every position's
// logits) and compares the first `positions` positions with the goldens.
Agreement run(const fs::path& dir, gg::GgmlType type, bool kjv, int positions = -1) {
  Agreement a;
  const Golden g = load_golden(dir, kjv);
  if (g.ids.empty()) {
    ADD_FAILURE() << "no golden ids in " << dir;
    return a;
  }
  const auto cfg = formats::hf::load_model_config(dir);
  EXPECT_TRUE(cfg.ok());
  ExportOptions o;
  o.type = type;
  const bool own_vocab = static_cast<bool>(o.vocab) && fs::exists(dir / "tokenizer.json");
  if (!own_vocab) {
    const int64_t vs = cfg->vocab_size;
    o.vocab = [vs](const fs::path& d, gg::Writer& w) { return test_vocab(d, w, vs); };
  }
  const std::string out = (fs::temp_directory_path() / ("ironmill_llama_oracle_" + std::to_string(::getpid()) + "_" +
                                                         dir.filename().string() + "_" +
                                                         std::string(gg::ggml_type_name(type)) + ".gguf"))
                              .string();
  auto r = export_gguf(dir, out, o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return a;

  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model* model = llama_model_load_from_file(out.c_str(), mp);
  EXPECT_NE(model, nullptr) << "llama.cpp refused " << out;
  if (!model) return a;
  const int n = static_cast<int>(g.ids.size());
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = 256;
  cp.n_batch = 256;
  cp.n_ubatch = 256;
  cp.n_threads = 2;
  cp.n_threads_batch = 2;
  llama_context* ctx = llama_init_from_model(model, cp);
  EXPECT_NE(ctx, nullptr);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  EXPECT_EQ(llama_vocab_n_tokens(vocab), g.vocab);
  if (kjv && own_vocab) {
    // With our tokenizer metadata llama.cpp's tokenizer reproduces HF's ids: the golden prompt, and
    // the 31,083 tokens of kjv-test.txt.
    std::ifstream gj(dir / "golden.json");
    const auto golden = nlohmann::json::parse(gj);
    const std::string prompt = golden["prompt"].get<std::string>();
    std::vector<llama_token> ids(prompt.size() + 8);
    const int np = llama_tokenize(vocab, prompt.data(), static_cast<int32_t>(prompt.size()), ids.data(),
                                  static_cast<int32_t>(ids.size()), true, false);
    EXPECT_GT(np, 0);
    ids.resize(static_cast<size_t>(std::max(np, 0)));
    EXPECT_EQ(std::vector<int32_t>(ids.begin(), ids.end()), g.ids);
    std::ifstream tf(dir / "kjv-test.txt", std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
    std::vector<llama_token> all(text.size() + 8);
    const int nt = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), all.data(),
                                  static_cast<int32_t>(all.size()), true, false);
    EXPECT_EQ(nt, golden["test_tokens"].get<int>());
    std::printf("llama.cpp tokenizer on our GGUF vocab: prompt %d ids (golden %zu), kjv-test.txt %d tokens\n", np,
                g.ids.size(), nt);
  }
  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    batch.token[i] = g.ids[i];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = n;
  EXPECT_EQ(llama_decode(ctx, batch), 0);
  a.positions = positions < 0 ? n : std::min(positions, n);
  for (int i = 0; i < a.positions; ++i) {
    const float* ours = llama_get_logits_ith(ctx, i);
    const float* hf = g.logits.data() + static_cast<size_t>(i) * g.vocab;
    double dot = 0, na = 0, nb = 0;
    int64_t am = 0, bm = 0;
    for (int64_t v = 0; v < g.vocab; ++v) {
      dot += static_cast<double>(ours[v]) * hf[v];
      na += static_cast<double>(ours[v]) * ours[v];
      nb += static_cast<double>(hf[v]) * hf[v];
      a.max_abs_diff = std::max(a.max_abs_diff, static_cast<double>(std::fabs(ours[v] - hf[v])));
      if (ours[v] > ours[am]) am = v;
      if (hf[v] > hf[bm]) bm = v;
    }
    a.min_cosine = std::min(a.min_cosine, dot / std::sqrt(na * nb));
    a.argmax_agree += am == bm;
  }
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  std::printf("%-16s %-5s %s: %d positions, min cosine %.8f, max |diff| %.3g, argmax agrees %d/%d (%llu bytes)\n",
              dir.filename().string().c_str(), std::string(gg::ggml_type_name(type)).c_str(),
              own_vocab ? "(own vocab)" : "(test vocab)", a.positions, a.min_cosine, a.max_abs_diff, a.argmax_agree,
              a.positions, static_cast<unsigned long long>(r->file_bytes));
  fs::remove(out);
  return a;
}

TEST_F(GgufExportLlamaOracle, KjvLogitsMatchHuggingFace) {
  // Thresholds from measured runs (the figures are printed); F32 and F16 must also pick HF's argmax at
  // every position.
  struct Case {
    gg::GgmlType type;
    double min_cosine;
    bool argmax_exact;
  };
  // Measured (llama.cpp de3ff815, GGML_NATIVE=OFF): f32 0.99999998, f16 0.99999992, q8_0 0.99994,
  // q6_K 0.9997, q4_0 0.9960, q4_K 0.9943.
  for (const Case& c : {Case{gg::GgmlType::kF32, 0.999999, true}, Case{gg::GgmlType::kF16, 0.99999, true},
                        Case{gg::GgmlType::kQ8_0, 0.9999, false}, Case{gg::GgmlType::kQ6_K, 0.999, false},
                        Case{gg::GgmlType::kQ4_K, 0.99, false}, Case{gg::GgmlType::kQ4_0, 0.99, false}}) {
    SCOPED_TRACE(std::string(gg::ggml_type_name(c.type)));
    const Agreement a = run(kKjv, c.type, true);
    ASSERT_EQ(a.positions, 8);
    EXPECT_GE(a.min_cosine, c.min_cosine);
    if (c.argmax_exact) {
      EXPECT_EQ(a.argmax_agree, a.positions);
    }
  }
}

TEST_F(GgufExportLlamaOracle, TinyCheckpointsMatchHuggingFace) {
  if (!fs::exists(kHfTiny)) GTEST_SKIP() << "SKIP: " << kHfTiny << " absent (shared fixtures)";
  // mistral-sw: sliding window 8, which GGUF arch `llama` cannot express; only the first 8 positions
  // (which see at most 8 tokens) can match.
  for (const auto& [name, positions] : {std::pair<const char*, int>{"llama", -1}, {"llama-tied-gqa1", -1},
                                        {"qwen2", -1}, {"qwen3", -1}, {"mistral-sw", 8}}) {
    SCOPED_TRACE(name);
    const Agreement a = run(kHfTiny / name, gg::GgmlType::kF32, false, positions);
    ASSERT_GT(a.positions, 0);
    EXPECT_GE(a.min_cosine, 0.99999);
    EXPECT_EQ(a.argmax_agree, a.positions);
  }
}

#endif

}  // namespace
}  // namespace ironmill::frontends::gguf_export
