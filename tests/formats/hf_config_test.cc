// config.json parsing: every real config in golden/hf-configs (copies of shared/fixtures/hf-tiny)
// and kjv-llama-5m, with the expected values read by hand from those files; then bad configs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/hf/json_file.h"
#include "formats/hf/model_config.h"

namespace {

namespace fs = std::filesystem;
using ironmill::ErrorCode;
using namespace ironmill::formats::hf;
using nlohmann::json;

const fs::path kConfigs = fs::path(IRONMILL_SOURCE_DIR) / "golden" / "hf-configs";

ModelConfig load(const std::string& name) {
  auto c = load_model_config(kConfigs / name);
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : ModelConfig{};
}

std::vector<LayerType> types(std::initializer_list<char> codes) {
  std::vector<LayerType> out;
  for (char c : codes)
    out.push_back(c == 'f' ? LayerType::kFullAttention : c == 's' ? LayerType::kSlidingAttention : LayerType::kLinearAttention);
  return out;
}

TEST(HfConfig, Llama) {
  const ModelConfig c = load("llama");
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.architectures, std::vector<std::string>{"LlamaForCausalLM"});
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 160);
  EXPECT_EQ(c.num_hidden_layers, 2);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_TRUE(c.head_dim_explicit);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position_embeddings, 256);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.hidden_act, "silu");
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.mlp_bias);
  EXPECT_EQ(c.dtype, "float32");
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_FALSE(c.pad_token_id.has_value());
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_EQ(c.rope.type, "default");
  EXPECT_DOUBLE_EQ(c.rope.partial_rotary_factor, 1.0);
  EXPECT_TRUE(c.rope_by_layer_type.empty());
  EXPECT_EQ(c.layer_types, types({'f', 'f'}));
  EXPECT_FALSE(c.layer_types_explicit);
  EXPECT_FALSE(c.sliding_window.has_value());
  EXPECT_FALSE(c.mla || c.moe || c.linear_attention || c.per_layer_input);
  ASSERT_EQ(c.layers.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(c.layers[i].head_dim, 16);
    EXPECT_EQ(c.layers[i].num_key_value_heads, 2);
    EXPECT_EQ(c.layers[i].kv_source_layer, static_cast<int64_t>(i));
    EXPECT_FALSE(c.layers[i].sliding_window.has_value());
  }
  EXPECT_EQ(c.raw.at("initializer_range").get<double>(), 0.1);  // unmodelled keys stay reachable
}

TEST(HfConfig, LlamaTiedGqa1) {
  const ModelConfig c = load("llama-tied-gqa1");
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.num_hidden_layers, 3);
  EXPECT_EQ(c.num_attention_heads, 4);
  EXPECT_EQ(c.num_key_value_heads, 1);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.layers.size(), 3u);
}

TEST(HfConfig, MistralSlidingWindowDerivesLayerTypes) {
  const ModelConfig c = load("mistral-sw");
  EXPECT_EQ(c.family, ModelFamily::kMistral);
  EXPECT_EQ(c.architectures, std::vector<std::string>{"MistralForCausalLM"});
  EXPECT_EQ(c.sliding_window, 8);
  EXPECT_FALSE(c.layer_types_explicit);
  EXPECT_EQ(c.layer_types, types({'s', 's'}));
  for (const auto& l : c.layers) EXPECT_EQ(l.sliding_window, 8);
  EXPECT_EQ(c.num_key_value_heads, 2);
}

TEST(HfConfig, Qwen2DerivesHeadDimAndHasQkvBias) {
  const ModelConfig c = load("qwen2");
  EXPECT_EQ(c.family, ModelFamily::kQwen2);
  EXPECT_FALSE(c.head_dim_explicit);
  EXPECT_EQ(c.head_dim, 16);  // 64 / 4
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.attention_bias);
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
  EXPECT_TRUE(c.layer_types_explicit);
  EXPECT_EQ(c.layer_types, types({'f', 'f'}));
  EXPECT_FALSE(c.sliding_window.has_value());
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_TRUE(c.eos_token_ids.empty());
}

TEST(HfConfig, Qwen3HeadDimDiffersFromHiddenOverHeads) {
  const ModelConfig c = load("qwen3");
  EXPECT_EQ(c.family, ModelFamily::kQwen3);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.hidden_size / c.num_attention_heads, 16);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  for (const auto& l : c.layers) EXPECT_EQ(l.head_dim, 32);
}

TEST(HfConfig, Qwen3_5HybridLinearAttention) {
  const ModelConfig c = load("qwen3_5");
  EXPECT_EQ(c.model_type, "qwen3_5_text");
  EXPECT_EQ(c.family, ModelFamily::kQwen3_5);
  EXPECT_EQ(c.architectures, std::vector<std::string>{"Qwen3_5ForCausalLM"});
  EXPECT_EQ(c.num_hidden_layers, 4);
  EXPECT_EQ(c.layer_types, types({'l', 'l', 'l', 'f'}));
  ASSERT_TRUE(c.linear_attention.has_value());
  EXPECT_EQ(c.linear_attention->key_head_dim, 16);
  EXPECT_EQ(c.linear_attention->value_head_dim, 16);
  EXPECT_EQ(c.linear_attention->num_key_heads, 2);
  EXPECT_EQ(c.linear_attention->num_value_heads, 4);
  EXPECT_EQ(c.linear_attention->conv_kernel_dim, 4);
  EXPECT_DOUBLE_EQ(c.rope.partial_rotary_factor, 0.25);
  EXPECT_DOUBLE_EQ(c.rope.theta, 10000.0);
  EXPECT_TRUE(c.attn_output_gate);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_DOUBLE_EQ(c.layers[3].rope.partial_rotary_factor, 0.25);
}

TEST(HfConfig, Gemma2SoftCappingAndAlternatingWindows) {
  const ModelConfig c = load("gemma2");
  EXPECT_EQ(c.family, ModelFamily::kGemma2);
  EXPECT_EQ(c.attn_logit_softcapping, 50.0);
  EXPECT_EQ(c.final_logit_softcapping, 30.0);
  EXPECT_EQ(c.query_pre_attn_scalar, 16.0);
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");  // from hidden_activation
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.layer_types, types({'s', 'f'}));
  EXPECT_EQ(c.layers[0].sliding_window, 8);
  EXPECT_FALSE(c.layers[1].sliding_window.has_value());
  EXPECT_EQ(c.bos_token_id, 2);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{1});
  EXPECT_EQ(c.pad_token_id, 0);
  EXPECT_EQ(c.head_dim, 16);
}

TEST(HfConfig, Gemma3TwoRopeBases) {
  const ModelConfig c = load("gemma3");
  EXPECT_EQ(c.model_type, "gemma3_text");
  EXPECT_EQ(c.family, ModelFamily::kGemma3);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.layer_types, types({'s', 's', 's', 's', 's', 'f'}));
  EXPECT_FALSE(c.attn_logit_softcapping.has_value());
  EXPECT_FALSE(c.final_logit_softcapping.has_value());
  EXPECT_EQ(c.query_pre_attn_scalar, 256.0);
  ASSERT_EQ(c.rope_by_layer_type.size(), 2u);
  EXPECT_DOUBLE_EQ(c.rope_for(LayerType::kFullAttention).theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_for(LayerType::kSlidingAttention).theta, 1e4);
  EXPECT_DOUBLE_EQ(c.layers[0].rope.theta, 1e4);
  EXPECT_DOUBLE_EQ(c.layers[5].rope.theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);  // the default is the full-attention one
  EXPECT_EQ(c.raw.at("_sliding_window_pattern").get<int>(), 6);
}

TEST(HfConfig, Gemma4PerLayerConfigKvSharingAndPle) {
  const ModelConfig c = load("gemma4");
  EXPECT_EQ(c.model_type, "gemma4_text");
  EXPECT_EQ(c.family, ModelFamily::kGemma4);
  EXPECT_EQ(c.layer_types, types({'s', 's', 'f', 's', 's', 'f'}));
  ASSERT_TRUE(c.per_layer_input.has_value());
  EXPECT_EQ(c.per_layer_input->hidden_size, 16);
  EXPECT_EQ(c.per_layer_input->vocab_size, 512);
  EXPECT_EQ(c.num_kv_shared_layers, 2);
  EXPECT_FALSE(c.use_double_wide_mlp);
  EXPECT_FALSE(c.attention_k_eq_v);
  EXPECT_FALSE(c.moe.has_value());  // enable_moe_block: false
  EXPECT_FALSE(c.final_logit_softcapping.has_value());
  // per_layer_config: layers 2 and 5 (the global ones) have head_dim 512.
  const int64_t expect_head_dim[] = {16, 16, 512, 16, 16, 512};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(c.layers[i].head_dim, expect_head_dim[i]) << "layer " << i;
  // The last two layers reuse the KV of the last earlier layer of their type: 4 (sliding) -> 3, 5 (full) -> 2.
  const int64_t expect_src[] = {0, 1, 2, 3, 3, 2};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(c.layers[i].kv_source_layer, expect_src[i]) << "layer " << i;
  const RopeParameters& full = c.rope_for(LayerType::kFullAttention);
  EXPECT_EQ(full.type, "proportional");
  EXPECT_DOUBLE_EQ(full.partial_rotary_factor, 0.25);
  EXPECT_DOUBLE_EQ(full.theta, 1e6);
  const RopeParameters& sliding = c.rope_for(LayerType::kSlidingAttention);
  EXPECT_EQ(sliding.type, "default");
  EXPECT_DOUBLE_EQ(sliding.partial_rotary_factor, 1.0);
  EXPECT_DOUBLE_EQ(sliding.theta, 1e4);
  EXPECT_EQ(c.layers[2].rope.type, "proportional");
  EXPECT_EQ(c.layers[0].sliding_window, 8);
}

TEST(HfConfig, DeepseekV3MlaAndMoe) {
  const ModelConfig c = load("deepseek_v3");
  EXPECT_EQ(c.family, ModelFamily::kDeepseekV3);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_TRUE(c.rope_interleave);
  ASSERT_TRUE(c.mla.has_value());
  EXPECT_EQ(c.mla->q_lora_rank, 48);
  EXPECT_EQ(c.mla->kv_lora_rank, 32);
  EXPECT_EQ(c.mla->qk_rope_head_dim, 8);
  EXPECT_EQ(c.mla->qk_nope_head_dim, 16);
  EXPECT_EQ(c.mla->qk_head_dim, 24);
  EXPECT_EQ(c.mla->v_head_dim, 16);
  ASSERT_TRUE(c.moe.has_value());
  EXPECT_EQ(c.moe->num_experts, 4);
  EXPECT_EQ(c.moe->num_experts_per_tok, 2);
  EXPECT_EQ(c.moe->num_shared_experts, 1);
  EXPECT_EQ(c.moe->moe_intermediate_size, 64);
  EXPECT_EQ(c.moe->first_k_dense_replace, 1);
  EXPECT_EQ(c.moe->n_group, 1);
  EXPECT_EQ(c.moe->topk_group, 1);
  EXPECT_TRUE(c.moe->norm_topk_prob);
  EXPECT_DOUBLE_EQ(c.moe->routed_scaling_factor, 2.5);
  ASSERT_EQ(c.layers.size(), 2u);
  EXPECT_FALSE(c.layers[0].moe);  // first_k_dense_replace = 1
  EXPECT_TRUE(c.layers[1].moe);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{1});
}

TEST(HfConfig, KjvLlama5m) {
  auto r = load_model_config(fs::path(IRONMILL_SOURCE_DIR) / "golden" / "kjv-llama-5m" / "config.json");
  ASSERT_TRUE(r.ok()) << r.status().message();
  const ModelConfig& c = *r;
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.num_hidden_layers, 6);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.intermediate_size, 704);
  EXPECT_EQ(c.vocab_size, 2048);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.dtype, "float16");
  EXPECT_EQ(c.bos_token_id, 0);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{0});
  EXPECT_FALSE(c.tie_word_embeddings);
}

TEST(HfConfig, EveryFixtureConfigParses) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(kConfigs)) {
    if (!e.is_directory()) continue;
    auto c = load_model_config(e.path());
    EXPECT_TRUE(c.ok()) << e.path() << ": " << c.status().message();
    if (c.ok()) EXPECT_EQ(c->layers.size(), static_cast<size_t>(c->num_hidden_layers));
    ++n;
  }
  EXPECT_EQ(n, 10);
}

// --- built configs: old spellings, nesting, derivations, errors --------------------------------

json base_llama() {
  return json::parse(R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
    "intermediate_size": 160, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 512})");
}

TEST(HfConfig, DefaultsWhenOptionalKeysAreAbsent) {
  auto c = parse_model_config(base_llama(), "mem.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_DOUBLE_EQ(c->rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c->rope.theta, 10000.0);
  EXPECT_EQ(c->dtype, "");
  EXPECT_EQ(c->hidden_act, "silu");
}

TEST(HfConfig, OldRopeThetaAndLlama3Scaling) {
  json j = base_llama();
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = json::parse(R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})");
  j["torch_dtype"] = "bfloat16";
  auto c = parse_model_config(j, "mem.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_DOUBLE_EQ(c->rope.theta, 500000.0);
  EXPECT_EQ(c->rope.type, "llama3");
  EXPECT_EQ(c->rope.factor, 8.0);
  EXPECT_EQ(c->rope.high_freq_factor, 4.0);
  EXPECT_EQ(c->rope.original_max_position_embeddings, 8192);
  EXPECT_EQ(c->dtype, "bfloat16");

  j["rope_scaling"] = json::parse(R"({"type": "linear", "factor": 2.0})");  // the oldest spelling
  c = parse_model_config(j, "mem.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->rope.type, "linear");

  j["rope_scaling"] = json::parse(R"({"rope_type": "llama3", "factor": 8.0})");
  c = parse_model_config(j, "mem.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("low_freq_factor"), std::string::npos) << c.status().message();

  j["rope_scaling"] = json::parse(R"({"rope_type": "banana"})");
  c = parse_model_config(j, "mem.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("banana"), std::string::npos);
  EXPECT_NE(c.status().message().find("rope_scaling.rope_type"), std::string::npos) << c.status().message();
}

TEST(HfConfig, Gemma3OldSpellingsAndDerivedLayerTypes) {
  json j = json::parse(R"({"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 160,
    "num_hidden_layers": 7, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "vocab_size": 512, "sliding_window": 8, "sliding_window_pattern": 3,
    "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0})");
  auto c = parse_model_config(j, "mem.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->layer_types, types({'s', 's', 'f', 's', 's', 'f', 's'}));
  EXPECT_DOUBLE_EQ(c->layers[0].rope.theta, 1e4);
  EXPECT_DOUBLE_EQ(c->layers[2].rope.theta, 1e6);
  EXPECT_TRUE(c->tie_word_embeddings);  // Gemma's default
  EXPECT_EQ(c->hidden_act, "gelu_pytorch_tanh");
}

TEST(HfConfig, Gemma2DerivesAlternatingLayers) {
  json j = json::parse(R"({"model_type": "gemma2", "hidden_size": 64, "intermediate_size": 160,
    "num_hidden_layers": 4, "num_attention_heads": 4, "vocab_size": 512, "sliding_window": 4096})");
  auto c = parse_model_config(j, "mem.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->layer_types, types({'s', 'f', 's', 'f'}));
}

TEST(HfConfig, NestedTextConfig) {
  json text = json::parse(R"({"model_type": "gemma3_text", "hidden_size": 64, "intermediate_size": 160,
    "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 512, "sliding_window": 8,
    "layer_types": ["sliding_attention", "full_attention"]})");
  json j = {{"architectures", {"Gemma3ForConditionalGeneration"}}, {"model_type", "gemma3"},
            {"text_config", text}, {"tie_word_embeddings", false}, {"torch_dtype", "bfloat16"}};
  auto c = parse_model_config(j, "mm.json");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->model_type, "gemma3_text");
  EXPECT_EQ(c->architectures, std::vector<std::string>{"Gemma3ForConditionalGeneration"});
  EXPECT_FALSE(c->tie_word_embeddings);  // from the top level, the text config is silent
  EXPECT_EQ(c->dtype, "bfloat16");

  j["text_config"].erase("hidden_size");
  c = parse_model_config(j, "mm.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "mm.json: missing required field 'text_config.hidden_size'");
}

TEST(HfConfig, UnknownModelTypeAndArchitectureAreNamed) {
  json j = base_llama();
  j["model_type"] = "gpt_neox";
  auto c = parse_model_config(j, "x/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(c.status().message().find("'gpt_neox'"), std::string::npos) << c.status().message();
  EXPECT_NE(c.status().message().find("x/config.json"), std::string::npos);

  j = base_llama();
  j["architectures"] = {"GPTNeoXForCausalLM"};
  c = parse_model_config(j, "x/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(c.status().message().find("'GPTNeoXForCausalLM'"), std::string::npos) << c.status().message();

  j = base_llama();
  j.erase("model_type");
  c = parse_model_config(j, "x/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "x/config.json: missing required field 'model_type'");
}

TEST(HfConfig, MissingOrMistypedFieldsAreNamed) {
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"}) {
    json j = base_llama();
    j.erase(key);
    auto c = parse_model_config(j, "m/config.json");
    ASSERT_FALSE(c.ok()) << key;
    EXPECT_EQ(c.status().message(), std::string("m/config.json: missing required field '") + key + "'");
    j = base_llama();
    j[key] = nullptr;  // null is as good as missing
    EXPECT_FALSE(parse_model_config(j, "m/config.json").ok()) << key;
  }
  json j = base_llama();
  j["hidden_size"] = "64";
  auto c = parse_model_config(j, "m/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "m/config.json: field 'hidden_size' must be an integer, got string");

  j = base_llama();
  j["hidden_size"] = 64.0;  // integral floats are accepted
  EXPECT_TRUE(parse_model_config(j, "m/config.json").ok());

  j = base_llama();
  j["tie_word_embeddings"] = 1;
  c = parse_model_config(j, "m/config.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'tie_word_embeddings' must be a boolean"), std::string::npos);

  j = base_llama();
  j["num_key_value_heads"] = 3;  // 4 heads are not a multiple of 3
  EXPECT_FALSE(parse_model_config(j, "m/config.json").ok());

  EXPECT_FALSE(parse_model_config(json::array(), "m/config.json").ok());
}

TEST(HfConfig, BadLayerTypes) {
  json j = base_llama();
  j["layer_types"] = {"full_attention"};
  auto c = parse_model_config(j, "m.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("has 1 entries but num_hidden_layers is 2"), std::string::npos);

  j["layer_types"] = {"full_attention", "chunked_attention"};
  c = parse_model_config(j, "m.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("'chunked_attention'"), std::string::npos);
  EXPECT_NE(c.status().message().find("layer_types[1]"), std::string::npos) << c.status().message();

  j["layer_types"] = {"full_attention", "sliding_attention"};  // no sliding_window
  c = parse_model_config(j, "m.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("sliding_window"), std::string::npos);

  j["layer_types"] = {"linear_attention", "full_attention"};  // linear keys missing
  c = parse_model_config(j, "m.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("linear_key_head_dim"), std::string::npos);
}

TEST(HfConfig, BadPerLayerConfigAndMla) {
  json j = base_llama();
  j["per_layer_config"] = {{"7", {{"head_dim", 512}}}};
  auto c = parse_model_config(j, "m.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("per_layer_config.7"), std::string::npos) << c.status().message();

  j["per_layer_config"] = {{"1", {{"window", 512}}}};
  c = parse_model_config(j, "m.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("per_layer_config.1.window"), std::string::npos) << c.status().message();

  j = base_llama();
  j["kv_lora_rank"] = 32;  // MLA without its head dims
  c = parse_model_config(j, "m.json");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("qk_rope_head_dim"), std::string::npos);
}

TEST(HfConfig, FileErrors) {
  auto c = load_model_config(fs::path(IRONMILL_SOURCE_DIR) / "golden" / "no-such-model");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kNotFound);

  const fs::path tmp = fs::temp_directory_path() / "ironmill_hf_config_test_bad.json";
  {
    std::ofstream(tmp) << "{\"hidden_size\": 64,,}";
  }
  c = load_model_config(tmp);
  fs::remove(tmp);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), ErrorCode::kParse);
  EXPECT_NE(c.status().message().find("invalid JSON at byte"), std::string::npos) << c.status().message();
}

}  // namespace
